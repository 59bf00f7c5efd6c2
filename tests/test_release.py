"""Write-audit-publish on the replica: provenance, quarantine, atomic publish, idempotency."""
import hashlib
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from outputs.audit import AuditFailed, audit_release
from outputs.publish import NotAudited, publish
from outputs.release import build_release, read_manifest
from pipeline_helpers import ALL, harmonized_parts, run_pipeline

GOLDEN = Path(__file__).parent / "golden" / "informea"
#: columns that hold retrieval times or hashes of the served bytes; the rest must match the golden files
VOLATILE = {"raw_sha256", "retrieved_at", "first_seen", "last_seen"}


@pytest.fixture
def published(data_dir, upstream):
    return run_pipeline("first")


def test_every_observation_traces_to_a_landed_raw_file(published, data_dir):
    obs = pd.read_parquet(published / "observations.parquet")
    assert len(obs) > 0
    for source, sha in obs[["source_system", "raw_sha256"]].drop_duplicates().itertuples(index=False):
        files = list((data_dir / "raw" / source).glob(f"*/{sha[:2]}/{sha}.*"))
        files = [f for f in files if not f.name.endswith(".meta.json")]
        assert len(files) == 1, (source, sha)
        assert hashlib.sha256(files[0].read_bytes()).hexdigest() == sha
        sidecar = json.loads(files[0].with_name(f"{sha}.meta.json").read_text())
        assert sidecar["sha256"] == sha and sidecar["url"].startswith(("http://127.0.0.1:", "file://"))
    assert obs["source_url"].notna().all() and obs["source_record_id"].notna().all()


def test_quarantine_holds_the_deliberately_bad_records(published):
    q = pd.read_parquet(published / "quarantine.parquet")
    reasons = {(r.field, r.value): r.reason for r in q.itertuples()}
    assert "unknown country code or name 'XZ'" in reasons[("country", "XZ")]
    assert "unknown country" in reasons[("country", "QQQ")]
    assert "is not in Treaties" in reasons[("treaty", "iwc")]
    assert "is not in Treaties" in reasons[("treaty", "ospar")]
    assert "not an OData date" in reasons[("submission", "/Date(not-a-date)/")]
    assert "not an OData date" in reasons[("submission", "2019-13-45")]
    assert sum(1 for (field, _), r in reasons.items() if field == "id") >= 1
    assert q[q.field == "id"]["source_record_id"].str.contains("@").all()
    undated_ramsar = q[(q.field == "title") & q.reason.str.contains("no ramsar report-cycle rule")]
    assert len(undated_ramsar) == 2
    manifest = read_manifest(published)
    assert manifest["quarantine"]["rows"] == len(q) > 0


def test_duckdb_matches_the_release_parquet(published, data_dir):
    with duckdb.connect(str(data_dir / "mea.duckdb"), read_only=True) as con:
        for table, info in read_manifest(published)["tables"].items():
            n_db = con.execute(f'select count(*) from "{table}"').fetchone()[0]
            n_pq = con.execute("select count(*) from read_parquet(?)", [str(published / f"{table}.parquet")]).fetchone()[0]
            assert n_db == n_pq == info["rows"], table
    assert (data_dir / "current").resolve() == published


def test_same_inputs_give_the_same_release(published, data_dir):
    second = run_pipeline("second")
    assert second != published
    manifest = read_manifest(second)
    assert manifest["diff"]["previous_release"] == published.name
    assert manifest["diff"]["changed"] is False
    for table, info in manifest["tables"].items():
        assert info["sha256"] == read_manifest(published)["tables"][table]["sha256"], table
        assert (second / f"{table}.parquet").read_bytes() == (published / f"{table}.parquet").read_bytes(), table


def test_failing_audit_leaves_current_untouched(published, data_dir):
    parts = harmonized_parts("broken")
    obs_file = Path(parts[0]) / "observations.parquet"
    obs = pd.read_parquet(obs_file)
    obs.loc[0, "country_iso3"] = "XXX"  # not a country: the audit must catch it
    obs.to_parquet(obs_file, index=False)
    release = build_release(parts, ALL, "broken")
    with pytest.raises(AuditFailed, match="observations: expect_column_values_to_be_in_set\\(country_iso3\\)"):
        audit_release(release)
    with pytest.raises(NotAudited):
        publish(release)
    assert (data_dir / "current").resolve() == published
    with duckdb.connect(str(data_dir / "mea.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from observations where country_iso3 = 'XXX'").fetchone()[0] == 0


def test_params_restrict_the_release_to_a_slice(data_dir, upstream):
    params = {**ALL, "countries": ["KEN"], "cycles": []}
    release = run_pipeline("slice", params)
    obs = pd.read_parquet(release / "observations.parquet")
    assert set(obs["country_iso3"]) == {"KEN"}
    assert read_manifest(release)["params"]["countries"] == ["KEN"]


def sorted_csv(frame: pd.DataFrame) -> str:
    """InforMEA's rows (other sources have golden files of their own), sorted, without volatile columns."""
    if "source_system" in frame.columns:
        frame = frame[frame["source_system"] == "informea"]
    stable = frame[[c for c in frame.columns if c not in VOLATILE]]
    return stable.sort_values(list(stable.columns)).to_csv(index=False, lineterminator="\n")


@pytest.mark.parametrize("table", ["observations", "report_submissions", "conventions", "quarantine"])
def test_informea_golden_output(published, table):
    """Snapshot in, harmonized rows out: the replica's InforMEA snapshot against reviewed golden files."""
    actual = sorted_csv(pd.read_parquet(published / f"{table}.parquet"))
    golden = GOLDEN / f"{table}.csv"
    assert actual == golden.read_text(encoding="utf-8"), f"regenerate with tests/update_golden.py after review"


def test_failed_sources_are_the_selected_ones_without_parts():
    from outputs.release import failed_sources

    parts = {"informea": "/x/parts", "cbd-chm": None, "sdg-api": None}
    assert failed_sources(parts, {"sources": []}) == ["cbd-chm", "sdg-api"]
    assert failed_sources(parts, {"sources": ["informea", "sdg-api"]}) == ["sdg-api"]


def test_partial_release_is_flagged_with_the_failed_sources(data_dir, upstream):
    params = {**ALL, "allow_partial": True}
    release = build_release(harmonized_parts("partial", params), params, "partial", ["cbd-chm"])
    manifest = read_manifest(release)
    assert manifest["partial"] is True and manifest["failed_sources"] == ["cbd-chm"]


def test_overlapping_sources_keep_the_preferred_one_and_quarantine_the_other():
    from outputs.release import resolve_overlaps

    row = {"country_iso3": "KEN", "convention": "cbd", "report_cycle": "cbd:NR7", "indicator_code": "GBF-3.1",
           "year": 2024, "disaggregation": "_T", "value_num": 17.0, "value_code": None, "source_field": "value",
           "source_record_id": "r1", "raw_sha256": "a" * 64, "source_url": "u", "retrieved_at": "2026-11-28T00:00:00+00:00"}
    frame = pd.DataFrame([{**row, "source_system": "cbd-ort-excel", "value_num": 16.5},
                          {**row, "source_system": "cbd-chm"}])
    kept, quarantined = resolve_overlaps(frame)
    assert kept["source_system"].tolist() == ["cbd-chm"] and kept["value_num"].tolist() == [17.0]
    assert quarantined["source_system"].tolist() == ["cbd-ort-excel"]
    assert quarantined["reason"].item().startswith("superseded by cbd-chm")


def test_coverage_expects_every_party_seen_in_any_cycle():
    from outputs.release import coverage

    submissions = pd.DataFrame([
        {"country_iso3": "KEN", "convention": "cms", "report_cycle": "cms:COP13", "report_type": "national_report",
         "submitted_on": "2019-05-01", "source_record_id": "a"},
        {"country_iso3": "KEN", "convention": "cms", "report_cycle": "cms:COP14", "report_type": "national_report",
         "submitted_on": "2023-04-01", "source_record_id": "b"},
        {"country_iso3": "PER", "convention": "cms", "report_cycle": "cms:COP14", "report_type": "national_report",
         "submitted_on": "2023-03-01", "source_record_id": "c"},
        {"country_iso3": "PER", "convention": "cbd", "report_cycle": "cbd:NBSAP", "report_type": "nbsap",
         "submitted_on": "2016-03-01", "source_record_id": "d"},
    ])
    cells = {(r.country_iso3, r.report_cycle): (r.submitted, r.records) for r in coverage(submissions).itertuples()}
    assert cells == {("KEN", "cms:COP13"): (True, 1), ("KEN", "cms:COP14"): (True, 1),
                     ("PER", "cms:COP13"): (False, 0), ("PER", "cms:COP14"): (True, 1)}
