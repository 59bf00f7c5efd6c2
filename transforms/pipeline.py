"""Run one source's staging and harmonizing by name (same shape for every source)."""
from __future__ import annotations

from pathlib import Path

from core.paths import data_dir
from core.sources import source_module
from transforms import reuse


def stage_source(source: str, fetch_log: str | None) -> str | None:
    """Typed staging tables beside the fetch log; None passes a skipped source through. A source
    whose raw files and code are the live release's is not staged: the folder names its parts."""
    if fetch_log is None:
        return None
    out = Path(fetch_log).parent / "staging"
    if previous := reuse.reusable_parts(source, Path(fetch_log)):
        return str(reuse.mark_reused(out, previous))
    return str(source_module("transforms", source).stage(Path(fetch_log), data_dir(), out))


def harmonize_source(source: str, staging_dir: str | None) -> str | None:
    """Shared-schema parts beside the staging folder, for everything the source holds: the
    release build keeps the run's slice of them (outputs.release.merge_slice)."""
    if staging_dir is None:
        return None
    out = Path(staging_dir).parent / "parts"
    if previous := reuse.reused_parts(Path(staging_dir)):
        return str(reuse.link_parts(previous, out))
    parts = source_module("transforms", source).harmonize(Path(staging_dir), out)
    reuse.write_fingerprint(Path(staging_dir).parent / "fetch.json", parts)
    return str(parts)
