"""State per upstream: the same data folder pointed at another InforMEA service builds on nothing
of the first one's (cursors, validators, carried pages, reused parts), and says so."""
from __future__ import annotations

import json
import logging
import shutil
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from core.manifest import read_manifest
from core.sources import upstream_id
from outputs import history
from outputs.release import MixedUpstreams, build_release
from pipeline_helpers import ALL, harmonized_parts, run_pipeline
from replica.server import SNAPSHOTS, Replica

pytestmark = pytest.mark.e2e
#: records of the second service that the first one does not have
ONLY_SECOND = ("b0000000-0000-4000-8000-000000000001", "b0000000-0000-4000-8000-000000000002")


def second_service_snapshot(root: Path) -> tuple[Path, set[str]]:
    """A copy of the InforMEA snapshot that differs: the first 40 CountryReports gone, two new ones
    (copies of kept reports under new ids). Returns the folder and the ids it serves."""
    folder = root / "second-upstream"
    shutil.copytree(SNAPSHOTS, folder)
    path = folder / "informea" / "CountryReports.json"
    reports = json.loads(path.read_text())[40:]
    for new_id, template in zip(ONLY_SECOND, [r for r in reports if r.get("id")][:2]):
        reports.append({**json.loads(json.dumps(template).replace(template["id"], new_id))})
    path.write_text(json.dumps(reports))
    return folder, served_ids(folder)


def served_ids(folder: Path) -> set[str]:
    """Ids of the CountryReports a snapshot serves (two reports have none on purpose)."""
    return {r["id"] for r in json.loads((folder / "informea" / "CountryReports.json").read_text()) if r.get("id")}


def informea_records(release: Path) -> set[str]:
    """InforMEA CountryReport ids in the release, submissions and quarantine alike (not the
    made-up id of a record that has none)."""
    with duckdb.connect() as con:
        return {row[0] for row in con.execute(
            "SELECT source_record_id FROM read_parquet(?) WHERE source_system = 'informea' AND report_type = "
            "'national_report' UNION SELECT source_record_id FROM read_parquet(?) WHERE source_system = 'informea' "
            "AND entity = 'CountryReports' AND source_record_id NOT LIKE 'CountryReports@%'",
            [str(release / "report_submissions.parquet"), str(release / "quarantine.parquet")]).fetchall()}


def fetched_urls(release: Path) -> list[str]:
    fetch_log = json.loads(Path(read_manifest(release)["inputs"]["informea"]["fetch_log"]).read_text())
    assert all("carried" not in entity for entity in fetch_log["entities"].values()), "pages were carried over"
    return [page["url"] for entity in fetch_log["entities"].values() for page in entity["pages"]]


@contextmanager
def state_log():
    """What ``core.state`` logs meanwhile: a handler of its own, as Airflow's logging set-up, which
    the run triggers, replaces the root handlers that pytest's caplog listens on."""
    said, logger = [], logging.getLogger("core.state")
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())
    logger.addHandler(handler)
    try:
        yield said
    finally:
        logger.removeHandler(handler)


def test_another_upstream_starts_from_nothing_and_back(upstream, data_dir, tmp_path, monkeypatch, capsys):
    first_url = upstream.source_urls()["informea"]
    second_folder, second_ids = second_service_snapshot(tmp_path)
    first_ids = served_ids(SNAPSHOTS)
    assert first_ids - second_ids and set(ONLY_SECOND) <= second_ids - first_ids

    with Replica(snapshot_dir=second_folder) as second:
        second_url = second.source_urls()["informea"]
        assert second_url != first_url

        first = run_pipeline("first-upstream")
        assert read_manifest(first)["inputs"]["informea"]["base_url"] == first_url
        assert informea_records(first) == first_ids

        monkeypatch.setenv("MEA_INFORMEA_URL", second_url)
        with state_log() as said:
            switched = run_pipeline("second-upstream")
        manifest = read_manifest(switched)
        assert manifest["inputs"]["informea"]["base_url"] == second_url
        assert manifest["upstream_resets"] == {"informea": {"from": first_url, "to": second_url}}
        assert informea_records(switched) == second_ids
        assert all(url.startswith(second_url) for url in fetched_urls(switched))
        assert [line for line in said if "upstream changed" in line] == [f"[informea] upstream changed from {first_url} to {second_url}: its published state is "
                          "not built on; fetching everything, carrying nothing"]
        # the other sources kept their upstream, and with it their parts
        assert manifest["inputs"]["cms-ors"]["base_url"] == upstream.source_urls()["cms-ors"]

        monkeypatch.setenv("MEA_INFORMEA_URL", first_url)
        back = run_pipeline("back-to-first")
        assert informea_records(back) == first_ids
        assert read_manifest(back)["upstream_resets"] == {"informea": {"from": second_url, "to": first_url}}
        assert all(url.startswith(first_url) for url in fetched_urls(back))

    history.main(["list"])
    listing = capsys.readouterr().out
    assert [line for line in listing.splitlines() if line.startswith("    ")] == [
        f"    informea: upstream {first_url} -> {second_url}", f"    informea: upstream {second_url} -> {first_url}"]


def test_validators_and_parts_of_one_upstream_are_not_used_for_another(upstream, data_dir, monkeypatch):
    """The second service serves the same snapshot: it would answer 304 to the first one's ETags
    if they were sent, replaying raw files it never sent, and its pages would have the first
    one's fingerprint."""
    run_pipeline("first")
    with Replica() as second:
        monkeypatch.setenv("MEA_INFORMEA_URL", second.source_urls()["informea"])
        run_pipeline("second")
        traffic = second.stats.traffic({"informea": "/informea.svc"})["informea"]
    assert traffic["requests"] > 0 and traffic["not_modified"] == 0
    # the same bytes from another upstream are harmonized again; the sources that kept theirs are reused
    assert not (data_dir / "runs" / "second" / "informea" / "staging" / "reused.json").exists()
    assert (data_dir / "runs" / "second" / "cms-ors" / "staging" / "reused.json").exists()


def test_a_slice_is_refused_when_its_source_changed_upstream(upstream, data_dir, tmp_path, monkeypatch):
    run_pipeline("whole")
    second_folder, _ = second_service_snapshot(tmp_path)
    with Replica(snapshot_dir=second_folder) as second:
        monkeypatch.setenv("MEA_INFORMEA_URL", second.source_urls()["informea"])
        params = {**ALL, "sources": ["informea"], "countries": ["KEN"]}
        with pytest.raises(MixedUpstreams, match=r"\[informea\] upstream changed from .* Run the whole source once"):
            build_release(harmonized_parts("kenya-only", params), params, "kenya-only")


def test_the_upstream_names_the_account_never_the_credential(monkeypatch):
    monkeypatch.setenv("MEA_CMS_ORS_TOKEN", "s3cret-token-value")
    identity = upstream_id("cms-ors", "http://127.0.0.1:1/cms")
    assert identity.startswith("http://127.0.0.1:1/cms as credential sha256:")
    assert "s3cret" not in identity
    monkeypatch.setenv("MEA_CMS_ORS_TOKEN", "another-token")
    assert upstream_id("cms-ors", "http://127.0.0.1:1/cms") != identity
    assert upstream_id("informea", "http://127.0.0.1:1/informea.svc") == "http://127.0.0.1:1/informea.svc"
