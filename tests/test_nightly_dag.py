"""The nightly DAG end to end on the replica, through Airflow (``dag.test()``)."""
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from airflow.dag_processing.dagbag import DagBag

from core.manifest import read_manifest

DAGS = Path(__file__).resolve().parents[1] / "dags"


@pytest.mark.e2e
def test_nightly_dag_publishes_an_audited_release(data_dir, upstream, replica):
    dag = DagBag(dag_folder=str(DAGS)).get_dag("mea_reporting_nightly")
    run = dag.test(logical_date=datetime(2026, 11, 28, 2, tzinfo=timezone.utc))
    assert run.state == "success"
    assert replica.stats.count(status=200) > 0

    current = (data_dir / "current").resolve()
    manifest = read_manifest(current)
    assert manifest["audit"]["success"] is True
    rows = {t: info["rows"] for t, info in manifest["tables"].items()}
    assert rows["observations"] > 300 and rows["report_submissions"] > 380
    assert rows["conventions"] >= 12 and rows["countries"] >= 249 and rows["indicators"] >= 2
    assert rows["quarantine"] >= 12

    obs = pd.read_parquet(current / "observations.parquet")
    assert {"SYN-NR-SUBMITTED", "SYN-NAP-SUBMITTED"} <= set(obs["indicator_code"])
    assert set(obs["source_system"]) == set(dag.params["sources"])
    landed = {p.name.split(".")[0] for p in (data_dir / "raw").rglob("*.*") if not p.name.endswith(".meta.json")}
    assert set(obs["raw_sha256"]) <= landed
    with duckdb.connect(str(data_dir / "mea.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from observations").fetchone()[0] == len(obs)


@pytest.mark.e2e
def test_a_no_change_night_through_airflow_keeps_the_live_release(data_dir, upstream, replica):
    dag = DagBag(dag_folder=str(DAGS)).get_dag("mea_reporting_nightly")
    assert dag.test(logical_date=datetime(2026, 11, 28, 2, tzinfo=timezone.utc)).state == "success"
    first = (data_dir / "current").resolve()
    assert dag.test(logical_date=datetime(2026, 11, 29, 2, tzinfo=timezone.utc)).state == "success"
    assert (data_dir / "current").resolve() == first
    reused = sorted(p.parent.parent.name for p in (data_dir / "runs").glob("*/*/staging/reused.json"))
    assert reused == sorted(dag.params["sources"])
