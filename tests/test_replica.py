"""The replica of the InforMEA OData v2 service: paging, shapes, queries, conditional requests, CLI, snapshot."""
from __future__ import annotations

import filecmp
import functools
import importlib.util
import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from processes import kill_group, run
from replica.informea import date_ms
from replica.server import InformeaOptions, Replica, RequestInfo, Response

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = REPO / "replica" / "snapshots" / "informea"
BUILD_SCRIPT = REPO / "replica" / "snapshots" / "build_informea.py"
JSON = {"$format": "json"}
ORDER = {"$format": "json", "$orderby": "updated desc,id"}


@pytest.fixture
def linked():
    """A replica whose links name the host:port the client used, so they can be followed as they are."""
    with Replica(public_url=None) as server:
        yield server


def service(replica: Replica) -> str:
    return replica.source_urls()["informea"]


def get(url: str, params: dict | None = None, **headers: str) -> requests.Response:
    return requests.get(url, params=params, headers=headers, timeout=10)


def stored(entity_set: str) -> list[dict]:
    return json.loads((SNAPSHOT / f"{entity_set}.json").read_text(encoding="utf-8"))


def ids(entities: list[dict]) -> list[str]:
    return [entity["__metadata"]["uri"] for entity in entities]


@functools.cache
def load_build_script():
    """replica/snapshots/build_informea.py as a module (it is a script, not part of a package)."""
    spec = importlib.util.spec_from_file_location("build_informea", BUILD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script runs
    spec.loader.exec_module(module)
    return module


# Paging


def test_server_pages_with_next_links_until_every_record_is_served(linked):
    url, pages = f"{service(linked)}/CountryReports", []
    response = get(url, ORDER)
    while True:
        d = response.json()["d"]
        pages.append(d["results"])
        if "__next" not in d:
            break
        assert "$skiptoken=" in d["__next"] and "$skip=" not in d["__next"]
        response = get(d["__next"])
    assert [len(page) for page in pages] == [100, 100, 100, 38]
    served = [entity for page in pages for entity in page]
    assert len(served) == len(stored("CountryReports")) == int(get(f"{url}/$count").text)
    served_ids = [entity.get("id") for entity in served if entity.get("id")]
    assert len(served_ids) == len(set(served_ids)) == 336  # two bad records have no usable id


def test_next_link_keeps_the_query_but_not_skip():
    with Replica(informea=InformeaOptions(page_size={"CountryReports": 10}), public_url=None) as server:
        params = {**ORDER, "$filter": "treaty eq 'cbd'", "$skip": "5", "$expand": "title"}
        d = get(f"{service(server)}/CountryReports", params).json()["d"]
    query = parse_qs(urlsplit(d["__next"]).query)
    assert query == {"$format": ["json"], "$orderby": ["updated desc,id"], "$filter": ["treaty eq 'cbd'"],
                     "$expand": ["title"], "$skiptoken": ["15"]}
    assert len(d["results"]) == 10


def test_default_links_name_a_port_free_public_url_whose_paths_resolve(replica):
    d = get(f"{service(replica)}/CountryReports", ORDER).json()["d"]
    link = urlsplit(d["__next"])
    assert link.netloc == "127.0.0.1"
    assert len(get(f"{replica.url}{link.path}?{link.query}").json()["d"]["results"]) == 100


def test_top_and_skip_select_a_window_of_the_ordered_set():
    with Replica(informea=InformeaOptions(page_size={}), public_url=None) as server:
        url = f"{service(server)}/CountryReports"
        everything = get(url, ORDER).json()["d"]["results"]
        window = get(url, {**ORDER, "$top": "7", "$skip": "3"}).json()["d"]
    assert len(everything) == 338
    assert ids(window["results"]) == ids(everything[3:10])
    assert "__next" not in window


def test_a_broken_server_can_ignore_skip():
    with Replica(informea=InformeaOptions(page_size={}, ignore_skip=True)) as server:
        url = f"{service(server)}/CountryReports"
        first = get(url, {**ORDER, "$top": "50", "$skip": "0"})
        later = get(url, {**ORDER, "$top": "50", "$skip": "100"})
    assert first.content == later.content


# Envelopes and navigation properties


def test_envelopes_results_list_and_inlinecount(replica):
    url = service(replica)
    reports = get(f"{url}/CountryReports", {**JSON, "$inlinecount": "allpages", "$top": "2"}).json()["d"]
    plans = get(f"{url}/NationalPlans", {**JSON, "$inlinecount": "allpages"}).json()["d"]
    assert reports["__count"] == "338" and len(reports["results"]) == 2
    assert isinstance(plans, list) and len(plans) == len(stored("NationalPlans"))
    with Replica(informea=InformeaOptions(envelope={"NationalPlans": "results"})) as server:
        assert "results" in get(f"{service(server)}/NationalPlans", JSON).json()["d"]


def test_paging_a_list_envelope_is_refused():
    with pytest.raises(ValueError, match="results"):
        InformeaOptions(page_size={"NationalPlans": 10}, envelope={"NationalPlans": "list"})


def test_entities_carry_metadata_built_from_the_base_url(linked):
    entity = get(f"{service(linked)}/Treaties", JSON).json()["d"]["results"][0]
    assert entity["__metadata"] == {"id": f"{service(linked)}/Treaties('cbd')",
                                    "uri": f"{service(linked)}/Treaties('cbd')", "type": "informea.Treaty"}


def test_expand_inlines_navigation_and_deferred_links_resolve_to_the_same_items(linked):
    url = f"{service(linked)}/CountryReports"
    deferred = get(url, {**ORDER, "$top": "20"}).json()["d"]["results"]
    expanded = get(url, {**ORDER, "$top": "20", "$expand": "title,files"}).json()["d"]["results"]
    for lazy, eager in zip(deferred, expanded, strict=True):
        for nav in ("title", "files"):
            link = lazy[nav]["__deferred"]["uri"]
            assert link == f"{lazy['__metadata']['uri']}/{nav}"
            items = eager[nav]["results"] if isinstance(eager[nav], dict) else eager[nav]
            assert get(link, JSON).json() == {"d": {"results": items}}


def test_expand_can_be_ignored_like_a_server_that_always_defers():
    with Replica(informea=InformeaOptions(honour_expand=False)) as server:
        entity = get(f"{service(server)}/Treaties", {**JSON, "$expand": "title"}).json()["d"]["results"][0]
    assert set(entity["title"]) == {"__deferred"}


def test_single_entity_and_unknown_key(linked):
    url = f"{service(linked)}/Treaties"
    assert get(f"{url}('ramsar')", JSON).json()["d"]["officialNameEnglish"].startswith("Convention on Wetlands")
    missing = get(f"{url}('nope')", JSON)
    assert missing.status_code == 404 and missing.json()["error"]["message"]["lang"] == "en"


# Filtering, counting, ordering


def test_filter_on_updated_and_treaty_matches_the_snapshot(replica):
    since = datetime(2020, 1, 1, tzinfo=timezone.utc).timestamp() * 1000
    expected = sorted(r["id"] for r in stored("CountryReports")
                      if r["treaty"] == "cbd" and (date_ms(r.get("updated")) or 0) > since)
    params = {**ORDER, "$filter": "treaty eq 'cbd' and updated gt datetime'2020-01-01T00:00:00'"}
    served = get(f"{service(replica)}/CountryReports", params).json()["d"]["results"]
    assert sorted(entity["id"] for entity in served) == expected and expected
    count = get(f"{service(replica)}/CountryReports/$count", {"$filter": params["$filter"]})
    assert count.headers["Content-Type"].startswith("text/plain") and count.text == str(len(expected))


def test_count_of_each_set(replica):
    for entity_set in ("Treaties", "CountryReports", "NationalPlans"):
        assert get(f"{service(replica)}/{entity_set}/$count").text == str(len(stored(entity_set)))


def test_orderby_is_total_and_repeatable():
    with Replica(informea=InformeaOptions(page_size={})) as server:
        url = f"{service(server)}/CountryReports"
        first, again = get(url, ORDER), get(url, ORDER)
    assert first.content == again.content
    served = first.json()["d"]["results"]
    keys = [(date_ms(e.get("updated")), e.get("id")) for e in served]
    dated = [key for key in keys if key[0] is not None]
    assert dated == sorted(dated, key=lambda key: (-key[0], key[1] or "\uffff"))
    assert all(key[0] is None for key in keys[len(dated):])  # null and unparseable `updated` sort last


# Conditional requests


def test_if_none_match_gives_304_and_is_counted(replica):
    url = f"{service(replica)}/CountryReports"
    first = get(url, ORDER)
    etag = first.headers["ETag"]
    assert etag.startswith('"') and len(etag) == 66
    again = get(url, ORDER, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == etag
    assert get(url, ORDER, **{"If-None-Match": '"stale"'}).status_code == 200
    assert replica.stats.count(status=304) == 1 and replica.stats.count(status=200) == 2
    assert replica.stats.count(path="/informea.svc/CountryReports") == 3


def test_if_modified_since_gives_304_unless_older(replica):
    url = f"{service(replica)}/NationalPlans"
    last_modified = get(url, JSON).headers["Last-Modified"]
    assert get(url, JSON, **{"If-Modified-Since": last_modified}).status_code == 304
    assert get(url, JSON, **{"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}).status_code == 200
    assert replica.stats.count(status=304) == 1


# Errors


def test_json_must_be_asked_for(replica):
    refused = get(f"{service(replica)}/CountryReports")
    assert refused.status_code == 406 and set(refused.json()["error"]) == {"code", "message"}
    assert get(f"{service(replica)}/CountryReports", Accept="application/json").status_code == 200


@pytest.mark.parametrize(("path", "params", "status"), [
    ("CountryReports", {**JSON, "$filter": "substringof('Kenya', country)"}, 400),
    ("CountryReports", {**JSON, "$filter": "submission gt datetime'2020-01-01T00:00:00'"}, 400),
    ("Treaties", {**JSON, "$filter": "treaty eq 'cbd'"}, 400),
    ("CountryReports", {**JSON, "$top": "-1"}, 400),
    ("CountryReports", {**JSON, "$skip": "ten"}, 400),
    ("CountryReports", {**JSON, "$orderby": "nonsense desc"}, 400),
    ("CountryReports", {**JSON, "$expand": "keywords"}, 400),
    ("NationalReports", JSON, 404),
])
def test_bad_requests_get_olingo_errors(replica, path, params, status):
    response = get(f"{service(replica)}/{path}", params)
    assert response.status_code == status
    assert response.json()["error"]["message"]["value"]


def test_metadata_describes_the_three_sets(replica):
    response = get(f"{service(replica)}/$metadata")
    root = ET.fromstring(response.content)
    names = {element.get("Name") for element in root.iter("{http://schemas.microsoft.com/ado/2008/09/edm}EntitySet")}
    assert response.headers["Content-Type"].startswith("application/xml")
    assert {"Treaties", "CountryReports", "NationalPlans"} <= names


def test_every_response_passes_through_the_fault_hook(replica):
    def unavailable(request: RequestInfo, response: Response) -> Response:
        return Response(503, {"Retry-After": "1"}, b"busy") if "Treaties" in request.path else response

    replica.faults = unavailable
    assert get(f"{service(replica)}/Treaties", JSON).status_code == 503
    assert get(f"{service(replica)}/NationalPlans", JSON).status_code == 200
    assert replica.stats.count(status=503) == 1


# Command line


def clean_env(data: Path, **extra: str) -> dict[str, str]:
    """Only what a replica process needs: none of the caller's MEA_* settings, and the data folder
    (where ``exec`` seeds the inbox fixtures) in ``data``, never the checkout's var/ or a real one."""
    return {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(data), "PYTHONPATH": str(REPO),
            "MEA_DATA_DIR": str(data), **extra}


def run_cli(*args: str, data: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m replica *args`` in a clean environment; killed, with what it started, if it hangs."""
    return run([sys.executable, "-m", "replica", *args], timeout=60, cwd=REPO,
                         env=clean_env(data, **(env or {})))


def test_exec_points_the_command_at_the_replica_and_passes_its_exit_code(tmp_path):
    data = tmp_path / "var"
    shown = run_cli("exec", "--", sys.executable, "-c", "import os;print(os.environ['MEA_INFORMEA_URL'])", data=data)
    assert shown.returncode == 0
    assert shown.stdout.strip().startswith("http://127.0.0.1:") and shown.stdout.strip().endswith("/informea.svc")
    assert "127.0.0.1" in shown.stderr
    assert any((data / "inbox").rglob("*.xlsx")), "the inbox fixtures were not seeded into the data folder"
    assert run_cli("exec", "--", sys.executable, "-c", "raise SystemExit(7)", data=data).returncode == 7


def test_exec_keeps_a_url_that_is_already_set(tmp_path):
    kept = run_cli("exec", "--", sys.executable, "-c", "import os;print(os.environ['MEA_INFORMEA_URL'])",
                   data=tmp_path / "var", env={"MEA_INFORMEA_URL": "http://127.0.0.1:1/informea.svc"})
    assert kept.stdout.strip() == "http://127.0.0.1:1/informea.svc" and "keeping" in kept.stderr


def test_serve_answers_until_sigterm(tmp_path):
    server = subprocess.Popen([sys.executable, "-m", "replica", "serve"], cwd=REPO, env=clean_env(tmp_path / "var"),
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = server.stdout.readline().strip()
        assert line.startswith("replica listening on http://127.0.0.1:")
        assert get(f"{line.rsplit(' ', 1)[1]}/informea.svc/Treaties/$count").text == "15"
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
    finally:
        if server.poll() is None:  # a replica that did not stop in time is killed, not left running
            kill_group(server)
        server.stdout.close()


# The snapshot


def test_build_script_reproduces_the_committed_snapshot(tmp_path):
    subprocess.run([sys.executable, str(BUILD_SCRIPT), "--out", str(tmp_path)], check=True, capture_output=True)
    names = ["Treaties.json", "CountryReports.json", "NationalPlans.json"]
    match, mismatch, errors = filecmp.cmpfiles(SNAPSHOT, tmp_path, names, shallow=False)
    assert (mismatch, errors) == ([], []) and match == names


def test_snapshot_has_the_promised_size_and_quirks():
    build = load_build_script()
    treaties, reports, plans = stored("Treaties"), stored("CountryReports"), stored("NationalPlans")
    assert len(treaties) >= 15 and len(reports) >= 320 and len(plans) >= 90
    assert {"cbd", "cites", "cms", "ramsar", "whc", "unccd", "aewa", "stockholm", "basel", "rotterdam", "montreal",
            "unfccc", "nagoya", "cartagena", "plant-treaty"} <= {t["id"] for t in treaties}
    codes = {c.iso2: c.iso2 for c in build.COUNTRIES} | {c.iso3: c.iso2 for c in build.COUNTRIES}
    codes |= {c.iso2.lower(): c.iso2 for c in build.COUNTRIES} | {"ZR": "CD", "Albania": "AL"}
    wire = [r["country"] for r in reports + plans]
    assert len({codes[code] for code in wire if code in codes}) >= 65
    assert {"NA", "EU", "ZR", "Albania", "XZ", "QQQ"} <= set(wire)
    assert sum(code in {c.iso3 for c in build.COUNTRIES} for code in wire) >= 30
    assert sum(isinstance(r["title"], list) for r in reports + plans) >= 60
    assert sum(r.get("updated") is None for r in reports + plans) >= 3
    assert sum("id" not in r for r in reports) == 1 and sum("id" in r and r["id"] is None for r in reports) == 1


def test_unnumbered_ramsar_reports_inside_and_outside_the_cop_windows():
    build = load_build_script()
    inside = outside = 0
    for report in stored("CountryReports"):
        titles = report["title"]["results"] if isinstance(report["title"], dict) else report["title"]
        if report["treaty"] == "ramsar" and titles[0]["value"].startswith("National Report: "):
            day = datetime.fromtimestamp(date_ms(report["submission"]) / 1000, timezone.utc).date()
            if any(first <= day <= last for first, last in build.RAMSAR_WINDOWS.values()):
                inside += 1
            else:
                outside += 1
    assert inside >= 6 and outside == 2
