"""Seeded fault injection: what flaky upstreams do, played on one endpoint of the replica.

``FaultyReplica(fault, endpoint, seed)`` picks, with ``random.Random(seed)``, one of the first
requests under ``endpoint`` (a path prefix) and answers it with ``fault`` instead of the real
response. Transient faults (``FAULTS[name].hits`` > 0) hit that request only so many times, then
let it through, as a server that recovers does; the others hit it every time it is asked.
"""
from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from replica.server import Replica
from replica.wire import DROP, RequestInfo, Response, text_response

HTML_ERROR = (b"<!DOCTYPE html><html><head><title>Service unavailable</title></head>"
              b"<body><h1>We'll be back soon</h1></body></html>")


@dataclass(frozen=True)
class Fault:
    """How a fault rewrites the real response, and how many hits it lasts (0: every hit)."""

    rewrite: Callable[[Response], Response]
    hits: int = 0


FAULTS = {
    "5xx-burst": Fault(lambda r: text_response(503, "Service Unavailable"), hits=2),
    "429-retry-after": Fault(lambda r: Response(429, {"Retry-After": "1"}, b"Too Many Requests"), hits=1),
    "connection-reset": Fault(lambda r: DROP, hits=1),
    # the server says the whole length, sends half and hangs up
    "truncated-body": Fault(lambda r: Response(r.status, {**r.headers, "Content-Length": str(len(r.body)),
                                                          "Connection": "close"}, r.body[:len(r.body) // 2])),
    "malformed-json": Fault(lambda r: Response(r.status, r.headers, r.body[:len(r.body) // 2])),
    "html-error-200": Fault(lambda r: Response(200, {"Content-Type": "text/html"}, HTML_ERROR)),
    "empty-page": Fault(lambda r: Response(200, r.headers, b"")),
}


class FaultyReplica(Replica):
    """The replica with ``fault`` on one seeded request under ``endpoint``; ``injected`` counts hits."""

    def __init__(self, fault: str, endpoint: str, seed: int = 0, *, among: int = 2, **options) -> None:
        super().__init__(**options)
        self.fault, self.endpoint = FAULTS[fault], endpoint
        self.nth = random.Random(f"{seed}:{fault}:{endpoint}").randrange(among)
        self.injected = 0
        self._lock = threading.Lock()
        self._requests: list[tuple] = []  # distinct requests under the endpoint, in arrival order
        self._hits: Counter[tuple] = Counter()

    def faults(self, request: RequestInfo, response: Response) -> Response:
        if response.status != 200 or not request.path.startswith(self.endpoint):
            return response
        key = (request.path, tuple(sorted(request.query.items())))
        with self._lock:
            if key not in self._requests:
                self._requests.append(key)
            self._hits[key] += 1
            chosen = len(self._requests) > self.nth and self._requests[self.nth] == key
            if not chosen or (self.fault.hits and self._hits[key] > self.fault.hits):
                return response
            self.injected += 1
        return self.fault.rewrite(response)
