"""The inbox: files data officers receive by e-mail, dropped in $MEA_DATA_DIR/inbox/<source>/.

Each file is landed by content hash like any download, so a renamed copy is not picked up
twice and a changed file is picked up as new.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from core.sources import get_source
from extractors.landing import Landed, land


#: what an inbox file name keeps (letters and digits of any script, space and . _ - + ( ) , = ' &,
#: as in "Rapport d'activité (COP14).xlsx"); runs of anything else, and of two or more dots, become one "_"
UNSAFE_IN_NAME = re.compile(r"(?:[^\w .+(),='&-]|\.{2,})+")


@dataclass(frozen=True)
class InboxFile:
    """A file found in the inbox and where its bytes were landed; ``name`` is its safe name."""

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
            raise ValueError(f"[{source}] inbox file {safe_name(path.name)}: {size} bytes is over the {max_bytes}-byte limit")
        sidecars_before = set((Path(data_dir) / "raw" / source / "inbox").rglob("*.meta.json"))
        landed = land(data_dir, source, "inbox", path.read_bytes(), url=path.resolve().as_uri(), params=None,
                      status=None, headers={}, terms=get_source(source).terms, suffix=path.suffix)
        new = landed.path.with_name(f"{landed.sha256}.meta.json") not in sidecars_before and landed.sha256 not in seen
        seen.add(landed.sha256)
        picked.append(InboxFile(safe_name(path.name), landed, new))
    return picked


def safe_name(name: str) -> str:
    """An inbox file name as the fetch log, record ids, URLs and messages carry it: no path
    separators, ``..``, control characters or leading dot (e.g. ``..\\..\\etc\\x`` from a
    Windows mail client is ``etc_x``), at most 200 characters."""
    return UNSAFE_IN_NAME.sub("_", name).strip(" ._")[:200] or "_"


def land_inbox(source: str, data_dir: Path, run_dir: Path, max_bytes: int) -> Path:
    """Land every file in the source's inbox; return the fetch log path (one page per file,
    ``new`` marks first sight)."""
    data_dir = Path(data_dir)
    pages = [{"url": f.landed.url, "first_url": f.landed.url, "raw_path": str(f.landed.path.relative_to(data_dir)),
              "sha256": f.landed.sha256, "retrieved_at": f.landed.retrieved_at, "status": None, "name": f.name,
              "new": f.new}
             for f in pick_up(data_dir, source, max_bytes=max_bytes)]
    out = Path(run_dir) / source / "fetch.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"source_system": source, "base_url": f"inbox/{source}",
                               "entities": {"inbox": {"pages": pages, "deferred": {}}}}, indent=1, sort_keys=True))
    return out


@cache
def declared_layout(path: Path) -> dict:
    """A workbook layout declared in YAML beside its extractor (sheet, header row, columns, size limit)."""
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
