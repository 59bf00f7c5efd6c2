"""Regenerate tests/golden/informea/*.csv from a run on the replica snapshot.

Run after a reviewed change to the snapshot or the mappings, then read the diff before
committing it: ``uv run python tests/update_golden.py && git diff tests/golden``.
"""
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from replica.server import Replica, seed_inbox  # noqa: E402


def main() -> None:
    from pipeline_helpers import run_pipeline
    from golden import write_golden
    from test_release import GOLDEN_TABLES, SOURCE, informea_csv

    with tempfile.TemporaryDirectory() as tmp, Replica() as replica:
        os.environ["MEA_DATA_DIR"] = tmp
        os.environ.update(replica.client_env())
        seed_inbox(replica.snapshot_root, Path(tmp) / "inbox")
        release = run_pipeline("golden")
        write_golden(SOURCE, release, GOLDEN_TABLES, informea_csv)


if __name__ == "__main__":
    main()
