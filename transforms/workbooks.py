"""Reading workbooks from the inbox against a layout declared in YAML (sheet, header row, columns)."""
from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import openpyxl
import pandas as pd
from defusedxml import DefusedXmlException

from core.errors import Permanent
from transforms.quarantine import Quarantine

# openpyxl parses workbook XML through defusedxml when it is installed, unless OPENPYXL_DEFUSEDXML
# says otherwise; inbox workbooks come from outside, so refuse to read them without it.
if not openpyxl.DEFUSEDXML:
    raise ImportError("openpyxl is not using defusedxml (is OPENPYXL_DEFUSEDXML=False set?): "
                      "refusing to parse inbox workbooks without it")


class LayoutError(ValueError, Permanent):
    """A workbook that does not match the declared layout; names the file and what is wrong.
    Permanent (core.errors): reading the same file again fails the same way, so no retries."""


def stage_workbooks(source: str, entity: str, columns: list[str], read_workbook: Callable,
                    fetch_log_path: Path, data_dir: Path, out_dir: Path) -> Path:
    """``<entity>.parquet`` and ``quarantine.parquet`` from every landed workbook of the fetch log.

    ``read_workbook(path, page, quarantine)`` returns the staging rows of one workbook.
    """
    pages = json.loads(Path(fetch_log_path).read_text())["entities"]["inbox"]["pages"]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    quarantine, rows = Quarantine(source), []
    for page in pages:
        rows += read_workbook(Path(data_dir) / page["raw_path"], page, quarantine)
    pd.DataFrame(rows, columns=columns).to_parquet(out_dir / f"{entity}.parquet", index=False)
    quarantine.frame().to_parquet(out_dir / "quarantine.parquet", index=False)
    return out_dir


def declared_rows(path: Path, name: str, source: str, spec: dict, declared: list[str],
                  strict: bool = False) -> Iterator[tuple[int, dict]]:
    """(row number, {declared column: cell}) for every non-blank row below the header of the
    declared sheet, read with openpyxl in read-only mode. A file that is not a workbook, one over
    the layout's ``max_unzipped_bytes`` or ``max_rows``, XML with entity declarations (refused by
    defusedxml: a possible XML bomb), a missing sheet or a missing header (and, when ``strict``,
    an undeclared one) raises LayoutError naming the source and the file."""
    check_unzipped_size(path, name, source, spec["max_unzipped_bytes"])
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors for a non-workbook
        raise unreadable(source, name, exc) from exc
    try:
        yield from sheet_rows(book, name, source, spec, declared, strict)
    except DefusedXmlException as exc:  # sheets are parsed lazily, row by row
        raise unreadable(source, name, exc) from exc
    finally:
        book.close()


def sheet_rows(book, name: str, source: str, spec: dict, declared: list[str],
               strict: bool) -> Iterator[tuple[int, dict]]:
    """The rows of ``declared_rows`` from an open workbook, after checking the sheet and header."""
    if spec["sheet"] not in book.sheetnames:
        raise LayoutError(f"[{source}] {name}: no sheet {spec['sheet']!r} (sheets: {', '.join(book.sheetnames)})")
    lines = book[spec["sheet"]].iter_rows(min_row=spec["header_row"], values_only=True)
    header = [str(c).strip() if c is not None else "" for c in next(lines, ())]
    missing = [c for c in declared if c not in header]
    unexpected = [c for c in header if c and c not in declared] if strict else []
    if missing or unexpected:
        raise LayoutError(f"[{source}] {name}: sheet {spec['sheet']!r} row {spec['header_row']} " + "; ".join(
            filter(None, [missing and f"lacks the header(s) {', '.join(map(repr, missing))}",
                          unexpected and f"has undeclared header(s) {', '.join(map(repr, unexpected))}"])))
    where = {c: header.index(c) for c in declared}
    last = spec["header_row"] + spec["max_rows"]
    for number, cells in enumerate(lines, start=spec["header_row"] + 1):
        values = {c: cells[i] if i < len(cells) else None for c, i in where.items()}
        if all(blank(v) for v in values.values()):  # blank lines between blocks are normal, and do not count
            continue
        if number > last:
            raise LayoutError(f"[{source}] {name}: sheet {spec['sheet']!r} has rows past row {last}, over the "
                              f"declared limit of {spec['max_rows']} rows")
        yield number, values


def check_unzipped_size(path: Path, name: str, source: str, limit: int) -> None:
    """Refuse a workbook whose zip members claim more than ``limit`` bytes unpacked (a zip bomb);
    the members are streamed, so one that lies about its size still stops at ``max_rows``."""
    try:
        with zipfile.ZipFile(path) as zf:
            claimed = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise unreadable(source, name, exc) from exc
    if claimed > limit:
        raise LayoutError(f"[{source}] {name}: unpacks to {claimed} bytes, over the declared limit of {limit}")


def unreadable(source: str, name: str, exc: Exception) -> LayoutError:
    """The LayoutError of a file openpyxl could not read; an XML bomb is called by its name."""
    refused = next((e for e in causes(exc) if isinstance(e, DefusedXmlException)), None)
    if refused is not None:
        return LayoutError(f"[{source}] {name}: refused: its XML declares entities or a DTD "
                           f"({refused!r}), as an XML bomb does")
    return LayoutError(f"[{source}] {name}: not a readable .xlsx workbook ({exc.__class__.__name__}: {exc})")


def causes(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or during (openpyxl re-wraps parse errors)."""
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


def blank(value) -> bool:
    """An empty cell, or one holding only spaces."""
    return value is None or str(value).strip() == ""
