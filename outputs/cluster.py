"""The production profile on one machine: Airflow on PostgreSQL with the Celery executor.

``python -m outputs.cluster`` (``make run PROFILE=celery``) creates its own PostgreSQL databases
(Airflow metadata and the warehouse), runs ``airflow db migrate``, starts the API server, DAG
processor, scheduler and one Celery worker on its own Redis queue, runs the nightly DAG once,
prints the outcome and the warehouse's row counts, then stops every process it started by
process group, drops its databases and deletes its Redis keys.
"""
from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from core import settings
from outputs.operate import (DAG_ID, airflow, airflow_components, components_env, create_pools, dag_runs, print_runs,
                             wait_for_runs)

#: the PostgreSQL server the profile and its tests create their databases on (trust auth)
SERVER = settings.text("MEA_POSTGRES_SERVER")
#: the Celery broker; each run uses its own queue and key prefix on it
BROKER = settings.text("MEA_CELERY_BROKER")


def unique_name(prefix: str) -> str:
    """``<prefix>_<pid>_<random>``: unique across runs and side-by-side processes."""
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"


@contextmanager
def scratch_database(prefix: str, server: str = SERVER) -> Iterator[str]:
    """A new, empty database on ``server``, dropped on exit (with its open connections); its conninfo."""
    name = unique_name(prefix)
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(server, dbname=name)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def sqlalchemy_url(conninfo: str, driver: str = "postgresql+psycopg") -> str:
    """``conninfo`` as a SQLAlchemy URL (Airflow's metadata connection, Celery's result backend)."""
    from sqlalchemy.engine import URL

    parts = conninfo_to_dict(conninfo)
    return URL.create(driver, username=parts.get("user"), password=parts.get("password"), host=parts.get("host"),
                      port=int(parts["port"]) if parts.get("port") else None, database=parts.get("dbname")) \
        .render_as_string(hide_password=False)


def celery_env(name: str, metadata: str, warehouse: str, concurrency: int) -> dict:
    """This environment turned into the production profile: PostgreSQL metadata, CeleryExecutor on
    queue ``name`` (keys prefixed ``name:``), results in the metadata database, the warehouse."""
    return {**components_env(),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url(metadata),
            # Airflow would derive asyncpg (not installed) for its async engine; psycopg 3 does both
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": sqlalchemy_url(metadata, "postgresql+psycopg_async"),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            # only the run triggered here: unpausing must not add the schedule's latest run
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__CELERY__BROKER_URL": BROKER,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + sqlalchemy_url(metadata),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(concurrency),
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": name,
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": f"{name}:",
            # every component signs and checks task tokens with the same key
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "MEA_WAREHOUSE_URL": warehouse}


def worker(name: str, concurrency: int) -> list[str]:
    """One Celery worker on the run's own queue; no log server (its fixed port would clash side by side)."""
    return ["celery", "worker", "--queues", name, "--concurrency", str(concurrency), "--skip-serve-logs",
            "--celery-hostname", f"{name}@%h"]


@contextmanager
def redis_keys(prefix: str) -> Iterator[None]:
    """Delete every broker key starting with ``prefix`` on exit."""
    import redis

    try:
        yield
    finally:
        client = redis.Redis.from_url(BROKER)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        print(f"deleted {len(keys)} Redis keys {prefix}*", flush=True)


def warehouse_rows(conninfo: str) -> dict[str, int]:
    """Rows per table the warehouse's ``mea`` views show."""
    from outputs import contracts, warehouse

    with psycopg.connect(conninfo) as con:
        if warehouse.live_release(con) is None:
            return {}
        return {t: con.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(warehouse.LIVE_SCHEMA, t))).fetchone()[0] for t in contracts.table_names()}


def run(concurrency: int, timeout: float) -> int:
    """The nightly DAG once on the production profile; 0 when it succeeded."""
    name = unique_name("mea_celery")
    with scratch_database("mea_airflow") as metadata, scratch_database("mea_warehouse") as warehouse, \
            redis_keys(f"{name}:"):
        print(f"profile celery: metadata {conninfo_to_dict(metadata)['dbname']}, warehouse "
              f"{conninfo_to_dict(warehouse)['dbname']}, queue {name}", flush=True)
        os.environ.update(celery_env(name, metadata, warehouse, concurrency))  # before Airflow is imported here
        airflow("db", "migrate")
        airflow("dags", "reserialize")
        create_pools()
        with airflow_components(dict(os.environ), extra=[worker(name, concurrency)]):
            airflow("dags", "unpause", DAG_ID)
            run_id = f"celery__{name}"
            airflow("dags", "trigger", DAG_ID, "--run-id", run_id)
            print(f"triggered {run_id}; waiting for it", flush=True)
            runs = wait_for_runs(lambda: dag_runs(run_id=run_id), timeout)
        succeeded = print_runs(runs)
        for table, rows in warehouse_rows(warehouse).items():
            print(f"  warehouse mea.{table}: {rows} rows")
    return 0 if succeeded else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m outputs.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=settings.integer("MEA_WORKER_CONCURRENCY"),
                        help="Celery worker slots (default MEA_WORKER_CONCURRENCY or 2)")
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args(argv)
    return run(args.concurrency, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
