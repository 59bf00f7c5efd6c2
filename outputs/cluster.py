"""The production profile on one machine: Airflow on PostgreSQL with the Celery executor.

``python -m outputs.cluster`` (``make run PROFILE=celery``) creates its own PostgreSQL databases
(Airflow metadata and the warehouse), runs ``airflow db migrate``, starts the API server, DAG
processor, scheduler and one Celery worker on its own Redis queue, runs the nightly DAG once,
prints the outcome and the warehouse's row counts, then stops every process it started by
process group, drops its databases and deletes its Redis keys.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

#: the PostgreSQL server the profile and its tests create their databases on (trust auth)
SERVER = os.environ.get("MEA_POSTGRES_SERVER", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


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
