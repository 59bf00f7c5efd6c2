"""CITES Trade Database stand-in: serves the full-release zip at /cites/cites_trade/download_db.

Like trade.cites.org (convention-sources.md 2a) the download is one zip of trade_db_<n>.csv
members; the replica adds a strong ETag over the bytes and a Last-Modified, so the server's
conditional-request handling answers a repeated download with 304.
"""
from __future__ import annotations

import hashlib
from email.utils import formatdate
from pathlib import Path

from replica.wire import RequestInfo, Response, text_response

SOURCE_SYSTEM = "cites-trade"
#: 2026-11-01, the snapshot's release date (the zip's member timestamps)
RELEASED = formatdate(1793491200, usegmt=True)


class CitesTradeService:
    """Serves ``trade_db.zip`` of a snapshot folder under ``prefix``."""

    def __init__(self, snapshot_dir: Path, prefix: str = "/cites") -> None:
        self.prefix = prefix
        self.body = (Path(snapshot_dir) / "trade_db.zip").read_bytes()
        self.etag = f'"{hashlib.sha256(self.body).hexdigest()}"'

    def handle(self, request: RequestInfo) -> Response:
        if request.path[len(self.prefix):].rstrip("/") != "/cites_trade/download_db":
            return text_response(404, f"No such page: {request.path}")
        return Response(200, {
            "Content-Type": "application/zip",
            "Content-Disposition": 'attachment; filename="Trade_database_download_v2026.1.zip"',
            "ETag": self.etag, "Last-Modified": RELEASED,
        }, self.body)


def make_service(snapshot_dir: Path) -> CitesTradeService:
    return CitesTradeService(snapshot_dir)
