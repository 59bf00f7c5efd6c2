"""The nightly under a real scheduler (LocalExecutor, parallelism 4), as `make backfill` runs it:
the sources' chains run side by side and each extract task runs in its upstream host's pool.
Order is measured, not seconds: two tasks ran side by side when each started before the other
ended."""
from __future__ import annotations

import os
import sqlite3
import sys
from datetime import datetime
from itertools import combinations
from pathlib import Path

import pytest

from core.sources import SOURCES
from outputs.pools import pool_for
from processes import run

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[1]
DAG_ID = "mea_reporting_nightly"


def scheduler_env(home: Path) -> dict:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor", "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4", "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "MEA_UPSTREAM_POOL_SLOTS": "1"}


def task_instances(home: Path) -> list[tuple]:
    with sqlite3.connect(home / "airflow.db") as db:
        return db.execute("SELECT task_id, pool, state, start_date, end_date FROM task_instance WHERE dag_id = ?",
                          (DAG_ID,)).fetchall()


def dag_runs(home: Path) -> list[tuple]:
    with sqlite3.connect(home / "airflow.db") as db:
        return db.execute("SELECT run_id, state FROM dag_run WHERE dag_id = ?", (DAG_ID,)).fetchall()


def side_by_side(a: tuple, b: tuple) -> bool:
    start = lambda ti: datetime.fromisoformat(ti[3])  # noqa: E731
    end = lambda ti: datetime.fromisoformat(ti[4])  # noqa: E731
    return start(a) < end(b) and start(b) < end(a)


def test_the_nightly_under_a_scheduler_runs_sources_side_by_side_within_their_pools(tmp_path, data_dir):
    home = tmp_path / "airflow"
    env = scheduler_env(home)
    migrated = run(["airflow", "db", "migrate"], timeout=300, env=env)
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    done = run([sys.executable, "-m", "replica", "exec", "--", sys.executable, "-m", "outputs.operate", "backfill",
                "2026-11-27", "2026-11-27"], timeout=900, env=env, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (data_dir / "current").exists(), "the scheduled run published no release"
    # the backfill's run only: a scheduled run beside it would race it to publish
    assert dag_runs(home) == [("backfill__2026-11-27T02:00:00+00:00", "success")]

    tis = [ti for ti in task_instances(home) if ti[3] and ti[4]]
    assert {ti[2] for ti in tis} == {"success", "skipped"} and len(tis) >= 3 * len(SOURCES)  # no warehouse
    chains = {source: [ti for ti in tis if ti[0].endswith("_" + source.replace("-", "_"))] for source in SOURCES}
    across = [(a, b) for s, t in combinations(SOURCES, 2) for a in chains[s] for b in chains[t] if side_by_side(a, b)]
    assert across, "no two sources' tasks ran side by side"
    # each extract task ran in its upstream host's pool, which the run created with its slots (one
    # extract task per host today, so no two of them ever wait on the same pool)
    extracts = {ti[0]: ti[1] for ti in tis if ti[0].startswith("extract_")}
    assert extracts == {f"extract_{s.replace('-', '_')}": pool_for(s) for s in SOURCES}
    with sqlite3.connect(home / "airflow.db") as db:
        slots = dict(db.execute("SELECT pool, slots FROM slot_pool").fetchall())
    assert {pool: slots[pool] for pool in set(extracts.values()) - {"default_pool"}} == \
        {pool: 1 for pool in set(extracts.values()) - {"default_pool"}}
