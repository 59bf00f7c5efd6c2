"""What each source's last published run fetched, kept in ``$MEA_DATA_DIR/state/<source>/``.

After a release publishes, the fetch log of every source in it is recorded here. It is the base
of the next incremental run (cursors, pages carried over) and of re-processing, which rebuilds a
slice from raw landing without downloading again. Nothing is recorded for a run that did not
publish, so a failed night never advances a cursor.
"""
from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from core import settings
from core.paths import data_dir

log = logging.getLogger(__name__)
FILE = "published-fetch.json"


class NothingPublished(RuntimeError):
    """Re-processing asked for a source that no published release holds."""


def published_fetch_log(source: str, folder: Path | None = None) -> dict | None:
    """The fetch log of ``source`` in the live release of data folder ``folder`` (default: the
    configured one), or None before its first publish."""
    path = Path(folder or data_dir()) / "state" / source / FILE
    return json.loads(path.read_text()) if path.exists() else None


def published_upstream(fetch_log: dict) -> str:
    """The upstream a fetch log came from (logs written before upstreams were recorded: its base URL)."""
    return fetch_log.get("upstream") or fetch_log["base_url"]


def upstream_reset(source: str, folder: Path, upstream: str) -> dict | None:
    """``{"from", "to"}`` when the published state of ``source`` came from another upstream than
    ``upstream`` (said once in the log): nothing of it may be built on. None otherwise."""
    published = published_fetch_log(source, folder)
    if published is None or published_upstream(published) == upstream:
        return None
    before = published_upstream(published)
    log.warning("[%s] upstream changed from %s to %s: its published state is not built on; fetching "
                "everything, carrying nothing", source, before, upstream)
    return {"from": before, "to": upstream}


def incremental_base(source: str, folder: Path, upstream: str, full_refresh: bool = False) -> tuple[dict | None, str]:
    """What an incremental source builds on: (the published fetch log, or None when this run must
    fetch everything; when the last full fetch was). A full fetch is due when asked for, before
    the first publish, when the published state came from another upstream, and every
    ``MEA_FULL_REFRESH_DAYS`` days (default 7), so deletions upstream reach the release within a week."""
    published = published_fetch_log(source, folder)
    if published is not None and published_upstream(published) != upstream:
        published = None
    now = datetime.now(timezone.utc)
    days = settings.number("MEA_FULL_REFRESH_DAYS")
    last_full = (published or {}).get("last_full_at")
    due = last_full is None or now - datetime.fromisoformat(last_full) > timedelta(days=days)
    if full_refresh or due:
        return None, now.isoformat(timespec="seconds")
    return published, last_full


def record_published(fetch_logs: dict[str, str]) -> None:
    """Keep the fetch log of each source (source -> path) of a release that just published."""
    for source, path in fetch_logs.items():
        target = data_dir() / "state" / source / FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{FILE}.{os.getpid()}.tmp")
        tmp.write_bytes(Path(path).read_bytes())
        os.replace(tmp, target)


def replay_published(source: str, run_dir: Path) -> Path:
    """The published fetch log of ``source`` as this run's own, so staging re-reads raw landing."""
    fetch_log = published_fetch_log(source)
    if fetch_log is None:
        raise NothingPublished(f"[{source}] nothing published yet, so nothing to re-process; run it normally first")
    out = Path(run_dir) / source / "fetch.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**fetch_log, "replayed": True}, indent=1, sort_keys=True))
    return out


def carried_over(published_entity: dict | None) -> dict:
    """The pages (and deferred documents) of a published entity that an incremental run carries
    beside its own: the published run's new pages plus what that run carried itself."""
    if not published_entity:
        return {"pages": [], "deferred": {}}
    before = published_entity.get("carried") or {"pages": [], "deferred": {}}
    return {"pages": published_entity["pages"] + before["pages"],
            "deferred": {**before["deferred"], **published_entity["deferred"]}}


def raw_pages(fetch_log: dict) -> list[dict]:
    """Every page of a fetch log that names a raw file: pages, deferred documents, carried pages."""
    return [page for entity in fetch_log["entities"].values()
            for page in entity["pages"] + list(entity["deferred"].values()) + carried_pages(entity)]


def carried_pages(entity: dict) -> list[dict]:
    """Pages an incremental run carried over from the published run (they are inputs too)."""
    carried = entity.get("carried") or {}
    return carried.get("pages", []) + list(carried.get("deferred", {}).values())


def fresh_then_carried(entry: dict, records, record_id):
    """(page, position, record) of an entity's new pages, then of its carried pages minus the
    records fetched again tonight (the new copy replaces the carried one, quarantine included).
    ``records(pages)`` yields the triples; ``record_id(record)`` names a record."""
    fresh = list(records(entry["pages"]))
    refetched = {record_id(record) for _, _, record in fresh} - {None}
    yield from fresh
    carried = entry.get("carried") or {"pages": []}
    yield from (item for item in records(carried["pages"]) if record_id(item[2]) not in refetched)


def all_deferred(entry: dict) -> dict:
    """Deferred documents of an entity, its carried ones included (tonight's win)."""
    return {**(entry.get("carried") or {}).get("deferred", {}), **entry["deferred"]}
