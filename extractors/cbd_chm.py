"""CBD Clearing-House / Online Reporting Tool client: Solr index, documents and thesaurus to raw landing.

Pages the Solr index (``/api/v2013/index``) by ``start``/``rows`` until ``numFound`` for each
schema, fetches the full document of every indexed record whose content staging needs, and the
GBF thesaurus domains. Every response is landed byte for byte; the fetch log lists them.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import requests

from core.state import carried_over, incremental_base
from extractors import drift, http
from extractors.fetch import begin, fetch_json, fetch_many

SOURCE = "cbd-chm"
INDEX = "/api/v2013/index"
#: schema -> whether staging needs the full document (the index doc is enough for reports)
SCHEMAS = {
    "nationalReport7": False,
    "nationalReport6": False,
    "nationalReport7IndicatorData": True,
    "nationalReport7BinaryIndicatorData": True,
    "nationalTarget7": True,
    "nationalTarget7Mapping": True,
}
THESAURUS_DOMAINS = ("GBF-HEADLINE-INDICATORS", "GBF-BINARY-INDICATORS", "GBF-TARGETS")
FIELDS = ("id,identifier_s,uniqueIdentifier_s,schema_s,government_s,government_EN_t,title_s,title_EN_s,url_ss,"
          "createdDate_dt,updatedDate_dt,documentLinks_s")
PAGE_SIZE = 100
MAX_PAGES = 10_000
INCREMENTAL = True


def extract(data_dir: Path, run_dir: Path, session: requests.Session | None = None,
            url: str | None = None, page_size: int = PAGE_SIZE, until: str | None = None,
            full_refresh: bool = False) -> Path:
    """Fetch every schema's index pages, their documents and the thesaurus; return the fetch log path.

    After a published run each schema is fetched from its cursor (``updatedDate_dt`` after the
    newest document it saw, up to ``until``, the run's data interval end) and the published pages
    are carried beside the new ones. ``full_refresh``, and a full fetch every
    ``MEA_FULL_REFRESH_DAYS`` (``core.state.incremental_base``), fetch everything again.
    """
    data_dir = Path(data_dir)
    session, head = begin(SOURCE, data_dir, url, session)
    url = head["base_url"]
    published, last_full_at = incremental_base(SOURCE, data_dir, head["upstream"], full_refresh)
    entities, cursor = {}, {}
    for schema, with_documents in SCHEMAS.items():
        base = published["entities"].get(schema) if published else None
        since = published.get("cursor", {}).get(schema) if base else None
        pages = fetch_index(session, url, schema, data_dir, page_size, updated_range(since, until) if base else None)
        deferred = fetch_documents(session, url, schema, pages, data_dir) if with_documents else {}
        entities[schema] = {"pages": pages, "deferred": deferred, **({"carried": carried_over(base)} if base else {})}
        cursor[schema] = max(filter(None, [since, *(p.pop("newest_updated") for p in pages)]), default=None)
    entities["thesaurus"] = {"pages": [fetch_thesaurus(session, url, d, data_dir) for d in THESAURUS_DOMAINS],
                             "deferred": {}}
    session.validators.save()
    out = Path(run_dir) / SOURCE / "fetch.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**head, "entities": entities, "cursor": cursor,
                               "last_full_at": last_full_at}, indent=1, sort_keys=True))
    return out


def updated_range(since: str | None, until: str | None) -> str:
    """The Solr clause of an incremental fetch: updated after the cursor, up to the interval end."""
    return f"updatedDate_dt:{{{since or '*'} TO {solr_date(until) if until else '*'}]"


def solr_date(moment: str) -> str:
    """An ISO timestamp as a Solr date (UTC, ``Z``)."""
    parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return (parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed).strftime("%Y-%m-%dT%H:%M:%SZ")


def fetch_index(session, service_url: str, schema: str, data_dir: Path, page_size: int = PAGE_SIZE,
                window: str | None = None) -> list[dict]:
    """Every page of the index for one schema (within ``window``, a Solr clause), paged by
    start/rows until numFound; each page notes the newest ``updatedDate_dt`` on it.

    The first page tells ``numFound``; the pages after it are fetched concurrently and taken in
    order, so the fetch log is the same at any concurrency."""
    request_url = service_url + INDEX
    query = f"schema_s:{schema} AND NOT version_s:*" + (f" AND {window}" if window else "")
    params = {"q": query, "fl": FIELDS, "sort": "id asc", "start": 0, "rows": page_size, "wt": "json"}
    pages, starts, seen, num_found = [], [0], 0, None
    while starts:
        fetched = fetch_many(session, SOURCE, [(request_url, {**params, "start": s}, schema) for s in starts], data_dir)
        for start, (payload, page) in zip(starts, fetched):
            if start != seen:
                break  # a short page moved the next start: ask again from where it ended
            num_found, docs = solr_docs(payload, page["url"])
            drift.check_page(SOURCE, "index", docs, page)
            if len(docs) > params["rows"]:  # paging on by what arrived would skip as many records
                raise http.UpstreamError(SOURCE, page["url"], f"{len(docs)} docs on a page of rows={params['rows']}")
            page.update(records=len(docs), num_found=num_found,
                        newest_updated=max((str(d["updatedDate_dt"]) for d in docs if d.get("updatedDate_dt")),
                                           default=None))
            pages.append(page)
            if seen + len(docs) < num_found and not docs:
                raise http.UpstreamError(SOURCE, page["url"], f"empty page at start={start} before "
                                                              f"numFound={num_found} was reached")
            seen += len(docs)
            if seen >= num_found:
                return pages
        if len(pages) >= MAX_PAGES:
            raise http.UpstreamError(SOURCE, request_url, f"more than {MAX_PAGES} pages; refusing to go on")
        starts = list(range(seen, num_found, page_size))[:MAX_PAGES - len(pages)]
    return pages


def solr_docs(payload, url: str) -> tuple[int, list[dict]]:
    """``numFound`` and ``docs`` of a Solr response; any other shape fails naming the missing field."""
    response = payload.get("response") if isinstance(payload, dict) else None
    if not isinstance(response, dict):
        raise http.UpstreamError(SOURCE, url, f"Solr response without 'response': {str(payload)[:200]!r}")
    for field, kind in (("numFound", int), ("docs", list)):
        if not isinstance(response.get(field), kind):
            raise http.UpstreamError(SOURCE, url, f"Solr response without 'response.{field}'")
    return response["numFound"], response["docs"]


def fetch_documents(session, service_url: str, schema: str, pages: list[dict], data_dir: Path) -> dict:
    """The landed document of every indexed record (fetched concurrently), as fetch-log pages keyed by uid."""
    uids = {}
    for page in pages:
        _, docs = solr_docs(json.loads((data_dir / page["raw_path"]).read_bytes()), page["url"])
        for doc in docs:
            uid = doc.get("identifier_s")
            if uid:  # a doc without uid is quarantined by staging
                uids.setdefault(uid, (f"{service_url}/api/v2013/documents/{uid}", None, f"{schema}-documents"))
    fetched = fetch_many(session, SOURCE, list(uids.values()), data_dir)
    return {uid: page for uid, (_, page) in zip(uids, fetched)}


def fetch_thesaurus(session, service_url: str, domain: str, data_dir: Path) -> dict:
    url = f"{service_url}/api/v2013/thesaurus/domains/{domain}/terms"
    payload, page = fetch_json(session, SOURCE, url, None, data_dir, "thesaurus")
    if not isinstance(payload, list):
        raise http.UpstreamError(SOURCE, page["url"], f"thesaurus terms are not a JSON array: {str(payload)[:200]!r}")
    return {**page, "domain": domain, "records": len(payload)}
