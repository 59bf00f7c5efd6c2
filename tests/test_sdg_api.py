"""The SDG Global Database source: paging against the replica, envelope, M49 areas, value quirks, golden files.

Regenerate the golden files after a reviewed change: ``uv run python tests/test_sdg_api.py --update``.
"""
import json
import math
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
import requests

from extractors import http
from extractors.sdg_api import ENVELOPE, extract, fetch_series, series_codes
from outputs import contracts
from replica.server import Replica, Response
from transforms.countries import UnknownCountry, to_iso3
from transforms.observations import NATURAL_KEY
from transforms.quarantine import Quarantine
from transforms.sdg_api import (BadValue, disaggregation, first_of_each, harmonize, is_aggregate, m49_code,
                                parse_value, parse_year, report_cycle, series_rules, stage)

from golden import assert_matches_golden, load_script, sorted_csv, write_golden

REPO = Path(__file__).resolve().parents[1]
SOURCE = "sdg-api"
SNAPSHOT = REPO / "replica" / "snapshots" / "sdg-api"
GOLDEN_PAGE_SIZE = 40
TABLES = ("observations", "sdg_aggregates", "quarantine")
AGGREGATES = {"001", "002", "019", "142", "150", "009", "199", "722"}


def run(tmp: Path, url: str, page_size: int = GOLDEN_PAGE_SIZE) -> Path:
    """Extract, stage and harmonize the replica's snapshot; the parts folder."""
    fetch_log = extract(tmp / "var", tmp / "run", url=url, page_size=page_size)
    staging = stage(fetch_log, tmp / "var", tmp / "run" / "staging")
    return harmonize(staging, tmp / "run" / "parts")


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    with Replica() as server:
        url = server.source_urls()["sdg-api"]
        yield run(tmp_path_factory.mktemp("sdg"), url), url


def part(parts, table: str) -> pd.DataFrame:
    return pd.read_parquet(parts[0] / f"{table}.parquet")


def stable_csv(frame: pd.DataFrame, url: str) -> str:
    """Sorted CSV without the volatile columns, the replica's port-bearing URL written as {MEA_SDG_API_URL}."""
    return sorted_csv(frame).replace(url, "{MEA_SDG_API_URL}")


# Paging and the envelope, against the replica.

def test_pages_by_page_and_page_size_until_total_pages(tmp_path, replica):
    url = replica.source_urls()["sdg-api"]
    total = requests.get(f"{url}/v1/sdg/Series/Data", params={"seriesCode": "ER_PTD_TERR"}, timeout=10).json()
    pages = fetch_series(http.make_session(), url, "ER_PTD_TERR", tmp_path, page_size=20)
    assert len(pages) == math.ceil(total["totalElements"] / 20) > 3
    assert [re.search(r"[?&]page=(\d+)", p["url"])[1] for p in pages] == [str(n) for n in range(1, len(pages) + 1)]
    assert all("pageSize=20" in p["url"] for p in pages)
    rows = [r for p in pages for r in json.loads((tmp_path / p["raw_path"]).read_bytes())["data"]]
    assert len(rows) == sum(p["records"] for p in pages) == total["totalElements"]
    assert {r["series"] for r in rows} == {"ER_PTD_TERR"}


def test_the_envelope_has_every_field_and_lists_the_codes_used(replica):
    url = replica.source_urls()["sdg-api"]
    body = requests.get(f"{url}/v1/sdg/Series/Data", params={"seriesCode": "EN_WBE_INWTL", "page": 2,
                                                             "pageSize": 10}, timeout=10).json()
    assert list(body) == list(ENVELOPE)
    assert body["pageNumber"] == 2 and body["size"] == 10 and len(body["data"]) == 10
    assert body["totalPages"] == math.ceil(body["totalElements"] / 10)
    dims = {d["id"]: {c["code"] for c in d["codes"]} for d in body["dimensions"]}
    assert dims == {"Location": {"ALLAREA", "URBAN", "RURAL"}, "Reporting Type": {"G"}}
    assert {a["id"] for a in body["attributes"]} == {"Nature", "Units"}


def test_extract_fetches_the_series_list_and_every_reviewed_series(tmp_path, replica):
    fetch_log = json.loads(extract(tmp_path / "var", tmp_path / "run", url=replica.source_urls()["sdg-api"],
                                   page_size=30).read_text())
    assert set(fetch_log["entities"]) == {"SeriesList"} | {f"SeriesData.{c}" for c in series_codes()}
    assert len(fetch_log["entities"]["SeriesData.ER_PTD_TERR"]["pages"]) == 4  # 95 rows by 30
    page = fetch_log["entities"]["SeriesList"]["pages"][0]
    assert "allreleases=false" in page["url"] and (tmp_path / "var" / page["raw_path"]).exists()


def test_etag_gives_304(replica):
    url = f"{replica.source_urls()['sdg-api']}/v1/sdg/Series/Data?seriesCode=ER_RSK_LST&page=1&pageSize=5"
    first = requests.get(url, timeout=10)
    again = requests.get(url, headers={"If-None-Match": first.headers["ETag"]}, timeout=10)
    assert first.status_code == 200 and again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == first.headers["ETag"]


@pytest.mark.parametrize("params", [{}, {"seriesCode": "ER_RSK_LST", "page": "0"},
                                    {"seriesCode": "ER_RSK_LST", "pageSize": "x"}])
def test_bad_requests_get_400(replica, params):
    response = requests.get(f"{replica.source_urls()['sdg-api']}/v1/sdg/Series/Data", params=params, timeout=10)
    assert response.status_code == 400 and "message" in response.json()


def test_envelope_without_a_field_fails_naming_the_url(tmp_path, replica):
    def drop_total_pages(request, response):
        if "Series/Data" not in request.path:
            return response
        body = json.loads(response.body)
        del body["totalPages"]
        return Response(200, {"Content-Type": "application/json"}, json.dumps(body).encode())

    replica.faults = drop_total_pages
    with pytest.raises(http.UpstreamError, match=r"\[sdg-api\] .*Series/Data\?seriesCode=.*lacks \['totalPages'\]"):
        extract(tmp_path / "var", tmp_path / "run", url=replica.source_urls()["sdg-api"])


def test_row_without_a_field_fails_staging_naming_the_url(tmp_path, replica):
    def drop_value(request, response):
        if "Series/Data" not in request.path:
            return response
        body = json.loads(response.body)
        body["data"][0].pop("value")  # one row: a field gone from every row is drift, refused at extract
        return Response(200, {"Content-Type": "application/json"}, json.dumps(body).encode())

    replica.faults = drop_value
    fetch_log = extract(tmp_path / "var", tmp_path / "run", url=replica.source_urls()["sdg-api"])
    with pytest.raises(ValueError, match=r"\[sdg-api\] http://127.0.0.1:\d+/sdg/v1/sdg/Series/Data.* lacks \['value"):
        stage(fetch_log, tmp_path / "var", tmp_path / "staging")


def test_body_that_is_not_json_fails_naming_the_url(tmp_path, replica):
    replica.faults = lambda request, response: Response(200, {"Content-Type": "text/html"}, b"<html>down</html>")
    with pytest.raises(http.UpstreamError, match=r"Series/List.*not JSON.*<html>"):
        extract(tmp_path / "var", tmp_path / "run", url=replica.source_urls()["sdg-api"])


# Areas, values and the reviewed rules.

@pytest.mark.parametrize("code, m49, iso3", [("8", "008", "ALB"), ("12", "012", "DZA"), ("76", "076", "BRA"),
                                             ("404", "404", "KEN"), (516, "516", "NAM"), ("412", "412", "XKX")])
def test_m49_codes_are_zero_padded_and_mapped_to_iso3(code, m49, iso3):
    assert m49_code(code) == m49
    assert to_iso3(m49, source="sdg-api") == iso3


def test_aggregates_and_unknown_areas_are_told_apart():
    assert all(is_aggregate(m49_code(c)) for c in ("1", "2", "9", "19", "199", "722"))
    for code in ("899", "736"):  # unknown; a former state
        assert not is_aggregate(code)
    with pytest.raises(UnknownCountry, match="is not a country"):
        to_iso3("001", source="sdg-api")
    with pytest.raises(BadValue, match="not an M49 number"):
        m49_code("XK")


@pytest.mark.parametrize("value, expected", [("12.5", 12.5), ("0.8123", 0.8123), ("100", 100.0), (" 7 ", 7.0)])
def test_values_are_parsed_from_strings(value, expected):
    assert parse_value(value) == expected


@pytest.mark.parametrize("value, reason", [("NaN", "not a finite number"), ("", "empty value"),
                                           (None, "empty value"), (">95", "not a number"),
                                           ("<1", "not a number"), ("inf", "not a finite number")])
def test_value_quirks_are_refused_with_a_reason(value, reason):
    with pytest.raises(BadValue, match=reason) as caught:
        parse_value(value)
    assert caught.value.field == "value"


def test_years_and_release_cycles():
    assert parse_year(2020.0) == 2020 and parse_year("2015") == 2015
    with pytest.raises(BadValue, match="whole year"):
        parse_year(2020.5)
    assert report_cycle("2025.Q2.G.01") == "sdg:2025-Q2"
    assert re.fullmatch(r"^[a-z][a-z-]*:[A-Za-z0-9-]+$", report_cycle("2024.Q4.G.01"))
    with pytest.raises(BadValue, match="release"):
        report_cycle("latest")


@pytest.mark.parametrize("dimensions, expected", [
    ({"Reporting Type": "G"}, "_T"), ({}, "_T"), (None, "_T"),
    ({"Reporting Type": "G", "Location": "ALLAREA", "Sex": "BOTHSEX"}, "_T"),
    ({"Reporting Type": "G", "Location": "URBAN"}, "LOCATION=URBAN"),
    ({"Sex": "FEMALE", "Location": "RURAL", "Age": "ALLAGE"}, "LOCATION=RURAL;SEX=FEMALE"),
])
def test_disaggregation_from_dimensions(dimensions, expected):
    assert disaggregation(dimensions) == expected


def test_series_rules_agree_with_the_catalogue_and_name_real_conventions():
    treaties = {t["id"] for t in json.loads((REPO / "replica/snapshots/informea/Treaties.json").read_text())}
    rules = series_rules()
    assert {"ER_PTD_TERR", "ER_MRN_MPA", "ER_RSK_LST", "AG_LND_FRST", "EN_WBE_INWTL"} <= set(rules)
    assert {r["convention"] for r in rules.values()} <= treaties
    assert rules["ER_PTD_TERR"]["gbf_target"] == rules["ER_MRN_MPA"]["gbf_target"] == "GBF-T03"
    assert rules["ER_RSK_LST"]["gbf_target"] == "GBF-T04" and rules["EN_WBE_INWTL"]["convention"] == "ramsar"


def test_a_total_written_two_ways_is_one_value():
    rows = pd.DataFrame([{"record_id": rid, "dimensions": dims, "raw_sha256": "0" * 64, "source_url": "u",
                          "retrieved_at": "t", **dict.fromkeys(NATURAL_KEY, "k")}
                         for rid, dims in (("S/404/2020", "{}"), ("S/404/2020/x", '{"Location": "ALLAREA"}'))])
    quarantine = Quarantine("sdg-api")
    kept = first_of_each(rows, NATURAL_KEY, quarantine)
    assert list(kept["record_id"]) == ["S/404/2020"]
    assert quarantine.rows[0]["source_record_id"] == "S/404/2020/x" and "as S/404/2020" in quarantine.rows[0]["reason"]


# The snapshot end to end.

def test_build_script_reproduces_the_committed_snapshot(tmp_path):
    for name, payload in load_script(SNAPSHOT / "build.py").build().items():
        text = json.dumps(payload, indent=1, ensure_ascii=False) + "\n"
        assert text == (SNAPSHOT / name).read_text(encoding="utf-8"), name


def test_parts_have_the_contract_columns(parts):
    for table in TABLES:
        contracts.conform(table, part(parts, table))


def test_aggregates_are_kept_out_of_country_rows(parts):
    obs, agg = part(parts, "observations"), part(parts, "sdg_aggregates")
    assert set(agg["area_m49"]) == AGGREGATES
    assert not obs["source_record_id"].str.split("/").str[1].map(lambda c: c.zfill(3)).isin(AGGREGATES).any()
    assert len(obs["country_iso3"].unique()) == 26  # 25 countries and Kosovo
    assert agg["observation_id"].is_unique and set(agg["series_code"]) == set(series_codes())


def test_observations_are_keyed_and_traceable(parts):
    obs = part(parts, "observations")
    assert not obs.duplicated(NATURAL_KEY).any() and obs["observation_id"].is_unique
    assert set(obs["report_cycle"]) == {"sdg:2025-Q2", "sdg:2024-Q4"}
    assert set(obs["observation_status"]) == {"reported", "derived", "estimated"}
    assert obs[["raw_sha256", "retrieved_at", "source_url", "source_record_id"]].notna().all().all()
    urban = obs[obs["disaggregation"] == "LOCATION=URBAN"]
    assert set(urban["country_iso3"]) == {"KEN", "BRA", "IND"} and set(urban["indicator_code"]) == {"SDG-6.6.1"}
    by_convention = obs.groupby("convention").size().to_dict()
    assert by_convention == {"cbd": 270, "ramsar": 56}


def test_quarantine_holds_the_deliberately_bad_records(parts):
    q = part(parts, "quarantine")
    reasons = {(r.source_record_id, r.field): r.reason for r in q.itertuples()}
    assert "neither a country nor a reviewed aggregate" in reasons[("ER_PTD_TERR/899/2020", "geoAreaCode")]
    assert "Sudan" in reasons[("AG_LND_FRST/736/2010", "geoAreaCode")]
    assert reasons[("ER_PTD_TERR/516/2010", "value")] == "empty value"
    assert "'>95' is not a number" in reasons[("ER_PTD_TERR/276/2010", "value")]
    assert "'NaN' is not a finite number" in reasons[("ER_RSK_LST/583/2010", "value")]
    assert "Nature 'N'" in reasons[("EN_WBE_INWTL/686/2010", "attributes.Nature")]
    assert "duplicate row" in reasons[("ER_PTD_TERR/404/2020", "series/geoAreaCode/timePeriodStart/dimensions")]
    assert len(q) == 7 and not q.duplicated(contracts.key("quarantine")).any()


@pytest.mark.parametrize("table", TABLES)
def test_sdg_api_golden_output(parts, table):
    """Snapshot in, harmonized rows out, against the reviewed golden files."""
    assert_matches_golden(SOURCE, table, part(parts, table), "uv run python tests/test_sdg_api.py --update",
                          lambda frame: stable_csv(frame, parts[1]))


def update_golden() -> None:
    """Rewrite tests/golden/sdg-api/*.csv from a run on the replica snapshot."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, Replica() as server:
        url = server.source_urls()["sdg-api"]
        write_golden(SOURCE, run(Path(tmp), url), TABLES, lambda frame: stable_csv(frame, url))


if __name__ == "__main__":
    if "--update" not in sys.argv:
        sys.exit("usage: uv run python tests/test_sdg_api.py --update")
    update_golden()
