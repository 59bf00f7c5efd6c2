"""Failures that no retry can fix fail at once (issue 16, item 4).

A failed audit, a layout or schema-drift error and a 4xx answer (other than 408 and 429) fail their
task without retries; timeouts, 5xx, 429 and connection errors keep theirs. ``make run`` then exits
non-zero and ends with the task, its source and the cause, written as a person would write it.
"""
from __future__ import annotations

import importlib.util
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
import requests
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from core.errors import Permanent, is_permanent, permanent_status
from core.manifest import read_manifest, write_manifest
from extractors import http
from extractors.cites_trade import BadFile
from extractors.drift import SchemaDrift, undeclared_fields
from outputs import audit
from outputs.audit import AuditFailed
from outputs.release import MixedUpstreams
from outputs.summary import failure_text, record_failure
from transforms.cycles import CatalogueError
from transforms.membership import MembershipError
from transforms.workbooks import LayoutError

from pipeline_helpers import run_pipeline

REPO = Path(__file__).resolve().parents[1]
DAG_FILE = REPO / "dags" / "mea_reporting_nightly.py"


# (b) Which errors are permanent.

@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_a_4xx_answer_is_permanent(status):
    assert permanent_status(status)
    assert is_permanent(http.UpstreamError("informea", "http://x/y", f"HTTP {status}", status=status))


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, None])
def test_408_429_5xx_and_no_answer_at_all_are_retried(status):
    assert not permanent_status(status)
    assert not is_permanent(http.UpstreamError("informea", "http://x/y", "failed", status=status))


def test_the_permanent_error_classes():
    assert is_permanent(AuditFailed("r1", ["conventions: 6 rows, expected 7 to 31"]))
    assert is_permanent(LayoutError("[cbd-ort-excel] a.xlsx: no sheet 'Data'"))
    assert is_permanent(BadFile("[cites-trade] comptab.csv: header does not match"))
    drift = SchemaDrift("informea", "http://x/y", "schema drift")
    assert is_permanent(drift) and drift.permanent and isinstance(drift, http.UpstreamError)
    assert not is_permanent(http.BodyBrokeOff("cites-trade", "http://x/y", "broke off"))
    assert not is_permanent(requests.ConnectionError("refused")) and not is_permanent(TimeoutError())
    # bad reviewed data and a build that would mix upstreams fail the same way on every retry
    assert is_permanent(MembershipError("parties/cbd.csv:3: unknown ISO3 'XKK'"))
    assert is_permanent(CatalogueError("report_cycles.yaml:12: windows overlap"))
    assert is_permanent(MixedUpstreams("[informea] upstream changed"))


def test_schema_drift_is_raised_as_the_permanent_kind():
    with pytest.raises(SchemaDrift, match="schema drift: used field"):
        undeclared_fields("informea", "CountryReports", [{"renamed": 1}], "http://x/CountryReports")


class Answers(BaseHTTPRequestHandler):
    """Answers GET /<status> with that status; GET /slow answers after the client gave up."""

    def do_GET(self):  # noqa: N802 - the name http.server calls
        if self.path == "/slow":
            time.sleep(1.5)
        status = 200 if self.path == "/slow" else int(self.path.strip("/"))
        self.send_response(status)
        self.send_header("Content-Length", "2")
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(b"no")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def answers():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def fetch_error(url: str, timeout=(1, 5)) -> http.UpstreamError:
    session = http.make_session(retries=1, backoff_factor=0)
    with pytest.raises(http.UpstreamError) as failure:
        http.get(session, "informea", url, timeout=timeout)
    return failure.value


@pytest.mark.parametrize("status", [400, 401, 404])
def test_http_get_marks_a_4xx_permanent(answers, status):
    error = fetch_error(f"{answers}/{status}")
    assert error.status == status and error.permanent and f"HTTP {status}" in str(error)


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_http_get_leaves_408_429_and_5xx_to_the_retries(answers, status):
    error = fetch_error(f"{answers}/{status}")
    assert error.status == status and not error.permanent


def test_http_get_leaves_timeouts_and_connection_errors_to_the_retries(answers):
    timed_out = fetch_error(f"{answers}/slow", timeout=(1, 0.3))
    assert timed_out.status is None and not timed_out.permanent and "Timeout" in str(timed_out)
    refused = fetch_error(closed_port_url())
    assert refused.status is None and not refused.permanent and "ConnectionError" in str(refused)


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a port that was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/x"


# (b) The DAG maps permanent errors to AirflowFailException and leaves the rest to the retries.

@pytest.fixture(scope="module")
def nightly():
    spec = importlib.util.spec_from_file_location("nightly_under_test", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def noted(nightly, monkeypatch):
    notes = []
    monkeypatch.setattr(nightly, "_record", lambda source, exc, permanent: notes.append((source, exc, permanent)))
    return notes


def raising(exc):
    def task_function():
        raise exc
    return task_function


@pytest.mark.parametrize("error", [
    AuditFailed("r1", ["conventions: 6 rows, expected 7 to 31 (15 in release r0)"]),
    LayoutError("[cbd-ort-excel] a.xlsx: no sheet 'Data'"),
    BadFile("[cites-trade] comptab.csv: header does not match"),
    SchemaDrift("informea", "http://x/CountryReports", "schema drift: used field(s) ['country'] missing"),
    http.UpstreamError("informea", "http://x/Treaties", "HTTP 404", status=404),
], ids=["audit", "layout", "bad-file", "schema-drift", "http-404"])
def test_a_permanent_error_fails_the_task_without_retries(nightly, noted, error):
    with pytest.raises(AirflowFailException) as failure:
        nightly.fails_fast("informea")(raising(error))()
    assert failure.value.__cause__ is error and str(failure.value) == str(error)
    assert noted == [("informea", error, True)]


@pytest.mark.parametrize("error", [
    http.UpstreamError("informea", "http://x/Treaties", "HTTP 503 after retries", status=503),
    http.UpstreamError("informea", "http://x/Treaties", "HTTP 429 after retries", status=429),
    http.UpstreamError("informea", "http://x/Treaties", "HTTP 408", status=408),
    http.UpstreamError("informea", "http://x/Treaties", "request failed after retries: ReadTimeout"),
    requests.ConnectionError("connection refused"),
    RuntimeError("something else"),
], ids=["http-503", "http-429", "http-408", "timeout", "connection", "other"])
def test_any_other_error_keeps_the_retries(nightly, noted, error):
    with pytest.raises(type(error)) as failure:
        nightly.fails_fast("informea")(raising(error))()
    assert failure.value is error
    assert noted == [("informea", error, False)]


def test_airflow_control_flow_passes_through(nightly, noted):
    with pytest.raises(AirflowSkipException):
        nightly.fails_fast()(raising(AirflowSkipException("no warehouse")))()
    assert noted == []  # a skip is no failure
    with pytest.raises(AirflowFailException):
        nightly.fails_fast()(raising(AirflowFailException("sources failed: informea")))()
    with pytest.raises(AirflowException):
        nightly.fails_fast()(raising(AirflowException("The conn_id `mea_warehouse` isn't defined")))()
    assert [(type(exc), permanent) for _, exc, permanent in noted] == [(AirflowFailException, True),
                                                                       (AirflowException, False)]


def test_every_task_of_the_nightly_fails_fast(nightly):
    for task in nightly.mea_reporting_nightly().tasks:
        assert getattr(task.python_callable, "__wrapped__", None) is not None, task.task_id


def test_the_failure_summary_names_task_source_and_cause(data_dir):
    started = time.time() - 1
    record_failure("run1", "extract_informea", "informea",
                   http.UpstreamError("informea", "http://x/Treaties", "HTTP 404: 'gone'", status=404), 1, 2, True)
    record_failure("run1", "build_release", None, RuntimeError("sources failed: informea"), 3, 2, False)
    text = failure_text(since=started)
    assert text.splitlines() == [
        "FAILED      run run1",
        "live        no release published yet",
        "task        extract_informea (source informea), tried once: no retry can fix this, so none was made",
        "cause       [informea] http://x/Treaties: HTTP 404: 'gone'",
        "task        build_release (all sources), tried 3 times (2 retries)",
        "cause       sources failed: informea",
    ]
    assert failure_text(since=time.time() + 60) is None


# (b) Audit failures read as a person would write them.

SUITES = {
    "conventions": [
        {"type": "expect_table_row_count_to_be_between",
         "kwargs": {"min_value": {"$PARAMETER": "conventions_min_rows"},
                    "max_value": {"$PARAMETER": "conventions_max_rows"}}},
        {"type": "expect_table_columns_to_match_ordered_list", "kwargs": {"column_list": ["convention", "title"]}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "convention"}},
        {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "convention", "regex": "^[a-z][a-z-]*$"}},
    ],
    "observations": [
        {"type": "expect_column_values_to_be_in_set",
         "kwargs": {"column": "country_iso3", "value_set": {"$PARAMETER": "country_codes"}}},
        {"type": "expect_column_values_to_be_in_set",
         "kwargs": {"column": "observation_status", "value_set": ["reported", "estimated", "derived"]}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "value"}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "year", "min_value": 1970, "max_value": 2100}},
        {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["country_iso3", "year"]}},
    ],
}


@pytest.fixture
def suites(tmp_path, monkeypatch):
    folder = tmp_path / "expectations"
    folder.mkdir()
    for table, expectations in SUITES.items():
        (folder / f"{table}.json").write_text(json.dumps({"name": f"{table}_release", "expectations": expectations}))
    monkeypatch.setattr(audit, "SUITES", folder)
    return folder


def test_each_failed_expectation_is_one_readable_line(suites, tmp_path):
    context = audit.audit_context(tmp_path / "docs")
    previous = {"release": "20261201T020000Z-0a1b2c3d", "rows": {"conventions": 15}}
    conventions = pd.DataFrame({"title": ["a", "b", "c", "d", "e", "f"],
                                "convention": ["cbd", "cms", "cms", "CITES", "ramsar", "aewa"]})
    parameters = {"conventions_min_rows": 7, "conventions_max_rows": 31, "country_codes": ["KEN", "TZA"]}
    result = audit.validate(context, "conventions", conventions, parameters, previous=previous)
    assert sorted(result["failures"]) == sorted([
        "conventions: 6 rows, expected 7 to 31 (15 in release 20261201T020000Z-0a1b2c3d)",
        "conventions: columns out of order: title at position 1, expected convention",
        "conventions.convention: 2 rows with a repeated value, e.g. cms",
        "conventions.convention: 1 value not matching ^[a-z][a-z-]*$, e.g. CITES",
    ])
    observations = pd.DataFrame({
        "country_iso3": ["KEN", "XKX", "XKX", "XKX", "TZA"],
        "observation_status": ["reported", "reported", "guessed", "reported", "reported"],
        "value": ["1", None, "3", "4", "5"],
        "year": [2020, 2021, 2022, 2022, 1066],
    })
    result = audit.validate(context, "observations", observations, parameters, previous=previous)
    assert sorted(result["failures"]) == sorted([
        "observations.country_iso3: 3 values not in countries, e.g. XKX",
        "observations.observation_status: 1 value not in {reported, estimated, derived}, e.g. guessed",
        "observations.value: 1 of 5 rows empty",
        "observations.year: 1 value outside 1970 to 2100, e.g. 1066",
        "observations.(country_iso3, year): 2 rows with a repeated key, e.g. (XKX, 2022)",
    ])


@pytest.mark.parametrize("failure, line", [
    ({"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 249, "max_value": 300},
      "result": {"observed_value": 12}}, "countries: 12 rows, expected 249 to 300"),
    ({"type": "expect_column_values_to_be_between", "kwargs": {"column": "records", "min_value": 0},
      "result": {"unexpected_count": 2, "partial_unexpected_list": [-1.0, -3.0]}},
     "countries.records: 2 values below 0, e.g. -1, -3"),
    ({"type": "expect_table_columns_to_match_ordered_list", "kwargs": {"column_list": ["iso3", "name"]},
      "result": {"observed_value": ["iso3", "label"]}}, "countries: columns missing name; unexpected label"),
    ({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "iso9"}, "result": {},
      "error": 'The column "iso9" in BatchData does not exist.'},
     'countries.iso9: expect_column_values_to_not_be_null could not run: The column "iso9" in BatchData does not exist.'),
], ids=["literal-row-count", "minimum-only", "columns", "could-not-run"])
def test_describe_without_gx(failure, line):
    assert audit.describe("countries", {"error": None, **failure}) == line


def test_a_failed_audit_lists_one_line_per_expectation():
    error = AuditFailed("r2", ["conventions: 6 rows, expected 7 to 31 (15 in release r1)",
                               "observations.country_iso3: 3 values not in countries, e.g. XKX"])
    assert str(error).splitlines() == ["audit of release r2 failed (2 expectations):",
                                       "conventions: 6 rows, expected 7 to 31 (15 in release r1)",
                                       "observations.country_iso3: 3 values not in countries, e.g. XKX"]
    assert isinstance(error, Permanent)


# (a) End to end: `make run` (airflow dags test on the replica) with an audit that fails.

def make_run_command() -> list[str]:
    """`make run` as a person types it, without re-syncing the venv or re-migrating (make test did)."""
    if not shutil.which("make") or not (shutil.which("uv") or shutil.which("python3")):
        pytest.skip("make run needs make and uv")
    return ["make", "--no-print-directory", "-o", ".venv/.synced", "-o", ".airflow/.migrated", "run"]


def read_lines(process: subprocess.Popen, lines: queue.Queue) -> None:
    """Every line ``process`` writes, then None; read as it comes, so the pipe never fills."""
    for line in process.stdout:
        lines.put(line.rstrip("\n"))
    lines.put(None)


@pytest.mark.e2e
def test_a_failing_audit_fails_make_run_at_once_with_a_readable_cause(data_dir, upstream):
    live = run_pipeline("first")
    manifest = read_manifest(live)
    rows = manifest["tables"]["conventions"]["rows"]
    # the live release claims four times tonight's conventions (as if half of them vanished upstream),
    # and names no inputs, so nothing is reused: tonight's release is built and fails its row-count bound
    manifest["tables"]["conventions"]["rows"] = 4 * rows
    manifest["inputs"] = {}
    write_manifest(live, manifest)

    command = make_run_command()
    process = subprocess.Popen(command, cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines, output, returncode = queue.Queue(), [], None
    threading.Thread(target=read_lines, args=(process, lines), daemon=True).start()
    try:
        while (line := lines.get(timeout=600)) is not None:  # the whole run takes a minute or two
            output.append(line)
            if returncode is None and "outputs.audit.AuditFailed:" in line:
                # the audit failed: with no retry, make run is over (summary and all) within a minute
                returncode = process.wait(timeout=60)
    finally:
        stop_group(process)
    text = "\n".join(output)
    assert returncode is not None, "the audit did not fail:\n" + "\n".join(output[-40:])
    assert returncode != 0
    expected = f"conventions: {rows} rows, expected {2 * rows} to {8 * rows + 1} ({4 * rows} in release {live.name})"
    tail = output[-8:]
    assert any(line.startswith("task        audit_release (all sources), tried once") for line in tail), text
    assert any(line.strip() == expected for line in tail), text
    assert "expect_table_row_count_to_be_between" not in text
    # tried exactly once: one failure in the log, try 1 in the run's note and in Airflow's metadata
    assert text.count("outputs.audit.AuditFailed:") == 1
    [note] = [json.loads(p.read_text()) for p in data_dir.glob("runs/*/failures/audit_release.json")]
    assert note["try_number"] == 1 and note["permanent"] is True
    assert airflow_try(note["run_id"], "audit_release") == (1, "failed")
    # quiet: no per-second "No tasks to run", no library warnings
    assert "No tasks to run" not in text and "graphviz" not in text and "py.warnings" not in text
    assert (data_dir / "current").resolve() == live


def stop_group(process: subprocess.Popen) -> None:
    """End what ``make run`` started (make, uv, the replica, airflow) if it is still running: its
    process group, which the test made for it."""
    for signal_number in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, signal_number)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=10)
            time.sleep(1)  # the group outlives make by a moment
        except subprocess.TimeoutExpired:
            pass


def airflow_try(run_id: str, task_id: str) -> tuple[int, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        ti = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == "mea_reporting_nightly",
                                                        TaskInstance.run_id == run_id,
                                                        TaskInstance.task_id == task_id)).one()
        return ti.try_number, str(ti.state.value if hasattr(ti.state, "value") else ti.state)
