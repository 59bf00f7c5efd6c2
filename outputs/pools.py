"""One Airflow pool per upstream host: however many workers there are, no host gets more than
its pool's slots of concurrent extract tasks (politeness to the conventions' servers).

Pools are named after each source's production host (``upstream_api_cbd_int``), so they stay
the same whatever ``MEA_<SOURCE>_URL`` points at; inbox sources read local files and use
``default_pool``. Slots: ``MEA_UPSTREAM_POOL_SLOTS`` (default 1). The DAG sets ``pool=`` on each
``extract_*`` task; ``outputs.operate`` creates the pools before it starts a scheduler (a task in
a pool that does not exist is never scheduled). ``airflow dags test`` does not use pools.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from core import settings
from core.sources import SOURCES

DEFAULT_POOL = "default_pool"


def pool_for(system: str) -> str:
    """The pool of ``system``'s extract task: its production host's, or the default pool for inbox sources."""
    url = SOURCES[system].default_url
    return "upstream_" + re.sub(r"[^a-z0-9]+", "_", urlsplit(url).hostname.lower()) if url else DEFAULT_POOL


def pool_definitions() -> dict[str, dict]:
    """Every upstream pool as ``airflow pools import`` reads it."""
    slots = settings.integer("MEA_UPSTREAM_POOL_SLOTS")
    hosts = {pool_for(s): urlsplit(src.default_url).hostname for s, src in SOURCES.items() if src.default_url}
    return {pool: {"slots": slots, "description": f"concurrent extract tasks against {host}",
                   "include_deferred": False} for pool, host in sorted(hosts.items())}
