"""CBD Clearing-House (api.cbd.int) stand-in: the Solr index, documents by uid, thesaurus terms.

Wire conventions from /work/shared/reference/convention-sources.md §1: `/api/v2013/index` is a Solr
front (`q`, `fl`, `sort`, `start`, `rows`, `wt=json`; `response.numFound/start/docs`),
`/api/v2013/documents/{uid}` the full document, `/api/v2013/thesaurus/domains/<DOMAIN>/terms` a bare
JSON array of terms. Every 200 carries a strong ETag over its bytes (304 on If-None-Match, done by
`replica.server.not_modified`).
"""
from __future__ import annotations

import hashlib
import json
import re
from email.utils import formatdate
from datetime import datetime
from pathlib import Path

from replica.wire import RequestInfo, Response

SOURCE_SYSTEM = "cbd-chm"
JSON_TYPE = "application/json; charset=utf-8"
CLAUSE = re.compile(r'(?P<neg>NOT\s+|-)?(?P<field>\*|\w+):(?P<value>\*|"[^"]*"|[\[{][^\]}]*[\]}]|[^\s"]+)')
RANGE = re.compile(r"(?P<open>[\[{])\s*(?P<low>\S+)\s+TO\s+(?P<high>\S+)\s*(?P<close>[\]}])")
SORT = re.compile(r"(?P<field>\w+)\s+(?P<dir>asc|desc)")


class SolrError(Exception):
    """A bad request, rendered the way Solr renders errors."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    def response(self) -> Response:
        body = {"responseHeader": {"status": self.status, "QTime": 0}, "error": {"msg": str(self), "code": self.status}}
        return Response(self.status, {"Content-Type": JSON_TYPE}, json.dumps(body).encode())


def parse_q(q: str):
    """A predicate for the Solr subset CBD clients send: ``field:value`` clauses (``*`` = present,
    ``NOT``/``-`` negates, ``[a TO b]`` / ``{a TO b]`` ranges with ``*`` open ends) joined by ``AND``;
    ``*:*`` matches everything."""
    tests = []
    for clause in re.split(r"\s+AND\s+", q.strip()):
        match = CLAUSE.fullmatch(clause.strip())
        if not match:
            raise SolrError(400, f"org.apache.solr.search.SyntaxError: Cannot parse '{q}' (the replica understands "
                                 "field:value clauses joined by AND, optionally negated with NOT)")
        field, value, negate = match["field"], match["value"].strip('"'), bool(match["neg"])
        tests.append(lambda doc, f=field, v=value, n=negate: matches(doc, f, v) != n)
    return lambda doc: all(test(doc) for test in tests)


def matches(doc: dict, field: str, value: str) -> bool:
    """Exact, case-sensitive match as on a Solr string field (``government_s:KE`` finds nothing)."""
    if field == "*":
        return True
    present = doc.get(field)
    if value == "*":
        return present is not None
    bounds = RANGE.fullmatch(value)
    if bounds:
        return present is not None and in_range(str(present), bounds)
    return value in present if isinstance(present, list) else present == value


def in_range(present: str, bounds: re.Match) -> bool:
    """Solr range semantics on a string or date field ([ ] inclusive, { } exclusive, * open)."""
    low, high = bounds["low"], bounds["high"]
    above = low == "*" or (present >= low if bounds["open"] == "[" else present > low)
    below = high == "*" or (present <= high if bounds["close"] == "]" else present < high)
    return above and below


def sort_docs(docs: list[dict], sort: str) -> list[dict]:
    """Stable multi-key sort; docs without the field go last in either direction."""
    keys = []
    for term in sort.split(","):
        match = SORT.fullmatch(term.strip())
        if not match:
            raise SolrError(400, f"Can't determine a Sort Order (asc or desc) in sort spec '{term.strip()}'")
        keys.append((match["field"], match["dir"] == "desc"))
    for field, descending in reversed(keys):
        present = sorted((d for d in docs if d.get(field) is not None), key=lambda d: d[field], reverse=descending)
        docs = present + [d for d in docs if d.get(field) is None]
    return docs


def int_param(query: dict, name: str, default: int) -> int:
    value = query.get(name)
    if value is None:
        return default
    if not value.isdigit():
        raise SolrError(400, f"For input string: \"{value}\" ({name} must be a non-negative integer)")
    return int(value)


class CbdChmService:
    """Serves one snapshot folder (index.json, documents.json, thesaurus.json) under `prefix`."""

    def __init__(self, snapshot_dir: Path, prefix: str = "/cbd-chm") -> None:
        self.prefix = prefix
        read = lambda name: json.loads((snapshot_dir / name).read_text(encoding="utf-8"))  # noqa: E731
        self.index, self.documents, self.thesaurus = read("index.json"), read("documents.json"), read("thesaurus.json")
        newest = max(d.get("updatedDate_dt", "1970-01-01T00:00:00Z") for d in self.index)
        self.last_modified = formatdate(datetime.fromisoformat(newest.replace("Z", "+00:00")).timestamp(), usegmt=True)

    def handle(self, request: RequestInfo) -> Response:
        path = request.path[len(self.prefix):].rstrip("/")
        try:
            if path in ("/api/v2013/index", "/api/v2013/index/select"):
                return self._json(self._select(request.query))
            if path.startswith("/api/v2013/documents/"):
                uid = path.rsplit("/", 1)[1]
                if uid not in self.documents:
                    return self._json({"statusCode": 404, "code": "notFound", "message": f"document {uid} not found"},
                                      404)
                return self._json(self.documents[uid])
            match = re.fullmatch(r"/api/v2013/thesaurus/domains/(?P<domain>[\w-]+)/terms", path)
            if match:
                if match["domain"] not in self.thesaurus:
                    return self._json({"statusCode": 404, "code": "notFound",
                                       "message": f"domain {match['domain']} not found"}, 404)
                return self._json(self.thesaurus[match["domain"]])
        except SolrError as error:
            return error.response()
        return self._json({"statusCode": 404, "code": "notFound", "message": f"no route {path}"}, 404)

    def _select(self, query: dict[str, str]) -> dict:
        if query.get("wt", "json") != "json":
            raise SolrError(400, f"the replica serves wt=json only, not wt={query['wt']}")
        docs = [d for d in self.index if parse_q(query.get("q", "*:*"))(d)]
        if "sort" in query:
            docs = sort_docs(docs, query["sort"])
        start, rows = int_param(query, "start", 0), int_param(query, "rows", 10)
        fields = [f for f in re.split(r"[\s,]+", query.get("fl", "*")) if f]
        page = [d if "*" in fields else {k: v for k, v in d.items() if k in fields} for d in docs[start:start + rows]]
        return {"responseHeader": {"status": 0, "QTime": 0, "params": dict(sorted(query.items()))},
                "response": {"numFound": len(docs), "start": start, "docs": page}}

    def _json(self, payload, status: int = 200) -> Response:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": JSON_TYPE}
        if status == 200:
            headers |= {"ETag": f'"{hashlib.sha256(body).hexdigest()}"', "Last-Modified": self.last_modified}
        return Response(status, headers, body)


def make_service(snapshot_dir: Path) -> CbdChmService:
    return CbdChmService(snapshot_dir)
