"""The inbox: files data officers receive by e-mail, dropped in $MEA_DATA_DIR/inbox/<source>/.

Each file is landed by content hash like any download, so a renamed copy is not picked up
twice and a changed file is picked up as new.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from extractors.landing import Landed, land
from extractors.sources import get_source


@dataclass(frozen=True)
class InboxFile:
    """A file found in the inbox and where its bytes were landed."""

    name: str
    landed: Landed
    new: bool


def pick_up(data_dir: Path, source: str, max_bytes: int = 512 * 1024 * 1024) -> list[InboxFile]:
    """Land every regular file in the source's inbox (sorted by name); refuse oversized ones."""
    folder = Path(data_dir) / "inbox" / source
    if not folder.is_dir():
        return []
    picked, seen = [], set()
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        size = path.stat().st_size
        if size > max_bytes:
            raise ValueError(f"[{source}] inbox file {path.name}: {size} bytes is over the {max_bytes}-byte limit")
        sidecars_before = set((Path(data_dir) / "raw" / source / "inbox").rglob("*.meta.json"))
        landed = land(data_dir, source, "inbox", path.read_bytes(), url=path.resolve().as_uri(), params=None,
                      status=None, headers={}, terms=get_source(source).terms, suffix=path.suffix.lower())
        new = landed.path.with_name(f"{landed.sha256}.meta.json") not in sidecars_before and landed.sha256 not in seen
        seen.add(landed.sha256)
        picked.append(InboxFile(path.name, landed, new))
    return picked
