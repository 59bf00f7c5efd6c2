"""HTTP for every extractor: one session with bounded retries, backoff and timeouts."""
from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

#: (connect, read) seconds; a slow upstream page is normal, a silent one is not.
DEFAULT_TIMEOUT = (10, 120)
RETRY_STATUSES = (429, 500, 502, 503, 504)


class UpstreamError(RuntimeError):
    """An upstream request that failed for good: names the source, the URL and what was wrong."""

    def __init__(self, source: str, url: str, problem: str):
        super().__init__(f"[{source}] {url}: {problem}")
        self.source, self.url, self.problem = source, url, problem


def make_session(retries: int = 5, backoff_factor: float = 0.5, backoff_max: float = 60.0) -> requests.Session:
    """A session that retries connection errors, read timeouts, 5xx and 429 with exponential
    backoff, honouring Retry-After; only idempotent GETs are retried."""
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff_factor,
        backoff_max=backoff_max,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "HEAD"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "mea-reporting (+https://github.com/mea-reporting)"
    return session


def get(session: requests.Session, source: str, url: str, *, params=None, headers=None,
        timeout=DEFAULT_TIMEOUT, stream: bool = False) -> requests.Response:
    """GET with retries; any failure that survives them becomes an UpstreamError. With ``stream``
    the body is left to the caller (extractors.progress.read_body)."""
    try:
        response = session.get(url, params=params, headers=headers, timeout=timeout, stream=stream)
    except requests.RequestException as exc:  # name the page (its query too), not just the endpoint
        sent = requests.Request("GET", url, params=params).prepare().url
        raise UpstreamError(source, sent, f"request failed after retries: {exc.__class__.__name__}: {exc}") from exc
    if response.status_code >= 400:
        raise UpstreamError(source, response.url, f"HTTP {response.status_code} after retries: {response.text[:200]!r}")
    return response
