"""Write-audit-publish, step three: switch ``current`` to an audited release, atomically.

``var/current`` is a symlink to ``releases/<id>``; ``var/mea.duckdb`` is a symlink to
``current/mea.duckdb``, so one os.replace switches both, and analysts who hold the old DuckDB
file open keep reading the old release undisturbed.

Runs never publish over each other: publishing holds an exclusive lock on the data folder,
and refuses a release built against a ``current`` that has moved since (its diff would lie).
"""
from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path

from core.paths import current_release, data_dir
from core.state import record_published
from outputs.report import write_report


class NotAudited(RuntimeError):
    """A release without a passing audit cannot be published."""


class CurrentMoved(RuntimeError):
    """Another run published after this release was built; it must be rebuilt."""


@contextmanager
def data_folder_lock():
    """An exclusive lock on the data folder, held while the live release is switched."""
    with open(data_dir() / ".publish.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def publish(folder: Path) -> str:
    """Write the report of the audited ``folder`` and make it the live release; return its id."""
    folder = Path(folder)
    require_passing_audit(folder)
    write_report(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    with data_folder_lock():
        live = current_release()
        if live == folder.resolve():  # a no-change night kept the live release: nothing to switch
            return folder.name
        built_against = manifest["diff"]["previous_release"]
        if (live.name if live else None) != built_against:
            raise CurrentMoved(f"release {folder.name} was built against {built_against}, but {live and live.name} "
                               "was published since; re-run to rebuild it")
        point_current_at(folder.name)
        # a source this run did not fetch keeps the state it has (its inputs are carried)
        record_published({source: info["fetch_log"] for source, info in manifest["inputs"].items()
                          if "carried_from" not in info})
    return folder.name


def require_passing_audit(folder: Path) -> None:
    audit = Path(folder) / "audit.json"
    if not audit.exists() or not json.loads(audit.read_text())["summary"]["success"]:
        raise NotAudited(f"release {Path(folder).name} has no passing audit; not publishing it")


def point_current_at(release_id: str) -> None:
    """Switch ``current`` (and with it ``mea.duckdb``) to ``releases/<release_id>``."""
    root = data_dir()
    switch_link(root / "current", Path("releases") / release_id)
    if not (root / "mea.duckdb").is_symlink():
        switch_link(root / "mea.duckdb", Path("current") / "mea.duckdb")


def switch_link(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` (relative) with one atomic rename."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(target)
    os.replace(tmp, link)
