"""Data officers' commands around the embedded Airflow: ``make backfill`` and ``make reprocess``.

``backfill FROM TO`` serializes the DAG, starts the Airflow components a backfill needs (API
server on a free 127.0.0.1 port, DAG processor, scheduler), unpauses the DAG, creates the
backfill, waits for its runs to end, prints each run's outcome, and stops every process it
started by process group, so no LocalExecutor worker is left behind.

``reprocess`` triggers the nightly DAG with conf ``reprocess: true`` and the slice asked for:
the slice is rebuilt from raw landing, nothing is downloaded, every other slice is carried over.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from datetime import date

from core.sources import SOURCES

DAG_ID = "mea_reporting_nightly"
TERMINAL = {"success", "failed"}


def airflow(*args: str, env: dict | None = None) -> None:
    """Run one Airflow CLI command; fail loudly with its output when it fails."""
    done = subprocess.run(["airflow", *args], env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"airflow {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def components_env(base: dict | None = None) -> dict:
    """``base`` (default: this environment) with the API server on a free 127.0.0.1 port."""
    port = str(free_port())
    return {**(os.environ if base is None else base), "AIRFLOW__API__PORT": port,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/"}


def create_pools(env: dict | None = None) -> None:
    """The upstream pools (outputs/pools.py) in the metadata database a scheduler is about to use."""
    from outputs.pools import pool_definitions

    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        json.dump(pool_definitions(), handle)
        handle.flush()
        airflow("pools", "import", handle.name, env=env)


@contextmanager
def airflow_components(env: dict, extra: Sequence[list[str]] = ()):
    """API server, DAG processor, scheduler and ``extra`` components (e.g. a Celery worker), each
    in its own process group, stopped on exit."""
    logs = os.path.join(env["AIRFLOW_HOME"], "logs", "components")
    os.makedirs(logs, exist_ok=True)
    started = []
    try:
        for component in (["api-server", "--host", "127.0.0.1", "--port", env["AIRFLOW__API__PORT"]],
                          ["dag-processor"], ["scheduler"], *extra):
            out = open(os.path.join(logs, f"{component[0]}.log"), "ab")
            started.append(subprocess.Popen(["airflow", *component], env=env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True))
            print(f"started airflow {component[0]} (pid {started[-1].pid}, log {out.name})", flush=True)
        yield started
    finally:
        stop_groups(started)


def stop_groups(processes: list[subprocess.Popen], grace: float = 20) -> None:
    """SIGTERM each process group, then SIGKILL whatever is still there after ``grace`` seconds."""
    for process in processes:
        signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        signal_group(process.pid, signal.SIGKILL)  # children (LocalExecutor workers) outlive their parent
        process.wait()
        print(f"stopped pid {process.pid} and its process group", flush=True)


def signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass


def dag_runs(**filters) -> list:
    """The DAG's runs matching ``filters`` (DagRun columns), as (logical date, run id, state name)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        runs = session.query(DagRun).filter_by(dag_id=DAG_ID, **filters).all()
        return [(r.logical_date, r.run_id, state_name(r.state)) for r in runs]


def state_name(state) -> str:
    return str(state).split(".")[-1].lower()


def backfill_runs(start: date, end: date) -> list:
    """The DAG's backfill runs whose logical date falls in [start, end]."""
    from airflow.utils.types import DagRunType

    return sorted((r for r in dag_runs(run_type=DagRunType.BACKFILL_JOB)
                   if r[0] and start <= r[0].date() <= end), key=lambda r: r[0])


def wait_for_runs(list_runs: Callable[[], list], timeout: float) -> list:
    """Poll ``list_runs`` until it lists runs and all have ended, or ``timeout`` seconds pass."""
    deadline, runs = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        runs = list_runs()
        if runs and all(state in TERMINAL for *_, state in runs):
            return runs
        time.sleep(5)
    print(f"runs did not finish within {timeout:.0f} s", flush=True)
    return runs


def print_runs(runs: list) -> bool:
    """One line per run; whether every run succeeded."""
    for logical_date, run_id, state in runs:
        print(f"  {logical_date:%Y-%m-%d}  {state:8s}  {run_id}" if logical_date else f"  {state:8s}  {run_id}")
    return bool(runs) and all(state == "success" for *_, state in runs)


def backfill(start: date, end: date, timeout: float) -> int:
    """Run a backfill over [start, end] to the end; 0 when every run succeeded."""
    # Unpausing the DAG would also start its latest scheduled run, which then races the backfill
    # to publish (one of them fails with CurrentMoved): this scheduler runs the backfill only.
    env = {**components_env(), "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"}
    airflow("dags", "reserialize", env=env)
    create_pools(env)
    with airflow_components(env):
        airflow("dags", "unpause", DAG_ID, env=env)
        # TO is a whole day: its 02:00 run belongs to the backfill
        airflow("backfill", "create", "--dag-id", DAG_ID, "--from-date", start.isoformat(), "--to-date",
                f"{end.isoformat()}T23:59:59", "--max-active-runs", "1", "--reprocess-behavior", "completed", env=env)
        print(f"backfill {start} .. {end} created; waiting for its runs", flush=True)
        runs = wait_for_runs(lambda: backfill_runs(start, end), timeout)
        airflow("dags", "pause", DAG_ID, env=env)
    return 0 if print_runs(runs) else 1


def source_names(names: Sequence[str]) -> list[str]:
    """Source systems from names a data officer types: ``cms-ors``, or a unique prefix such as ``cms``."""
    resolved = []
    for name in names:
        matches = [s for s in SOURCES if s == name] or [s for s in SOURCES if s.startswith(name)]
        if len(matches) != 1:
            raise SystemExit(f"{name!r} names {len(matches)} sources; known: {', '.join(SOURCES)}")
        resolved += matches
    return resolved


def reprocess(sources: list[str], countries: list[str], cycles: list[str]) -> int:
    """Trigger the DAG (``airflow dags test`` with conf) to rebuild one slice from raw landing."""
    conf = {"sources": source_names(sources), "countries": [c.upper() for c in countries], "cycles": cycles,
            "reprocess": True}
    print(f"re-processing {json.dumps(conf)}", flush=True)
    return subprocess.run(["airflow", "dags", "test", DAG_ID, "-c", json.dumps(conf)]).returncode


def words(value: str) -> list[str]:
    return [w for w in value.replace(",", " ").split() if w]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m outputs.operate")
    commands = parser.add_subparsers(dest="command", required=True)
    fill = commands.add_parser("backfill", help="run the nightly DAG over a date range through a scheduler")
    fill.add_argument("start", type=date.fromisoformat)
    fill.add_argument("end", type=date.fromisoformat)
    fill.add_argument("--timeout", type=float, default=3600)
    again = commands.add_parser("reprocess", help="rebuild one slice from raw landing")
    again.add_argument("--sources", type=words, required=True)
    again.add_argument("--countries", type=words, default=[])
    again.add_argument("--cycles", type=words, default=[])
    args = parser.parse_args(argv)
    if args.command == "backfill":
        return backfill(args.start, args.end, args.timeout)
    return reprocess(args.sources, args.countries, args.cycles)


if __name__ == "__main__":
    sys.exit(main())
