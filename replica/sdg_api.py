"""UN SDG Global Database API stand-in: /v1/sdg/Series/List and /v1/sdg/Series/Data from a snapshot folder.

Served under ``/sdg`` so that MEA_SDG_API_URL=http://127.0.0.1:PORT/sdg plays the role of
https://unstats.un.org/SDGAPI. Wire shapes: convention-sources.md section 7 ("UN SDG Global Database
API"): Series/Data pages by ``page`` (1-based) and ``pageSize`` inside the envelope
``{size, totalElements, totalPages, pageNumber, attributes, dimensions, data}``.
"""
from __future__ import annotations

import hashlib
import json
import math
from email.utils import formatdate
from pathlib import Path

from replica.wire import RequestInfo, Response

SOURCE_SYSTEM = "sdg-api"
JSON_TYPE = "application/json; charset=utf-8"
DEFAULT_PAGE_SIZE = 25
#: the snapshot's date, sent as Last-Modified (2025-07-01, after the 2025.Q2 release)
SNAPSHOT_DATE = formatdate(1751328000, usegmt=True)
#: code descriptions the envelope lists beside the codes used
DESCRIPTIONS = {
    "Nature": {"C": "Country data", "CA": "Country adjusted data", "E": "Estimated data", "M": "Modelled data",
               "G": "Global monitoring data", "N": "Non-relevant"},
    "Units": {"PERCENT": "Percentage", "INDEX": "Index"},
    "Reporting Type": {"G": "Global", "N": "National"},
    "Location": {"ALLAREA": "All areas", "URBAN": "Urban", "RURAL": "Rural"},
}


class BadRequest(Exception):
    """A client error, rendered as the API's JSON error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class SdgService:
    """Serves SeriesList.json and SeriesData.json (all series' rows, in API order) under ``prefix``."""

    def __init__(self, snapshot_dir: Path, prefix: str = "/sdg") -> None:
        self.prefix = prefix
        self.series_list = json.loads((snapshot_dir / "SeriesList.json").read_text(encoding="utf-8"))
        self.rows = json.loads((snapshot_dir / "SeriesData.json").read_text(encoding="utf-8"))
        # by series, in API order: a scaled snapshot (bench/generate.py) has 150,000 rows to page through
        self.by_series: dict[str, list[dict]] = {}
        for row in self.rows:
            self.by_series.setdefault(row["series"], []).append(row)
        self._selections: dict[tuple[str, str | None], tuple[list[dict], list[dict], list[dict]]] = {}

    def handle(self, request: RequestInfo) -> Response:
        path = request.path[len(self.prefix):].strip("/")
        try:
            if path == "v1/sdg/Series/List":
                return json_response(self.series_list)
            if path == "v1/sdg/Series/Data":
                return json_response(self.series_data(request.query))
            raise BadRequest(404, f"No endpoint {request.path}")
        except BadRequest as error:
            body = json.dumps({"status": error.status, "message": str(error)}).encode()
            return Response(error.status, {"Content-Type": JSON_TYPE}, body)

    def series_data(self, query: dict[str, str]) -> dict:
        """One page of one series (optionally one area), with the envelope the API wraps it in."""
        code = query.get("seriesCode")
        if not code:
            raise BadRequest(400, "seriesCode is required")
        page, size = positive_int(query, "page", 1), positive_int(query, "pageSize", DEFAULT_PAGE_SIZE)
        rows, attributes, dimensions = self.selection(code, query.get("areaCode"))
        return {
            "size": size, "totalElements": len(rows), "totalPages": math.ceil(len(rows) / size),
            "pageNumber": page, "attributes": attributes,
            "dimensions": dimensions, "data": rows[(page - 1) * size:page * size],
        }

    def selection(self, code: str, area: str | None) -> tuple[list[dict], list[dict], list[dict]]:
        """(rows, attributes, dimensions) of one series (and area), remembered: every page repeats them."""
        key = (code, area)
        if key not in self._selections:
            rows = [r for r in self.by_series.get(code, []) if area in (None, r["geoAreaCode"])]
            self._selections[key] = rows, code_lists(rows, "attributes"), code_lists(rows, "dimensions")
        return self._selections[key]


def positive_int(query: dict[str, str], name: str, default: int) -> int:
    """The integer value of ``name`` (default when absent); 400 unless it is a positive integer."""
    text = query.get(name, str(default))
    if not text.isdigit() or int(text) < 1:
        raise BadRequest(400, f"{name} must be a positive integer, not {text!r}")
    return int(text)


def code_lists(rows: list[dict], part: str) -> list[dict]:
    """The envelope's ``attributes`` or ``dimensions``: every id with the codes the series uses."""
    used: dict[str, set[str]] = {}
    for r in rows:
        for name, code in (r.get(part) or {}).items():
            used.setdefault(name, set()).add(code)
    return [{"id": name, "codes": [{"code": c, "description": DESCRIPTIONS.get(name, {}).get(c, c), "sdmx": c}
                                   for c in sorted(codes)]} for name, codes in sorted(used.items())]


def json_response(payload: object) -> Response:
    """A 200 JSON response with a strong ETag over the exact bytes (the server answers 304 on a match)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {"Content-Type": JSON_TYPE, "ETag": f'"{hashlib.sha256(body).hexdigest()}"',
               "Last-Modified": SNAPSHOT_DATE}
    return Response(200, headers, body)


def make_service(snapshot_dir: Path) -> SdgService:
    return SdgService(Path(snapshot_dir))
