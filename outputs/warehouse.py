"""Write-audit-publish to a PostgreSQL warehouse: schema ``mea_<release>``, views in ``mea``.

The audited release's ``mea.duckdb`` is copied table by table into a new schema with COPY
(CSV written by Arrow, ``ROWS_PER_BATCH`` rows at a time, so no table is ever whole in
memory), in one transaction with FREEZE. Each table's row count and checksum are then compared
with DuckDB's; on a mismatch the schema is dropped and the publish fails. Only then do the views
``mea.<table>`` and ``mea.release`` switch to the new schema, all in one transaction, and all
but the newest ``MEA_WAREHOUSE_KEEP`` release schemas (never the live one) are dropped.

Readers: a transaction that has read a ``mea`` view holds a lock on it, so the switch waits
for it to end (retrying on a short lock timeout, so a reader is never deadlocked or held more
than a moment); a reader therefore sees the release that was live at its first read of ``mea``
until it commits, never a mix. FREEZE makes the new rows visible to snapshots taken before the
load, so a reader whose snapshot predates the load still sees the new release whole.

Target: ``MEA_WAREHOUSE_URL`` (a libpq URL or conninfo), else the Airflow connection
``mea_warehouse``; with neither, publishing to the warehouse is skipped.
"""
from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import psycopg
import pyarrow.csv as arrow_csv
from psycopg import errors, sql
from psycopg.conninfo import make_conninfo

from core import settings
from core.duck import identifier
from core.manifest import read_manifest
from core.sources import airflow_connection
from outputs import contracts
from outputs.publish import require_passing_audit

CONNECTION_ID = "mea_warehouse"
LIVE_SCHEMA = "mea"
RELEASE_TABLE = "release"
ROWS_PER_BATCH = 50_000
#: how long the view switch waits for readers that hold a ``mea`` view
DEFAULT_SWITCH_WAIT_S = 600
#: below PostgreSQL's deadlock_timeout (1 s): the switch gives way before a deadlock is possible
SWITCH_LOCK_TIMEOUT = "500ms"
log = logging.getLogger(__name__)

PG_TYPES = {"text": "text", "int": "bigint", "double": "double precision", "bool": "boolean", "date": "date",
            "timestamp": "timestamptz"}
# One canonical text per value, the same in both databases, for the per-table checksum:
# doubles to 17 significant digits (exact), timestamps as epoch microseconds.
DUCKDB_CANONICAL = {"text": "{c}", "int": "CAST({c} AS VARCHAR)", "double": "printf('%.16e', {c})",
                    "bool": "CAST(CAST({c} AS INT) AS VARCHAR)", "date": "strftime({c}, '%Y-%m-%d')",
                    "timestamp": "CAST(epoch_us({c}) AS VARCHAR)",
                    "hash": "CAST('0x' || left(md5({row}), 15) AS BIGINT)"}
POSTGRES_CANONICAL = {"text": "{c}", "int": "{c}::text", "double": "ltrim(to_char({c}, '9.9999999999999999EEEE'))",
                      "bool": "{c}::int::text", "date": "to_char({c}, 'YYYY-MM-DD')",
                      "timestamp": "(extract(epoch FROM {c}) * 1000000)::bigint::text",
                      "hash": "('x' || left(md5({row}), 15))::bit(60)::bigint"}


class WarehouseMismatch(RuntimeError):
    """The release loaded into PostgreSQL differs from its DuckDB file; nothing was switched."""


class SwitchTimeout(RuntimeError):
    """Readers held the ``mea`` views for longer than the switch may wait."""


def target() -> str | None:
    """The warehouse's conninfo: MEA_WAREHOUSE_URL, else the connection ``mea_warehouse``, else None."""
    url = settings.text("MEA_WAREHOUSE_URL")
    if url:
        return url
    conn = airflow_connection(CONNECTION_ID)
    if conn is None or not conn.host:
        return None
    parts = {"host": conn.host, "port": conn.port, "user": conn.login, "password": conn.password,
             "dbname": conn.schema}
    return make_conninfo(**{k: v for k, v in parts.items() if v})


def schema_name(release_id: str) -> str:
    """``mea_<release id>``, lower case, other characters as ``_`` (20261128T020000Z-1a2b -> mea_20261128t020000z_1a2b)."""
    return "mea_" + re.sub(r"[^a-z0-9]+", "_", release_id.lower())


def publish(folder: Path, conninfo: str | None = None, keep: int | None = None,
            switch_wait_s: float | None = None) -> str | None:
    """Publish the audited release ``folder`` to the warehouse; its schema, or None when no
    warehouse is configured."""
    folder = Path(folder)
    conninfo = conninfo or target()
    if not conninfo:
        log.info("no warehouse configured (MEA_WAREHOUSE_URL or Airflow connection %r): not publishing "
                 "release %s to PostgreSQL", CONNECTION_ID, folder.name)
        return None
    require_passing_audit(folder)
    schema = schema_name(folder.name)
    with psycopg.connect(conninfo, autocommit=True) as con:
        if live_release(con) == folder.name:
            log.info("release %s is already live in the warehouse", folder.name)
            return schema
        load(con, folder, schema)
        checks = verify(con, folder, schema)
        log.info("loaded %s: %s", schema, ", ".join(f"{t} {c['rows']} rows" for t, c in checks.items()))
        switch_views(con, schema, DEFAULT_SWITCH_WAIT_S if switch_wait_s is None else switch_wait_s)
        log.info("warehouse views %s.* now show %s; dropped old release schemas: %s", LIVE_SCHEMA, schema,
                 ", ".join(prune(con, keep)) or "none")
    return schema


def live_release(con: psycopg.Connection) -> str | None:
    """The release id the ``mea`` views show, or None before the first publish."""
    try:
        row = con.execute(sql.SQL("SELECT release_id FROM {}.{}").format(
            sql.Identifier(LIVE_SCHEMA), sql.Identifier(RELEASE_TABLE))).fetchone()
    except errors.UndefinedTable:
        return None
    return row[0] if row else None


def load(con: psycopg.Connection, folder: Path, schema: str) -> None:
    """Every table of the release into a fresh ``schema``, in one transaction: a failed load leaves nothing."""
    manifest = read_manifest(folder)
    with con.transaction(), duckdb.connect(str(folder / "mea.duckdb"), read_only=True) as duck:
        con.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))  # a failed earlier try
        con.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        for table in contracts.table_names():
            create_table(con, schema, table)
            copy_table(con, duck, schema, table)
        con.execute(sql.SQL("CREATE TABLE {}.{} (release_id text NOT NULL, created_at timestamptz NOT NULL, "
                            "partial boolean NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now())")
                    .format(sql.Identifier(schema), sql.Identifier(RELEASE_TABLE)))
        con.execute(sql.SQL("INSERT INTO {}.{} (release_id, created_at, partial) VALUES (%s, %s, %s)")
                    .format(sql.Identifier(schema), sql.Identifier(RELEASE_TABLE)),
                    (folder.name, manifest["created_at"], bool(manifest.get("partial"))))


def create_table(con: psycopg.Connection, schema: str, table: str) -> None:
    """``schema.table`` with the contract's columns, types and NOT NULLs."""
    columns = [sql.SQL("{} {}{}").format(sql.Identifier(name), sql.SQL(PG_TYPES[spec["type"]]),
                                         sql.SQL("" if spec["nullable"] else " NOT NULL"))
               for name, spec in contracts.contracts()[table]["columns"].items()]
    con.execute(sql.SQL("CREATE TABLE {}.{} ({})").format(sql.Identifier(schema), sql.Identifier(table),
                                                          sql.SQL(", ").join(columns)))


def copy_table(con: psycopg.Connection, duck: duckdb.DuckDBPyConnection, schema: str, table: str) -> None:
    """Stream ``table`` from DuckDB into PostgreSQL: Arrow batches written as CSV into one COPY."""
    names = list(contracts.contracts()[table]["columns"])
    batches = duck.sql(f"SELECT {', '.join(map(identifier, names))} FROM {identifier(table)}") \
        .to_arrow_reader(ROWS_PER_BATCH)
    # Arrow quotes every string and leaves NULL unquoted and empty: COPY's CSV reads both back exactly
    options = arrow_csv.WriteOptions(include_header=False)
    statement = sql.SQL("COPY {}.{} ({}) FROM STDIN (FORMAT csv, FREEZE)").format(
        sql.Identifier(schema), sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, names)))
    with con.cursor().copy(statement) as copy:
        for batch in batches:
            buffer = io.BytesIO()
            arrow_csv.write_csv(batch, buffer, options)
            copy.write(buffer.getbuffer())


def verify(con: psycopg.Connection, folder: Path, schema: str) -> dict[str, dict]:
    """Row count and checksum of every table in ``schema`` against the release's DuckDB file;
    drop ``schema`` and raise WarehouseMismatch when any differ."""
    with duckdb.connect(str(folder / "mea.duckdb"), read_only=True) as duck:
        expected = {t: duckdb_fingerprint(duck, t) for t in contracts.table_names()}
    actual = {t: postgres_fingerprint(con, schema, t) for t in contracts.table_names()}
    wrong = [f"{t}: DuckDB {expected[t]}, PostgreSQL {actual[t]}" for t in expected if expected[t] != actual[t]]
    if wrong:
        con.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        raise WarehouseMismatch(f"release {folder.name} loaded into {schema} differs from its DuckDB file "
                                f"(schema dropped, views unchanged): " + "; ".join(wrong))
    return actual


def duckdb_fingerprint(duck: duckdb.DuckDBPyConnection, table: str) -> dict:
    rows, checksum = duck.execute(
        f"SELECT count(*), coalesce(sum({row_hash(table, DUCKDB_CANONICAL, identifier)}), 0) "
        f"FROM {identifier(table)}").fetchone()
    return {"rows": int(rows), "checksum": int(checksum)}


def postgres_fingerprint(con: psycopg.Connection, schema: str, table: str) -> dict:
    def quote(name: str) -> str:
        return sql.Identifier(name).as_string(con)

    rows, checksum = con.execute(sql.SQL("SELECT count(*), coalesce(sum({}), 0) FROM {}.{}").format(
        sql.SQL(row_hash(table, POSTGRES_CANONICAL, quote)), sql.Identifier(schema), sql.Identifier(table))).fetchone()
    return {"rows": int(rows), "checksum": int(checksum)}


def row_hash(table: str, dialect: dict[str, str], quote: Callable[[str], str]) -> str:
    """An expression giving each row a 60-bit hash of its canonical text; summed, a per-table
    checksum that does not depend on row order (identifiers come quoted by ``quote``)."""
    fields = [f"coalesce({dialect[spec['type']].format(c=quote(name))}, '\\N')"
              for name, spec in contracts.contracts()[table]["columns"].items()]
    return dialect["hash"].format(row=f"concat_ws(chr(31), {', '.join(fields)})")


def switch_views(con: psycopg.Connection, schema: str, wait_s: float) -> None:
    """Point every ``mea`` view at ``schema`` in one transaction, waiting for readers of the old ones."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with con.transaction():
                replace_views(con, schema)
            return
        except (errors.LockNotAvailable, errors.DeadlockDetected):
            if time.monotonic() > deadline:
                raise SwitchTimeout(f"readers held the {LIVE_SCHEMA} views for over {wait_s:.0f} s; {schema} is "
                                    "loaded but not live (re-run the task to try again)") from None
            log.info("readers hold the %s views; retrying the switch to %s", LIVE_SCHEMA, schema)
            time.sleep(1)


def replace_views(con: psycopg.Connection, schema: str) -> None:
    """Inside a transaction: lock the managed views at once (or give way), drop them, create the new ones."""
    live = sql.Identifier(LIVE_SCHEMA)
    names = contracts.table_names() + [RELEASE_TABLE]
    con.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(SWITCH_LOCK_TIMEOUT)))
    con.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(live))
    existing = [r[0] for r in con.execute("SELECT viewname FROM pg_views WHERE schemaname = %s ORDER BY viewname",
                                          (LIVE_SCHEMA,))
                if r[0] in names or live_schema_has(con, r[0])]
    if existing:
        con.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
            sql.SQL(", ").join(sql.Identifier(LIVE_SCHEMA, v) for v in existing)))
        for view in existing:
            con.execute(sql.SQL("DROP VIEW {}").format(sql.Identifier(LIVE_SCHEMA, view)))
    for name in names:
        con.execute(sql.SQL("CREATE VIEW {} AS SELECT * FROM {}").format(sql.Identifier(LIVE_SCHEMA, name),
                                                                         sql.Identifier(schema, name)))


def live_schema_has(con: psycopg.Connection, view: str) -> bool:
    """Whether ``mea.<view>`` reads a table of a release schema (a table a later contract dropped)."""
    return bool(con.execute(
        "SELECT 1 FROM information_schema.view_table_usage WHERE view_schema = %s AND view_name = %s "
        "AND table_schema LIKE 'mea\\_%%'", (LIVE_SCHEMA, view)).fetchone())


def release_schemas(con: psycopg.Connection) -> list[str]:
    """Every release schema in the warehouse, oldest first (release ids start with their UTC time)."""
    return [r[0] for r in con.execute(
        "SELECT table_schema FROM information_schema.tables WHERE table_name = %s AND table_type = 'BASE TABLE' "
        "AND table_schema LIKE 'mea\\_%%' ORDER BY table_schema", (RELEASE_TABLE,))]


def prune(con: psycopg.Connection, keep: int | None = None) -> list[str]:
    """Drop all but the newest ``keep`` release schemas (never the live one); return those dropped.
    A schema a reader still holds is left for the next publish rather than waited for."""
    keep = keep if keep is not None else settings.integer("MEA_WAREHOUSE_KEEP")
    live = live_release(con)
    live_schema = schema_name(live) if live else None
    dropped = []
    for schema in release_schemas(con)[:-keep or None] if keep > 0 else []:
        if schema == live_schema:
            continue
        try:
            with con.transaction():
                con.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(SWITCH_LOCK_TIMEOUT)))
                con.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
            dropped.append(schema)
        except errors.LockNotAvailable:
            log.info("schema %s is in use; it will be dropped by a later publish", schema)
    return dropped
