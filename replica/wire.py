"""The replica's request and response values, shared by the HTTP server and every source."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestInfo:
    """One parsed request, as routing and fault hooks see it."""

    method: str
    path: str  # percent-decoded, without the query string
    query: dict[str, str]  # decoded query options in request order; a repeated name keeps its last value
    headers: dict[str, str]  # names lower-cased
    base_url: str  # root written into links: the replica's public URL, or "http://<Host header>"


@dataclass(frozen=True)
class Response:
    """A fully rendered response; `Content-Length` is derived from `body` unless a header sets it."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def text_response(status: int, text: str) -> Response:
    """A plain-text response (used for `$count` and for paths no source serves)."""
    return Response(status, {"Content-Type": "text/plain;charset=utf-8"}, text.encode("utf-8"))


#: a response that is no response: the replica drops the connection (a reset) without answering
DROP = Response(0)
