"""DAG integrity: the DAG folder imports cleanly and the nightly DAG follows the house rules."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

DAGS = Path(__file__).resolve().parents[1] / "dags"
APPROVED_TAGS = {"mea", "nightly", "release", "backfill", "reprocess"}


@pytest.fixture(scope="module")
def dagbag():
    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "mea_reporting_nightly" in dagbag.dag_ids


def test_every_dag_has_approved_tags_docs_and_retries(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags and set(dag.tags) <= APPROVED_TAGS, dag_id
        assert dag.doc_md and dag.doc_md.strip(), dag_id
        assert dag.default_args.get("retries", 0) >= 2, dag_id
        for t in dag.tasks:
            assert t.retries >= 2, f"{dag_id}.{t.task_id}"


def test_nightly_schedule_and_concurrency(dagbag):
    dag = dagbag.get_dag("mea_reporting_nightly")
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.schedule == "0 2 * * *"
    assert set(dag.params.keys()) >= {"sources", "countries", "cycles"}


def test_every_source_has_its_own_chain_into_the_release(dagbag):
    dag = dagbag.get_dag("mea_reporting_nightly")
    ids = set(dag.task_ids)
    assert {"extract_informea", "stage_informea", "harmonize_informea",
            "build_release", "audit_release", "publish_release"} <= ids
    assert dag.get_task("publish_release").upstream_task_ids == {"audit_release"}
    assert dag.get_task("audit_release").upstream_task_ids == {"build_release"}
    assert dag.get_task("publish_warehouse").upstream_task_ids == {"publish_release"}
    assert [o.name for o in dag.get_task("publish_release").outlets] == ["mea_release"]


def test_parsing_the_dag_file_imports_no_heavy_library():
    """The DAG processor re-parses the file often: pandas, DuckDB, pyarrow and Great Expectations
    belong inside the tasks, so parsing costs only what Airflow itself costs."""
    probe = (
        "import importlib.util, json, sys\n"
        "import airflow.sdk\n"
        "before = set(sys.modules)\n"
        f"spec = importlib.util.spec_from_file_location('nightly', {str(DAGS / 'mea_reporting_nightly.py')!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          cwd=DAGS.parent)
    imported = {name.split(".")[0] for name in json.loads(done.stdout.strip().splitlines()[-1])}
    assert not imported & {"pandas", "duckdb", "pyarrow", "great_expectations", "requests", "openpyxl"}
