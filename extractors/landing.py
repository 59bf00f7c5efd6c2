"""Raw landing: every response kept byte for byte, content-addressed, with a provenance sidecar.

Raw is never rewritten: a response whose bytes were landed before is not stored again, and
keeps the sidecar (and so the ``retrieved_at``) of its first landing. That keeps re-runs on
unchanged upstream data byte-identical downstream.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path


#: a file type as landing keeps it; anything else an upstream name suggests lands as ``.bin``
SUFFIX = re.compile(r"\.[a-z0-9]{1,10}")
#: the source and entity folder names; they come from code, and must never climb out of raw/
FOLDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class Landed:
    """A raw file under the data folder and the facts about its first retrieval."""

    path: Path
    sha256: str
    retrieved_at: str
    url: str


def land(data_dir: Path, source: str, entity: str, body: bytes, *, url: str, params: dict | None,
         status: int | None, headers: dict, terms: str, suffix: str = ".json") -> Landed:
    """Store ``body`` under raw/<source>/<entity>/ by sha256 with its sidecar; return where.

    Only the content hash names the file: an upstream's own name for it (a Content-Disposition,
    an inbox file name) can at most suggest its ``suffix``, and an odd one lands as ``.bin``.
    """
    folder = _entity_folder(data_dir, source, entity)
    return _keep(folder, hashlib.sha256(body).hexdigest(), len(body), lambda path: _write_atomically(path, body),
                 _safe_suffix(suffix), source=source, entity=entity, url=url, params=params, status=status,
                 headers=headers, terms=terms)


def land_stream(data_dir: Path, source: str, entity: str, chunks: Iterable[bytes], *, url: str,
                params: dict | None, status: int | None, headers: dict, terms: str, suffix: str = ".json") -> Landed:
    """``land`` for a body too big to hold in memory (a bulk release): ``chunks`` are written to a
    temporary file beside raw landing while they are hashed, then moved to their content address."""
    folder = _entity_folder(data_dir, source, entity)
    folder.mkdir(parents=True, exist_ok=True)
    incoming = folder / f".incoming.{os.getpid()}.{threading.get_ident()}.tmp"
    digest, size = hashlib.sha256(), 0
    try:
        with incoming.open("wb") as out:
            for chunk in chunks:
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        return _keep(folder, digest.hexdigest(), size, lambda path: os.replace(incoming, path), _safe_suffix(suffix),
                     source=source, entity=entity, url=url, params=params, status=status, headers=headers,
                     terms=terms)
    finally:
        incoming.unlink(missing_ok=True)


def _entity_folder(data_dir: Path, source: str, entity: str) -> Path:
    for name in (source, entity):
        if not FOLDER.fullmatch(name):
            raise ValueError(f"not a source or entity name to land under: {name!r}")
    return Path(data_dir) / "raw" / source / entity


def _safe_suffix(suffix: str) -> str:
    return suffix.lower() if SUFFIX.fullmatch(suffix.lower()) else ".bin"


def _keep(entity_folder: Path, sha: str, size: int, write: Callable[[Path], None], suffix: str, *, source: str,
          entity: str, url: str, params: dict | None, status: int | None, headers: dict, terms: str) -> Landed:
    """Put a body at its content address with its sidecar, unless it was landed before."""
    folder = entity_folder / sha[:2]
    path = folder / f"{sha}{suffix}"
    sidecar = folder / f"{sha}.meta.json"
    if sidecar.exists():
        meta = json.loads(sidecar.read_text())
        return Landed(path, sha, meta["retrieved_at"], meta["url"])
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "source_system": source,
        "entity": entity,
        "url": url,
        "params": params or {},
        "status": status,
        "etag": headers.get("ETag"),
        "last_modified": headers.get("Last-Modified"),
        "content_type": headers.get("Content-Type"),
        "retrieved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sha256": sha,
        "bytes": size,
        "terms": terms,
    }
    write(path)
    _write_atomically(sidecar, json.dumps(meta, indent=1, sort_keys=True).encode())
    return Landed(path, sha, meta["retrieved_at"], url)


def _write_atomically(path: Path, data: bytes) -> None:
    # concurrent fetches may land the same bytes at once: each writer needs its own temporary file
    tmp = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
