"""Fault injection: sources x what flaky upstreams do (replica.faults), extract -> stage -> harmonize
per cell. Each cell passes for its fault's reason only: a short-lived fault (SHORT_LIVED: the same
request succeeds on a later attempt) must be retried past and give exactly the fault-free
observations; a lasting fault the pipeline absorbs (ABSORBED) gives them too; any other lasting fault
(FAILING) must fail cleanly, naming the source, the faulted page's URL and what was wrong, before
anything is published. ``tests/test_fault_matrix_mutation.py`` checks that the matrix fails without
the retries.

``FAULT_MATRIX=<file.jsonl>`` appends each cell's outcome; ``tests/fault_table.py`` renders them."""
import json
import os
import random
import re
import shutil
from collections import Counter
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pandas as pd
import pytest
import requests
from urllib3 import HTTPResponse

from core.sources import source_module
from extractors.cites_trade import BadFile
from extractors.http import MAX_RETRY_AFTER, BoundedRetry, UpstreamError, timeout_setting
from outputs.release import schema_drift_of
from replica.faults import EXTRA_FIELD, FAULTS, INBOX_FAULTS, FaultyReplica, inbox_fault, page_size, records_of
from replica.server import SNAPSHOTS, Replica
from transforms.observations import NATURAL_KEY
from transforms.workbooks import LayoutError

from pipeline_helpers import ALL, harmonized_parts

#: source -> the endpoint (path prefix) its faults hit: a paged listing each
ENDPOINTS = {"informea": "/informea.svc/CountryReports", "cms-ors": "/cms-ors/api/v1/questionnaires/",
             "sdg-api": "/sdg/v1/sdg/Series/Data", "cbd-chm": "/cbd-chm/api/v2013/index"}
#: inbox source -> a column its layout declares (renamed-column renames it)
INBOX_COLUMN = {"cbd-ort-excel": "Indicator code", "ramsar-nrf": "5.1"}
#: source -> extract options that make its small snapshot span several pages of the faulted listing
SMALL_PAGES = {"informea": {}, "cms-ors": {"per_page": 3}, "sdg-api": {"page_size": 40},
               "cbd-chm": {"page_size": 30}}
#: source -> a record field its transform uses (renamed-field and missing-field act on it)
USED_FIELD = {"informea": "country", "cms-ors": "answers", "sdg-api": "geoAreaCode", "cbd-chm": "government_s"}
#: client timeouts short enough that the read-timeout fault (replica.faults.STALL_SECONDS) trips them
TIMEOUT = "2,1"
SEED = 20261128

#: short-lived faults: the replica answers the same request properly on a later attempt, so a retry
#: (the session's for the request, ``http.again_when_cut_short`` for a body cut short) gets past them
#: and the rows are exactly the fault-free ones; failing cleanly is a failure of the cell
SHORT_LIVED = ("read-timeout", "5xx-burst", "429-retry-after", "connection-reset", "truncated-body-once")
#: lasting faults (every attempt gets them) that need no retry: the rows are exactly the fault-free ones
ABSORBED = ("latency", "extra-field", "duplicate-across-pages", "insert-while-paging")
#: lasting faults no retry gets past: the run fails naming the source and the faulted page, with a
#: problem matching the pattern (``{field}``: the record field the fault acts on)
FAILING = {
    "truncated-body": r"IncompleteRead|broke off",
    "malformed-json": r"response is not JSON|not a zip file",
    "html-error-200": r"response is not JSON|\$count is not a number|not a zip file",
    "empty-page": r"response is not JSON|not a zip file",
    "renamed-field": r"schema drift: used field\(s\) \['{field}'\] missing from every record",
    "missing-field": r"schema drift: used field\(s\) \['{field}'\] missing from every record",
    "no-records": r"empty page|came back short or empty",
}


def overfull(server: FaultyReplica) -> bool:
    """Whether the faulted page came with more records than its page size (a full page and the
    repeated record; the last, short page of a listing has room for it)."""
    return len(records_of(server.served.body)) > page_size(server.faulted)


#: (source, fault) -> (its pattern, when it applies), where a source cannot absorb a fault the others
#: do: a Solr page with more docs than ``rows`` means paging on would skip one (extractors.cbd_chm).
#: Which page is faulted depends on the order concurrent pages arrive in.
FAILING_HERE = {("cbd-chm", "duplicate-across-pages"): (r"\d+ docs on a page of rows=\d+", overfull)}


def failing(source: str, fault: str, server: FaultyReplica | None = None) -> str | None:
    """What the cell must fail with (a pattern of its problem), or None: it must give the fault-free rows."""
    pattern, when = FAILING_HERE.get((source, fault), (None, None))
    pattern = pattern if pattern and when(server) else FAILING.get(fault)
    return pattern and pattern.format(field=USED_FIELD.get(source, ""))


def page(url: str) -> tuple[str, dict]:
    """A URL's path and query options, to compare a page named in a failure with the faulted request."""
    parts = urlsplit(url)
    return parts.path, dict(parse_qsl(parts.query))


@contextmanager
def pointed_at(server: Replica, data_dir: Path):
    """Every source's URL and credentials from ``server``, ``data_dir`` as MEA_DATA_DIR, short client
    timeouts, and small pages."""
    with pytest.MonkeyPatch.context() as env:
        for variable, value in server.client_env().items():
            env.setenv(variable, value)
        env.setenv("MEA_DATA_DIR", str(data_dir))
        env.setenv("MEA_HTTP_TIMEOUT", TIMEOUT)
        for source, options in SMALL_PAGES.items():
            module = source_module("extractors", source)
            env.setattr(module, "extract", partial(module.extract, **options))
        yield


def observation_keys(source: str, run: str) -> Counter:
    """How often each natural key (with its value) occurs among the source's harmonized observations."""
    parts = Path(harmonized_parts(f"{run}-{source}", {**ALL, "sources": [source]})[0])
    obs = pd.read_parquet(parts / "observations.parquet")
    columns = NATURAL_KEY + ["value_num", "value_code"]
    return Counter(obs[columns].astype(str).itertuples(index=False, name=None))


@pytest.fixture(scope="module")
def fault_free(tmp_path_factory) -> dict[str, Counter]:
    with Replica() as server, pointed_at(server, tmp_path_factory.mktemp("fault-free")):
        return {source: observation_keys(source, "fault-free") for source in ENDPOINTS}


def record(source: str, fault: str, outcome: str, detail: str, lost: int = 0, duplicated: int = 0,
           expected: str | None = None) -> None:
    """Append the cell's outcome (and the outcome its fault calls for) to $FAULT_MATRIX (when set)."""
    if os.environ.get("FAULT_MATRIX"):
        with open(os.environ["FAULT_MATRIX"], "a", encoding="utf-8") as out:
            out.write(json.dumps({"source": source, "fault": fault, "outcome": outcome, "detail": detail,
                                  "lost": lost, "duplicated": duplicated, "expected": expected,
                                  "kind": "short-lived" if fault in SHORT_LIVED else "lasting"}) + "\n")


def expected_outcome(source: str, fault: str, server: FaultyReplica | None = None) -> str:
    return "failed cleanly" if failing(source, fault, server) else "same rows"


def test_every_fault_is_classified_by_whether_a_retry_gets_past_it():
    assert set(SHORT_LIVED) == {name for name, fault in FAULTS.items() if fault.hits}
    classes = [*SHORT_LIVED, *ABSORBED, *FAILING]
    assert sorted(classes) == sorted(FAULTS), "each fault in exactly one class"
    assert all(fault in ABSORBED for _, fault in FAILING_HERE)  # a lasting fault some sources cannot absorb


def test_every_source_has_duplicate_free_fault_free_observations(fault_free):
    for source, keys in fault_free.items():
        assert keys and max(keys.values()) == 1, source


def test_a_new_unused_field_is_recorded_as_schema_drift_for_the_manifest(tmp_path):
    with FaultyReplica("extra-field", ENDPOINTS["sdg-api"], SEED) as server, pointed_at(server, tmp_path / "var"):
        drift = schema_drift_of(harmonized_parts("drift", {**ALL, "sources": ["sdg-api"]}))
        endpoint = server.url + ENDPOINTS["sdg-api"]
    assert list(drift) == ["sdg-api"] and len(drift["sdg-api"]) == server.injected == 1
    [(entity, fields)] = drift["sdg-api"].items()
    assert entity.startswith("SeriesData.") and list(fields) == [EXTRA_FIELD]
    assert fields[EXTRA_FIELD].startswith(endpoint + "?seriesCode=")


def test_http_timeout_setting(monkeypatch):
    monkeypatch.setenv("MEA_HTTP_TIMEOUT", "3,30")
    assert timeout_setting() == (3.0, 30.0)
    monkeypatch.setenv("MEA_HTTP_TIMEOUT", "5")
    assert timeout_setting() == (5.0, 5.0)
    monkeypatch.setenv("MEA_HTTP_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="MEA_HTTP_TIMEOUT"):
        timeout_setting()


def test_retry_after_is_honoured_up_to_a_bound():
    asked = lambda seconds: HTTPResponse(status=429, headers={"Retry-After": seconds})  # noqa: E731
    assert BoundedRetry().get_retry_after(asked("7")) == 7
    assert BoundedRetry().get_retry_after(asked("86400")) == MAX_RETRY_AFTER


def test_a_record_inserted_while_paging_shifts_each_page_alike_in_whatever_order_they_are_asked():
    """Pages fetched side by side arrive in any order: each page the insert shifts starts with the
    record just before it upstream, so no record falls between two pages (found by a contended run
    in which cbd-chm lost two observations, 2026-11-29)."""
    index, params = ENDPOINTS["cbd-chm"], {"q": "*:*", "sort": "id asc", "rows": 5, "wt": "json"}

    def page(server, start):
        docs = requests.get(server.url + index, params={**params, "start": start}, timeout=10).json()
        return [doc["id"] for doc in docs["response"]["docs"]]

    with Replica() as server:
        upstream = [record for start in range(0, 20, 5) for record in page(server, start)]
    for order in ([0, 5, 10, 15], [0, 15, 10, 5], [0, 10, 5, 15]):
        with FaultyReplica("insert-while-paging", index, SEED, among=1) as server:
            pages = {start: page(server, start) for start in order}
        assert server.injected == 1
        for start in (5, 10, 15):
            assert pages[start] == upstream[start - 1:start + 4], (order, start)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("source", ENDPOINTS)
def test_a_fault_gives_the_same_observations_or_a_clean_failure(tmp_path, fault_free, source, fault):
    data_dir, endpoint = tmp_path / "var", ENDPOINTS[source]
    with FaultyReplica(fault, endpoint, SEED, field=USED_FIELD[source]) as server, pointed_at(server, data_dir):
        url = server.url
        try:
            keys, failure = observation_keys(source, "faulty"), None
        except UpstreamError as error:
            keys, failure = None, error
    assert server.injected > 0  # the seeded request was asked for, and faulted
    problem = failing(source, fault, server)
    expected = "failed cleanly" if problem else "same rows"
    if failure:
        record(source, fault, "failed cleanly", failure.problem, expected=expected)
        assert problem, f"{fault} must give the fault-free rows, not fail: {failure}"
        assert str(failure).startswith(f"[{source}] {url}/"), str(failure)
        assert failure.url.startswith(url + endpoint.rstrip("/")), failure.url
        assert re.search(problem, failure.problem), f"{fault}: {failure.problem}"
        # the failure names the faulted page, query and all, not just its listing
        assert page(failure.url) == (server.faulted.path, server.faulted.query), failure.url
    else:
        lost, duplicated = fault_free[source] - keys, keys - fault_free[source]
        record(source, fault, "same rows" if keys == fault_free[source] else "DIFFERENT rows", "",
               sum(lost.values()), sum(duplicated.values()), expected=expected)
        assert not problem, f"{fault} must fail cleanly, matching {problem!r}: the rows were accepted"
        assert keys == fault_free[source], f"lost {list(lost)[:3]}, extra or duplicated {list(duplicated)[:3]}"
    if fault in SHORT_LIVED:  # got past by asking the same request again, not by never needing it
        assert server.asked_again, f"{fault}: the faulted request was not asked for again"
    assert not (data_dir / "current").exists() and not (data_dir / "releases").exists()


#: the CITES release is one bulk zip download: the faults of a transfer apply, not those of pages of records
CITES_ENDPOINT = "/cites/cites_trade/download_db"
CITES_FAULTS = [name for name, fault in FAULTS.items() if not (fault.records or fault.paging)]


@pytest.fixture(scope="module")
def cites_fault_free(tmp_path_factory) -> Counter:
    with Replica() as server, pointed_at(server, tmp_path_factory.mktemp("cites-fault-free")):
        return observation_keys("cites-trade", "fault-free")


@pytest.mark.parametrize("fault", CITES_FAULTS)
def test_a_fault_on_the_cites_release_gives_the_same_observations_or_a_clean_failure(tmp_path, cites_fault_free,
                                                                                    fault):
    data_dir, problem = tmp_path / "var", failing("cites-trade", fault)
    with FaultyReplica(fault, CITES_ENDPOINT, SEED, among=1) as server, pointed_at(server, data_dir):
        try:
            keys = observation_keys("cites-trade", "faulty")
        except (UpstreamError, BadFile) as failure:
            record("cites-trade", fault, "failed cleanly", str(failure),
                   expected=expected_outcome("cites-trade", fault))
            assert problem, f"{fault} must give the fault-free rows, not fail: {failure}"
            assert str(failure).startswith(f"[cites-trade] {server.url}{CITES_ENDPOINT}"), str(failure)
            assert re.search(problem, str(failure)), f"{fault}: {failure}"
        else:
            lost, duplicated = cites_fault_free - keys, keys - cites_fault_free
            record("cites-trade", fault, "same rows" if keys == cites_fault_free else "DIFFERENT rows", "",
                   sum(lost.values()), sum(duplicated.values()), expected=expected_outcome("cites-trade", fault))
            assert not problem, f"{fault} must fail cleanly, matching {problem!r}: the rows were accepted"
            assert keys == cites_fault_free, f"lost {list(lost)[:3]}, extra or duplicated {list(duplicated)[:3]}"
    assert server.injected > 0
    if fault in SHORT_LIVED:
        assert server.asked_again, f"{fault}: the faulted request was not asked for again"
    assert not (data_dir / "current").exists() and not (data_dir / "releases").exists()


def inbox_with(data_dir: Path, source: str, fault: str | None = None) -> None:
    """The source's inbox fixtures in ``data_dir``; under ``fault``, one seeded fixture arrives as the
    fault's files instead."""
    fixtures = sorted((SNAPSHOTS / source / "inbox").glob("*.xlsx"))
    chosen = random.Random(f"{SEED}:{fault}:{source}").choice(fixtures) if fault else None
    inbox = data_dir / "inbox" / source
    inbox.mkdir(parents=True)
    for fixture in fixtures:
        if fixture == chosen:
            inbox_fault(fault, fixture, inbox, INBOX_COLUMN[source])
        else:
            shutil.copyfile(fixture, inbox / fixture.name)


@pytest.fixture(scope="module")
def inbox_fault_free(tmp_path_factory) -> dict[str, Counter]:
    data_dir = tmp_path_factory.mktemp("inbox-fault-free")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MEA_DATA_DIR", str(data_dir))
        for source in INBOX_COLUMN:
            inbox_with(data_dir, source)
        return {source: observation_keys(source, "fault-free") for source in INBOX_COLUMN}


#: inbox faults are lasting (the file is what it is): each fails naming the file and this, but a copy
#: of a file, which is read once by its content hash
UNREADABLE = r"not a readable \.xlsx workbook"
INBOX_FAILING = {"truncated-file": UNREADABLE, "html-saved-as-xlsx": UNREADABLE,
                 "xml-bomb": r"refused: its XML declares entities or a DTD", "renamed-column": r"lacks the header\(s\)"}


@pytest.mark.parametrize("fault", INBOX_FAULTS)
@pytest.mark.parametrize("source", INBOX_COLUMN)
def test_an_inbox_fault_gives_the_same_observations_or_a_clean_failure(tmp_path, monkeypatch, inbox_fault_free,
                                                                      source, fault):
    data_dir, problem = tmp_path / "var", INBOX_FAILING.get(fault)
    expected = "failed cleanly" if problem else "same rows"
    monkeypatch.setenv("MEA_DATA_DIR", str(data_dir))
    inbox_with(data_dir, source, fault)
    try:
        keys = observation_keys(source, "faulty")
    except LayoutError as failure:
        record(source, fault, "failed cleanly", str(failure), expected=expected)
        assert problem, f"{fault} must give the fault-free rows, not fail: {failure}"
        names = {path.name for path in (data_dir / "inbox" / source).iterdir()}
        assert any(str(failure).startswith(f"[{source}] {name}: ") for name in names), str(failure)
        assert re.search(problem, str(failure)), f"{fault}: {failure}"
    else:
        lost, duplicated = inbox_fault_free[source] - keys, keys - inbox_fault_free[source]
        record(source, fault, "same rows" if keys == inbox_fault_free[source] else "DIFFERENT rows", "",
               sum(lost.values()), sum(duplicated.values()), expected=expected)
        assert not problem, f"{fault} must fail cleanly, matching {problem!r}: the rows were accepted"
        assert keys == inbox_fault_free[source], f"lost {list(lost)[:3]}, extra or duplicated {list(duplicated)[:3]}"
    assert not (data_dir / "current").exists() and not (data_dir / "releases").exists()
