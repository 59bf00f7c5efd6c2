"""A smoke of bench/: the generator at a tiny scale and the harness pieces, on structure only
(benchmarks are not tests: nothing here is about time)."""
from __future__ import annotations

import io
import json
import zipfile

import openpyxl
import pytest
import requests

from bench import baselines, generate, run
from replica.server import Replica

SCALE = 0.0002  # 46 members x 100 rows, 4 CountryReports, 1 NationalPlan, 40 CBD rows, 30 SDG rows


@pytest.fixture(scope="module")
def scaled(tmp_path_factory):
    return generate.generate(SCALE, tmp_path_factory.mktemp("bench") / "scale")


def test_generated_counts_match_the_scale(scaled):
    want = generate.targets(SCALE)
    with zipfile.ZipFile(scaled / "cites-trade" / "trade_db.zip") as zf:
        members = [n for n in zf.namelist() if n.endswith(".csv")]
        rows = [zf.read(n).decode().splitlines() for n in members]
    assert len(members) == want["cites_members"] == 46
    assert {len(lines) - 1 for lines in rows} == {want["cites_rows_per_member"]} == {100}
    assert rows[0][0].split(",") == generate.load_script(
        generate.SNAPSHOTS / "cites-trade" / "build_cites_trade.py").RELEASE_COLUMNS
    read = lambda *path: json.loads(scaled.joinpath(*path).read_text())  # noqa: E731
    assert len(read("informea", "CountryReports.json")) == want["informea_country_reports"]
    assert len(read("informea", "NationalPlans.json")) == want["informea_national_plans"]
    assert sum(len(doc.get("data", [])) for doc in read("cbd-chm", "documents.json").values()
               if doc["header"]["schema"] == "nationalReport7IndicatorData") == want["cbd_indicator_rows"]
    assert len(read("sdg-api", "SeriesData.json")) == want["sdg_rows"]
    respondents = {len(q["respondents"]) for q in read("cms-ors", "questionnaires.json")}
    assert respondents == {want["parties"]}
    book = openpyxl.load_workbook(scaled / "ramsar-nrf" / "inbox" / "Ramsar_NRF_COP14_answers.xlsx")
    assert book["NRF"].max_row - 3 == want["parties"]  # two title rows and the header
    manifest = read("manifest.json")
    assert manifest["counts"]["cites_rows"] == 46 * 100


def test_generation_is_deterministic_and_keeps_namibia(scaled, tmp_path):
    again = generate.generate(SCALE, tmp_path / "again")
    for path in ("cites-trade/trade_db.zip", "informea/CountryReports.json", "cbd-chm/documents.json",
                 "sdg-api/SeriesData.json"):
        assert (again / path).read_bytes() == (scaled / path).read_bytes(), path
    assert any(c["iso2"] == "NA" for c in generate.party_sample(generate.random.Random(1), 10))


def test_replica_serves_the_folder_with_paging_and_counts_traffic(scaled):
    with Replica(snapshot_dir=scaled) as replica:
        url = replica.source_urls()["informea"] + "/CountryReports"
        body = requests.get(url, params={"$format": "json", "$top": 3}, timeout=10).json()["d"]
        assert len(body["results"]) == 3
        release = requests.get(replica.source_urls()["cites-trade"] + "/cites_trade/download_db", timeout=10)
        traffic = replica.traffic()
    assert zipfile.ZipFile(io.BytesIO(release.content)).testzip() is None
    assert traffic["cites-trade"] == {"requests": 1, "bytes": len(release.content), "not_modified": 0}
    assert traffic["total"]["requests"] == 2


@pytest.mark.parametrize("name", ["cites-pandas", "cites-copy-floor"])
def test_cites_baselines_read_every_row(scaled, tmp_path, name):
    assert baselines.BASELINES[name](scaled / "cites-trade" / "trade_db.zip", tmp_path) == 46 * 100


def test_informea_sequential_baseline_fetches_every_record(scaled, tmp_path):
    with Replica(snapshot_dir=scaled, public_url=None) as replica:
        fetched = baselines.informea_sequential(replica.source_urls()["informea"], tmp_path)
    want = generate.targets(SCALE)
    assert fetched == want["informea_country_reports"] + want["informea_national_plans"] + 15  # 15 treaties


def test_summary_has_exactly_the_latest_keys_and_a_table():
    tasks = {f"{stage}_{run.slug(s)}": {"seconds": 1.0, "peak_rss_mb": 100.0}
             for s in run.SOURCES for stage in run.STAGES}
    tasks |= {name: {"seconds": 1.0, "peak_rss_mb": 100.0} for name in run.FINAL_TASKS}
    traffic = {s: {"requests": 10, "bytes": 1000, "not_modified": 0} for s in [*run.SOURCES, "total"]}
    night = {"seconds": 30.0, "tasks": {"audit_release": 2.0}, "traffic": traffic}
    iteration = {"airflow": {"full": night, "nochange": {**night, "seconds": 20.0}},
                 "stages": {"tasks": tasks, "traffic": traffic, "informea_parse_s": 0.1},
                 "baselines": {name: {"seconds": 5.0} for name in run.BASELINES} | {"informea-dlt": None},
                 "floor": {"seconds": 15.0}}
    raw = {"scale": SCALE, "runs": 1, "concurrency": 8, "latency_ms": 50, "counts": {}, "iterations": [iteration],
           "dag_parse": [0.2]}
    summary = run.summarise(raw)
    assert tuple(summary["latest"]) == run.LATEST_KEYS
    assert summary["latest"]["informea_vs_dlt"] is None  # a baseline that could not run is reported as such
    assert summary["latest"]["nochange_share"] == pytest.approx((20 - 15) / (30 - 15), abs=1e-3)
    assert "extract_cites_trade" in run.table(raw, summary)
