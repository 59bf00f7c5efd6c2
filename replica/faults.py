"""Seeded fault injection: what flaky upstreams do, played on one endpoint of the replica.

``FaultyReplica(fault, endpoint, seed)`` picks, with ``random.Random(seed)``, one of the first
requests under ``endpoint`` (a path prefix) and answers it with ``fault`` instead of the real
response. Transient faults (``FAULTS[name].hits`` > 0) hit that request only so many times, then
let it through, as a server that recovers does; the others hit it every time it is asked.
Paging faults (``Fault.paging``) pick among pages that follow another page of the same listing,
and ``insert-while-paging`` shifts every later page of that listing, as a record inserted at the
head of the sort order while the client pages does. ``INBOX_FAULTS`` are the files that arrive by
e-mail instead of a good workbook (``inbox_fault``).
"""
from __future__ import annotations

import json
import random
import shutil
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from replica.server import Replica, under_prefix
from replica.wire import DROP, RequestInfo, Response, text_response

HTML_ERROR = (b"<!DOCTYPE html><html><head><title>Service unavailable</title></head>"
              b"<body><h1>We'll be back soon</h1></body></html>")
#: where each source's JSON keeps a page's records (InforMEA v2 and v1, Solr, SDG API, ORS)
RECORD_LISTS = (("d", "results"), ("d",), ("response", "docs"), ("data",), ("questions",), ("questionnaires",))
#: query options that move through one listing; the rest name the listing
PAGING_OPTIONS = {"$skip", "$skiptoken", "page", "start"}
PAGE_SIZE_OPTIONS = ("$top", "rows", "per_page", "pageSize")
#: the field ``extra-field`` adds to every record of the faulted page
EXTRA_FIELD = "addedUpstream2026"
LATENCY_SECONDS = 0.3
#: longer than the read timeout the fault matrix gives its client (MEA_HTTP_TIMEOUT)
STALL_SECONDS = 2.5


@dataclass
class Page:
    """The faulted response with what a fault may need: its JSON records and the listing's state."""

    response: Response
    request: RequestInfo
    field: str | None  # the record field renamed-field and missing-field act on
    carried: list | None = None  # the record just before this page in its listing (paging faults)


@dataclass(frozen=True)
class Fault:
    """How a fault rewrites the real response, and how many hits it lasts (0: every hit)."""

    rewrite: Callable[[Page], Response]
    hits: int = 0
    paging: bool = False  # needs a page that follows another page of its listing
    records: bool = False  # acts on a page's records: only pages of records are candidates
    shifts_listing: bool = False  # every later page of the listing is shifted too


def with_records(page: Page, change: Callable[[list], list]) -> Response:
    """The response with ``change`` applied to its list of records (the JSON otherwise unchanged)."""
    payload = json.loads(page.response.body)
    container, key = record_list(payload)
    container[key] = change(container[key])
    return Response(page.response.status, page.response.headers, json.dumps(payload).encode())


def record_list(payload) -> tuple[dict, str]:
    """(the object holding the records, its key) for any envelope of RECORD_LISTS."""
    for path in RECORD_LISTS:
        node = payload
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(path[-1]), list):
            return node, path[-1]
    raise ValueError(f"no record list in {str(payload)[:120]!r}")


def records_of(body: bytes) -> list:
    """The records of a JSON page body ([] when it is no page of records)."""
    try:
        container, key = record_list(json.loads(body))
    except ValueError:
        return []
    return container[key]


def each_record(change: Callable[[dict, Page], None]) -> Callable[[Page], Response]:
    """A rewrite that applies ``change`` to every record of the page (ORS wraps each in its name)."""
    def rewrite(page: Page) -> Response:
        def apply(items: list) -> list:
            for item in items:
                inner = next(iter(item.values())) if isinstance(item, dict) and len(item) == 1 else item
                change(inner if isinstance(inner, dict) else item, page)
            return items
        return with_records(page, apply)
    return rewrite


def rename(record: dict, page: Page) -> None:
    if page.field in record:
        record[page.field + "Renamed"] = record.pop(page.field)


def drop(record: dict, page: Page) -> None:
    record.pop(page.field, None)


def add_extra(record: dict, page: Page) -> None:
    record[EXTRA_FIELD] = "new upstream field"


def delayed(seconds: float) -> Callable[[Page], Response]:
    """The real response, after ``seconds``."""
    def rewrite(page: Page) -> Response:
        time.sleep(seconds)
        return page.response
    return rewrite


def truncated(page: Page) -> Response:
    """The server says the whole length, sends half and hangs up."""
    r = page.response
    return Response(r.status, {**r.headers, "Content-Length": str(len(r.body)), "Connection": "close"},
                    r.body[:len(r.body) // 2])


def page_size(request: RequestInfo) -> int | None:
    return next((int(request.query[o]) for o in PAGE_SIZE_OPTIONS if request.query.get(o, "").isdigit()), None)


def shifted(page: Page) -> Response:
    """A page after a record was inserted at the head: the previous page's last record first, its own
    last one pushed on to the next page (unless it is the last page, which grows by one)."""
    size = page_size(page.request)

    def shift(records: list) -> list:
        moved = (page.carried or [])[-1:] + records
        return moved[:-1] if size is not None and len(records) >= size else moved
    return with_records(page, shift)


FAULTS = {
    "latency": Fault(delayed(LATENCY_SECONDS)),
    "read-timeout": Fault(delayed(STALL_SECONDS), hits=1),
    "5xx-burst": Fault(lambda p: text_response(503, "Service Unavailable"), hits=2),
    "429-retry-after": Fault(lambda p: Response(429, {"Retry-After": "1"}, b"Too Many Requests"), hits=1),
    "connection-reset": Fault(lambda p: DROP, hits=1),
    "truncated-body": Fault(truncated),
    "truncated-body-once": Fault(truncated, hits=1),
    "malformed-json": Fault(lambda p: Response(p.response.status, p.response.headers,
                                               p.response.body[:len(p.response.body) // 2])),
    "html-error-200": Fault(lambda p: Response(200, {"Content-Type": "text/html"}, HTML_ERROR)),
    "empty-page": Fault(lambda p: Response(200, p.response.headers, b"")),
    "renamed-field": Fault(each_record(rename), records=True),
    "missing-field": Fault(each_record(drop), records=True),
    "extra-field": Fault(each_record(add_extra), records=True),
    "no-records": Fault(lambda p: with_records(p, lambda records: []), records=True),
    # the page repeats the last record of the page before it, as an unstable sort order does
    "duplicate-across-pages": Fault(lambda p: with_records(p, lambda records: p.carried[-1:] + records), paging=True),
    # a record inserted at the head: every later page starts with the record that ended the one before
    "insert-while-paging": Fault(shifted, paging=True, shifts_listing=True),
}


def listing(request: RequestInfo) -> tuple:
    """What names a paged listing: its path and every query option but the ones that page it."""
    return request.path, tuple(sorted((k, v) for k, v in request.query.items() if k not in PAGING_OPTIONS))


def request_key(request: RequestInfo) -> tuple:
    """What makes two requests the same request: the path and every query option."""
    return request.path, tuple(sorted(request.query.items()))


class FaultyReplica(Replica):
    """The replica with ``fault`` on one seeded request under ``endpoint``; ``injected`` counts hits.

    ``field`` is the record field that renamed-field and missing-field act on; ``faulted`` is the
    request the fault was injected into (None until it is), ``served`` what it was first answered.
    """

    def __init__(self, fault: str, endpoint: str, seed: int = 0, *, among: int = 2, field: str | None = None,
                 **options) -> None:
        super().__init__(**options)
        self.fault, self.endpoint, self.field = FAULTS[fault], endpoint, field
        self.nth = random.Random(f"{seed}:{fault}:{endpoint}").randrange(among)
        self.injected = 0
        self.faulted: RequestInfo | None = None
        self.served: Response | None = None
        self._lock = threading.Lock()
        self._requests: list[tuple] = []  # distinct candidate requests under the endpoint, in arrival order
        self._hits: Counter[tuple] = Counter()
        self._shifting: set[tuple] = set()  # listings insert-while-paging has started to shift

    @property
    def asked_again(self) -> bool:
        """Whether the faulted request was asked for again after its last faulted answer (a retry)."""
        return self.faulted is not None and self._hits[request_key(self.faulted)] > self.injected

    def faults(self, request: RequestInfo, response: Response) -> Response:
        if response.status != 200 or not request.path.startswith(self.endpoint):
            return response
        key = request_key(request)
        with self._lock:
            carried = self.record_before(request) if self.fault.paging else None
            if listing(request) in self._shifting:
                return shifted(Page(response, request, self.field, carried))
            if self.fault.paging and not carried:
                return response  # a first page: nothing before it to repeat
            if self.fault.records and not records_of(response.body):
                return response  # no page of records ($count, a single record)
            if key not in self._requests:
                self._requests.append(key)
            self._hits[key] += 1
            chosen = len(self._requests) > self.nth and self._requests[self.nth] == key
            if not chosen or (self.fault.hits and self._hits[key] > self.fault.hits):
                return response
            self.injected += 1
            first, self.faulted = self.faulted is None, self.faulted or request
            if self.fault.shifts_listing:
                self._shifting.add(listing(request))
        served = self.fault.rewrite(Page(response, request, self.field, carried))
        if first:
            self.served = served
        return served

    def record_before(self, request: RequestInfo) -> list | None:
        """The record just before the page ``request`` asks for, as upstream has it unfaulted ([] or
        None for a first page). Asked of the source itself rather than taken from the page served
        last: a client that fetches pages side by side gets them in any order, and a record inserted
        at the head shifts each page by the same record whichever order they arrive in."""
        option = next((o for o in PAGING_OPTIONS if request.query.get(o, "").isdigit()), None)
        first = 1 if option == "page" else 0
        if option is None or int(request.query[option]) <= first:
            return None
        at = int(request.query[option]) - 1
        if option == "page":  # the page before, of which the last record
            query, pick = {**request.query, option: str(at)}, slice(-1, None)
        else:  # the one record at the offset before
            query = {**request.query, option: str(at), **{o: "1" for o in PAGE_SIZE_OPTIONS if o in request.query}}
            pick = slice(0, 1)
        source = next(s for s in self.sources.values() if under_prefix(request.path, s.prefix))
        return records_of(source.handle(replace(request, query=query)).body)[pick]


# Inbox faults: what arrives by e-mail. Each makes, from one fixture workbook, the files a data
# officer would save in the inbox instead of it.

#: billion laughs: ten levels of ten-fold entity expansion, 10^9 "lol"s if a parser expanded them
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(b'<!ENTITY lol%d "%s">' % (i, b"&lol%s;" % (b"%d" % (i - 1) if i > 1 else b"") * 10)
                     for i in range(1, 10)) + b"]>")
SHEET = "xl/worksheets/sheet1.xml"


def rewritten(workbook: Path, target: Path, member: str, change: Callable[[bytes], bytes]) -> Path:
    """A copy of ``workbook`` with ``member`` replaced by ``change(bytes)``."""
    with zipfile.ZipFile(workbook) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            data = src.read(info)
            out.writestr(info, change(data) if info.filename == member else data)
    return target


def with_bomb(xml: bytes) -> bytes:
    """The sheet XML behind the billion-laughs DTD, with a cell that uses the last entity."""
    body = xml.split(b"?>", 1)[1] if xml.startswith(b"<?xml") else xml
    cell = b'<row r="9999"><c r="A9999" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData>'
    return LAUGHS + body.replace(b"</sheetData>", cell, 1)


def renamed_header(header: str) -> Callable[[bytes], bytes]:
    """Sheet XML with the (inline string) header cell ``header`` renamed, as a template revision does."""
    return lambda xml: xml.replace(f"<t>{header}</t>".encode(), f"<t>{header} (new)</t>".encode(), 1)


def inbox_fault(name: str, workbook: Path, folder: Path, header: str) -> list[Path]:
    """The files that arrive instead of ``workbook`` under inbox fault ``name``, written in ``folder``
    (``header``: the column renamed-column renames)."""
    target = folder / workbook.name
    if name == "truncated-file":  # a download or attachment cut short
        target.write_bytes(workbook.read_bytes()[:workbook.stat().st_size // 2])
    elif name == "html-saved-as-xlsx":  # a portal's error page saved under the expected name
        target.write_bytes(HTML_ERROR)
    elif name == "xml-bomb":
        rewritten(workbook, target, SHEET, with_bomb)
    elif name == "renamed-column":
        rewritten(workbook, target, SHEET, renamed_header(header))
    elif name == "same-file-twice":  # saved again, as a browser names a second download: the same bytes
        shutil.copyfile(workbook, target)
        copy = folder / f"{workbook.stem} (1){workbook.suffix}"
        shutil.copyfile(workbook, copy)
        return [target, copy]
    else:
        raise KeyError(name)
    return [target]


INBOX_FAULTS = ("truncated-file", "html-saved-as-xlsx", "xml-bomb", "renamed-column", "same-file-twice")
