"""A release's ``manifest.json``: what it holds, where each part came from, its diff and audit."""
from __future__ import annotations

import json
from pathlib import Path

MANIFEST = "manifest.json"


def read_manifest(folder: Path) -> dict:
    """The manifest of the release in ``folder``."""
    return json.loads((Path(folder) / MANIFEST).read_text())


def write_manifest(folder: Path, manifest: dict) -> None:
    """Write ``manifest`` into the release folder ``folder`` (keys sorted, dates as text)."""
    (Path(folder) / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")


def add_files(folder: Path, names: list[str]) -> None:
    """Record release files made after the build (the report, the Data Docs) in the manifest."""
    manifest = read_manifest(folder)
    manifest["files"] = sorted(set(manifest.get("files", [])) | set(names))
    write_manifest(folder, manifest)
