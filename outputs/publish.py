"""Write-audit-publish, step three: switch ``current`` to an audited release, atomically.

``var/current`` is a symlink to ``releases/<id>``; ``var/mea.duckdb`` is a symlink to
``current/mea.duckdb``, so one os.replace switches both, and analysts who hold the old DuckDB
file open keep reading the old release undisturbed.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from outputs.paths import data_dir


class NotAudited(RuntimeError):
    """A release without a passing audit cannot be published."""


def publish(folder: Path) -> str:
    """Make ``folder`` the live release; return its id."""
    folder = Path(folder)
    audit = folder / "audit.json"
    if not audit.exists() or not json.loads(audit.read_text())["summary"]["success"]:
        raise NotAudited(f"release {folder.name} has no passing audit; not publishing it")
    root = data_dir()
    switch_link(root / "current", Path("releases") / folder.name)
    if not (root / "mea.duckdb").is_symlink():
        switch_link(root / "mea.duckdb", Path("current") / "mea.duckdb")
    return folder.name


def switch_link(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` (relative) with one atomic rename."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(target)
    os.replace(tmp, link)
