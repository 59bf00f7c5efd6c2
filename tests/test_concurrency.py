"""Bounded concurrent requests: the same pages in the same order at any concurrency, and never
more requests in flight to one host than MEA_HTTP_CONCURRENCY allows."""
import json
import threading
import time
from urllib.parse import urlsplit

import pytest

from extractors import cbd_chm, http, sdg_api
from extractors.informea import extract as extract_informea, fetch_entity_set
from replica.server import InformeaOptions, Replica

NO_SERVER_PAGING = {"CountryReports": None, "NationalPlans": None, "Treaties": None}


class InFlight:
    """Wraps a replica service and records the most requests it was answering at once."""

    def __init__(self, service, hold: float = 0.02):
        self.service, self.prefix, self.hold = service, service.prefix, hold
        self.now = self.most = 0
        self.lock = threading.Lock()

    def handle(self, request):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(self.hold)  # keep the request open long enough for others to overlap it
            return self.service.handle(request)
        finally:
            with self.lock:
                self.now -= 1


def page_log(pages):
    """What each page was (its request without the replica's port, landed file, record count), in order."""
    return [(urlsplit(p["url"]).query, p["raw_path"], p["records"]) for p in pages]


def informea_pages(tmp_path, monkeypatch, concurrency: int, name: str):
    monkeypatch.setenv("MEA_HTTP_CONCURRENCY", str(concurrency))
    with Replica(informea=InformeaOptions(page_size=NO_SERVER_PAGING)) as server:
        url = server.source_urls()["informea"]
        return fetch_entity_set(http.make_session(), url, "CountryReports", ("title", "files"), tmp_path / name,
                                page_size=7)


def test_informea_pages_are_the_same_in_the_same_order_at_concurrency_1_and_8(tmp_path, monkeypatch):
    one = informea_pages(tmp_path, monkeypatch, 1, "one")
    eight = informea_pages(tmp_path, monkeypatch, 8, "eight")
    assert len(one["pages"]) > 3
    assert page_log(one["pages"]) == page_log(eight["pages"])
    assert {k: p["raw_path"] for k, p in one["deferred"].items()} == \
        {k: p["raw_path"] for k, p in eight["deferred"].items()}
    assert one["newest_updated"] == eight["newest_updated"]


def at_concurrency_1_and_8(tmp_path, monkeypatch, source: str, fetch) -> dict:
    """``fetch(session, service url, folder)`` against a fresh replica at concurrency 1, then 8."""
    fetched = {}
    for concurrency in (1, 8):
        monkeypatch.setenv("MEA_HTTP_CONCURRENCY", str(concurrency))
        with Replica() as server:
            fetched[concurrency] = fetch(http.make_session(), server.source_urls()[source], tmp_path / str(concurrency))
    return fetched


def test_cbd_index_and_documents_are_the_same_at_concurrency_1_and_8(tmp_path, monkeypatch):
    schema = "nationalReport7IndicatorData"

    def index_and_documents(session, url, folder):
        pages = cbd_chm.fetch_index(session, url, schema, folder, page_size=3)
        documents = cbd_chm.fetch_documents(session, url, schema, pages, folder)
        return page_log(pages), {uid: p["raw_path"] for uid, p in documents.items()}

    fetched = at_concurrency_1_and_8(tmp_path, monkeypatch, "cbd-chm", index_and_documents)
    assert len(fetched[1][0]) > 1 and fetched[1][1]
    assert fetched[1] == fetched[8]


def test_informea_fetch_log_is_the_same_at_concurrency_1_and_8(tmp_path, monkeypatch):
    def entity_sets(session, url, folder):
        fetch_log = json.loads(extract_informea(folder, folder / "run", session, url=url).read_text())
        return {entity: page_log(entry["pages"]) for entity, entry in fetch_log["entities"].items()}

    fetched = at_concurrency_1_and_8(tmp_path, monkeypatch, "informea", entity_sets)
    assert set(fetched[1]) == {"Treaties", "CountryReports", "NationalPlans"}
    assert fetched[1] == fetched[8]


def test_sdg_series_pages_are_the_same_at_concurrency_1_and_8(tmp_path, monkeypatch):
    fetched = at_concurrency_1_and_8(tmp_path, monkeypatch, "sdg-api", lambda session, url, folder: page_log(
        sdg_api.fetch_series(session, url, sdg_api.series_codes()[0], folder, page_size=2)))
    assert len(fetched[1]) > 2
    assert fetched[1] == fetched[8]


@pytest.mark.parametrize("limit", [1, 3])
def test_requests_in_flight_to_one_host_never_exceed_the_limit(tmp_path, monkeypatch, limit):
    monkeypatch.setenv("MEA_HTTP_CONCURRENCY", str(limit))
    with Replica(informea=InformeaOptions(page_size=NO_SERVER_PAGING)) as server:
        counter = InFlight(server.sources["informea"])
        server.sources["informea"] = counter
        url = server.source_urls()["informea"]
        fetched = fetch_entity_set(http.make_session(), url, "CountryReports", ("title", "files"), tmp_path,
                                   page_size=5)
    assert len(fetched["pages"]) > 2 * limit
    assert counter.most == limit  # bounded, and at the bound: the pages did overlap


def test_the_bound_is_per_host_and_shared_by_every_caller(tmp_path, monkeypatch):
    monkeypatch.setenv("MEA_HTTP_CONCURRENCY", "2")
    with Replica() as server:
        counter = InFlight(server.sources["informea"], hold=0.05)
        server.sources["informea"] = counter
        url = server.source_urls()["informea"] + "/Treaties?$format=json"
        callers = [threading.Thread(target=http.get, args=(http.make_session(), "informea", url)) for _ in range(6)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()
    assert counter.most == 2


def test_concurrency_setting_must_be_a_number(monkeypatch):
    monkeypatch.setenv("MEA_HTTP_CONCURRENCY", "many")
    with pytest.raises(ValueError, match="MEA_HTTP_CONCURRENCY"):
        http.concurrency()
