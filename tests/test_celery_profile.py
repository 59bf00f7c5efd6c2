"""The production profile end to end: the nightly DAG on PostgreSQL metadata with the
CeleryExecutor and one worker, publishing to a PostgreSQL warehouse, leaving nothing behind.

``outputs.cluster`` creates and drops its own databases, queue and Redis keys (unique names),
so this can run twice and side by side.
"""
import json
import os
import re
import sys
from pathlib import Path

import psycopg
import redis

from outputs.cluster import BROKER, SERVER
from processes import run

REPO = Path(__file__).resolve().parents[1]


def test_the_nightly_dag_runs_on_postgresql_and_celery_and_publishes_to_the_warehouse(data_dir):
    # on a timeout the whole group goes: the replica, the cluster and its Airflow processes
    done = run([sys.executable, "-m", "replica", "exec", "--", sys.executable, "-m", "outputs.cluster",
                "--concurrency", "1"], timeout=3600, cwd=REPO, env={**os.environ, "MEA_DATA_DIR": str(data_dir)})
    out = done.stdout
    assert done.returncode == 0, f"{out}\n{done.stderr[-4000:]}"
    assert re.search(r"^\s+success\s+celery__mea_celery_", out, re.M), out
    release = json.loads((data_dir / "current" / "manifest.json").read_text())
    warehouse = {t: int(n) for t, n in re.findall(r"warehouse mea\.(\w+): (\d+) rows", out)}
    assert warehouse == {t: info["rows"] for t, info in release["tables"].items()}
    assert warehouse["observations"] > 0
    # everything it started is gone: processes, databases, broker keys
    pids = [int(p) for p in re.findall(r"started airflow [\w-]+ \(pid (\d+)", out)]
    assert len(pids) == 4 and not [p for p in pids if Path(f"/proc/{p}").exists()]
    databases = re.search(r"metadata (\S+), warehouse (\S+), queue (\S+)", out).groups()
    with psycopg.connect(SERVER) as admin:
        left = admin.execute("SELECT datname FROM pg_database WHERE datname = ANY(%s)", (list(databases[:2]),))
        assert left.fetchall() == []
    assert list(redis.Redis.from_url(BROKER).scan_iter(match=f"{databases[2]}:*")) == []


def test_every_extract_task_runs_in_the_pool_of_its_upstream_host():
    from airflow.dag_processing.dagbag import DagBag

    from core.sources import SOURCES
    from outputs.pools import DEFAULT_POOL, pool_definitions

    dag = DagBag(dag_folder=str(REPO / "dags")).get_dag("mea_reporting_nightly")
    pools = {t.task_id: t.pool for t in dag.tasks if t.task_id.startswith("extract_")}
    assert pools["extract_cbd_chm"] == "upstream_api_cbd_int"
    assert pools["extract_ramsar_nrf"] == DEFAULT_POOL  # inbox: no upstream host
    fetched = {p for p in pools.values() if p != DEFAULT_POOL}
    assert fetched == set(pool_definitions()) and len(fetched) == sum(1 for s in SOURCES.values() if s.default_url)
    assert all(t.pool == DEFAULT_POOL for t in dag.tasks if not t.task_id.startswith("extract_"))
