"""Shared fixtures: an isolated data folder per test and the replica on 127.0.0.1."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# The embedded Airflow home that `make test` migrates; set here too so plain `pytest` works.
os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".airflow"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{REPO / '.airflow' / 'airflow.db'}")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A fresh MEA_DATA_DIR for the test."""
    folder = tmp_path / "var"
    monkeypatch.setenv("MEA_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def replica():
    """The replica with its default options, serving on a free 127.0.0.1 port."""
    from replica.server import Replica

    with Replica() as server:
        yield server


@pytest.fixture
def upstream(replica, data_dir, monkeypatch):
    """Every source pointed at the replica (MEA_<SOURCE>_URL and its credentials) and its inbox
    fixtures in the data folder."""
    from replica.server import seed_inbox

    for variable, value in replica.client_env().items():
        monkeypatch.setenv(variable, value)
    seed_inbox(replica.snapshot_root, data_dir / "inbox")
    return replica


@pytest.fixture
def shared_reference() -> Path:
    """../shared/reference-data, or skip when the project is checked out without it."""
    folder = SHARED / "reference-data"
    if not folder.is_dir():
        pytest.skip("../shared/reference-data is not beside the checkout")
    return folder
