"""Run one source's extractor by name; every source module has the same ``extract`` shape.

Sources with a cursor (``INCREMENTAL = True``) also take the run's ``until`` (the end of its data
interval) and ``full_refresh``; a re-processing run replays the published fetch log instead."""
from __future__ import annotations

import logging

from core.paths import data_dir, run_dir
from core.sources import source_module
from core.state import replay_published

log = logging.getLogger(__name__)


def extract_source(source: str, run_id: str, params: dict) -> str | None:
    """Extract ``source`` into raw landing; the fetch-log path, or None when not selected."""
    if params.get("sources") and source not in params["sources"]:
        log.info("source %s not selected by params.sources=%s; skipping", source, params["sources"])
        return None
    folder = run_dir(run_id)
    if params.get("reprocess"):
        log.info("re-processing %s from raw landing: no download", source)
        return str(replay_published(source, folder))
    module = source_module("extractors", source)
    if getattr(module, "INCREMENTAL", False):
        return str(module.extract(data_dir(), folder, until=params.get("until"),
                                  full_refresh=bool(params.get("full_refresh"))))
    return str(module.extract(data_dir(), folder))
