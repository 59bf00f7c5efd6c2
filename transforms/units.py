"""Units: the one reviewed code list and each source's spellings of it.

``mappings/units.csv`` is the one list every published unit comes from (a reviewed subset of the
SDG SDMX code list IAEG-SDGs:CL_UNIT_MEASURE; the file's header cites it). A source's raw unit
becomes a code only through that source's reviewed mapping, ``mappings/units/<source>.csv``
(columns raw, code, note). Nothing is guessed: a spelling the mapping does not list, a blank unit or
a spelling the mapping refuses (no code) raises UnknownUnit, which the source's harmonize
quarantines (field ``unit``, the raw value). A mapping or list that is itself wrong raises ValueError
naming the file, so a bad edit fails the run instead of quarantining every row.
"""
from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
MAPPINGS = Path(__file__).parent / "mappings"
UNITS = MAPPINGS / "units.csv"
SPELLINGS = MAPPINGS / "units"


class UnknownUnit(LookupError):
    """A raw unit that no reviewed mapping turns into a code of the unit list."""


def _rows(path: Path) -> list[tuple[int, dict]]:
    """(line number, row) of a reviewed CSV whose header comment lines start with ``#``."""
    with path.open(encoding="utf-8-sig") as f:
        lines = [(n, line) for n, line in enumerate(f, start=1) if not line.startswith("#")]
    reader = csv.DictReader(line for _, line in lines)
    return [(lines[reader.line_num - 1][0], row) for row in reader]


def _where(path: Path) -> str:
    """``path`` as the repository names it (transforms/mappings/...)."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


@cache
def unit_codes() -> dict[str, dict]:
    """The unit list by code: name, source_list and note of each."""
    codes: dict[str, dict] = {}
    for line, row in _rows(UNITS):
        code = (row.get("code") or "").strip()
        if not code or not (row.get("name") or "").strip() or not (row.get("source_list") or "").strip():
            raise ValueError(f"{_where(UNITS)} line {line}: a unit needs a code, a name and a source_list")
        if code in codes:
            raise ValueError(f"{_where(UNITS)} line {line}: unit {code} is listed twice")
        codes[code] = row
    return codes


def unit_name(code: str) -> str:
    """The human name of a code of the list (``PT`` -> ``Percent``)."""
    return unit_codes()[check_code(code, "unit_name")]["name"]


def unit_label(code) -> str:
    """For display (the report's ``unit_name`` filter): the name of a code of the list, "" for no unit,
    else the value unchanged (a page never fails on a unit it cannot name)."""
    if code is None or (pd.api.types.is_scalar(code) and pd.isna(code)) or code == "":
        return ""
    row = unit_codes().get(code)
    return row["name"] if row else str(code)


def check_code(code, where: str) -> str:
    """``code`` when it is a code of the list; else a ValueError naming ``where``."""
    if code not in unit_codes():
        raise ValueError(f"{where}: unit {code!r} is not a code of {_where(UNITS)} "
                         f"({', '.join(unit_codes())})")
    return code


def fold(raw) -> str:
    """A spelling as matched: trimmed, inner spaces collapsed, case-folded (``Per  Cent`` -> ``per cent``)."""
    return " ".join(str(raw).split()).casefold()


@cache
def spellings(source: str) -> dict[str, dict]:
    """The reviewed mapping of ``source`` by folded raw spelling: its code (None: refused) and note."""
    path = SPELLINGS / f"{source}.csv"
    if not path.exists():
        raise ValueError(f"[{source}] has no reviewed unit mapping {_where(path)}")
    table: dict[str, dict] = {}
    for line, row in _rows(path):
        key, code = fold(row.get("raw") or ""), (row.get("code") or "").strip() or None
        if not key:
            raise ValueError(f"{_where(path)} line {line}: empty raw spelling")
        if code is not None:
            check_code(code, f"{_where(path)} line {line}")
        elif not (row.get("note") or "").strip():
            raise ValueError(f"{_where(path)} line {line}: a spelling without a code needs a note saying why")
        if key in table and table[key]["code"] != code:
            raise ValueError(f"{_where(path)} line {line}: {row['raw']!r} maps to {code} and to {table[key]['code']}")
        table[key] = {"code": code, "note": (row.get("note") or "").strip()}
    return table


def to_unit_code(raw, source: str) -> str:
    """The code of the unit list for a unit as ``source`` writes it; UnknownUnit when the source's
    reviewed mapping has no code for it (blank, unlisted or refused)."""
    text = "" if raw is None or (pd.api.types.is_scalar(raw) and pd.isna(raw)) else str(raw).strip()
    if not text:
        raise UnknownUnit(f"[{source}] no unit given")
    entry = spellings(source).get(fold(text))
    if entry is None:
        raise UnknownUnit(f"[{source}] unit {text!r} is not in the reviewed mapping "
                          f"{_where(SPELLINGS / f'{source}.csv')}")
    if entry["code"] is None:
        raise UnknownUnit(f"[{source}] unit {text!r} has no code: {entry['note']}")
    return entry["code"]

