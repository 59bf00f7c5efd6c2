"""One JSON request, the same way for every source: conditional GET, raw landing, parse.

The request is conditional when the session carries ``Validators`` (``begin``) and
the same request was landed before; a 304 reuses that raw file instead of downloading it.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from core.sources import base_url, get_source, upstream_id
from core.state import upstream_reset
from extractors import http
from extractors.conditional import Validators
from extractors.landing import land


def begin(source: str, data_dir: Path, url: str | None, session: requests.Session | None) -> tuple[
        requests.Session, dict]:
    """A source's session, with the validators its upstream sent before (call
    ``session.validators.save()`` at the end), and the head of its fetch log: the base URL, the
    upstream and, when the published state came from another upstream, ``upstream_reset``."""
    url = (url or base_url(source)).rstrip("/")
    upstream = upstream_id(source, url)
    session = session or http.make_session()
    session.validators = Validators(data_dir, source, upstream)
    head = {"source_system": source, "base_url": url, "upstream": upstream}
    if reset := upstream_reset(source, data_dir, upstream):
        head["upstream_reset"] = reset
    return session, head


def fetch_json(session: requests.Session, source: str, url: str, params: dict | None, data_dir: Path,
               entity: str) -> tuple[object, dict]:
    """GET, land the bytes, parse JSON; returns the payload and its fetch-log page entry.

    A body that is not JSON raises UpstreamError naming the source, the URL and the body's start.
    """
    validators = getattr(session, "validators", None)
    key = Validators.key(url, params)
    headers = {"Accept": "application/json", **(validators.request_headers(key) if validators else {})}
    response = http.get(session, source, url, params=params, headers=headers)
    if response.status_code == 304 and validators:
        page = {"url": response.url, **validators.not_modified(key), "status": 304}
        body = (Path(data_dir) / page["raw_path"]).read_bytes()
    else:
        body = response.content
        landed = land(data_dir, source, entity, body, url=response.url, params=params,
                      status=response.status_code, headers=response.headers, terms=get_source(source).terms)
        page = {"url": response.url, "first_url": landed.url, "raw_path": str(landed.path.relative_to(data_dir)),
                "sha256": landed.sha256, "retrieved_at": landed.retrieved_at, "status": response.status_code}
        if validators:
            validators.remember(key, response.headers, page)
    try:
        payload = json.loads(body)
    except ValueError as exc:
        snippet = body[:120].decode("utf-8", "replace")
        raise http.UpstreamError(source, response.url, f"response is not JSON ({exc}); body starts {snippet!r}") from exc
    return payload, page


def fetch_many(session: requests.Session, source: str, wanted: list[tuple[str, dict | None, str]],
               data_dir: Path) -> list[tuple[object, dict]]:
    """``fetch_json`` for each (url, params, entity), up to ``http.concurrency()`` at once;
    results in the order asked, so the fetch log is the same at any concurrency."""
    workers = min(http.concurrency(), len(wanted))
    if workers < 2:
        return [fetch_json(session, source, url, params, data_dir, entity) for url, params, entity in wanted]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"fetch-{source}") as pool:
        return list(pool.map(lambda one: fetch_json(session, source, one[0], one[1], data_dir, one[2]), wanted))
