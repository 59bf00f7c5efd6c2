"""The Airflow side of the bench: nightly runs through ``airflow dags test`` (as ``make run``), task
durations from the metadata DB, the no-op floor DAG of the same shape, and DAG parse time."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.measure import run_measured

DAG_ID = "mea_reporting_nightly"
FLOOR_DAG_ID = "bench_noop_floor"
REPO = Path(__file__).resolve().parents[1]


@dataclass
class AirflowRun:
    """One ``airflow dags test`` of a DAG: wall seconds, state, task seconds, process peak RSS, traffic."""

    seconds: float
    state: str
    tasks: dict[str, float]
    peak_rss_mb: float
    traffic: dict


def metadata_db() -> Path:
    """The SQLite file of the Airflow metadata DB (the Makefile's AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)."""
    conn = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if not conn.startswith("sqlite:///"):
        raise RuntimeError(f"the bench reads task durations from a SQLite metadata DB, not {conn!r}; "
                           "run it with make bench")
    return Path(conn.removeprefix("sqlite:///"))


def last_run_number(dag_id: str) -> int:
    """The highest dag_run id of ``dag_id`` so far (0 if none)."""
    with sqlite3.connect(metadata_db()) as db:
        return db.execute("SELECT coalesce(max(id), 0) FROM dag_run WHERE dag_id = ?", (dag_id,)).fetchone()[0]


def run_after(dag_id: str, number: int) -> tuple[str, str, dict[str, float]]:
    """(run_id, state, task_id -> seconds) of the first run of ``dag_id`` after run ``number``: the
    bench's own, even when another process (a test) runs the same DAG against this metadata DB."""
    with sqlite3.connect(metadata_db()) as db:
        run_id, state = db.execute("SELECT run_id, state FROM dag_run WHERE dag_id = ? AND id > ? ORDER BY id LIMIT 1",
                                   (dag_id, number)).fetchone()
        rows = db.execute("SELECT task_id, coalesce(duration, (julianday(end_date) - julianday(start_date)) * 86400) "
                          "FROM task_instance WHERE dag_id = ? AND run_id = ?", (dag_id, run_id)).fetchall()
    return run_id, state, {task: float(seconds or 0) for task, seconds in rows}


def dags_test(dag_id: str, env: dict[str, str], replica_args: list[str] | None, work: Path) -> AirflowRun:
    """``airflow dags test dag_id`` (through ``python -m replica exec`` when ``replica_args``)."""
    traffic_file = work / f"traffic-{time.time_ns()}.json"
    command = ["airflow", "dags", "test", dag_id]
    if replica_args is not None:
        command = [sys.executable, "-m", "replica", "exec", *replica_args, "--traffic", str(traffic_file),
                   "--", *command]
    log = work / f"{dag_id}-{time.time_ns()}.log"
    before = last_run_number(dag_id)
    seconds, peak_mb, _ = run_measured(command, env, log)
    _, state, tasks = run_after(dag_id, before)
    if state != "success":
        raise RuntimeError(f"airflow dags test {dag_id} ended {state}; see {log}")
    traffic = json.loads(traffic_file.read_text()) if traffic_file.exists() else {}
    return AirflowRun(seconds, state, tasks, peak_mb, traffic)


FLOOR_DAG = '''"""No-op DAG of the nightly's shape (bench/airflow_runs.py writes it): the Airflow floor."""
from datetime import datetime, timezone

from airflow.sdk import dag, task

SOURCES = {sources!r}


@dag(schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), catchup=False)
def {dag_id}():
    parts = []
    for source in SOURCES:
        slug = source.replace("-", "_")
        extract = task(task_id=f"extract_{{slug}}")(lambda: None)
        stage = task(task_id=f"stage_{{slug}}")(lambda _: None)
        harmonize = task(task_id=f"harmonize_{{slug}}")(lambda _: None)
        parts.append(harmonize(stage(extract())))
    build = task(task_id="build_release", trigger_rule="all_done")(lambda _: None)
    audit = task(task_id="audit_release")(lambda _: None)
    publish = task(task_id="publish_release")(lambda _: None)
    warehouse = task(task_id="publish_warehouse")(lambda _: None)
    warehouse(publish(audit(build(parts))))


{dag_id}()
'''


def floor_run(env: dict[str, str], work: Path) -> AirflowRun:
    """The no-op DAG of the same shape through ``airflow dags test``, from its own DAGs folder."""
    from core.sources import SOURCES

    folder = Path(tempfile.mkdtemp(prefix="bench-floor-dags-", dir=work))
    (folder / f"{FLOOR_DAG_ID}.py").write_text(FLOOR_DAG.format(sources=list(SOURCES), dag_id=FLOOR_DAG_ID))
    return dags_test(FLOOR_DAG_ID, {**env, "AIRFLOW__CORE__DAGS_FOLDER": str(folder)}, None, work)


PARSE = """
import json, sys, time
import airflow  # noqa: F401 - the DAG processor has imported Airflow before it parses a file
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])  # examples stay out: AIRFLOW__CORE__LOAD_EXAMPLES=False (Makefile)
seconds = time.perf_counter() - started
if bag.import_errors or not bag.dags:
    raise SystemExit(f"DAG file did not parse: {bag.import_errors}")
print(json.dumps({"seconds": seconds}))
"""


def dag_parse_seconds(env: dict[str, str]) -> float:
    """Seconds to parse the nightly DAG file in a fresh process that has already imported Airflow."""
    done = subprocess.run([sys.executable, "-c", PARSE, str(REPO / "dags" / f"{DAG_ID}.py")], env=env, cwd=REPO,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
