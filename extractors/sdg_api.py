"""UN SDG Global Database API client: Series/List and Series/Data of the reviewed series to raw landing.

Which series to fetch is reviewed data (transforms/mappings/sdg_series.yaml). Series/Data pages by
``page`` (1-based) and ``pageSize`` until the envelope's ``totalPages``; every response is landed
byte for byte and listed in the fetch log. Nothing is parsed beyond what paging needs.
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import requests
import yaml

from extractors import drift, http
from extractors.fetch import begin, fetch_json, fetch_many

SOURCE = "sdg-api"
SERIES_FILE = Path(__file__).resolve().parents[1] / "transforms" / "mappings" / "sdg_series.yaml"
API = "v1/sdg"
#: the Series/Data envelope (convention-sources.md section 7); a response without these is not the API we know
ENVELOPE = ("size", "totalElements", "totalPages", "pageNumber", "attributes", "dimensions", "data")
PAGE_SIZE = 100
MAX_PAGES = 10_000


@cache
def series_spec() -> dict:
    """The reviewed series list with its nature and dimension rules (sdg_series.yaml)."""
    return yaml.safe_load(SERIES_FILE.read_text(encoding="utf-8"))


def series_codes() -> list[str]:
    return [s["code"] for s in series_spec()["series"]]


def extract(data_dir: Path, run_dir: Path, session: requests.Session | None = None,
            url: str | None = None, page_size: int = PAGE_SIZE) -> Path:
    """Fetch Series/List and every reviewed series' data into raw landing; return the fetch log path."""
    data_dir = Path(data_dir)
    session, head = begin(SOURCE, data_dir, url, session)
    url = head["base_url"]
    _, page = fetch_json(session, SOURCE, f"{url}/{API}/Series/List", {"allreleases": "false"}, data_dir,
                         "SeriesList")
    entities = {"SeriesList": {"pages": [page], "deferred": {}}}
    for code in series_codes():
        entities[f"SeriesData.{code}"] = {"pages": fetch_series(session, url, code, data_dir, page_size),
                                          "deferred": {}}
    session.validators.save()
    fetch_log = {**head, "entities": entities}
    out = Path(run_dir) / SOURCE / "fetch.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(fetch_log, indent=1, sort_keys=True))
    return out


def fetch_series(session, service_url: str, code: str, data_dir: Path, page_size: int = PAGE_SIZE) -> list[dict]:
    """Every page of Series/Data for one series, as fetch-log pages (with ``records``).

    The first page tells ``totalPages``; the others are fetched concurrently and taken in page
    order, each deciding as the sequential loop did whether it is the last."""
    request_url = f"{service_url}/{API}/Series/Data"
    pages, numbers = [], [1]
    while numbers:
        if numbers[-1] > MAX_PAGES:
            raise http.UpstreamError(SOURCE, request_url, f"more than {MAX_PAGES} pages of {code}; refusing to go on")
        wanted = [(request_url, {"seriesCode": code, "page": n, "pageSize": page_size}, f"SeriesData.{code}")
                  for n in numbers]
        for number, (payload, page) in zip(numbers, fetch_many(session, SOURCE, wanted, data_dir)):
            envelope = unwrap_envelope(payload, page["url"])
            drift.check_page(SOURCE, "SeriesData", envelope["data"], page)
            page["records"] = len(envelope["data"])
            pages.append(page)
            if number >= envelope["totalPages"]:
                return pages
            if not envelope["data"]:
                raise http.UpstreamError(SOURCE, page["url"], f"empty page {number} of {envelope['totalPages']} "
                                                              f"({envelope['totalElements']} records promised)")
        numbers = list(range(number + 1, envelope["totalPages"] + 1))
    return pages


def unwrap_envelope(payload, url: str) -> dict:
    """The Series/Data envelope, checked: every field present, ``data`` a list, page counts integers."""
    if not isinstance(payload, dict):
        raise http.UpstreamError(SOURCE, url, f"expected a Series/Data envelope, got {str(payload)[:200]!r}")
    missing = [field for field in ENVELOPE if field not in payload]
    if missing:
        raise http.UpstreamError(SOURCE, url, f"Series/Data envelope lacks {missing}; has {sorted(payload)}")
    if not isinstance(payload["data"], list) or not isinstance(payload["totalPages"], int):
        raise http.UpstreamError(SOURCE, url, "Series/Data envelope: 'data' must be a list and 'totalPages' an int")
    return payload
