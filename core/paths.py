"""Where the data folder is: ``MEA_DATA_DIR``, else ./var at the repository root."""
from __future__ import annotations

import re
from pathlib import Path

from core import settings

REPO_ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """The data folder (raw landing, runs, releases, current, mea.duckdb), created if missing."""
    path = Path(settings.text("MEA_DATA_DIR") or REPO_ROOT / "var").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_dir(run_id: str) -> Path:
    """The working folder of one pipeline run (staging and parts), named after its run id."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id).strip("_") or "run"
    return data_dir() / "runs" / safe


def current_release() -> Path | None:
    """The folder of the live release, or None before the first publish."""
    link = data_dir() / "current"
    return link.resolve() if link.exists() else None
