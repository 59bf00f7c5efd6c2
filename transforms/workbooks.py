"""Reading workbooks from the inbox against a layout declared in YAML (sheet, header row, columns)."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import openpyxl
import pandas as pd

from transforms.quarantine import Quarantine


class LayoutError(ValueError):
    """A workbook that does not match the declared layout; names the file and what is wrong."""


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
    declared sheet, read with openpyxl in read-only mode. A file that is not a workbook, a missing
    sheet or a missing header (and, when ``strict``, an undeclared one) raises LayoutError."""
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors for a non-workbook
        raise LayoutError(f"[{source}] {name}: not a readable .xlsx workbook ({exc.__class__.__name__}: {exc})") from exc
    try:
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
        for number, cells in enumerate(lines, start=spec["header_row"] + 1):
            values = {c: cells[i] if i < len(cells) else None for c, i in where.items()}
            if not all(blank(v) for v in values.values()):  # blank lines between blocks are normal
                yield number, values
    finally:
        book.close()


def blank(value) -> bool:
    """An empty cell, or one holding only spaces."""
    return value is None or str(value).strip() == ""
