"""CBD Clearing-House: Solr paging, documents and thesaurus against the replica; quirks; golden output.

Regenerate the golden files after a reviewed change: ``uv run python tests/test_cbd_chm.py --update``.
"""
import csv
import json
import math
import sys
from pathlib import Path

import pandas as pd
import pytest
import requests

from extractors import http
from extractors.cbd_chm import SCHEMAS, THESAURUS_DOMAINS, extract, fetch_index
from replica.server import Replica, Response
from transforms import cbd_chm
from transforms.catalogue import indicators
from transforms.quarantine import Quarantine
from transforms.units import to_unit_code

from golden import assert_matches_golden, load_script, write_golden

SOURCE = "cbd-chm"
UPDATE = "uv run python tests/test_cbd_chm.py --update"
PARTS = ("observations", "report_submissions", "national_targets", "quarantine")


def index(url, **params):
    return requests.get(f"{url}/api/v2013/index", params={"wt": "json", **params}, timeout=10)


def run(tmp_path: Path, url: str, page_size: int = 25) -> Path:
    fetch_log = extract(tmp_path / "var", tmp_path / "run", url=url, page_size=page_size)
    staging = cbd_chm.stage(fetch_log, tmp_path / "var", tmp_path / "run" / "staging")
    return cbd_chm.harmonize(staging, tmp_path / "run" / "parts")


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    with Replica() as server:
        return run(tmp_path_factory.mktemp("cbd-chm"), server.source_urls()["cbd-chm"])


def test_pages_by_start_and_rows_until_num_found(tmp_path, replica):
    url = replica.source_urls()["cbd-chm"]
    pages = fetch_index(http.make_session(), url, "nationalReport7IndicatorData", tmp_path, page_size=7)
    total = index(url, q="schema_s:nationalReport7IndicatorData", rows=0).json()["response"]["numFound"]
    assert len(pages) == math.ceil(total / 7) > 1
    assert all(p["num_found"] == total for p in pages)
    assert "start=7" in pages[1]["url"] and "rows=7" in pages[1]["url"]
    ids = [d["identifier_s"] for p in pages for d in json.loads((tmp_path / p["raw_path"]).read_bytes())["response"]["docs"]]
    assert len(ids) == len(set(ids)) == total


def test_replica_filters_sorts_and_restricts_fields(replica):
    url = replica.source_urls()["cbd-chm"]
    kenya = index(url, q="schema_s:nationalReport7 AND government_s:ke").json()["response"]
    assert kenya["numFound"] == 1 and kenya["docs"][0]["government_s"] == "ke"
    # 2026-11: government_s is a lower-case string field; upper case finds nothing, as upstream
    assert index(url, q="schema_s:nationalReport7 AND government_s:KE").json()["response"]["numFound"] == 0
    docs = index(url, q="schema_s:nationalReport6", sort="id desc", fl="id,government_s", rows=100).json()
    ids = [d["id"] for d in docs["response"]["docs"]]
    assert ids == sorted(ids, reverse=True) and set(docs["response"]["docs"][0]) == {"id", "government_s"}
    assert index(url, q="schema_s:nationalReport6 OR x").status_code == 400


def test_documents_and_thesaurus_with_etag_and_304(replica):
    url = replica.source_urls()["cbd-chm"]
    uid = index(url, q="schema_s:nationalTarget7", rows=1).json()["response"]["docs"][0]["identifier_s"]
    first = requests.get(f"{url}/api/v2013/documents/{uid}", timeout=10)
    assert first.json()["header"]["identifier"] == uid and first.headers["ETag"]
    again = requests.get(f"{url}/api/v2013/documents/{uid}", headers={"If-None-Match": first.headers["ETag"]},
                         timeout=10)
    assert again.status_code == 304 and replica.stats.count(status=304) == 1
    terms = requests.get(f"{url}/api/v2013/thesaurus/domains/GBF-TARGETS/terms", timeout=10).json()
    assert terms[2]["identifier"] == "GBF-TARGET-03" and terms[2]["title"]["en"].startswith("GBF-T03. ")
    assert requests.get(f"{url}/api/v2013/documents/NO-SUCH-UID", timeout=10).status_code == 404


def test_extract_fetches_every_document_and_the_thesaurus(tmp_path, replica):
    url = replica.source_urls()["cbd-chm"]
    log = json.loads(extract(tmp_path / "var", tmp_path / "run", url=url, page_size=40).read_text())
    for schema, with_documents in SCHEMAS.items():
        entry = log["entities"][schema]
        found = sum(p["records"] for p in entry["pages"])
        assert found == entry["pages"][0]["num_found"] > 0, schema
        assert len(entry["deferred"]) == (found if with_documents else 0), schema
    assert [p["domain"] for p in log["entities"]["thesaurus"]["pages"]] == list(THESAURUS_DOMAINS)


def test_a_solr_response_without_num_found_fails_naming_the_url(tmp_path, replica):
    replica.faults = lambda request, response: Response(200, {"Content-Type": "application/json"},
                                                        b'{"response": {"start": 0, "docs": []}}')
    with pytest.raises(http.UpstreamError, match=r"\[cbd-chm\] .*/api/v2013/index.*response.numFound"):
        extract(tmp_path / "var", tmp_path / "run", url=replica.source_urls()["cbd-chm"])


@pytest.mark.parametrize("value, expected", [(12.5, 12.5), ("12.5", 12.5), (" 7 ", 7.0), (3, 3.0)])
def test_values_as_decimals_or_strings(value, expected):
    assert cbd_chm.parse_number(value) == expected


@pytest.mark.parametrize("value", ["not assessed", "12,5", None, "", True])
def test_values_that_are_no_numbers(value):
    with pytest.raises(ValueError):
        cbd_chm.parse_number(value)


def test_lower_case_government_and_units_are_harmonized():
    frame = pd.DataFrame([{"uid": "u1", "government": "ke", "source_url": None, "raw_sha256": "0" * 64,
                           "retrieved_at": "2026-11-28T00:00:00+00:00"},
                          {"uid": "u2", "government": "xx", "source_url": None, "raw_sha256": "0" * 64,
                           "retrieved_at": "2026-11-28T00:00:00+00:00"}])
    quarantine = Quarantine("cbd-chm")
    assert cbd_chm.with_countries(frame, quarantine, "nationalReport7")["country_iso3"].tolist() == ["KEN"]
    assert quarantine.rows[0]["value"] == "xx" and "unknown country" in quarantine.rows[0]["reason"]
    assert to_unit_code("%", "cbd-chm") == to_unit_code(" percent", "cbd-chm") == "PT"
    assert json.loads(cbd_chm.document_links('[{"url": "https://x/a.pdf", "name": "a"}]')) == ["https://x/a.pdf"]


def test_parts_have_the_contract_shapes_and_unique_keys(parts):
    obs = pd.read_parquet(parts / "observations.parquet")
    assert not obs.duplicated(["country_iso3", "convention", "report_cycle", "indicator_code", "year",
                               "disaggregation"]).any()
    assert set(obs["report_cycle"]) == {"cbd:NR7"} and set(obs["convention"]) == {"cbd"}
    assert obs["country_iso3"].nunique() >= 12
    pa = obs[obs["indicator_code"] == "GBF-3.1"]
    assert set(pa["unit"]) == {"PT"} and set(pa["gbf_target"]) == {"GBF-T03"}
    assert {"_T", "Terrestrial", "Marine"} <= set(pa["disaggregation"])
    binary = obs[obs["value_type"] == "categorical"]
    assert set(binary["value_code"]) <= {"yes", "yesFully", "partially", "no"} and binary["value_num"].isna().all()
    targets = pd.read_parquet(parts / "national_targets.parquet")
    assert targets["gbf_target"].str.fullmatch(r"GBF-T(0[1-9]|1[0-9]|2[0-3])").all()
    assert "GBF-T03" in set(targets["gbf_target"])
    reports = pd.read_parquet(parts / "report_submissions.parquet")
    assert set(reports["report_cycle"]) == {"cbd:NR7", "cbd:NR6"}


def test_bad_records_are_quarantined_with_reasons(parts):
    q = pd.read_parquet(parts / "quarantine.parquet")
    reasons = {(r.field, r.value): r.reason for r in q.itertuples()}
    assert "unknown country code or name 'xx'" in reasons[("government", "xx")]
    assert "not in the GBF indicator thesaurus" in reasons[("indicatorCode", "A.9")]
    assert "not a number" in reasons[("data.value", "not assessed")]
    assert "not the catalogue unit 'HA'" in reasons[("unit", "km2")]
    assert "no row in the cbd-chm crosswalk" in reasons[("binaryResponseTarget6.6_2", "??")]
    assert "not a GBF target" in reasons[("globalTargetAlignment", "GBF-TARGET-24")]
    duplicates = q[q["reason"].str.contains("conflicting values")]
    assert len(duplicates) == 2 and duplicates["reason"].nunique() == 1


def test_every_published_indicator_is_catalogued_with_its_target():
    catalogue = indicators()
    with (cbd_chm.CROSSWALKS / "cbd-chm.csv").open(encoding="utf-8") as f:
        mapped = {r["indicator_code"] for r in csv.DictReader(f) if r["rule"] == "map"}
    for code in mapped:
        entry = catalogue[code]
        target = code.removeprefix("GBF-").split(".")[0]
        assert entry["gbf_target"] == (f"GBF-T{int(target):02d}" if target.isdigit() else None), code


def test_catalogue_codes_and_titles_match_the_ort_list(shared_reference):
    reference = shared_reference / "cbd-ort" / "gbf_indicators.csv"
    if not reference.exists():
        pytest.skip("gbf_indicators.csv is not in ../shared/reference-data")
    with reference.open(encoding="utf-8") as f:
        titles = {r["code"]: r["title"] for r in csv.DictReader(f)}
    for code, entry in indicators().items():
        if entry["catalogue_file"] in ("cbd.yaml", "shared.yaml") and code.startswith("GBF-"):
            ort = code.removeprefix("GBF-")
            assert ort in titles, code
            if entry["value_type"] == "numeric":
                assert titles[ort] == f"{ort} {entry['title']}", code


def test_snapshot_rebuilds_byte_for_byte(tmp_path):
    folder = Path(__file__).resolve().parents[1] / "replica" / "snapshots" / "cbd-chm"
    module = load_script(folder / "build_cbd_chm.py")
    builder = module.build()
    for name, payload in (("index.json", builder.index), ("documents.json", builder.documents),
                          ("thesaurus.json", module.thesaurus())):
        module.write(tmp_path / name, payload)
        assert (tmp_path / name).read_bytes() == (folder / name).read_bytes(), f"{name}: rebuild with build_cbd_chm.py"


@pytest.mark.parametrize("part", PARTS)
def test_golden_output(parts, part):
    assert_matches_golden(SOURCE, part, pd.read_parquet(parts / f"{part}.parquet"), UPDATE)


def update_golden() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, Replica() as server:
        out = run(Path(tmp), server.source_urls()["cbd-chm"])
        write_golden(SOURCE, out, PARTS)


if __name__ == "__main__" and "--update" in sys.argv:
    update_golden()
