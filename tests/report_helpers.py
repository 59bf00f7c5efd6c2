"""One published release on the replica, shared by the tests of what analysts and officers see."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest

from pipeline_helpers import run_pipeline


@contextmanager
def published_release(folder: Path):
    """Run the whole pipeline once against the replica with ``folder`` as MEA_DATA_DIR; yield the
    published release folder (built, audited, reported and live)."""
    from replica.server import Replica, seed_inbox

    with Replica() as replica, pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEA_DATA_DIR", str(folder))
        for variable, value in replica.client_env().items():
            patch.setenv(variable, value)
        seed_inbox(replica.snapshot_root, folder / "inbox")
        yield run_pipeline("report")
