"""The InforMEA client against the replica: paging, shapes, deferred links, retries, failures."""
import json

import pytest
import requests

from extractors import http
from extractors.informea import ENTITY_SETS, extract, fetch_entity_set, nav_items, rebase
from extractors.landing import land
from replica.server import InformeaOptions, Replica, Response

NO_SERVER_PAGING = {"CountryReports": None, "NationalPlans": None, "Treaties": None}


def count(url, entity):
    return int(requests.get(f"{url}/{entity}/$count", timeout=10).text)


def landed_ids(data_dir, fetched):
    ids = []
    for page in fetched["pages"]:
        payload = json.loads((data_dir / page["raw_path"]).read_bytes())
        d = payload["d"]
        ids += [r.get("id") for r in (d if isinstance(d, list) else d["results"])]
    return ids


def test_follows_next_links_until_done(tmp_path, replica):
    url = replica.source_urls()["informea"]
    fetched = fetch_entity_set(http.make_session(), url, "CountryReports", ("title", "files"), tmp_path)
    assert len(fetched["pages"]) > 1
    assert all("$skiptoken" in p["url"] for p in fetched["pages"][1:])
    assert len(landed_ids(tmp_path, fetched)) == count(url, "CountryReports")


def test_a_full_last_page_without_next_ends_the_set(tmp_path):
    # the replica holds 338 CountryReports: server pages of 26 (= $top, as in production: 100) end
    # with a full page and no __next
    with Replica(informea=InformeaOptions(page_size={"CountryReports": 26})) as server:
        url = server.source_urls()["informea"]
        fetched = fetch_entity_set(http.make_session(), url, "CountryReports", ("title",), tmp_path, page_size=26)
        total = count(url, "CountryReports")
    assert total % 26 == 0
    assert len(fetched["pages"]) == total // 26
    assert len(landed_ids(tmp_path, fetched)) == total


def test_pages_by_skip_without_server_paging(tmp_path):
    with Replica(informea=InformeaOptions(page_size=NO_SERVER_PAGING)) as server:
        url = server.source_urls()["informea"]
        fetched = fetch_entity_set(http.make_session(), url, "CountryReports", ("title",), tmp_path, page_size=40)
        total = count(url, "CountryReports")
    ids = landed_ids(tmp_path, fetched)
    assert len(ids) == total
    assert len(fetched["pages"]) == total // 40 + 1
    assert "%24skip=40" in fetched["pages"][1]["url"] or "$skip=40" in fetched["pages"][1]["url"]


def test_stops_safely_when_the_server_ignores_skip(tmp_path):
    with Replica(informea=InformeaOptions(page_size=NO_SERVER_PAGING, ignore_skip=True)) as server:
        url = server.source_urls()["informea"]
        fetched = fetch_entity_set(http.make_session(), url, "CountryReports", ("title",), tmp_path, page_size=40)
        assert server.stats.count() == 3  # $count, the first page, then the repeat that stops it
    assert len(fetched["pages"]) == 1
    assert "ignores $skip" in fetched["pages"][0]["stopped"]
    assert len(set(landed_ids(tmp_path, fetched))) == 40


def test_bare_list_envelope_is_read(tmp_path, replica):
    url = replica.source_urls()["informea"]
    fetched = fetch_entity_set(http.make_session(), url, "NationalPlans", ("title", "files"), tmp_path)
    first = json.loads((tmp_path / fetched["pages"][0]["raw_path"]).read_bytes())
    assert isinstance(first["d"], list)
    assert len(landed_ids(tmp_path, fetched)) == count(url, "NationalPlans")


def test_deferred_links_are_fetched_and_landed(tmp_path):
    with Replica(informea=InformeaOptions(honour_expand=False)) as server:
        url = server.source_urls()["informea"]
        fetched = fetch_entity_set(http.make_session(), url, "Treaties", ENTITY_SETS["Treaties"], tmp_path)
    treaties = len(landed_ids(tmp_path, fetched))
    assert len(fetched["deferred"]) == 2 * treaties  # title and description of each
    key, page = sorted(fetched["deferred"].items())[0]
    assert key.startswith("Treaties('") and (tmp_path / page["raw_path"]).exists()


@pytest.mark.parametrize("value, expected", [
    ({"results": [{"language": "en", "value": "x"}]}, [{"language": "en", "value": "x"}]),
    ([{"language": "en", "value": "x"}], [{"language": "en", "value": "x"}]),
    ({"__deferred": {"uri": "http://h/informea.svc/CountryReports('a')/title"}},
     "http://h/informea.svc/CountryReports('a')/title"),
    (None, []),
])
def test_navigation_shapes(value, expected):
    assert nav_items(value) == expected


def test_navigation_shape_not_recognised():
    with pytest.raises(ValueError, match="unrecognised navigation"):
        nav_items({"oops": 1})


def test_links_are_rebased_on_the_configured_service():
    base = "http://127.0.0.1:8080/informea.svc"
    assert rebase("http://odata.informea.org/informea.svc/CountryReports?$skiptoken=100", base) == \
        "http://127.0.0.1:8080/informea.svc/CountryReports?$skiptoken=100"
    with pytest.raises(http.UpstreamError, match="outside the service root"):
        rebase("http://evil.example/other/thing", base)


def faulty(replica, fault, times):
    """Make the first ``times`` responses of ``replica`` pass through ``fault``; the list of
    events, one ``"request"`` per request, in the order they came."""
    calls = []

    def hook(request, response):
        calls.append("request")
        return fault(response) if len(calls) <= times else response

    replica.faults = hook
    return calls


def test_retries_5xx_then_succeeds(tmp_path, replica):
    faulty(replica, lambda r: Response(503, {}, b"busy"), times=2)
    url = replica.source_urls()["informea"]
    fetched = fetch_entity_set(http.make_session(backoff_factor=0.01), url, "Treaties", ("title",), tmp_path)
    assert replica.stats.count(status=503) == 2
    assert len(landed_ids(tmp_path, fetched)) == count(url, "Treaties")


def test_429_waits_for_retry_after(tmp_path, replica, monkeypatch):
    events = faulty(replica, lambda r: Response(429, {"Retry-After": "1"}, b""), times=1)
    waits = http.BoundedRetry.sleep_for_retry

    def waiting(self, response=None):
        events.append(f"wait {float(self.get_retry_after(response))}")
        return waits(self, response)

    monkeypatch.setattr(http.BoundedRetry, "sleep_for_retry", waiting)
    url = replica.source_urls()["informea"]
    fetch_entity_set(http.make_session(backoff_factor=0.01), url, "Treaties", ("title",), tmp_path)
    # the retry came after a wait of the server's Retry-After, not before (order, not seconds)
    assert events[:3] == ["request", "wait 1.0", "request"]


def test_persistent_5xx_fails_loudly_naming_the_url(tmp_path, replica):
    faulty(replica, lambda r: Response(500, {}, b"An exception occurred."), times=10**6)
    url = replica.source_urls()["informea"]
    with pytest.raises(http.UpstreamError, match=r"\[informea\] .*/informea.svc/Treaties.*HTTP 500|too many 500"):
        fetch_entity_set(http.make_session(retries=2, backoff_factor=0.01), url, "Treaties", ("title",), tmp_path)


def test_body_that_is_not_json_fails_naming_the_url(tmp_path, replica):
    faulty(replica, lambda r: Response(200, {"Content-Type": "text/html"}, b"<html>Service unavailable</html>"),
           times=10**6)
    with pytest.raises(http.UpstreamError, match=r"Treaties.*(not JSON|not a number).*<html>"):
        extract(tmp_path / "var", tmp_path / "run", url=replica.source_urls()["informea"])


def test_landing_is_content_addressed_and_never_rewritten(tmp_path):
    first = land(tmp_path, "informea", "Treaties", b'{"d": []}', url="http://x/a", params={}, status=200,
                 headers={"ETag": '"1"'}, terms="t")
    again = land(tmp_path, "informea", "Treaties", b'{"d": []}', url="http://x/b", params={}, status=200,
                 headers={}, terms="t")
    assert again == first
    meta = json.loads(first.path.with_name(f"{first.sha256}.meta.json").read_text())
    assert meta["url"] == "http://x/a" and meta["etag"] == '"1"' and meta["terms"] == "t"
    assert first.path.read_bytes() == b'{"d": []}'


def test_unchanged_upstream_is_not_downloaded_again(tmp_path, replica):
    url = replica.source_urls()["informea"]
    first = json.loads(extract(tmp_path / "var", tmp_path / "run1", url=url).read_text())
    requests_before = replica.stats.count()
    second = json.loads(extract(tmp_path / "var", tmp_path / "run2", url=url).read_text())
    counts = len(ENTITY_SETS)  # each set's $count is asked again: a number, never a page
    assert replica.stats.count(status=304) == replica.stats.count() - requests_before - counts > 0
    assert replica.stats.count(status=200) == requests_before + counts  # no page came over the wire again
    pages = lambda log: [(p["sha256"], p["raw_path"]) for e in log["entities"].values() for p in e["pages"]]
    assert pages(second) == pages(first)
    assert {p["status"] for e in second["entities"].values() for p in e["pages"]} == {304}
