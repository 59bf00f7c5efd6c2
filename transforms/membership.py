"""Party membership of the conventions: who is a Party, and from when to when.

One list per convention, ``mappings/parties/<convention>.csv`` (the file name is the InforMEA
treaty id), with one row per in-force period of a Party: ``iso3, party_name, in_force_from,
in_force_to, basis, source``. A period runs from ``in_force_from`` up to, not including,
``in_force_to``; an empty ``in_force_to`` means in force as far as the list knows. The lists are
built from ../shared/reference-data/membership by ``mappings/parties/build.py``; ``index.csv``
says how current each is (``as_of``). Reviewed corrections and later accessions or withdrawals
are rows of ``mappings/parties/overrides.csv`` (the same columns, plus ``convention`` and a
``reviewed`` note): the override rows of a Party replace all of that Party's rows in the list.

Everything is validated when loaded: an ISO3 code that neither pycountry nor the reviewed
country overrides know (the EU is ``EUU``), a date that does not parse, a period that ends
before it starts and overlapping periods of one Party raise MembershipError naming the file,
the line and the problem. Loaded lists are cached per folder.
"""
from __future__ import annotations

import csv
import re
from datetime import date
from functools import cache
from pathlib import Path

import pandas as pd
import pycountry

from core.errors import Permanent
from transforms.countries import overrides as country_overrides

PARTIES = Path(__file__).parent / "mappings" / "parties"
OVERRIDES, INDEX = "overrides.csv", "index.csv"
COLUMNS = ("iso3", "party_name", "in_force_from", "in_force_to", "basis", "source")
OVERRIDE_COLUMNS = ("convention", *COLUMNS, "reviewed")
#: the columns of parties(): the list's, the override's ``reviewed`` note (None for list rows), where the row is
FRAME_COLUMNS = (*COLUMNS, "reviewed", "file", "line")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class MembershipError(ValueError, Permanent):
    """A membership list or override row that cannot be used; the message names the file and line."""


def has_membership(convention: str, folder: Path | str | None = None) -> bool:
    """True when the convention has a membership list."""
    return (_folder(folder) / f"{convention}.csv").is_file()


def parties(convention: str, folder: Path | str | None = None) -> pd.DataFrame:
    """Every in-force period of the convention's Parties, overrides applied, sorted by ISO3 and start.

    ``in_force_from`` and ``in_force_to`` are ``datetime.date`` (``in_force_to`` None while in force);
    ``reviewed`` is the override's note (None for rows of the list); ``file`` and ``line`` say where
    the row is. Raises LookupError for a convention without a list.
    """
    return pd.DataFrame(_load(convention, _folder(folder)), columns=list(FRAME_COLUMNS))


def in_force(convention: str, on: date, folder: Path | str | None = None) -> set[str]:
    """ISO3 codes of the Parties in force on ``on``."""
    return {p["iso3"] for p in _load(convention, _folder(folder))
            if p["in_force_from"] <= on and (p["in_force_to"] is None or on < p["in_force_to"])}


def as_of(convention: str, folder: Path | str | None = None) -> date | None:
    """The date the convention's list is current to (index.csv); Parties joining or leaving after it
    are unknown unless overrides.csv has them. None when the index does not say."""
    return _index(_folder(folder)).get(convention)


def _folder(folder: Path | str | None) -> Path:
    return Path(folder).resolve() if folder is not None else PARTIES


@cache
def _load(convention: str, folder: Path) -> tuple[dict, ...]:
    path = folder / f"{convention}.csv"
    if not path.is_file():
        raise LookupError(f"no membership list for convention {convention!r} in {folder}")
    rows = _read(path, COLUMNS)
    replaced = [r for r in _overrides(folder) if r["convention"] == convention]
    rows = [r for r in rows if r["iso3"] not in {o["iso3"] for o in replaced}] + replaced
    _check_overlaps(rows)
    return tuple(sorted(rows, key=lambda r: (r["iso3"], r["in_force_from"])))


@cache
def _overrides(folder: Path) -> tuple[dict, ...]:
    path = folder / OVERRIDES
    if not path.is_file():
        return ()
    rows = _read(path, OVERRIDE_COLUMNS)
    for row in rows:
        if not (folder / f"{row['convention']}.csv").is_file():
            raise MembershipError(f"{path}:{row['line']}: convention {row['convention']!r} has no membership list "
                                  f"in {folder}")
        if not row["reviewed"]:
            raise MembershipError(f"{path}:{row['line']}: an override needs a 'reviewed' note")
    return tuple(rows)


@cache
def _index(folder: Path) -> dict[str, date]:
    path = folder / INDEX
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        return {row["convention"]: _date(row["as_of"], path, reader.line_num, "as_of") for row in reader}


def _read(path: Path, columns: tuple[str, ...]) -> list[dict]:
    """The rows of ``path`` with their line numbers, ISO3 codes checked and dates parsed."""
    known = _known_iso3()
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise MembershipError(f"{path}:1: missing columns {missing}")
        rows = []
        for row in reader:
            line = reader.line_num
            if None in row or any(v is None for v in row.values()):
                raise MembershipError(f"{path}:{line}: expected {len(reader.fieldnames)} fields")
            out = {c: row[c].strip() for c in columns}
            if out["iso3"] not in known:
                raise MembershipError(f"{path}:{line}: unknown ISO3 code {out['iso3']!r} (neither pycountry nor "
                                      "transforms/mappings/countries/common.csv knows it)")
            out["in_force_from"] = _date(out["in_force_from"], path, line, "in_force_from")
            out["in_force_to"] = _date(out["in_force_to"], path, line, "in_force_to") if out["in_force_to"] else None
            if out["in_force_to"] is not None and out["in_force_to"] <= out["in_force_from"]:
                raise MembershipError(f"{path}:{line}: in_force_to {out['in_force_to']} is not after "
                                      f"in_force_from {out['in_force_from']}")
            out.setdefault("reviewed", None)
            rows.append({**out, "reviewed": out["reviewed"] or None, "file": path.name, "line": line,
                         "path": str(path)})
    return rows


def _date(text: str, path: Path, line: int, column: str) -> date:
    try:
        if not ISO_DATE.fullmatch(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise MembershipError(f"{path}:{line}: {column} {text!r} is not a date (YYYY-MM-DD)") from None


def _check_overlaps(rows: list[dict]) -> None:
    by_party: dict[str, list[dict]] = {}
    for row in rows:
        by_party.setdefault(row["iso3"], []).append(row)
    for iso3, periods in by_party.items():
        periods.sort(key=lambda r: r["in_force_from"])
        for before, after in zip(periods, periods[1:]):
            if before["in_force_to"] is None or before["in_force_to"] > after["in_force_from"]:
                raise MembershipError(
                    f"{after['path']}:{after['line']}: in-force period of {iso3} from {after['in_force_from']} "
                    f"overlaps the one from {before['in_force_from']} to {before['in_force_to'] or 'open'} "
                    f"({before['path']}:{before['line']})")


@cache
def _known_iso3() -> frozenset[str]:
    """pycountry's ISO 3166-1 codes and those of the reviewed country overrides (EUU, XKX)."""
    return frozenset({c.alpha_3 for c in pycountry.countries}
                     | {row["iso3"] for row in country_overrides().values() if row["iso3"]})
