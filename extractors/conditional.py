"""Conditional requests: remember each response's ETag / Last-Modified and replay a 304.

The validators live in the data folder (``state/<source>/validators.json``), beside the raw
files they point at, never in Airflow Variables. A 304 reuses the raw file landed before,
so an unchanged upstream is not downloaded again. They hold for the upstream that sent them
(``core.sources.upstream_id``) only: pointed at another, a source starts with none.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlencode, urlsplit


class Validators:
    """The validators and landed raw file of every request a source made before."""

    def __init__(self, data_dir: Path, source: str, upstream: str):
        self.path = Path(data_dir) / "state" / source / "validators.json"
        self.upstream = upstream
        stored = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.entries: dict[str, dict] = stored.get("entries", {}) if stored.get("upstream") == upstream else {}

    @staticmethod
    def key(url: str, params: dict | None) -> str:
        """The request without scheme and host (the file is the upstream's own)."""
        parts = urlsplit(url)
        query = "&".join(q for q in (parts.query, urlencode(sorted((params or {}).items()))) if q)
        return f"{parts.path}?{query}"

    def request_headers(self, key: str) -> dict[str, str]:
        """If-None-Match / If-Modified-Since for a request seen before; empty otherwise."""
        entry = self.entries.get(key)
        if not entry:
            return {}
        headers = {"If-None-Match": entry.get("etag"), "If-Modified-Since": entry.get("last_modified")}
        return {k: v for k, v in headers.items() if v}

    def not_modified(self, key: str) -> dict:
        """The page entry (raw_path, sha256, retrieved_at, first_url) to reuse after a 304."""
        try:
            return self.entries[key]["page"]
        except KeyError:
            raise LookupError(f"304 Not Modified for a request never landed before: {key}") from None

    def remember(self, key: str, headers, page: dict) -> None:
        if headers.get("ETag") or headers.get("Last-Modified"):
            self.entries[key] = {"etag": headers.get("ETag"), "last_modified": headers.get("Last-Modified"),
                                 "page": {k: page[k] for k in ("raw_path", "sha256", "retrieved_at", "first_url")}}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"upstream": self.upstream, "entries": self.entries}, indent=1, sort_keys=True))
        os.replace(tmp, self.path)
