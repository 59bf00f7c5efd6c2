"""The replica: a local HTTP stand-in for the upstream services (design.md, "The replica").

Each request is routed to the source whose path prefix it starts with, rendered as a `Response`,
turned into a 304 when the client's validators still match, passed through `Replica.faults`, and sent.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import shutil
import socket
import struct
import sys
import threading
import time
import traceback
from collections import Counter
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import replica as replica_package
from replica.informea import InformeaOptions, InformeaService
from replica.wire import DROP, RequestInfo, Response, text_response

__all__ = ["InformeaOptions", "Replica", "RequestInfo", "Response", "Stats"]

SNAPSHOTS = Path(__file__).parent / "snapshots"
#: a folder laid out like snapshots/ to serve instead (bench/generate.py writes scaled ones)
DATA_ENV = "MEA_REPLICA_DATA"
#: milliseconds every response waits before it is sent, as a far-away upstream would (bench: 50)
LATENCY_ENV = "MEA_REPLICA_LATENCY_MS"
VALIDATOR_HEADERS = ("ETag", "Last-Modified", "DataServiceVersion")


class Source(Protocol):
    """One upstream service served under a path prefix."""

    prefix: str

    def handle(self, request: RequestInfo) -> Response: ...


class Stats:
    """Thread-safe counters of the responses sent (and their body bytes), by request path and status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, int]] = Counter()
        self._bytes: Counter[tuple[str, int]] = Counter()

    def record(self, path: str, status: int, size: int = 0) -> None:
        """Count one response sent, with ``size`` body bytes."""
        with self._lock:
            self._counts[path, status] += 1
            self._bytes[path, status] += size

    def traffic(self, prefixes: dict[str, str]) -> dict[str, dict[str, int]]:
        """{name: {"requests", "bytes", "not_modified"}} for every name -> path prefix, plus "total"."""
        with self._lock:
            counts, sizes = dict(self._counts), dict(self._bytes)
        totals = {name: {"requests": 0, "bytes": 0, "not_modified": 0} for name in [*prefixes, "total"]}
        for (path, status), n in counts.items():
            names = [name for name, prefix in prefixes.items() if under_prefix(path, prefix)] + ["total"]
            for name in names:
                totals[name]["requests"] += n
                totals[name]["bytes"] += sizes.get((path, status), 0)
                totals[name]["not_modified"] += n if status == 304 else 0
        return totals

    def count(self, *, path: str | None = None, status: int | None = None) -> int:
        """Responses sent, optionally only for one path and/or one status (e.g. `count(status=304)`)."""
        with self._lock:
            return sum(
                n for (p, s), n in self._counts.items() if path in (None, p) and status in (None, s)
            )


class Replica:
    """Serves the snapshot folders on 127.0.0.1 in a background thread.

    Use as a context manager, or call `start()` and `stop()`. `port=0` picks a free port.
    `public_url` is the base written into `__metadata`, `__next` and `__deferred` links.
    Override or replace `faults` to inject failures into responses. `snapshot_dir` defaults to
    $MEA_REPLICA_DATA, else snapshots/; `latency_ms` (default $MEA_REPLICA_LATENCY_MS, else 0) delays
    every response, in its own handler thread, so that concurrent clients overlap their waits.
    """

    def __init__(
        self,
        snapshot_dir: Path | str | None = None,
        informea: InformeaOptions | None = None,
        *,
        port: int = 0,
        log_requests: bool = False,
        public_url: str | None = "http://127.0.0.1",
        latency_ms: float | None = None,
    ) -> None:
        root = Path(snapshot_dir or os.environ.get(DATA_ENV) or SNAPSHOTS)
        self.snapshot_root = root
        self.sources: dict[str, Source] = {
            "informea": InformeaService(root / "informea", informea or InformeaOptions()),
            **dict(discovered_services(root)),
        }
        self.stats = Stats()
        self.log_requests = log_requests
        # Like Olingo behind a proxy, links name the server's configured public URL, not the host:port
        # the client used; a fixed, port-free one keeps the served bytes (and so every raw_sha256)
        # the same whichever free port the replica binds. None: echo the Host header instead.
        self.public_url = public_url
        self.latency_s = float(os.environ.get(LATENCY_ENV) or 0 if latency_ms is None else latency_ms) / 1000
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Replica:
        """Bind 127.0.0.1 and serve in a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("replica already started")
        self._server = _Server(("127.0.0.1", self._port), _Handler, self)
        # A short poll interval makes stop() quick; tests start and stop a replica many times.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="replica", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Replica:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. "http://127.0.0.1:54321"."""
        if self._server is None:
            raise RuntimeError("replica not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def source_urls(self) -> dict[str, str]:
        """source_system -> service root URL, e.g. {"informea": "http://127.0.0.1:54321/informea.svc"}."""
        return {name: f"{self.url}{source.prefix}" for name, source in self.sources.items()}

    def client_env(self) -> dict[str, str]:
        """Environment a client needs to use the replica: every MEA_<SOURCE>_URL, plus the replica's
        own credentials for services that require one (a service's ``client_credentials``)."""
        from core.sources import url_env_var

        env = {url_env_var(name): url for name, url in self.source_urls().items()}
        for source in self.sources.values():
            env.update(getattr(source, "client_credentials", {}))
        return env

    def traffic(self) -> dict[str, dict[str, int]]:
        """Requests, body bytes and 304s per source so far, plus "total" (the bench reads these)."""
        return self.stats.traffic({name: source.prefix for name, source in self.sources.items()})

    def write_traffic(self, path: Path | str) -> None:
        """Write `traffic()` as JSON to `path`."""
        Path(path).write_text(json.dumps(self.traffic(), indent=1, sort_keys=True))

    def faults(self, request: RequestInfo, response: Response) -> Response:
        """Fault-injection hook: every response passes through here before it is sent. Default: unchanged."""
        return response

    def respond(self, request: RequestInfo) -> Response:
        """Route, apply conditional-request rules and the fault hook, and count the response."""
        try:
            source = next((s for s in self.sources.values() if under_prefix(request.path, s.prefix)), None)
            response = source.handle(request) if source else text_response(404, f"No source serves {request.path}")
            response = self.faults(request, not_modified(request, response))
        except Exception:  # a replica bug must still answer, the way Olingo does
            traceback.print_exc(file=sys.stderr)
            response = text_response(500, "An exception occurred.")
        self.stats.record(request.path, response.status, len(response.body))
        return response


def discovered_services(root: Path):
    """(source_system, service) for every replica module that defines ``SOURCE_SYSTEM`` and
    ``make_service(snapshot_dir)``, so a new source plugs in without editing this file."""
    for info in pkgutil.iter_modules(replica_package.__path__):
        module = importlib.import_module(f"replica.{info.name}")
        if hasattr(module, "SOURCE_SYSTEM") and hasattr(module, "make_service"):
            yield module.SOURCE_SYSTEM, module.make_service(root / module.SOURCE_SYSTEM)


def seed_inbox(snapshot_root: Path, inbox_root: Path) -> list[Path]:
    """Copy every source's inbox fixtures (snapshots/<source>/inbox/*) into ``inbox_root/<source>/``,
    as if a data officer had saved the e-mailed files there; files already there are kept."""
    copied = []
    for fixture in sorted(Path(snapshot_root).glob("*/inbox/*")):
        target = Path(inbox_root) / fixture.parent.parent.name / fixture.name
        if fixture.is_file() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(fixture, target)
            copied.append(target)
    return copied


def under_prefix(path: str, prefix: str) -> bool:
    """Whether `path` is the prefix itself or below it."""
    return path == prefix or path.startswith(prefix + "/")


def not_modified(request: RequestInfo, response: Response) -> Response:
    """304 when `If-None-Match` names the ETag, or (without it) `If-Modified-Since` is not before Last-Modified."""
    etag = response.headers.get("ETag")
    if response.status != 200 or etag is None:
        return response
    if_none_match = request.headers.get("if-none-match")
    if_modified_since = request.headers.get("if-modified-since")
    if if_none_match is not None:
        fresh = any(tag.strip() in (etag, "*") for tag in if_none_match.split(","))
    else:
        last_modified = response.headers.get("Last-Modified", "")
        fresh = if_modified_since is not None and not_before(if_modified_since, last_modified)
    if not fresh:
        return response
    return Response(304, {name: response.headers[name] for name in VALIDATOR_HEADERS if name in response.headers})


def not_before(http_date: str, reference: str) -> bool:
    """Whether HTTP date `http_date` is at or after `reference`; False when it does not parse."""
    try:
        return parsedate_to_datetime(http_date) >= parsedate_to_datetime(reference)
    except (TypeError, ValueError):
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], replica: Replica) -> None:
        self.replica = replica
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: with Nagle on, a keep-alive client's delayed ACK
    # stalls each response ~40 ms, a latency the real services do not add
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        response = self.server.replica.respond(self.request_info())
        if self.server.replica.latency_s:
            time.sleep(self.server.replica.latency_s)
        self.send(response)

    def request_info(self) -> RequestInfo:
        target = urlsplit(self.path)
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        return RequestInfo(
            method=self.command,
            path=unquote(target.path),
            query=dict(parse_qsl(target.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            base_url=self.server.replica.public_url or f"http://{host}",
        )

    def send(self, response: Response) -> None:
        if response is DROP:  # close with SO_LINGER 0: the client sees a connection reset
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in {"Content-Length": str(len(response.body)), **response.headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature fixed by the base class
        if self.server.replica.log_requests:
            super().log_message(format, *args)
