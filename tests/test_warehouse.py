"""Publishing releases to PostgreSQL: equal to DuckDB, switched atomically, pruned, audit-gated.

Each test creates its own database on 127.0.0.1:5432 (unique name) and drops it, so the file
can run twice and side by side.
"""
import json
import shutil
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd
import psycopg
import pytest
from psycopg import sql

from outputs import contracts, warehouse
from outputs.cluster import scratch_database
from outputs.publish import NotAudited
from pipeline_helpers import ALL, run_pipeline
from replica.server import Replica, seed_inbox


@pytest.fixture(scope="module")
def releases(tmp_path_factory) -> tuple[Path, Path]:
    """Two releases with different content (in two data folders, so the row-count audit holds):
    InforMEA and the SDG API alone, then every source."""
    built = []
    with pytest.MonkeyPatch.context() as patch, Replica() as replica:
        for variable, value in replica.client_env().items():
            patch.setenv(variable, value)
        for number, sources in enumerate([["informea", "sdg-api"], ALL["sources"]]):
            data = tmp_path_factory.mktemp("warehouse") / "var"
            patch.setenv("MEA_DATA_DIR", str(data))
            seed_inbox(replica.snapshot_root, data / "inbox")
            built.append(run_pipeline(f"warehouse-{number}", {**ALL, "sources": sources}))
            time.sleep(1)  # release ids carry the build second: the second must sort after the first
    return built[0], built[1]


@pytest.fixture
def warehouse_db() -> str:
    with scratch_database("mea_wh_test") as conninfo:
        yield conninfo


def live_fingerprints(con: psycopg.Connection) -> dict:
    """What a reader sees through the ``mea`` views: the release id and every table's fingerprint."""
    return {"release": warehouse.live_release(con),
            **{t: warehouse.postgres_fingerprint(con, warehouse.LIVE_SCHEMA, t) for t in contracts.table_names()}}


def duckdb_fingerprints(release: Path) -> dict:
    with duckdb.connect(str(release / "mea.duckdb"), read_only=True) as duck:
        return {"release": release.name, **{t: warehouse.duckdb_fingerprint(duck, t) for t in contracts.table_names()}}


def test_the_release_in_postgresql_equals_the_duckdb_one(releases, warehouse_db):
    release = releases[1]
    assert warehouse.publish(release, warehouse_db) == warehouse.schema_name(release.name)
    manifest = json.loads((release / "manifest.json").read_text())
    with psycopg.connect(warehouse_db) as con:
        seen = live_fingerprints(con)
        assert seen == duckdb_fingerprints(release)
        assert {t: seen[t]["rows"] for t in contracts.table_names()} == \
            {t: manifest["tables"][t]["rows"] for t in contracts.table_names()}
        assert seen["observations"]["rows"] > 0 and seen["cites_trade"]["rows"] > 0
        # independently of the checksum: the rows themselves, value for value
        for table in ("observations", "cites_trade"):
            key = contracts.key(table)
            columns = list(contracts.contracts()[table]["columns"])
            pg = pd.DataFrame(con.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier("mea", table))).fetchall(),
                              columns=columns).sort_values(key, ignore_index=True)
            duck = pd.read_parquet(release / f"{table}.parquet").sort_values(key, ignore_index=True)
            for column in columns:
                assert plain(pg[column]) == plain(duck[column]), f"{table}.{column}"


def plain(column: pd.Series) -> list:
    """Python values, every missing marker (None, NaN, NA, NaT) as None."""
    return [None if pd.isna(v) else v for v in column.astype(object)]


def test_a_load_that_differs_from_duckdb_is_dropped_and_never_switched(releases, warehouse_db):
    first, second = releases
    warehouse.publish(first, warehouse_db)
    schema = warehouse.schema_name(second.name)
    with psycopg.connect(warehouse_db, autocommit=True) as con:
        warehouse.load(con, second, schema)
        con.execute(sql.SQL("UPDATE {} SET value_num = value_num + 1e-9 WHERE observation_id = "
                            "(SELECT min(observation_id) FROM {} WHERE value_num IS NOT NULL)").format(
            sql.Identifier(schema, "observations"), sql.Identifier(schema, "observations")))
        with pytest.raises(warehouse.WarehouseMismatch, match="observations"):
            warehouse.verify(con, second, schema)
        assert schema not in warehouse.release_schemas(con)
        assert warehouse.live_release(con) == first.name


def test_a_reader_inside_one_transaction_sees_the_old_release_or_the_new_one_never_a_mix(releases, warehouse_db):
    first, second = releases
    warehouse.publish(first, warehouse_db)
    published = []
    publisher = threading.Thread(target=lambda: published.append(warehouse.publish(second, warehouse_db)))
    with psycopg.connect(warehouse_db) as reader, psycopg.connect(warehouse_db, autocommit=True) as observer:
        reader.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        assert warehouse.live_release(reader) == first.name  # the reader has read one view so far
        publisher.start()
        wait_for_switch_blocked_by(reader, observer)
        # the new release is loaded and waiting; everything the reader reads now is still the old one
        assert live_fingerprints(reader) == duckdb_fingerprints(first)
        reader.commit()
        publisher.join(timeout=300)
        assert published == [warehouse.schema_name(second.name)]
        assert live_fingerprints(reader) == duckdb_fingerprints(second)


def wait_for_switch_blocked_by(reader: psycopg.Connection, observer: psycopg.Connection, limit_s: float = 300) -> None:
    """Until the publisher's view switch has been seen waiting on the reader's lock."""
    reader_pid = reader.info.backend_pid
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if observer.execute("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                            "AND %s = ANY(pg_blocking_pids(pid))", (reader_pid,)).fetchone():
            return
        time.sleep(0.02)
    raise AssertionError("the publisher never waited for the reader's lock")


def copy_release(release: Path, release_id: str) -> Path:
    folder = release.parent / release_id
    shutil.copytree(release, folder, dirs_exist_ok=True)
    return folder


def test_only_the_newest_release_schemas_are_kept(releases, warehouse_db):
    ids = [f"2099010{n}T000000Z-keep{n}" for n in range(1, 5)]
    for release_id in ids:
        warehouse.publish(copy_release(releases[0], release_id), warehouse_db, keep=2)
    with psycopg.connect(warehouse_db) as con:
        assert warehouse.release_schemas(con) == [warehouse.schema_name(i) for i in ids[-2:]]
        assert warehouse.live_release(con) == ids[-1]
        # the views point at the live schema, not at a dropped one
        assert warehouse.postgres_fingerprint(con, "mea", "observations") == \
            duckdb_fingerprints(releases[0])["observations"]


def test_a_release_without_a_passing_audit_is_not_loaded(releases, warehouse_db):
    failing = copy_release(releases[0], "20990201T000000Z-failing")
    audit = json.loads((failing / "audit.json").read_text())
    audit["summary"]["success"] = False
    (failing / "audit.json").write_text(json.dumps(audit))
    with pytest.raises(NotAudited, match="20990201T000000Z-failing"):
        warehouse.publish(failing, warehouse_db)
    with psycopg.connect(warehouse_db) as con:
        assert warehouse.release_schemas(con) == [] and warehouse.live_release(con) is None


def test_without_a_warehouse_configured_nothing_is_published(releases, monkeypatch):
    monkeypatch.delenv("MEA_WAREHOUSE_URL", raising=False)
    assert warehouse.target() is None
    assert warehouse.publish(releases[0]) is None
