"""Operating the pipeline: no-change nights, revisions, backfills, re-processing, a killed publish, alerts."""
import json
import os
import shutil
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote_plus

import pandas as pd
import pytest

from core.manifest import read_manifest
from core.state import NothingPublished
from pipeline_helpers import ALL, run_pipeline, serving
from replica.server import SNAPSHOTS

REPO = Path(__file__).resolve().parents[1]
BULK_PATH = "/cites/cites_trade/download_db"


def only(*sources: str, **extra) -> dict:
    return {**ALL, "sources": list(sources), **extra}


def rows(release: Path, table: str = "observations") -> pd.DataFrame:
    frame = pd.read_parquet(release / f"{table}.parquet")
    return frame.sort_values(list(frame.columns[:1])).reset_index(drop=True)


@pytest.fixture
def snapshot(tmp_path) -> Path:
    """A copy of the replica snapshots that a test may change, as an upstream change would."""
    folder = tmp_path / "snapshots"
    shutil.copytree(SNAPSHOTS, folder)
    return folder


def test_a_no_change_night_downloads_no_bulk_file_and_publishes_no_new_content(data_dir, upstream):
    first = run_pipeline("night-1")
    bulk_before = upstream.stats.count(path=BULK_PATH, status=200)
    second = run_pipeline("night-2")
    assert bulk_before == 1
    assert upstream.stats.count(path=BULK_PATH, status=200) == 1, "the bulk release was downloaded again"
    assert upstream.stats.count(path=BULK_PATH, status=304) == 1
    assert second == first, "a night with no upstream change built and published a new release"
    assert (data_dir / "current").resolve() == first
    assert sorted(p.name for p in (data_dir / "releases").iterdir() if not p.name.startswith(".")) == [first.name]


def test_a_no_change_night_parses_nothing_and_reuses_every_source_s_parts(data_dir, upstream, monkeypatch):
    first = run_pipeline("night-1")

    def no_parsing(package, source):
        raise AssertionError(f"{package}.{source} was run on a night with no upstream change")

    monkeypatch.setattr("transforms.pipeline.source_module", no_parsing)
    second = run_pipeline("night-2")
    for source in ALL["sources"]:
        assert (data_dir / "runs" / "night-2" / source / "staging" / "reused.json").exists(), source
    assert second == first


def test_a_re_processing_run_re_harmonizes_even_when_nothing_changed(data_dir, upstream):
    run_pipeline("night-1")
    run_pipeline("again", only("sdg-api", reprocess=True))
    assert not (data_dir / "runs" / "again" / "sdg-api" / "staging" / "reused.json").exists()
    assert (data_dir / "runs" / "again" / "sdg-api" / "parts" / "observations.parquet").exists()


def published_before_the_change(snapshot: Path, monkeypatch, *sources: str) -> tuple[Path, int]:
    """A first release of ``sources``, and the replica port to serve the changed snapshot on."""
    with serving(snapshot, monkeypatch) as server:
        return run_pipeline("before", only(*sources)), int(server.url.rsplit(":", 1)[1])


def test_one_changed_value_upstream_is_one_change_and_one_revision(data_dir, snapshot, monkeypatch):
    first, port = published_before_the_change(snapshot, monkeypatch, "informea", "sdg-api")
    series = json.loads((snapshot / "sdg-api" / "SeriesData.json").read_text())
    target = next(r for r in series if r["geoAreaName"] == "Albania" and r["series"] == "ER_PTD_TERR")
    old = target["value"]
    target["value"] = "47.25"
    (snapshot / "sdg-api" / "SeriesData.json").write_text(json.dumps(series))
    with serving(snapshot, monkeypatch, port):
        second = run_pipeline("after", only("sdg-api"))
        third = run_pipeline("again", only("sdg-api"))
    diff = read_manifest(second)["diff"]["tables"]["observations"]
    assert diff == {"added": 0, "removed": 0, "changed": 1}
    revisions = pd.read_parquet(second / "revisions.parquet")
    assert len(revisions) == 1
    revision = revisions.iloc[0]
    assert (revision.country_iso3, revision.year, revision.previous_release) == ("ALB", 2015, first.name)
    assert revision.old_value.startswith(format(float(old), ".15g")) and revision.new_value.startswith("47.25")
    assert revision.old_raw_sha256 != revision.new_raw_sha256
    for sha in (revision.old_raw_sha256, revision.new_raw_sha256):
        assert list((data_dir / "raw" / "sdg-api").rglob(f"{sha}.*")), f"raw file {sha} not in landing"
    before, after = rows(first), rows(second)
    assert (before.drop(columns=["value_num", "raw_sha256", "retrieved_at"]).equals(
        after.drop(columns=["value_num", "raw_sha256", "retrieved_at"])))
    assert len(pd.read_parquet(third / "revisions.parquet")) == 1, "revisions are kept, not repeated"


def add_country_report(snapshot: Path, updated_ms: int) -> str:
    """A new CountryReport upstream, updated at ``updated_ms``; its id."""
    path = snapshot / "informea" / "CountryReports.json"
    reports = json.loads(path.read_text())
    template = next(r for r in reports if r.get("treaty") == "cbd" and str(r.get("country", "")).upper() == "KE")
    added = {**template, "id": "backfill-added-report", "updated": f"/Date({updated_ms})/",
             "submission": f"/Date({updated_ms})/"}
    path.write_text(json.dumps(reports + [added]))
    return added["id"]


def without_page_refs(frame: pd.DataFrame) -> pd.DataFrame:
    """A record without an id is named by its page and position (``CountryReports@<sha>#<n>``),
    which differ between runs that paged differently; the record itself is the same."""
    if "source_record_id" not in frame.columns:
        return frame
    page_ref = frame["source_record_id"].str.contains("@", regex=False)
    return frame.assign(source_record_id=frame["source_record_id"].where(~page_ref, "<page ref>"))


def test_a_backfill_over_three_days_equals_one_full_run(tmp_path, data_dir, snapshot, monkeypatch):
    # 2026-11-25T06:00Z: after the snapshot's newest `updated`, inside the second day's interval
    days = ["2026-11-25T00:00:00+00:00", "2026-11-26T00:00:00+00:00", "2026-11-27T00:00:00+00:00"]
    nightly, filters, port = [], [], 0
    for number, until in enumerate(days):
        if number == 1:
            added = add_country_report(snapshot, int(datetime(2026, 11, 25, 6, tzinfo=timezone.utc).timestamp() * 1000))
        # one upstream all along: its base URL is part of the state's identity (core.sources.upstream_id)
        with serving(snapshot, monkeypatch, port) as server:
            port = int(server.url.rsplit(":", 1)[1])
            nightly.append(run_pipeline(f"backfill-{number}", only("informea", until=until)))
            fetch_log = json.loads((data_dir / "runs" / f"backfill-{number}" / "informea" / "fetch.json").read_text())
            filters.append({unquote_plus(p["url"]).partition("$filter=")[2]
                            for p in fetch_log["entities"]["CountryReports"]["pages"]})
    # the first run loads everything; each later one asks for its interval's changes only
    assert filters == [{""}, {"updated gt datetime'2026-11-20T00:00:00' and updated le datetime'2026-11-26T00:00:00'"},
                       {"updated gt datetime'2026-11-25T06:00:00' and updated le datetime'2026-11-27T00:00:00'"}]
    before = rows(nightly[0], "report_submissions")
    assert added not in set(before["source_record_id"])
    assert added in set(rows(nightly[1], "report_submissions")["source_record_id"])
    monkeypatch.setenv("MEA_DATA_DIR", str(tmp_path / "full"))
    with serving(snapshot, monkeypatch):
        full = run_pipeline("full", only("informea"))
    for table in ("observations", "report_submissions", "coverage", "quarantine"):
        volatile = ["raw_sha256", "retrieved_at", "first_seen", "last_seen"]
        a, b = (without_page_refs(rows(r, table).drop(columns=volatile, errors="ignore")) for r in (nightly[-1], full))
        key = list(a.columns)
        pd.testing.assert_frame_equal(a.sort_values(key).reset_index(drop=True),
                                      b.sort_values(key).reset_index(drop=True), obj=table)


def test_reprocessing_a_slice_downloads_nothing_and_leaves_every_other_slice_identical(data_dir, upstream):
    sources = only("informea", "cms-ors", "sdg-api")
    first = run_pipeline("full", sources)
    requests_before = upstream.stats.count()
    again = run_pipeline("reprocess", only("cms-ors", cycles=["cms:COP13"], reprocess=True))
    assert upstream.stats.count() == requests_before, "re-processing downloaded"
    assert read_manifest(again)["slice"] == {"sources": ["cms-ors"], "countries": [], "cycles": ["cms:COP13"]}
    for table in ("observations", "report_submissions", "quarantine", "conventions", "sdg_aggregates"):
        before, after = rows(first, table), rows(again, table)
        if "source_system" in before.columns:
            outside = lambda f: f[~((f["source_system"] == "cms-ors") &  # noqa: E731
                                    (f.get("report_cycle", pd.Series("cms:COP13", index=f.index)) == "cms:COP13"))]
            before, after = outside(before), outside(after)
        assert before.to_csv(index=False) == after.to_csv(index=False), table
    inside = lambda r: rows(r)[lambda f: (f.source_system == "cms-ors") & (f.report_cycle == "cms:COP13")]  # noqa: E731
    assert len(inside(again)) == len(inside(first)) > 0


def test_re_processing_needs_a_published_run(data_dir, upstream):
    with pytest.raises(NothingPublished, match="cms-ors"):
        run_pipeline("too-early", only("cms-ors", reprocess=True))


def test_a_slice_run_replaces_only_its_slice(data_dir, upstream):
    first = run_pipeline("full", only("informea"))
    kenya = run_pipeline("kenya", only("informea", countries=["KEN"]))
    a, b = rows(first), rows(kenya)
    assert a.to_csv(index=False) == b.to_csv(index=False)
    assert read_manifest(kenya)["diff"]["changed"] is False


KILL_DURING_SWITCH = """
import os, signal, sys
import outputs.publish as publish
publish.switch_link = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
publish.publish(sys.argv[1])
"""


def test_a_publish_killed_before_the_switch_leaves_current_and_recovers(data_dir, upstream):
    from outputs.audit import audit_release
    from outputs.release import build_release
    from pipeline_helpers import harmonized_parts

    old = run_pipeline("old", only("informea"))
    built = build_release(harmonized_parts("killed", only("informea")), only("informea"), "killed")
    audit_release(built)
    killed = subprocess.run([sys.executable, "-c", KILL_DURING_SWITCH, str(built)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (data_dir / "current").resolve() == old
    assert (data_dir / "mea.duckdb").resolve() == old / "mea.duckdb"
    recovered = run_pipeline("next", only("informea"))
    assert (data_dir / "current").resolve() == recovered != old


def test_alerts_go_to_the_configured_notifiers(tmp_path, monkeypatch):
    import alert_recorder
    from outputs.alerts import on_failure, send

    config = tmp_path / "alerts.yaml"
    config.write_text("- notifier: alert_recorder.RecordingNotifier\n  events: [failure]\n"
                      "  kwargs: {message: 'ALERT {{ mea_alert }}'}\n")
    monkeypatch.setenv("MEA_ALERTS", str(config))
    alert_recorder.SENT.clear()

    class TaskInstance:
        task_id, try_number = "extract_cms_ors", 3

    class Run:
        run_id = "scheduled__2026-11-28"

    on_failure({"task_instance": TaskInstance(), "dag_run": Run(), "exception": RuntimeError("HTTP 503")})
    send("summary", {}, "release 1 published")
    assert len(alert_recorder.SENT) == 1
    assert alert_recorder.SENT[0].startswith("ALERT mea-reporting: task extract_cms_ors of run scheduled__2026-11-28")
    assert "HTTP 503" in alert_recorder.SENT[0]


def test_a_cbd_resubmission_is_fetched_by_its_cursor_and_replaces_the_old_values(data_dir, snapshot, monkeypatch):
    first, port = published_before_the_change(snapshot, monkeypatch, "informea", "cbd-chm")
    folder = snapshot / "cbd-chm"
    index, documents = (json.loads((folder / name).read_text()) for name in ("index.json", "documents.json"))
    entry = next(d for d in index if d["id"] == "ort-nr7id-al-265059-1")
    entry["updatedDate_dt"] = "2026-11-26T09:00:00Z"  # Albania corrects its 2017 total
    documents[entry["identifier_s"]]["data"][0]["value"] = 15.7
    for name, payload in (("index.json", index), ("documents.json", documents)):
        (folder / name).write_text(json.dumps(payload))
    with serving(snapshot, monkeypatch, port):
        second = run_pipeline("after", only("cbd-chm", until="2026-11-27T00:00:00+00:00"))
    fetch_log = json.loads((data_dir / "runs" / "after" / "cbd-chm" / "fetch.json").read_text())
    asked = {unquote_plus(p["url"]).partition("q=")[2].partition("&")[0]
             for p in fetch_log["entities"]["nationalReport7IndicatorData"]["pages"]}
    assert asked == {"schema_s:nationalReport7IndicatorData AND NOT version_s:* AND "
                     "updatedDate_dt:{2025-12-25T15:26:00Z TO 2026-11-27T00:00:00Z]"}  # newest of that schema
    assert [p["records"] for p in fetch_log["entities"]["nationalReport7IndicatorData"]["pages"]] == [1]
    assert fetch_log["cursor"]["nationalReport7IndicatorData"] == "2026-11-26T09:00:00Z"
    assert read_manifest(second)["diff"]["tables"]["observations"] == {"added": 0, "removed": 0, "changed": 1}
    revision = pd.read_parquet(second / "revisions.parquet").iloc[0]
    assert (revision.country_iso3, revision.year, revision.disaggregation) == ("ALB", 2017, "_T")
    assert revision.old_value.startswith("15.1") and revision.new_value.startswith("15.7")
    assert len(rows(second)) == len(rows(first))


@pytest.mark.parametrize("days_ago, filtered", [(1, True), (8, False)])
def test_a_full_fetch_comes_round_every_week_so_deletions_are_seen(data_dir, upstream, days_ago, filtered):
    run_pipeline("first", only("informea"))
    state = data_dir / "state" / "informea" / "published-fetch.json"
    published = json.loads(state.read_text())
    published["last_full_at"] = (datetime.now(timezone.utc) - timedelta(days=days_ago)).isoformat()
    state.write_text(json.dumps(published))
    run_pipeline("second", only("informea"))
    fetch_log = json.loads((data_dir / "runs" / "second" / "informea" / "fetch.json").read_text())
    urls = [unquote_plus(p["url"]) for p in fetch_log["entities"]["CountryReports"]["pages"]]
    assert all(("$filter=updated gt" in u) == filtered for u in urls), urls
    assert ("carried" in fetch_log["entities"]["CountryReports"]) == filtered


def test_alerts_reach_officers_by_e_mail_through_airflow_s_smtp_notifier(tmp_path, monkeypatch):
    import base64
    import email
    import socket

    from aiosmtpd.controller import Controller

    from outputs.alerts import on_failure

    received = []

    class Inbox:
        async def handle_DATA(self, server, session, envelope):
            received.append(email.message_from_bytes(envelope.content))
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = Controller(Inbox(), hostname="127.0.0.1", port=port)
    smtp.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", f"smtp://127.0.0.1:{port}?disable_tls=true&disable_ssl=true")
    config = tmp_path / "alerts.yaml"
    config.write_text("- notifier: airflow.providers.smtp.notifications.smtp.SmtpNotifier\n  events: [failure]\n"
                      "  kwargs: {to: officers@example.org, from_email: mea@example.org, subject: mea-reporting alert,\n"
                      "           html_content: '<pre>{{ mea_alert }}</pre>'}\n")
    monkeypatch.setenv("MEA_ALERTS", str(config))

    class TaskInstance:
        task_id, try_number = "publish_release", 1

    class Run:
        run_id = "scheduled__2026-11-28"

    try:
        on_failure({"task_instance": TaskInstance(), "dag_run": Run(), "exception": RuntimeError("audit failed")})
    finally:
        smtp.stop()
    assert len(received) == 1 and received[0]["To"] == "officers@example.org"
    body = next(part for part in received[0].walk() if part.get_content_type() == "text/html")
    text = base64.b64decode(body.get_payload()).decode()
    assert "task publish_release of run scheduled__2026-11-28 failed" in text and "audit failed" in text
