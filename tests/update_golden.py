"""Regenerate tests/golden/informea/*.csv from a run on the replica snapshot.

Run after a reviewed change to the snapshot or the mappings, then read the diff before
committing it: ``uv run python tests/update_golden.py && git diff tests/golden``.
"""
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

from extractors.sources import url_env_var  # noqa: E402
from replica.server import Replica, seed_inbox  # noqa: E402


def main() -> None:
    from pipeline_helpers import run_pipeline
    from test_release import GOLDEN, sorted_csv

    with tempfile.TemporaryDirectory() as tmp, Replica() as replica:
        os.environ["MEA_DATA_DIR"] = tmp
        for source, url in replica.source_urls().items():
            os.environ[url_env_var(source)] = url
        seed_inbox(replica.snapshot_root, Path(tmp) / "inbox")
        release = run_pipeline("golden")
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for table in ("observations", "report_submissions", "conventions", "quarantine"):
            (GOLDEN / f"{table}.csv").write_text(sorted_csv(pd.read_parquet(release / f"{table}.parquet")),
                                                 encoding="utf-8")
            print(f"wrote {GOLDEN / table}.csv")


if __name__ == "__main__":
    main()
