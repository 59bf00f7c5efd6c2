"""Run one source's extractor by name; every source module has the same ``extract`` shape."""
from __future__ import annotations

import importlib
import logging

from outputs.paths import data_dir, run_dir

log = logging.getLogger(__name__)


def source_module(package: str, source: str):
    """``<package>.<source>`` (dashes as underscores): the source's extractor or transform."""
    return importlib.import_module(f"{package}.{source.replace('-', '_')}")


def extract_source(source: str, run_id: str, params: dict) -> str | None:
    """Extract ``source`` into raw landing; the fetch-log path, or None when not selected."""
    if params.get("sources") and source not in params["sources"]:
        log.info("source %s not selected by params.sources=%s; skipping", source, params["sources"])
        return None
    folder = run_dir(run_id)
    return str(source_module("extractors", source).extract(data_dir(), folder))
