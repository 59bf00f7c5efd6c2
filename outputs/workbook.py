"""The Excel workbook for data officers: a data-dictionary sheet, then one sheet per table."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import xlsxwriter

from outputs import contracts
from outputs.formulas import looks_like_formula

EXCEL_MAX_ROWS = 1_048_576


def dictionary_rows() -> list[dict]:
    """One row per published column, from the table contracts (the single source of truth)."""
    return [{"table_name": table, "column_name": column, "type": spec["type"],
             "nullable": spec["nullable"], "description": spec["description"]}
            for table, contract in contracts.contracts().items() for column, spec in contract["columns"].items()]


def write_workbook(path: Path, tables: dict[str, pa.Table], too_large: dict[str, int] | None = None) -> None:
    """Write ``tables`` to ``path``: dictionary first, frozen headers, autofilters. Tables in
    ``too_large`` (name -> rows, kept out of memory) and tables over Excel's limit get a note instead."""
    with xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False,
                                         "remove_timezone": True}) as book:
        formats = {"header": book.add_format({"bold": True, "bg_color": "#DDEBF7", "bottom": 1}),
                   "text_only": book.add_format({"quote_prefix": True})}  # Excel's leading ', see outputs.formulas
        dictionary = dictionary_rows()
        _write_sheet(book, "dictionary", list(dictionary[0]), [list(r.values()) for r in dictionary], formats)
        sizes = {**{name: t.num_rows for name, t in tables.items()}, **(too_large or {})}
        for name in contracts.table_names():
            if name in (too_large or {}) or sizes[name] >= EXCEL_MAX_ROWS:
                note = f"{sizes[name]} rows: too many for this workbook; read {name}.parquet or {name}.csv"
                _write_sheet(book, name, ["note"], [[note]], formats)
                continue
            rows = tables[name].to_pylist()
            _write_sheet(book, name, tables[name].column_names, [list(r.values()) for r in rows], formats)


def _write_sheet(book, name: str, columns: list[str], rows: list[list], formats: dict) -> None:
    """One sheet: header row, then the rows; formula-like text is written as a text-only cell."""
    sheet = book.add_worksheet(name[:31])
    sheet.write_row(0, 0, columns, formats["header"])
    for i, row in enumerate(rows, start=1):
        sheet.write_row(i, 0, [_cell(v) for v in row])
        for j in (j for j, v in enumerate(row) if looks_like_formula(v)):
            sheet.write_string(i, j, row[j], formats["text_only"])
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(rows), 1), len(columns) - 1)
    for j, column in enumerate(columns):
        sample = [len(str(r[j])) for r in rows[:200] if r[j] is not None]
        sheet.set_column(j, j, min(max([len(column), *sample]) + 2, 60))


def _cell(value):
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return value
