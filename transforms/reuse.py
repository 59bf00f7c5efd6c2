"""A no-change night: a source whose fetch log names the same raw files as the live release's
run, under the same code and mappings, is neither staged nor harmonized again; its parts are
that run's, hard-linked (no bytes copied, nothing parsed).

The fingerprint of a harmonized source is written beside its parts (``fingerprint.json``): the
raw files (sha256 and first retrieval, which provenance columns carry) of every page, deferred
document and carried page of its fetch log, and a hash of the code, mappings, contracts and suites
that make parts and releases. When every source of the live release is reused, the live release
itself is what the run would build, so it is neither built, audited nor published again.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from functools import cache
from pathlib import Path

from core.paths import REPO_ROOT, current_release
from core.state import published_upstream, raw_pages

log = logging.getLogger(__name__)
FINGERPRINT = "fingerprint.json"
REUSED = "reused.json"
#: what harmonized parts are made by, besides the raw files: a change here re-harmonizes every source
CODE = ("core/*.py", "transforms/**/*.py", "transforms/mappings/**/*", "extractors/*.yaml", "outputs/*.py", "outputs/*.yaml",
        "expectations/*.json")


def fingerprint(fetch_log: dict) -> str:
    """The upstream, the raw files a fetch log names (as a set: the same files fetched again give
    the same fingerprint) and the code and mappings that harmonize them, as one hash. A page known
    to hold no records adds nothing to the parts, so the empty page an incremental night fetches
    does not count. Parts of another upstream are never reused, even for the same bytes."""
    raw = sorted({(page["sha256"], page.get("retrieved_at")) for page in raw_pages(fetch_log)
                  if page.get("records") != 0})
    return hashlib.sha256(json.dumps({"upstream": published_upstream(fetch_log), "raw": raw,
                                      "code": code_digest()}).encode()).hexdigest()


@cache
def code_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted({p for pattern in CODE for p in REPO_ROOT.glob(pattern) if p.is_file()}):
        if "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def reusable_parts(source: str, fetch_log_path: Path) -> Path | None:
    """The live release's parts of ``source`` when tonight's fetch log has their fingerprint;
    None when anything differs, for a re-processing run (which is asked to rebuild), or when
    those parts are gone."""
    fetch_log = json.loads(Path(fetch_log_path).read_text())
    live = current_release()
    if fetch_log.get("replayed") or live is None or not (live / "manifest.json").exists():
        return None
    published = json.loads((live / "manifest.json").read_text())["inputs"].get(source)
    parts = Path(published["fetch_log"]).parent / "parts" if published else None
    if parts is None or not (parts / FINGERPRINT).exists():
        return None
    if json.loads((parts / FINGERPRINT).read_text())["fingerprint"] != fingerprint(fetch_log) or not untouched(parts):
        return None
    log.info("[%s] the raw files and code are those of the live release: reusing its parts %s", source, parts)
    return parts


def mark_reused(staging_dir: Path, parts: Path) -> Path:
    """A staging folder that says which parts harmonizing takes as they are."""
    staging_dir.mkdir(parents=True, exist_ok=True)
    (staging_dir / REUSED).write_text(json.dumps({"parts": str(parts)}))
    return staging_dir


def reused_parts(staging_dir: Path) -> Path | None:
    marker = Path(staging_dir) / REUSED
    return Path(json.loads(marker.read_text())["parts"]) if marker.exists() else None


def link_parts(parts: Path, out_dir: Path) -> Path:
    """``parts`` hard-linked into ``out_dir`` (a fresh folder)."""
    shutil.rmtree(out_dir, ignore_errors=True)
    shutil.copytree(parts, out_dir, copy_function=os.link)
    return out_dir


def write_fingerprint(fetch_log_path: Path, out_dir: Path) -> None:
    """The fingerprint of freshly harmonized parts, and the size and time of each file as written."""
    fetch_log = json.loads(Path(fetch_log_path).read_text())
    (Path(out_dir) / FINGERPRINT).write_text(json.dumps({"fingerprint": fingerprint(fetch_log),
                                                         "files": file_stamps(Path(out_dir))}))


def file_stamps(parts: Path) -> dict[str, list[int]]:
    return {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(parts.iterdir())
            if p.is_file() and p.name != FINGERPRINT}


def untouched(parts: Path) -> bool:
    """Whether the parts files are still those harmonizing wrote (parts are shared by hard links,
    so one rewritten in any run's folder is never reused again)."""
    return json.loads((parts / FINGERPRINT).read_text()).get("files") == file_stamps(parts)


def live_release_if_unchanged(parts_dirs: list[str]) -> Path | None:
    """The live release when tonight's parts are exactly its parts, every one reused (so the same
    raw files, code and mappings): building it again would give the same tables."""
    live = current_release()
    if live is None or not (live / "manifest.json").exists():
        return None
    manifest = json.loads((live / "manifest.json").read_text())
    published = {source: str(Path(i["fetch_log"]).parent / "parts") for source, i in manifest["inputs"].items()}
    tonight = {}
    for parts in map(Path, parts_dirs):
        reused = reused_parts(parts.parent / "staging")
        if reused is None or not untouched(reused):
            return None
        tonight[parts.parent.name] = str(reused)
    return live if tonight == published and not manifest.get("partial") else None
