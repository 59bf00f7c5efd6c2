"""CITES Trade Database: the full release (a zip of trade_db_<n>.csv) and comparative-tabulation
exports from the inbox, to raw landing.

The release is fetched with ``If-None-Match`` (a twice-yearly file, ~1 GB unzipped: re-downloaded
only when it changed) and its zip directory is checked against size limits before anything is
unpacked; staging unpacks one member at a time with the same limits (``extracted_members``).
Inbox exports are landed and their header checked against the declared layouts
(cites_trade.yaml); nothing else is parsed here.
"""
from __future__ import annotations

import codecs
import csv
import json
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import requests
import yaml

from core.errors import Permanent
from core.sources import get_source
from extractors import http
from extractors.conditional import Validators
from extractors.fetch import begin
from extractors.inbox import pick_up
from extractors.landing import land_stream

SOURCE = "cites-trade"
DOWNLOAD_PATH = "/cites_trade/download_db"
LAYOUTS = Path(__file__).with_suffix(".yaml")
MEMBER_NAME = re.compile(r"(?:^|/)trade_db_(?P<n>\d+)\.csv$")
CHUNK = 1 << 20


class BadFile(ValueError, Permanent):
    """A release or export that is not what it claims to be (not a zip, over the size limits, a
    header off the declared layout); the message names the file. Permanent (core.errors): the
    same file fails the same checks again, so no retries."""


@dataclass(frozen=True)
class Limits:
    """How far a release may expand: per member, in total, by compression ratio and in members.

    A 500,000-row member is ~120 MB and CSV deflates about 8:1, so these leave a wide margin
    while refusing a zip bomb (zeros deflate ~1000:1) before it fills the disk.
    """

    member_bytes: int = 1 << 30
    total_bytes: int = 32 << 30
    ratio: int = 100
    ratio_floor: int = 1 << 20  # members smaller than this are not ratio-checked
    members: int = 1000  # a release has tens of trade_db_<n>.csv; thousands of tiny members is a bomb too


def extract(data_dir: Path, run_dir: Path, session: requests.Session | None = None,
            url: str | None = None) -> Path:
    """Fetch the release and pick up the inbox exports; return the path of the run's fetch log."""
    data_dir = Path(data_dir)
    session, head = begin(SOURCE, data_dir, url, session)
    fetch_log = {**head, "entities": {
        "release": {"pages": [download_release(session, head["base_url"] + DOWNLOAD_PATH, data_dir)], "deferred": {}},
        "comptab": {"pages": pick_up_exports(data_dir), "deferred": {}},
    }}
    out = Path(run_dir) / SOURCE / "fetch.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(fetch_log, indent=1, sort_keys=True))
    return out


def download_release(session, url: str, data_dir: Path, limits: Limits = Limits()) -> dict:
    """GET the release (conditionally: a 304 reuses the release landed before), land it and check
    its zip directory; only a release that passes is remembered for the next conditional GET."""
    validators = session.validators
    key = Validators.key(url, None)
    response, page = land_release(session, url, data_dir, validators, key)
    path = data_dir / page["raw_path"]
    members = release_members(path, f"{url} ({path.name})", limits)
    if response.status_code != 304:
        validators.remember(key, response.headers, page)
        validators.save()
    return {**page, "members": [m.filename for m in members]}


@http.again_when_cut_short(http.BodyBrokeOff)
def land_release(session, url: str, data_dir: Path, validators: Validators, key: str) -> tuple:
    """The release's response and fetch-log page: a 304 names the release landed before; else the
    body is streamed to raw landing in chunks (hundreds of megabytes, never held whole), and
    downloaded again when it broke off."""
    with http.get(session, SOURCE, url, headers=validators.request_headers(key), stream=True) as response:
        if response.status_code == 304:
            return response, {"url": url, **validators.not_modified(key), "status": 304}
        landed = land_stream(data_dir, SOURCE, "release", http.body_chunks(response, SOURCE, "release download"),
                             url=response.url, params=None, status=response.status_code,
                             headers=response.headers, terms=get_source(SOURCE).terms, suffix=".zip")
    return response, {"url": url, "first_url": landed.url, "raw_path": str(landed.path.relative_to(data_dir)),
                      "sha256": landed.sha256, "retrieved_at": landed.retrieved_at, "status": response.status_code}


def pick_up_exports(data_dir: Path) -> list[dict]:
    """Land the inbox's comparative-tabulation exports (one page each, duplicates once)."""
    pages, seen = [], set()
    for found in pick_up(data_dir, SOURCE):
        if found.landed.sha256 in seen:
            continue
        seen.add(found.landed.sha256)
        check_layout("comptab", read_header(found.landed.path, found.name)[2], found.name)
        pages.append({"url": found.landed.url, "first_url": found.landed.url, "name": found.name,
                      "raw_path": str(found.landed.path.relative_to(data_dir)), "sha256": found.landed.sha256,
                      "retrieved_at": found.landed.retrieved_at, "status": None})
    return pages


# The release zip.

def release_members(path: Path, label: str, limits: Limits = Limits()) -> list[zipfile.ZipInfo]:
    """The trade_db_<n>.csv members in number order, after checking the whole directory
    against ``limits``; a file that is not a zip, or claims too much, fails naming ``label``."""
    if not zipfile.is_zipfile(path):
        raise BadFile(f"[{SOURCE}] {label}: not a zip file (starts {Path(path).read_bytes()[:40]!r})")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadFile(f"[{SOURCE}] {label}: unreadable zip ({exc})") from exc
    if len(infos) > limits.members:
        raise BadFile(f"[{SOURCE}] {label}: {len(infos)} members, over the limit of {limits.members}")
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > limits.member_bytes:
            raise BadFile(f"[{SOURCE}] {label}: member {info.filename} claims {info.file_size} bytes, over the "
                          f"{limits.member_bytes}-byte limit per member")
        ratio = info.file_size // max(info.compress_size, 1)
        if info.file_size > limits.ratio_floor and ratio > limits.ratio:
            raise BadFile(f"[{SOURCE}] {label}: member {info.filename} expands {ratio}-fold, over the "
                          f"{limits.ratio}-fold limit (a zip bomb?)")
    if total > limits.total_bytes:
        raise BadFile(f"[{SOURCE}] {label}: members claim {total} bytes in all, over the "
                      f"{limits.total_bytes}-byte limit")
    members = [i for i in infos if MEMBER_NAME.search(i.filename)]
    if not members:
        raise BadFile(f"[{SOURCE}] {label}: no trade_db_<n>.csv member (members: {[i.filename for i in infos]})")
    return sorted(members, key=lambda i: int(MEMBER_NAME.search(i.filename)["n"]))


def extracted_members(path: Path, label: str, limits: Limits = Limits()) -> Iterator[tuple[str, Path]]:
    """(member name, extracted path) one member at a time, each in a temp folder removed before
    the next; bytes are counted while copying, so a member that expands past what it claimed
    or past the limits fails too."""
    members = release_members(path, label, limits)
    remaining = limits.total_bytes
    with zipfile.ZipFile(path) as zf:
        for info in members:
            name = info.filename.rsplit("/", 1)[-1]
            folder = Path(tempfile.mkdtemp(prefix="cites-trade-"))
            try:
                target = folder / name
                remaining -= copy_limited(zf, info, target, min(limits.member_bytes, remaining), label)
                yield name, target
            finally:
                shutil.rmtree(folder, ignore_errors=True)


def copy_limited(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, limit: int, label: str) -> int:
    """Stream one member to ``target``; fail past ``limit`` bytes or on a corrupt member."""
    written = 0
    try:
        with zf.open(info) as src, target.open("wb") as dst:
            while chunk := src.read(CHUNK):
                written += len(chunk)
                if written > limit:
                    raise BadFile(f"[{SOURCE}] {label}: member {info.filename} expands past {limit} bytes")
                dst.write(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
        raise BadFile(f"[{SOURCE}] {label}: member {info.filename} is corrupt ({exc})") from exc
    return written


# CSV headers and layouts.

@cache
def layouts() -> dict[str, dict[str, list[str]]]:
    """Declared layouts by kind (release, comptab), from cites_trade.yaml."""
    return yaml.safe_load(LAYOUTS.read_text(encoding="utf-8"))


def detect_encoding(path: Path, label: str) -> str:
    """``utf-8`` when the whole file decodes as UTF-8, else ``latin-1`` (read in chunks). A NUL
    byte fails the file naming its line: no CSV export has one, and a file full of them is the
    UTF-16 that Excel's "Unicode Text" writes, whose rows would be read as garbage.

    2026-11: trade.cites.org writes its CSV exports in latin-1 (convention-sources.md 2a); files
    re-saved by a data officer are often UTF-8.
    """
    decoder, utf8, lines = codecs.getincrementaldecoder("utf-8")(), True, 0
    with Path(path).open("rb") as f:
        while chunk := f.read(CHUNK):
            if (nul := chunk.find(b"\0")) >= 0:
                line = lines + chunk.count(b"\n", 0, nul) + 1
                raise BadFile(f"[{SOURCE}] {label}: NUL byte in line {line} "
                              "(a binary or UTF-16 file? save it as CSV, UTF-8 or latin-1); the file is not read")
            lines += chunk.count(b"\n")
            utf8 = utf8 and decodes(decoder, chunk)
    return "utf-8" if utf8 and decodes(decoder, b"", final=True) else "latin-1"


def decodes(decoder, chunk: bytes, final: bool = False) -> bool:
    """Whether ``chunk`` continues the incremental decoder's text without error."""
    try:
        decoder.decode(chunk, final=final)
    except UnicodeDecodeError:
        return False
    return True


def read_header(path: Path, label: str) -> tuple[str, str, list[str]]:
    """(encoding, delimiter, column names) of a CSV file.

    2026-11: comparative-tabulation exports come comma- or semicolon-separated
    (``comptab_<time>_<sep>_separated.csv``, convention-sources.md 2a); the header tells which.
    """
    encoding = detect_encoding(path, label)
    with Path(path).open(encoding=encoding, newline="") as f:
        first = f.readline().lstrip("\ufeff")
    if not first.strip():
        raise BadFile(f"[{SOURCE}] {label}: empty file, no header")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    return encoding, delimiter, [c.strip() for c in next(csv.reader([first], delimiter=delimiter))]


def check_layout(kind: str, header: list[str], label: str) -> str:
    """The name of the declared layout ``header`` is; else fail naming the file and the columns."""
    declared = layouts()[kind]
    for name, columns in declared.items():
        if header == columns:
            return name
    name, columns = max(declared.items(), key=lambda item: len(set(item[1]) & set(header)))
    missing = [c for c in columns if c not in header]
    unexpected = [c for c in header if c not in columns]
    problem = (f"missing column(s) {missing}, unexpected column(s) {unexpected}" if missing or unexpected
               else f"columns out of order or repeated: {header}")
    raise BadFile(f"[{SOURCE}] {label}: header does not match the declared {kind} layout {name!r}: {problem}")
