"""The CMS token never lands anywhere: the whole nightly DAG on the replica with a token no other
run uses, then every file the run wrote, its stdout/stderr and its log records are searched for it."""
import logging
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

REPO = Path(__file__).resolve().parents[1]


class Recorder(logging.Handler):
    """Every log record, formatted with its arguments and traceback."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def recorded_logs():
    """A handler on the root logger at DEBUG for the test, so a token logged at any level is seen."""
    root, recorder = logging.getLogger(), Recorder()
    level = root.level
    root.addHandler(recorder)
    root.setLevel(logging.DEBUG)
    yield recorder
    root.removeHandler(recorder)
    root.setLevel(level)


def files_written_since(folder: Path, since: float) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.stat().st_mtime >= since]


@pytest.mark.e2e
def test_the_cms_token_appears_in_no_file_log_or_output_of_a_run(data_dir, upstream, monkeypatch, capfd,
                                                                   recorded_logs, tmp_path):
    token = "cms-token-" + secrets.token_hex(16)
    monkeypatch.setenv("MEA_CMS_ORS_TOKEN", token)  # the replica expects it too: a wrong one gets 401
    started = time.time() - 1
    dag = DagBag(dag_folder=str(REPO / "dags")).get_dag("mea_reporting_nightly")
    run = dag.test(logical_date=datetime(2026, 11, 28, 2, tzinfo=timezone.utc))
    assert run.state == "success"
    assert upstream.stats.count(path="/cms-ors/api/v1/questionnaires", status=200) > 0  # the token was used

    written = files_written_since(tmp_path, started) + files_written_since(REPO / ".airflow", started)
    assert any(p.is_relative_to(data_dir / "raw" / "cms-ors") for p in written)
    needle = token.encode()
    assert [str(p) for p in written if needle in p.read_bytes()] == []
    out, err = capfd.readouterr()
    assert token not in out and token not in err
    assert recorded_logs.lines and not [line for line in recorded_logs.lines if token in line]
