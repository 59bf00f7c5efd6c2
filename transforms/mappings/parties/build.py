"""Rebuild transforms/mappings/parties/<convention>.csv and index.csv from ../shared/reference-data/membership.

    .venv/bin/python transforms/mappings/parties/build.py            # write the files
    .venv/bin/python transforms/mappings/parties/build.py --check    # exit 1 when a file differs

The input has one row per instrument (consent to be bound, withdrawal); the output has one row
per in-force period of a Party: ``iso3,party_name,in_force_from,in_force_to,basis,source``.

- ``in_force_from`` is the entry into force of the consent. Where the source has none (empty or
  ``9999-12-31``) the date of the instrument (``action_date``) is used and ``basis`` says so.
- ``in_force_to`` is empty while the Party is in force as far as the source knows. A
  ``withdrawal`` row closes the open period on its date; the sources do not say whether that is
  the date of the notification or the date the withdrawal took effect, and ``basis`` says so.
  The period runs up to, not including, ``in_force_to``.
- ``source`` is ``repo:path@commit`` (12 hex digits) of the rows the period was built from.

``index.csv`` holds per convention the date the list is current to (``as_of``, from the
reference data's SOURCES.md) and counts. Reviewed corrections and later events go into
overrides.csv, which transforms.membership applies on top; this script never reads it.
Standard library only, so that it runs without the project's environment too.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
SHARED = REPO.parent / "shared" / "reference-data" / "membership"
CONVENTIONS = ("aewa", "cbd", "cites", "cms", "ramsar", "stockholm", "unccd", "unfccc", "whc")
COLUMNS = ("iso3", "party_name", "in_force_from", "in_force_to", "basis", "source")
INDEX_COLUMNS = ("convention", "as_of", "as_of_basis", "latest_event", "parties", "periods")
MISSING_DATES = ("", "9999-12-31")

#: Where ../shared/reference-data/SOURCES.md gives a date the list was taken (else: the latest event
#: of the list's main source, which is all that is known of how current it is).
STATED_AS_OF = {
    "unfccc": ("2023-07-10", "source file last changed 2023-07-10 (SOURCES.md: current to 2023-07)"),
    "cites": ("2017-10-19", "copy downloaded from the CITES Secretariat's list on 2017-10-19"),
}


class BuildError(ValueError):
    """An input row the rules cannot turn into a period."""


def build(shared: Path = SHARED) -> dict[str, str]:
    """File name -> CSV text of every output file (the conventions' lists and index.csv)."""
    out, index = {}, []
    for convention in CONVENTIONS:
        path = shared / f"{convention}.csv"
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        periods = periods_of(rows, path.name)
        out[f"{convention}.csv"] = to_csv(COLUMNS, periods)
        as_of, basis = STATED_AS_OF.get(convention) or main_source_latest_event(rows)
        index.append({"convention": convention, "as_of": as_of, "as_of_basis": basis,
                      "latest_event": max(_event_date(r) for r in rows),
                      "parties": len({p["iso3"] for p in periods}), "periods": len(periods)})
    out["index.csv"] = to_csv(INDEX_COLUMNS, index)
    return out


def periods_of(rows: list[dict], name: str) -> list[dict]:
    """The in-force periods of every Party of one convention, sorted by ISO3 and start."""
    by_party: dict[str, list[tuple[int, dict]]] = defaultdict(list)
    for line, row in enumerate(rows, start=2):
        by_party[row["iso3"]].append((line, row))
    periods = []
    for iso3, events in sorted(by_party.items()):
        events.sort(key=lambda e: _event_date(e[1]))
        open_period = None
        for line, row in events:
            if row["action"] == "withdrawal":
                if open_period is None:
                    raise BuildError(f"{name}:{line}: withdrawal of {iso3} with no period in force")
                open_period["in_force_to"] = row["action_date"]
                open_period["basis"] += (f"; ended by the withdrawal dated {row['action_date']} (the source does not "
                                         "say whether that is the notification or the date it took effect)")
                open_period["source"] = _join(open_period["source"], _source(row))
                open_period = None
                continue
            if open_period is not None:
                raise BuildError(f"{name}:{line}: second consent of {iso3} while a period is in force")
            open_period = {"iso3": iso3, "party_name": row["party_name"], **_start(row, name, line),
                           "in_force_to": "", "source": _source(row)}
            periods.append(open_period)
    return periods


def _start(row: dict, name: str, line: int) -> dict:
    kind = row["action"] or "consent of unstated kind"
    eif, acted = row["entry_into_force"], row["action_date"]
    if eif not in MISSING_DATES:
        consent = f"{kind} {acted}" if acted else f"{kind}, date not in source"
        return {"in_force_from": eif, "basis": f"entry into force; {consent}"}
    if acted:
        return {"in_force_from": acted,
                "basis": f"{kind} {acted}: no entry into force in source, date of the instrument used"}
    raise BuildError(f"{name}:{line}: {row['iso3']} has neither an entry into force nor an action date")


def main_source_latest_event(rows: list[dict]) -> tuple[str, str]:
    """The latest event among the rows of the source most rows come from (supplementary rows, such
    as the EU's from ECOLEX or Angola's from HUGGO, do not make the whole list more current)."""
    by_source: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_source[row["source_path"]].append(_event_date(row))
    main = max(by_source, key=lambda s: len(by_source[s]))
    return max(by_source[main]), f"latest event in {main} (no date of retrieval stated)"


def _event_date(row: dict) -> str:
    return max(d for d in (row["action_date"], row["entry_into_force"]) if d not in MISSING_DATES)


def _source(row: dict) -> str:
    return f"{row['source_repo']}:{row['source_path']}@{row['source_commit'][:12]}"


def _join(a: str, b: str) -> str:
    return a if b in a.split(" + ") else f"{a} + {b}"


def to_csv(columns: tuple[str, ...], rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: r[c] for c in columns} for r in rows)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED, help="the membership folder of the reference data")
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on a difference")
    args = parser.parse_args(argv)
    differ = []
    for name, text in build(args.shared).items():
        path = HERE / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                differ.append(name)
        else:
            path.write_text(text, encoding="utf-8", newline="")
    if differ:
        print("differ from a fresh build: " + ", ".join(differ), file=sys.stderr)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
