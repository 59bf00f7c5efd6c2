"""A partial release keeps what the failed source had published (issue 21, item 2).

A night with a source down must not erase what that source had published: with ``allow_partial``
the release carries the failed source's rows of every sliced table (bulk ones too) from the live
release unchanged, says so in its manifest and run summary, and the next night that fetches the
source again replaces them. Without ``allow_partial`` nothing is published.
"""
from __future__ import annotations

import socket
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from core.manifest import read_manifest
from outputs import contracts
from outputs.release import build_release
from pipeline_helpers import ALL, harmonized_parts, run_pipeline

DAGS = Path(__file__).resolve().parents[1] / "dags"
FAILED = "cbd-chm"


def sliced_tables() -> list[str]:
    """Every table the contract slices by source (outputs/contracts.yaml), bulk tables included."""
    return [name for name in contracts.table_names() if (contracts.contracts()[name].get("slice") or {}).get("source")]


def rows_of(release: Path, table: str, source: str) -> pd.DataFrame:
    """The rows of ``source`` in ``table`` of ``release``, in a stable order, every column."""
    spec = contracts.contracts()[table]["slice"]
    with duckdb.connect() as con:
        frame = con.execute(f"SELECT * FROM read_parquet($path) WHERE coalesce({spec['source']} = $source, false)",
                            {"path": str(release / f"{table}.parquet"), "source": source}).df()
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def assert_carried(partial: Path, live: Path, source: str) -> None:
    """``source``'s rows of every sliced table in ``partial`` are exactly those of ``live``; the
    manifest and run summary say they were carried, and from where."""
    for table in sliced_tables():
        before, after = rows_of(live, table, source), rows_of(partial, table, source)
        pd.testing.assert_frame_equal(after, before, obj=f"{table} rows of {source}")
    assert any(len(rows_of(live, table, source)) for table in sliced_tables())
    manifest = read_manifest(partial)
    assert manifest["partial"] is True and manifest["failed_sources"] == [source]
    assert manifest["inputs"][source]["carried_from"] == live.name
    assert manifest["inputs"][source]["fetch_log"] == read_manifest(live)["inputs"][source]["fetch_log"]
    assert manifest["carried"][source]["from_release"] == live.name
    assert manifest["carried"][source]["rows"] == {table: len(rows_of(live, table, source)) for table in sliced_tables()}
    assert manifest["run_summary"]["carried"] == {source: live.name}
    assert source not in manifest["slice"]["sources"]


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a port that was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/cbd-chm"


@pytest.mark.parametrize("failed", [FAILED, "cites-trade"])  # cites-trade: its bulk table, cites_trade
def test_a_partial_build_carries_the_failed_source_s_rows(data_dir, upstream, failed):
    """build_release itself, as the DAG's task calls it, with one source failed (no parts)."""
    live = run_pipeline("whole")
    params = {**ALL, "allow_partial": True}
    others = {**params, "sources": [s for s in ALL["sources"] if s != failed]}
    partial = build_release(harmonized_parts("partial", others), params, "partial", [failed])
    assert_carried(partial, live, failed)
    if failed == "cites-trade":
        assert len(rows_of(partial, "cites_trade", failed)) == read_manifest(live)["tables"]["cites_trade"]["rows"] > 0


@pytest.mark.e2e
def test_a_source_down_through_airflow_publishes_nothing_or_a_partial_release_that_keeps_its_rows(
        data_dir, upstream, replica, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    from outputs.summary import summary_text

    dag = DagBag(dag_folder=str(DAGS)).get_dag("mea_reporting_nightly")
    extract = dag.get_task(f"extract_{FAILED.replace('-', '_')}")
    extract.retries = 0  # a refused connection is retried; here it fails on its first try

    def night(day: int, **conf):
        return dag.test(logical_date=datetime(2026, 11, day, 2, tzinfo=timezone.utc), run_conf=conf or None)

    assert night(26).state == "success"
    live = (data_dir / "current").resolve()
    # cbd-chm is down: nothing listens where it is said to be
    monkeypatch.setenv("MEA_CBD_CHM_URL", closed_port_url())

    assert night(27).state == "failed"
    assert (data_dir / "current").resolve() == live, "a run without allow_partial published"

    assert night(28, allow_partial=True).state == "success"
    partial = (data_dir / "current").resolve()
    assert partial != live
    assert_carried(partial, live, FAILED)
    # the other sources were fetched tonight, not carried
    assert not any("carried_from" in info for source, info in read_manifest(partial)["inputs"].items()
                   if source != FAILED)
    text = summary_text()
    assert f"PARTIAL     sources failed: {FAILED}" in text and f"from {live.name}" in text

    # cbd-chm is back: the next night fetches it and replaces the carried rows
    monkeypatch.setenv("MEA_CBD_CHM_URL", replica.client_env()["MEA_CBD_CHM_URL"])
    assert night(29).state == "success"
    recovered = (data_dir / "current").resolve()
    assert recovered not in (live, partial)
    manifest = read_manifest(recovered)
    assert manifest["partial"] is False and manifest["carried"] == {}
    assert "carried_from" not in manifest["inputs"][FAILED]
    assert manifest["inputs"][FAILED]["fetch_log"] != read_manifest(live)["inputs"][FAILED]["fetch_log"]
    observations = rows_of(recovered, "observations", FAILED)
    assert len(observations) == len(rows_of(live, "observations", FAILED))
