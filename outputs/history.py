"""Release history for data officers: list releases with their diffs, roll back, prune.

``python -m outputs.history list`` | ``rollback <release_id>`` | ``prune [--keep N]``
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from core import settings
from core.manifest import read_manifest
from core.paths import current_release, data_dir
from core.state import published_upstream
from outputs.locks import abandoned_builds, data_folder_lock
from outputs.publish import point_current_at, require_passing_audit


def releases() -> list[Path]:
    """Every complete release folder, oldest first (ids start with their UTC timestamp)."""
    folder = data_dir() / "releases"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and (p / "manifest.json").exists())


def describe(folder: Path, live: Path | None) -> str:
    """One line per release: id, live marker, audit, partial, observations and the diff."""
    m = json.loads((folder / "manifest.json").read_text())
    diff = m["diff"]
    changes = ", ".join(f"{t} +{d['added']} -{d['removed']} ~{d['changed']}"
                        for t, d in sorted(diff["tables"].items()) if any(d.values())) or "no change"
    audit = m.get("audit", {}).get("success")
    state = "passed" if audit else ("FAILED" if audit is False else "not audited")
    return (f"{'*' if folder == live else ' '} {m['release_id']}  audit {state}"
            f"{'  PARTIAL' if m.get('partial') else ''}  observations {m['tables']['observations']['rows']}"
            f"  vs {diff['previous_release']}: {changes if diff['previous_release'] else 'first release'}")


def upstream_changes(folder: Path, before: Path | None) -> list[str]:
    """Lines naming each source whose upstream differs from the release before (None: the first)."""
    if before is None:
        return []
    now, then = (read_manifest(f)["inputs"] for f in (folder, before))
    return [f"    {source}: upstream {published_upstream(then[source])} -> {published_upstream(entry)}"
            for source, entry in sorted(now.items())
            if source in then and published_upstream(then[source]) != published_upstream(entry)]


def rollback(release_id: str) -> str:
    """Make an earlier audited release live again (``current`` and ``mea.duckdb`` in one switch)."""
    folder = data_dir() / "releases" / release_id
    if not (folder / "manifest.json").exists():
        raise FileNotFoundError(f"no release {release_id} in {folder.parent}")
    require_passing_audit(folder)
    with data_folder_lock():
        point_current_at(release_id)
    return release_id


def prune(keep: int | None = None) -> list[str]:
    """Delete all but the newest ``keep`` releases (never the live one) and builds abandoned by a
    crashed run (``releases/.building-*`` that no live build holds); return what went."""
    keep = keep if keep is not None else settings.integer("MEA_KEEP_RELEASES")
    with data_folder_lock():
        live = current_release()
        old = [p for p in releases()[:-keep or None] if p != live] if keep > 0 else []
        old += abandoned_builds()
        for folder in old:
            shutil.rmtree(folder)
    return [p.name for p in old]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m outputs.history", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list releases, newest last, * = live")
    back = commands.add_parser("rollback", help="make an earlier release live")
    back.add_argument("release_id")
    trim = commands.add_parser("prune", help="delete old releases")
    trim.add_argument("--keep", type=int, default=None)
    args = parser.parse_args(argv)
    if args.command == "list":
        live, before = current_release(), None
        for folder in releases():
            print("\n".join([describe(folder, live), *upstream_changes(folder, before)]))
            before = folder
    elif args.command == "rollback":
        print(f"current -> {rollback(args.release_id)}")
    else:
        print("pruned: " + (", ".join(prune(args.keep)) or "nothing"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
