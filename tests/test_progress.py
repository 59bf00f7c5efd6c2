"""Progress lines for long steps: at most one per interval, with amount, percent and rate."""
import logging

import pytest
import requests

from core import progress
from extractors.http import UpstreamError, body_chunks


@pytest.fixture
def lines():
    """The messages the progress logger emits during the test (works with or without pytest's logging plugin)."""
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    progress.log.addHandler(handler)
    yield messages
    progress.log.removeHandler(handler)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_one_line_per_interval_with_percent_and_rate(lines):
    clock = Clock()
    step = progress.Progress("cites-trade ingest", "rows", total=4, interval=30, clock=clock)
    for _ in range(4):
        clock.now += 10
        step.advance(1000, parts=1)
    step.finish()
    assert lines == [
        "cites-trade ingest: 3,000 rows (75%), 100.0 rows/s",
        "cites-trade ingest: 4,000 rows (100%), 100.0 rows/s (done)",
    ]


class FakeResponse:
    url = "http://127.0.0.1/cites_trade/download_db"

    def __init__(self, chunks, length=None, broken=False):
        self.chunks, self.broken = chunks, broken
        self.headers = {"Content-Length": str(length)} if length else {}

    def iter_content(self, size):
        yield from self.chunks
        if self.broken:
            raise requests.exceptions.ChunkedEncodingError("connection reset")


def test_body_chunks_logs_a_closing_line_in_megabytes(lines):
    body = b"".join(body_chunks(FakeResponse([b"x" * progress.MB] * 3, length=3 * progress.MB), "cites-trade", "dl"))
    assert body == b"x" * (3 * progress.MB)
    assert lines[-1].startswith("dl: 3 MB (100%), ") and lines[-1].endswith(" (done)")


def test_a_broken_download_names_source_url_and_bytes():
    with pytest.raises(UpstreamError, match=r"cites-trade.*download_db.*broke off after 4 bytes.*ChunkedEncodingError"):
        b"".join(body_chunks(FakeResponse([b"abcd"], broken=True), "cites-trade", "dl"))
