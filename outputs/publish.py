"""Write-audit-publish, step three: switch ``current`` to an audited release, atomically.

``var/current`` is a symlink to ``releases/<id>``; ``var/mea.duckdb`` is a symlink to
``current/mea.duckdb``, so one os.replace switches both, and analysts who hold the old DuckDB
file open keep reading the old release undisturbed.

Runs never publish over each other: publishing holds an exclusive lock on the data folder,
and refuses a release built against a ``current`` that has moved since (its diff would lie).

A publish killed at any step is healed by the next one (docs/faults.md, "Crash points"): it
switches ``current``, then ``mea.duckdb``, then records the published state, and a publish that
finds its release already live (a no-change night after the crash) still makes sure of the last
two. The locks (on the data folder, and on each folder a build writes) are in ``outputs.locks``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from core.paths import current_release, data_dir
from core.state import record_published
from outputs.locks import data_folder_lock
from outputs.report import write_report


class NotAudited(RuntimeError):
    """A release without a passing audit cannot be published."""


class CurrentMoved(RuntimeError):
    """Another run published after this release was built; it must be rebuilt."""


def publish(folder: Path) -> str:
    """Write the report of the audited ``folder`` and make it the live release; return its id."""
    folder = Path(folder)
    require_passing_audit(folder)
    write_report(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    with data_folder_lock():
        live = current_release()
        if live != folder.resolve():
            built_against = manifest["diff"]["previous_release"]
            if (live.name if live else None) != built_against:
                raise CurrentMoved(f"release {folder.name} was built against {built_against}, but "
                                   f"{live and live.name} was published since; re-run to rebuild it")
            point_current_at(folder.name)
        # Also when a no-change night kept the live release: a publish killed after its switch
        # left the DuckDB link or the state behind, and this is where they catch up.
        ensure_duckdb_link()
        record_published(published_fetch_logs(manifest))
    return folder.name


def published_fetch_logs(manifest: dict) -> dict[str, str]:
    """source -> fetch log of the sources a release fetched itself (a source it carried keeps
    the state it has); only those still on disk."""
    return {source: info["fetch_log"] for source, info in manifest["inputs"].items()
            if "carried_from" not in info and Path(info["fetch_log"]).exists()}


def require_passing_audit(folder: Path) -> None:
    audit = Path(folder) / "audit.json"
    if not audit.exists() or not json.loads(audit.read_text())["summary"]["success"]:
        raise NotAudited(f"release {Path(folder).name} has no passing audit; not publishing it")


def point_current_at(release_id: str) -> None:
    """Switch ``current`` (and with it ``mea.duckdb``) to ``releases/<release_id>``."""
    switch_link(data_dir() / "current", Path("releases") / release_id)
    ensure_duckdb_link()


def ensure_duckdb_link() -> None:
    """``mea.duckdb`` -> ``current/mea.duckdb``, made once (it follows ``current`` from then on)."""
    link = data_dir() / "mea.duckdb"
    if not link.is_symlink():
        switch_link(link, Path("current") / "mea.duckdb")


def switch_link(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` (relative) with one atomic rename."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(target)
    os.replace(tmp, link)


    return False
