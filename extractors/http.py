"""HTTP for every extractor: one session with bounded retries, backoff and timeouts."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, retry, retry_if_exception_type, wait_exponential
from urllib3.util.retry import Retry

from core import settings
from core.errors import Permanent, permanent_status
from core.progress import MB, Progress

#: the longest Retry-After we wait; a server asking for more is waited on for this long only
MAX_RETRY_AFTER = 300
#: how often the session retries a request (connection error, read timeout, 5xx, 429) after its first try
RETRIES = 5
#: a body cut short (fewer bytes than Content-Length) is fetched this many times in all
BODY_ATTEMPTS = 3
RETRY_STATUSES = (429, 500, 502, 503, 504)
_host_slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_host_slots_lock = threading.Lock()


class UpstreamError(RuntimeError):
    """An upstream request that failed for good: names the source, the URL and what was wrong.

    ``status`` is the HTTP status of an error answer (None for a timeout, a connection error or a
    body that is wrong); ``permanent`` says whether retrying the task can help (core.errors): not
    after a 4xx other than 408 and 429, which the same request will get again."""

    def __init__(self, source: str, url: str, problem: str, status: int | None = None):
        super().__init__(f"[{source}] {url}: {problem}")
        self.source, self.url, self.problem, self.status = source, url, problem, status
        self.permanent = permanent_status(status) or isinstance(self, Permanent)


class BoundedRetry(Retry):
    """urllib3's Retry with Retry-After honoured up to MAX_RETRY_AFTER seconds, so that one header
    cannot hold a task for hours."""

    def get_retry_after(self, response) -> float | None:
        wait = super().get_retry_after(response)
        return None if wait is None else min(wait, MAX_RETRY_AFTER)


def make_session(retries: int | None = None, backoff_factor: float = 0.5,
                 backoff_max: float = 60.0) -> requests.Session:
    """A session that retries connection errors, read timeouts, 5xx and 429 (``retries`` times,
    RETRIES unless given) with exponential backoff, honouring Retry-After (up to MAX_RETRY_AFTER);
    only idempotent GETs are retried."""
    retries = RETRIES if retries is None else retries
    retry = BoundedRetry(
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
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=max(10, concurrency()))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "mea-reporting (+https://github.com/mea-reporting)"
    return session


def timeout_setting() -> tuple[float, float]:
    """(connect, read) seconds from MEA_HTTP_TIMEOUT (core.settings): a slow upstream page is
    normal, a silent one is not."""
    text = settings.text("MEA_HTTP_TIMEOUT")
    try:
        seconds = [float(part) for part in text.split(",")]
    except ValueError:
        seconds = []
    if len(seconds) not in (1, 2) or min(seconds) <= 0:
        raise ValueError(f"MEA_HTTP_TIMEOUT must be 'connect,read' or one number of seconds, not {text!r}")
    return (seconds[0], seconds[-1])


def again_when_cut_short(*broken: type[Exception]):
    """Retry the decorated fetch, a bounded number of times with backoff, when its body arrived
    shorter than announced (``broken``). urllib3 retries the request and its headers, not the body
    that is read afterwards. BODY_ATTEMPTS is read at each call, not when the fetch is decorated."""
    return retry(retry=retry_if_exception_type(broken), stop=body_attempts_spent,
                 wait=wait_exponential(multiplier=0.5, max=8), reraise=True)


def body_attempts_spent(state: RetryCallState) -> bool:
    """Whether a fetch cut short has had its BODY_ATTEMPTS."""
    return state.attempt_number >= BODY_ATTEMPTS


class BodyBrokeOff(UpstreamError):
    """A streamed body that stopped before its end (the connection broke or closed early)."""


@again_when_cut_short(requests.exceptions.ChunkedEncodingError)
def get_whole_body(session: requests.Session, url: str, **options) -> requests.Response:
    """``session.get``, again when the body arrived shorter than the server announced."""
    return session.get(url, **options)


def get(session: requests.Session, source: str, url: str, *, params=None, headers=None,
        timeout=None, stream: bool = False) -> requests.Response:
    """GET with retries; any failure that survives them becomes an UpstreamError.
    ``stream``: leave the body unread, for the caller to copy in chunks (a bulk file)."""
    try:
        with host_slot(url):  # retries and their backoff hold the slot: a struggling host gets no more load
            response = get_whole_body(session, url, params=params, headers=headers,
                                      timeout=timeout or timeout_setting(), stream=stream)
    except requests.RequestException as exc:  # name the page (its query too), not just the endpoint
        sent = requests.Request("GET", url, params=params).prepare().url
        raise UpstreamError(source, sent, f"request failed after retries: {exc.__class__.__name__}: {exc}") from exc
    if response.status_code >= 400:
        tried = " after retries" if response.status_code in RETRY_STATUSES else ""
        raise UpstreamError(source, response.url, f"HTTP {response.status_code}{tried}: {response.text[:200]!r}",
                            status=response.status_code)
    return response


def concurrency() -> int:
    """How many requests may be in flight to one host (``MEA_HTTP_CONCURRENCY``, at least 1)."""
    return max(1, settings.integer("MEA_HTTP_CONCURRENCY"))


def host_slot(url: str) -> threading.BoundedSemaphore:
    """The semaphore every request to ``url``'s host shares in this process."""
    key = (urlsplit(url).netloc, concurrency())
    with _host_slots_lock:
        return _host_slots.setdefault(key, threading.BoundedSemaphore(key[1]))


def body_chunks(response: requests.Response, source: str, step: str) -> Iterator[bytes]:
    """The body of a streamed ``response`` in chunks, logging download progress (percent from
    Content-Length when the upstream sends it); a broken transfer becomes an UpstreamError."""
    length = response.headers.get("Content-Length")
    progress = Progress(step, "MB", int(length) if length and length.isdigit() else None, scale=MB)
    try:
        for chunk in response.iter_content(MB):
            progress.advance(len(chunk))
            yield chunk
    except requests.RequestException as exc:
        raise BodyBrokeOff(source, response.url, f"{step} broke off after {progress.amount} bytes: "
                                                  f"{exc.__class__.__name__}: {exc}") from exc
    progress.finish()
