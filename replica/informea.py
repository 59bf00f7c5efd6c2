"""InforMEA OData v2 stand-in: routes and renders /informea.svc from a snapshot folder.

Wire conventions follow /work/shared/reference/informea-api.md (sections 3-7): Olingo 2 JSON,
`/Date(ms)/` dates, `__metadata` on entities, `__deferred` navigation links, `__next` paging.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from replica.wire import RequestInfo, Response

Record = dict[str, Any]

JSON_TYPE = "application/json;charset=utf-8"
ODATA_HEADERS = {"DataServiceVersion": "2.0"}
SYSTEM_OPTIONS = {"$format", "$top", "$skip", "$skiptoken", "$orderby", "$expand", "$filter", "$inlinecount"}
DATE_RE = re.compile(r"/Date\((-?\d+)(?:[+-]\d{4})?\)/")
PATH_RE = re.compile(r"(?P<set>[A-Za-z]\w*)(?:\('(?P<key>(?:[^']|'')*)'\))?(?:/(?P<tail>\$count|\w+))?")
FILTER_RE = re.compile(
    r"(?P<field>updated) (?P<op>gt|ge|lt|le) datetime'(?P<when>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)'"
    r"|(?P<eq_field>treaty|country) eq '(?P<value>[^']*)'"
)
ORDERBY_RE = re.compile(r"(?P<field>\w+)(?:\s+(?P<direction>asc|desc))?")
COMPARISONS = {"gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le}

STRING, DATETIME = "Edm.String", "Edm.DateTime"
TITLE = {"Id": STRING, "language": STRING, "value": STRING}
FILE = {"id": STRING, "url": STRING, "mimeType": STRING, "language": STRING, "filename": STRING, "size": "Edm.Decimal"}
REPORT = {"id": STRING, "treaty": STRING, "treatyUUID": STRING, "country": STRING, "submission": DATETIME,
          "url": STRING, "updated": DATETIME, "protocolVersion": "Edm.Int16"}


@dataclass(frozen=True)
class EntitySet:
    """EDM description of one entity set: scalar properties and navigation name -> (child type, properties)."""

    type_name: str
    properties: dict[str, str]
    navigations: dict[str, tuple[str, dict[str, str]]]


ENTITY_SETS = {
    "Treaties": EntitySet(
        "Treaty",
        {"id": STRING, "UUID": STRING, "url": STRING, "titleEnglish": STRING, "officialNameEnglish": STRING,
         "treatyWebsiteURL": STRING},
        {"title": ("TreatyTitle", TITLE), "description": ("TreatyDescription", TITLE)},
    ),
    "CountryReports": EntitySet(
        "CountryReport", REPORT, {"title": ("CountryReportTitle", TITLE), "files": ("CountryReportFile", FILE)}
    ),
    "NationalPlans": EntitySet(
        "NationalPlan", {**REPORT, "type": STRING, "brs_unnumber": STRING},
        {"title": ("NationalPlanTitle", TITLE), "files": ("NationalPlanFile", FILE)},
    ),
}


@dataclass
class InformeaOptions:
    """How the replica behaves; the defaults mirror what informea-api.md section 4 describes.

    page_size: server-driven page cap per entity set (None = no server paging); capped pages carry `__next`.
    ignore_skip: serve the first page whatever `$skip` says (a broken server, informea-api.md section 4 rule 3).
    envelope: "results" -> {"d": {"results": [...]}}; "list" -> {"d": [...]} (OData v1 providers).
    honour_expand: False serves every navigation property as `__deferred`, whatever `$expand` asks.
    """

    page_size: dict[str, int | None] = field(
        default_factory=lambda: {"CountryReports": 100, "NationalPlans": None, "Treaties": None}
    )
    ignore_skip: bool = False
    envelope: dict[str, str] = field(
        default_factory=lambda: {"CountryReports": "results", "NationalPlans": "list", "Treaties": "results"}
    )
    honour_expand: bool = True

    def __post_init__(self) -> None:
        for name, envelope in self.envelope.items():
            if envelope not in ("results", "list"):
                raise ValueError(f"envelope for {name} must be 'results' or 'list', not {envelope!r}")
            # A bare-list `d` has nowhere to put `__next`, so paging would silently lose records.
            if envelope == "list" and self.page_size.get(name):
                raise ValueError(f"{name}: server paging needs the 'results' envelope")


class ODataError(Exception):
    """A client error, rendered as an Olingo error document."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    def response(self) -> Response:
        error = {"error": {"code": "", "message": {"lang": "en", "value": str(self)}}}
        return Response(self.status, {"Content-Type": JSON_TYPE, **ODATA_HEADERS}, serialise(error))


def date_ms(value: object) -> int | None:
    """Epoch milliseconds of an OData v2 `/Date(ms[+-hhmm])/` value; None when absent or unparseable."""
    match = DATE_RE.fullmatch(value) if isinstance(value, str) else None
    # The milliseconds are UTC; an offset suffix only says which zone the provider was in.
    return int(match[1]) if match else None


def serialise(payload: object) -> bytes:
    """Deterministic compact JSON, with dates written the way Olingo 2 writes them."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    # 2026-11: Olingo 2 escapes the solidus in Edm.DateTime values ("\/Date(ms)\/", informea-api.md section 4).
    return re.sub(r'"/Date\(([^)"]*)\)/"', lambda m: f'"\\/Date({m[1]})\\/"', text).encode("utf-8")


def nav_items(value: object) -> list[Any]:
    """Items of a stored navigation value, whether `{"results": [...]}` or a bare list (CBD-provider style)."""
    if isinstance(value, dict):
        return list(value.get("results", []))
    return list(value) if isinstance(value, list) else []


def non_negative_int(query: dict[str, str], option: str) -> int | None:
    """The integer value of `option`, None when absent; 400 when it is not a non-negative integer."""
    if option not in query:
        return None
    if not query[option].isdigit():
        raise ODataError(400, f"Invalid value '{query[option]}' for system query option {option}.")
    return int(query[option])


def parse_filter(entity_set: EntitySet, expression: str) -> Callable[[Record], bool]:
    """A predicate for the small `$filter` subset clients of InforMEA send (informea-api.md section 4)."""
    tests = []
    for clause in re.split(r"\s+and\s+", expression.strip()):
        match = FILTER_RE.fullmatch(clause.strip())
        name = match and (match["field"] or match["eq_field"])
        if not match or name not in entity_set.properties:
            raise ODataError(400, f"Unsupported $filter expression '{clause}': the replica understands "
                                  "updated gt|ge|lt|le datetime'...', treaty eq '...' and country eq '...' "
                                  "joined with 'and'.")
        tests.append(updated_test(match["op"], match["when"]) if match["field"] else equals_test(name, match["value"]))
    return lambda record: all(test(record) for test in tests)


def updated_test(op: str, when: str) -> Callable[[Record], bool]:
    """Compare `updated` with a datetime literal; unparseable or null `updated` never matches."""
    try:
        limit = int(datetime.fromisoformat(when).replace(tzinfo=timezone.utc).timestamp() * 1000)
    except ValueError as error:
        raise ODataError(400, f"Invalid datetime literal '{when}'.") from error
    compare = COMPARISONS[op]
    return lambda record: (ms := date_ms(record.get("updated"))) is not None and compare(ms, limit)


def equals_test(name: str, value: str) -> Callable[[Record], bool]:
    """Exact, case-sensitive string equality (`country eq 'al'` does not match "AL")."""
    return lambda record: record.get(name) == value


def order_rows(entity_set: EntitySet, rows: list[Record], orderby: str) -> list[Record]:
    """Sort by a `$orderby` list; ties broken by id, nulls and unparseable dates last, so the order is total."""
    keys = []
    for term in orderby.split(","):
        match = ORDERBY_RE.fullmatch(term.strip())
        if not match or match["field"] not in entity_set.properties:
            raise ODataError(400, f"Invalid $orderby term '{term.strip()}'.")
        keys.append((match["field"], match["direction"] == "desc"))
    ordered = sort_nulls_last(rows, lambda record: record.get("id"), descending=False)
    for name, descending in reversed(keys):  # stable sorts, least significant key first
        ordered = sort_nulls_last(ordered, sort_key(entity_set, name), descending)
    return ordered


def sort_key(entity_set: EntitySet, name: str) -> Callable[[Record], Any]:
    """The sort value of a property: epoch ms for dates (None when unparseable), else the stored value."""
    if entity_set.properties[name] == DATETIME:
        return lambda record: date_ms(record.get(name))
    return lambda record: record.get(name)


def sort_nulls_last(rows: list[Record], key: Callable[[Record], Any], descending: bool) -> list[Record]:
    """Stable sort on `key`, rows whose key is None last in either direction."""
    present = [row for row in rows if key(row) is not None]
    missing = [row for row in rows if key(row) is None]
    return sorted(present, key=key, reverse=descending) + missing


def metadata_xml() -> bytes:
    """A minimal EDMX document for the three entity sets (namespace `informea`, container `InforMEAService`)."""
    types, associations, sets = [], [], []
    for set_name, entity_set in ENTITY_SETS.items():
        parent = entity_set.type_name
        navs = "".join(
            f'<NavigationProperty Name="{nav}" Relationship="informea.{parent}_{nav}" FromRole="{parent}" '
            f'ToRole="{child}"/>' for nav, (child, _) in entity_set.navigations.items()
        )
        types.append(entity_type(parent, entity_set.properties, navs))
        sets.append(f'<EntitySet Name="{set_name}" EntityType="informea.{parent}"/>')
        for nav, (child, properties) in entity_set.navigations.items():
            types.append(entity_type(child, properties, ""))
            associations.append(
                f'<Association Name="{parent}_{nav}"><End Type="informea.{parent}" Multiplicity="1" Role="{parent}"/>'
                f'<End Type="informea.{child}" Multiplicity="*" Role="{child}"/></Association>'
            )
            sets.append(f'<EntitySet Name="{child}" EntityType="informea.{child}"/>'
                        f'<AssociationSet Name="{parent}_{nav}" Association="informea.{parent}_{nav}">'
                        f'<End EntitySet="{set_name}" Role="{parent}"/><End EntitySet="{child}" Role="{child}"/>'
                        "</AssociationSet>")
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx">'
        '<edmx:DataServices xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata" '
        'm:DataServiceVersion="2.0"><Schema Namespace="informea" '
        'xmlns="http://schemas.microsoft.com/ado/2008/09/edm">'
        + "".join(types) + "".join(associations)
        + '<EntityContainer Name="InforMEAService" m:IsDefaultEntityContainer="true">' + "".join(sets)
        + "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"
    ).encode("utf-8")


def entity_type(name: str, properties: dict[str, str], navigations: str) -> str:
    """One EDMX EntityType; the first property is the key."""
    key = next(iter(properties))
    props = "".join(
        f'<Property Name="{prop}" Type="{edm}" Nullable="{str(prop != key).lower()}"/>'
        for prop, edm in properties.items()
    )
    return f'<EntityType Name="{name}"><Key><PropertyRef Name="{key}"/></Key>{props}{navigations}</EntityType>'


class InformeaService:
    """Serves one InforMEA snapshot folder (Treaties.json, CountryReports.json, NationalPlans.json) under `prefix`."""

    def __init__(self, snapshot_dir: Path, options: InformeaOptions, prefix: str = "/informea.svc") -> None:
        self.prefix = prefix
        self.options = options
        self.records: dict[str, list[Record]] = {
            name: json.loads((snapshot_dir / f"{name}.json").read_text(encoding="utf-8")) for name in ENTITY_SETS
        }
        self.last_modified = self._last_modified()
        self.metadata = metadata_xml()
        self._selected: dict[tuple[str, str | None, str | None], list[Record]] = {}

    def _last_modified(self) -> dict[str | None, str]:
        """HTTP date of each set's newest `updated`; sets without `updated` use the snapshot's newest date."""
        newest = {
            name: max((ms for row in rows if (ms := date_ms(row.get("updated"))) is not None), default=0)
            for name, rows in self.records.items()
        }
        newest[None] = max(newest.values())  # the snapshot date, also used for the service document
        return {name: formatdate((ms or newest[None]) // 1000, usegmt=True) for name, ms in newest.items()}

    def handle(self, request: RequestInfo) -> Response:
        """Route one request under the prefix to its rendered response."""
        try:
            return self._route(request)
        except ODataError as error:
            return error.response()

    def _route(self, request: RequestInfo) -> Response:
        unknown = sorted(name for name in request.query if name.startswith("$") and name not in SYSTEM_OPTIONS)
        if unknown:
            raise ODataError(400, f"The system query option '{unknown[0]}' is not supported by the replica.")
        path = request.path[len(self.prefix):].strip("/")
        if path == "$metadata":
            return Response(200, {"Content-Type": "application/xml;charset=utf-8", **ODATA_HEADERS}, self.metadata)
        if path == "":
            require_json(request)
            return self._json(None, {"d": {"EntitySets": list(ENTITY_SETS)}})
        match = PATH_RE.fullmatch(path)
        if not match or match["set"] not in ENTITY_SETS:
            raise ODataError(404, f"Could not find an entity set or function import for '{path.split('/')[0]}'.")
        set_name, key, tail = match["set"], match["key"], match["tail"]
        if key is None and tail == "$count":
            return self._count(request, set_name)
        require_json(request)
        if key is None and tail is None:
            return self._collection(request, set_name)
        if key is not None and (tail is None or tail in ENTITY_SETS[set_name].navigations):
            return self._single(request, set_name, key.replace("''", "'"), tail)
        raise ODataError(404, f"Could not find a property or navigation property named '{tail}'.")

    def _count(self, request: RequestInfo, set_name: str) -> Response:
        rows = self._select(set_name, request.query)
        return Response(200, {"Content-Type": "text/plain;charset=utf-8", **ODATA_HEADERS}, str(len(rows)).encode())

    def _collection(self, request: RequestInfo, set_name: str) -> Response:
        rows = self._select(set_name, request.query)
        start, stop, next_offset = self._window(set_name, request.query, len(rows))
        expand = self._expand(set_name, request.query)
        entities = [self._entity(request, set_name, row, expand) for row in rows[start:stop]]
        if self.options.envelope.get(set_name, "results") == "list":
            return self._json(set_name, {"d": entities})
        inlinecount = request.query.get("$inlinecount", "none")
        if inlinecount not in ("allpages", "none"):
            raise ODataError(400, f"Invalid value '{inlinecount}' for system query option $inlinecount.")
        d: dict[str, Any] = {"__count": str(len(rows))} if inlinecount == "allpages" else {}
        d["results"] = entities
        if next_offset is not None:
            d["__next"] = self._next_link(request, set_name, next_offset)
        return self._json(set_name, {"d": d})

    def _single(self, request: RequestInfo, set_name: str, key: str, nav: str | None) -> Response:
        row = next((row for row in self.records[set_name] if row.get("id") == key), None)
        if row is None:
            raise ODataError(404, "Requested entity could not be found.")
        if nav is not None:
            return self._json(set_name, {"d": {"results": nav_items(row.get(nav))}})
        return self._json(set_name, {"d": self._entity(request, set_name, row, self._expand(set_name, request.query))})

    def _select(self, set_name: str, query: dict[str, str]) -> list[Record]:
        """The set's records after `$filter` and `$orderby` (snapshot order when no `$orderby`).

        Remembered per (set, filter, order): the records never change, and re-sorting a 20,000-record
        set (bench/generate.py) for each of its 200 pages would make the replica the bottleneck."""
        key = (set_name, query.get("$filter"), query.get("$orderby"))
        if key not in self._selected:
            self._selected[key] = self._filter_and_order(set_name, query)
        return self._selected[key]

    def _filter_and_order(self, set_name: str, query: dict[str, str]) -> list[Record]:
        entity_set, rows = ENTITY_SETS[set_name], self.records[set_name]
        if "$filter" in query:
            rows = list(filter(parse_filter(entity_set, query["$filter"]), rows))
        if "$orderby" in query:
            rows = order_rows(entity_set, rows, query["$orderby"])
        return rows

    def _window(self, set_name: str, query: dict[str, str], total: int) -> tuple[int, int, int | None]:
        """(start, stop, next offset or None) of the page to serve.

        `$skiptoken` is an absolute offset written by the replica itself into `__next`; `$top` caps each request,
        and the server page size caps it further. A page cut by the page size links to the rest with `__next`.
        """
        page_size = self.options.page_size.get(set_name)
        top = non_negative_int(query, "$top")
        skip = non_negative_int(query, "$skip") or 0
        token = non_negative_int(query, "$skiptoken")
        start = token if token is not None else 0 if self.options.ignore_skip else skip
        limits = [limit for limit in (top, page_size) if limit is not None]
        stop = min(total, start + min(limits)) if limits else total
        full_page = page_size is not None and stop - start == page_size and stop < total
        return start, stop, stop if full_page else None

    def _next_link(self, request: RequestInfo, set_name: str, offset: int) -> str:
        options = {name: value for name, value in request.query.items() if name not in ("$skip", "$skiptoken")}
        options["$skiptoken"] = str(offset)
        query = urlencode(options, quote_via=quote, safe="$,'():")
        return f"{request.base_url}{self.prefix}/{set_name}?{query}"

    def _expand(self, set_name: str, query: dict[str, str]) -> set[str]:
        names = {name.strip() for name in query.get("$expand", "").split(",") if name.strip()}
        unknown = sorted(names - ENTITY_SETS[set_name].navigations.keys())
        if unknown:
            raise ODataError(400, f"Could not find a navigation property named '{unknown[0]}'.")
        return names if self.options.honour_expand else set()

    def _entity(self, request: RequestInfo, set_name: str, row: Record, expand: set[str]) -> Record:
        """A stored record as served: `__metadata` first, unexpanded navigation properties as `__deferred`."""
        entity_set = ENTITY_SETS[set_name]
        key = str(row.get("id") or "").replace("'", "''")
        uri = f"{request.base_url}{self.prefix}/{set_name}('{key}')"
        entity: Record = {"__metadata": {"id": uri, "uri": uri, "type": f"informea.{entity_set.type_name}"}}
        for name, value in row.items():
            deferred = name in entity_set.navigations and name not in expand
            entity[name] = {"__deferred": {"uri": f"{uri}/{name}"}} if deferred else value
        return entity

    def _json(self, set_name: str | None, payload: object) -> Response:
        """A 200 JSON response with a strong ETag over the exact bytes and the set's Last-Modified."""
        body = serialise(payload)
        headers = {"Content-Type": JSON_TYPE, **ODATA_HEADERS,
                   "ETag": f'"{hashlib.sha256(body).hexdigest()}"', "Last-Modified": self.last_modified[set_name]}
        return Response(200, headers, body)


def require_json(request: RequestInfo) -> None:
    """406 unless the client asked for JSON (`$format=json` or an Accept header naming application/json)."""
    # 2026-11: the live service answers Atom XML by default (informea-api.md section 4); the replica renders
    # JSON only, so it refuses instead of sending a format the extractor does not parse.
    wanted = request.query.get("$format")
    accepts_json = "application/json" in request.headers.get("accept", "")
    if wanted in ("json", "application/json") or (wanted is None and accepts_json):
        return
    raise ODataError(406, "The replica serves JSON only: add $format=json or Accept: application/json.")
