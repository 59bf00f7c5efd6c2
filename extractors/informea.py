"""InforMEA OData v2 client: Treaties, CountryReports and NationalPlans to raw landing.

Pages until done (``__next`` when the server pages, else ``$skip``), resolves deferred
navigation links, and lands every response with a provenance sidecar. The result is a fetch
log (JSON) that staging reads; nothing is parsed beyond what paging needs.
"""
from __future__ import annotations

import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from core.state import carried_over, incremental_base
from extractors import drift, http
from extractors.fetch import begin, fetch_many

log = logging.getLogger(__name__)
#: 2026-11: OData v2 JSON dates are "/Date(<ms since epoch>[+offset])/"
ODATA_DATE = re.compile(r"^/Date\((?P<ms>-?\d+)(?:[+-]\d+)?\)/$")

SOURCE = "informea"
#: entity set -> navigation properties to expand
ENTITY_SETS = {
    "Treaties": ("title", "description"),
    "CountryReports": ("title", "files"),
    "NationalPlans": ("title", "files"),
}
#: a total order per set, so $skip paging neither skips nor repeats; Treaties has no ``updated``
ORDER_BY = {"Treaties": "id", "CountryReports": "updated desc,id", "NationalPlans": "updated desc,id"}
PAGE_SIZE = 100
MAX_PAGES = 10_000
#: sets whose records carry ``updated``: fetched incrementally after the first published run
CURSOR_SETS = ("CountryReports", "NationalPlans")
INCREMENTAL = True


def extract(data_dir: Path, run_dir: Path, session: requests.Session | None = None,
            url: str | None = None, page_size: int = PAGE_SIZE, until: str | None = None,
            full_refresh: bool = False) -> Path:
    """Fetch every entity set into raw landing; return the path of the run's fetch log.

    After a published run, CountryReports and NationalPlans are fetched from its cursor
    (``updated`` after the newest record it saw) up to ``until`` (the run's data interval end),
    and the published pages are carried over beside the new ones; staging lets a record in a new
    page replace the same record in a carried one. ``full_refresh``, and a full fetch every
    ``MEA_FULL_REFRESH_DAYS`` (``core.state.incremental_base``), fetch everything again.
    """
    session, head = begin(SOURCE, data_dir, url, session)
    url = head["base_url"]
    published, last_full_at = incremental_base(SOURCE, data_dir, head["upstream"], full_refresh)
    fetch_log = {**head, "entities": {}, "cursor": {}, "last_full_at": last_full_at}

    def fetch_set(entity: str) -> tuple[dict, dict | None, str | None]:
        base = published["entities"].get(entity) if published and entity in CURSOR_SETS else None
        since = (published or {}).get("cursor", {}).get(entity) if base else None
        window = updated_window(since, until) if base else None
        entry = fetch_entity_set(session, url, entity, ENTITY_SETS[entity], Path(data_dir), page_size, window)
        return entry, base, since

    # the sets page side by side; the per-host bound still caps the requests in flight
    with ThreadPoolExecutor(max_workers=len(ENTITY_SETS), thread_name_prefix="informea-set") as pool:
        fetched = list(pool.map(fetch_set, ENTITY_SETS))
    for entity, (entry, base, since) in zip(ENTITY_SETS, fetched):
        if base:
            entry["carried"] = carried_over(base)
        fetch_log["entities"][entity] = entry
        if entity in CURSOR_SETS:
            fetch_log["cursor"][entity] = max(filter(None, [since, entry.pop("newest_updated", None)]), default=None)
    session.validators.save()
    out = Path(run_dir) / SOURCE / "fetch.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(fetch_log, indent=1, sort_keys=True))
    return out


def updated_window(since: str | None, until: str | None) -> str | None:
    """The ``$filter`` of an incremental fetch: updated after the cursor, up to the interval end."""
    clauses = [f"updated gt datetime'{since}'"] if since else []
    if until:
        clauses.append(f"updated le datetime'{odata_datetime(until)}'")
    return " and ".join(clauses) or None


def odata_datetime(moment: str) -> str:
    """An ISO timestamp as the OData v2 datetime literal (UTC, to the second)."""
    parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S")


def newest_updated(records: list[dict]) -> str | None:
    """The latest ``updated`` among ``records`` as an OData datetime literal (None when none has one)."""
    stamps = [int(m["ms"]) for r in records if isinstance(r, dict)
              if (m := ODATA_DATE.match(str(r.get("updated") or "")))]
    if not stamps:
        return None
    return odata_datetime(datetime.fromtimestamp(max(stamps) / 1000, tz=timezone.utc).isoformat())


def fetch_entity_set(session, service_url: str, entity: str, navs: tuple[str, ...], data_dir: Path,
                     page_size: int = PAGE_SIZE, window: str | None = None) -> dict:
    """All pages of one entity set (within ``window``, a ``$filter``) plus its deferred navigation
    targets, as fetch-log entries; ``newest_updated`` is the cursor the pages reach.

    ``$count`` comes first: paging must reach it, so a page that comes back short or empty fails
    the source. The first two pages come one at a time (a server that ignores ``$skip`` repeats the
    first and is left alone after two requests); the rest are fetched ``$skip``/``$top``
    concurrently. Server paging (``__next``) is followed one at a time.
    """
    request_url = f"{service_url}/{entity}"
    params = {"$format": "json", "$expand": ",".join(navs), "$orderby": ORDER_BY[entity],
              "$top": page_size, "$skip": 0, **({"$filter": window} if window else {})}
    expected = record_count(session, service_url, entity, window)
    walk = PageWalk(entity, page_size)
    wanted = [(request_url, params)]
    while wanted:
        fetched = fetch_many(session, SOURCE, [(url, sent, entity) for url, sent in wanted], data_dir)
        for (url, sent), (payload, page) in zip(wanted, fetched):
            next_link = walk.take(payload, page, url, sent)
            if walk.done or next_link:
                break
        if len(walk.pages) > MAX_PAGES:
            raise http.UpstreamError(SOURCE, request_url, f"more than {MAX_PAGES} pages; refusing to go on")
        if walk.done:
            break
        if next_link:
            wanted = [(rebase(next_link, service_url), None)]
        else:
            wanted = [(request_url, {**params, "$skip": skip})
                      for skip in remaining_skips(walk, expected)]
    walk.check_reached(expected)
    deferred = resolve_deferred(session, service_url, walk.records, navs, data_dir, entity)
    return {"pages": walk.pages, "deferred": deferred, "newest_updated": max(filter(None, walk.newest), default=None)}


class PageWalk:
    """The pages of one entity set taken in order, deciding after each whether paging is done."""

    def __init__(self, entity: str, page_size: int):
        self.entity, self.page_size = entity, page_size
        self.pages, self.records, self.newest = [], [], []
        self.previous_keys, self.last_skip, self.done = None, 0, False
        self.distinct = set()

    def take(self, payload, page: dict, url: str, sent: dict | None) -> str | None:
        """Add one page; returns its ``__next`` link (None when paging by ``$skip``)."""
        records, next_link = unwrap_collection(payload, url)
        drift.check_page(SOURCE, self.entity, records, page)
        if not records and next_link:
            # 2026-12 (fault matrix, no-records): following __next past an empty page lost its
            # records, and check_reached could only name the last page; fail here, naming this one
            raise http.UpstreamError(SOURCE, page["url"], f"empty page of {self.entity} that links a next one "
                                                          "(__next): a page came back empty")
        keys = page_keys(records)
        if keys and keys == self.previous_keys:
            # 2026-11: a server that ignores $skip returns the first page again; InforMEA's own
            # harvester stops on two identical pages, and so do we (the run log says so).
            log.warning("[informea] %s: page repeated at $skip=%s; the server ignores $skip, stopping",
                        self.entity, sent and sent.get("$skip"))
            self.pages[-1]["stopped"] = "server repeated the previous page (ignores $skip)"
            self.done = True
            return None
        self.previous_keys, self.last_skip = keys, (sent or {}).get("$skip", self.last_skip)
        self.distinct.update(key if key is not None else (page["sha256"], n) for n, key in enumerate(keys))
        self.newest.append(newest_updated(records))
        page["records"] = len(records)
        self.pages.append(page)
        self.records.extend(records)
        # 2026-11 (found by bench/): a server-paged set whose size is a multiple of the page size
        # ends with a full page and no __next; that page came from a __next link, so it is the last
        self.done = not next_link and (len(records) < self.page_size or sent is None)
        return next_link

    def check_reached(self, expected: int) -> None:
        """Fail unless paging reached the ``$count`` records (or stopped on a server ignoring ``$skip``)."""
        if len(self.distinct) < expected and "stopped" not in self.pages[-1]:
            raise http.UpstreamError(SOURCE, self.pages[-1]["url"],
                                     f"paging ended with {len(self.distinct)} distinct records of the {expected} "
                                     "that $count promised (a page came back short or empty)")


def remaining_skips(walk: PageWalk, expected: int) -> range:
    """The ``$skip`` of every page still to fetch: the next one alone until two pages agree that
    the server honours ``$skip``, then all the pages ``$count`` says there are.

    Like the sequential loop, the last page asked is the first short one (empty when the total is
    a multiple of the page size), so the fetch log is the same at any concurrency.
    """
    following = walk.last_skip + walk.page_size
    total = expected if len(walk.pages) > 1 else 0
    return range(following, max(following, total) + 1, walk.page_size)


def record_count(session, service_url: str, entity: str, window: str | None) -> int:
    """How many records the entity set holds (within ``window``): what paging must reach."""
    response = http.get(session, SOURCE, f"{service_url}/{entity}/$count",
                        params={"$filter": window} if window else None)
    if not response.text.strip().isdigit():
        raise http.UpstreamError(SOURCE, response.url, f"$count is not a number: {response.text[:80]!r}")
    return int(response.text)


def unwrap_collection(payload, url: str) -> tuple[list[dict], str | None]:
    """Records and the ``__next`` link of a collection, whichever envelope the server used."""
    if not isinstance(payload, dict) or "d" not in payload:
        raise http.UpstreamError(SOURCE, url, f"unexpected JSON shape, no 'd' envelope: {str(payload)[:200]!r}")
    d = payload["d"]
    # 2026-11: OData v1 providers (and BRS) send ``d`` as a bare list; v2 sends ``d.results``.
    if isinstance(d, list):
        return d, None
    if isinstance(d, dict) and isinstance(d.get("results"), list):
        return d["results"], d.get("__next")
    raise http.UpstreamError(SOURCE, url, f"unexpected 'd' shape: {str(d)[:200]!r}")


def nav_items(value):
    """A navigation value as a list, or the deferred URI (str) when it was not expanded.

    2026-11: v2 sends ``{"results": [...]}``, v1/v3 providers a bare list, and an unexpanded
    property is ``{"__deferred": {"uri": ...}}``.
    """
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        if isinstance(value.get("results"), list):
            return value["results"]
        if isinstance(value.get("__deferred"), dict) and value["__deferred"].get("uri"):
            return value["__deferred"]["uri"]
    raise ValueError(f"unrecognised navigation value: {str(value)[:120]!r}")


def deferred_key(uri: str) -> str:
    """The service-relative part of a deferred URI, e.g. ``CountryReports('x')/title``."""
    return uri.split(".svc/", 1)[-1]


def resolve_deferred(session, service_url: str, records: list[dict], navs, data_dir: Path, entity: str) -> dict:
    """Fetch and land the targets of deferred navigation links (concurrently); fetch-log entries by key."""
    links = {}
    for record in records:
        for nav in navs:
            try:
                value = nav_items(record.get(nav))
            except ValueError:
                continue  # staging quarantines the record with the field named
            if isinstance(value, str):
                links[deferred_key(value)] = (rebase(value, service_url), {"$format": "json"}, f"{entity}-{nav}")
    fetched = fetch_many(session, SOURCE, list(links.values()), data_dir)
    return {key: page for key, (_, page) in zip(links, fetched)}


def rebase(link: str, service_url: str) -> str:
    """``link`` re-rooted on our configured service URL.

    2026-11: Olingo writes ``__next`` and ``__deferred`` links with the host it believes it
    has; we never follow a link to another host, only its path below the service root.
    """
    service = urlsplit(service_url)
    target = urlsplit(link)
    root = service.path.rstrip("/")
    marker = root.rsplit("/", 1)[-1] + "/"
    if target.path.startswith(root + "/"):
        rest = target.path[len(root) + 1:]
    elif marker in target.path:
        rest = target.path.split(marker, 1)[1]
    else:
        raise http.UpstreamError(SOURCE, link, f"link outside the service root {service_url}")
    return urlunsplit((service.scheme, service.netloc, f"{root}/{rest}", target.query, ""))


def page_keys(records: list[dict]) -> tuple:
    return tuple(r.get("id") if isinstance(r, dict) else None for r in records)
