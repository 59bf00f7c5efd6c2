"""The Excel workbook for data officers: the data dictionary first, the coverage matrix, then one
sheet per table; every sheet with a styled frozen header, column widths, number formats by
contract type and an autofilter."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import xlsxwriter

from outputs import contracts
from outputs.dictionary import dictionary
from outputs.formulas import looks_like_formula
from transforms.coverage import MISSING, NOT_A_PARTY, STATUSES, SUBMITTED, SUBMITTED_LATE

EXCEL_MAX_ROWS = 1_048_576
DICTIONARY_SHEET = "dictionary"
COVERAGE_SHEET = "coverage_matrix"
#: cell text of the coverage matrix: the cell's status (blank: the cell is not in the grid)
#: Excel number formats by contract type (text has none)
NUMBER_FORMATS = {"int": "0", "double": "#,##0.####", "date": "yyyy-mm-dd", "timestamp": "yyyy-mm-dd hh:mm:ss",
                  "bool": "General"}
MAX_WIDTH = 60


def write_workbook(path: Path, tables: dict[str, pa.Table], too_large: dict[str, int] | None = None) -> None:
    """Write ``tables`` to ``path``. Tables in ``too_large`` (name -> rows, kept out of memory) and
    tables over Excel's limit get a note instead of their rows."""
    with xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False,
                                         "remove_timezone": True}) as book:
        formats = workbook_formats(book)
        terms = dictionary().astype(object).where(lambda d: d.notna(), None)
        _write_sheet(book, DICTIONARY_SHEET, list(terms.columns), terms.values.tolist(), formats)
        write_coverage_matrix(book, tables["coverage"].to_pandas(), formats)
        sizes = {**{name: t.num_rows for name, t in tables.items()}, **(too_large or {})}
        for name in contracts.table_names():
            if name in (too_large or {}) or sizes[name] >= EXCEL_MAX_ROWS:
                note = f"{sizes[name]} rows: too many for this workbook; read {name}.parquet or {name}.csv"
                _write_sheet(book, name, ["note"], [[note]], formats)
                continue
            types = [spec["type"] for spec in contracts.contracts()[name]["columns"].values()]
            rows = [list(r.values()) for r in tables[name].to_pylist()]
            _write_sheet(book, name, tables[name].column_names, rows, formats, types)


def workbook_formats(book) -> dict:
    """The header style, the text-only cell (Excel's leading ', see outputs.formulas), one format
    per contract type and the coverage matrix colours."""
    return {
        "header": book.add_format({"bold": True, "bg_color": "#DDEBF7", "bottom": 1, "text_wrap": True,
                                   "valign": "top"}),
        "text_only": book.add_format({"quote_prefix": True}),
        "types": {kind: book.add_format({"num_format": fmt}) for kind, fmt in NUMBER_FORMATS.items()},
        SUBMITTED: book.add_format({"bg_color": "#C6EFCE", "font_color": "#006100"}),
        SUBMITTED_LATE: book.add_format({"bg_color": "#FFEB9C", "font_color": "#9C5700"}),
        MISSING: book.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006"}),
        NOT_A_PARTY: book.add_format({"bg_color": "#E7E6E6", "font_color": "#7F7F7F"}),
    }


def coverage_matrix(coverage: pd.DataFrame) -> pd.DataFrame:
    """Country rows x report cycle columns (``cbd:NR7``: a cycle names its convention) of the cells'
    status: SUBMITTED, SUBMITTED_LATE, MISSING or NOT_A_PARTY (None: the cell is not in the grid, e.g.
    a country not seen reporting, in a cycle whose expected Parties are those seen reporting)."""
    if coverage.empty:
        return pd.DataFrame(columns=["country_iso3"])
    matrix = coverage.pivot(index="country_iso3", columns="report_cycle", values="status").sort_index()
    matrix = matrix[sorted(matrix.columns)].astype(object)
    matrix.columns.name = None
    return matrix.where(matrix.notna(), None).reset_index()


def write_coverage_matrix(book, coverage: pd.DataFrame, formats: dict) -> None:
    """The coverage matrix sheet, its cells coloured by conditional formats (green submitted, amber
    submitted late, red missing, grey not a Party)."""
    matrix = coverage_matrix(coverage)
    sheet = _write_sheet(book, COVERAGE_SHEET, list(matrix.columns), matrix.values.tolist(), formats)
    last_row, last_col = max(len(matrix), 1), max(len(matrix.columns) - 1, 1)
    for status in STATUSES:
        sheet.conditional_format(1, 1, last_row, last_col, {"type": "cell", "criteria": "==",
                                                            "value": f'"{status}"', "format": formats[status]})


def _write_sheet(book, name: str, columns: list[str], rows: list[list], formats: dict,
                 types: list[str] | None = None):
    """One sheet: styled frozen header, then the rows column by column in the format of the
    column's contract type; formula-like text is written as a text-only cell."""
    sheet = book.add_worksheet(name[:31])
    sheet.write_row(0, 0, columns, formats["header"])
    for j, column in enumerate(columns):
        values = [_cell(r[j]) for r in rows]
        kind = types[j] if types else "text"
        sheet.write_column(1, j, values, formats["types"].get(kind))
        for i in (i for i, v in enumerate(values, start=1) if looks_like_formula(v)):
            sheet.write_string(i, j, values[i - 1], formats["text_only"])
        sheet.set_column(j, j, _width(column, values))
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(rows), 1), len(columns) - 1)
    return sheet


def _width(column: str, values: list) -> int:
    """Wide enough for the header and the first 200 values, at most MAX_WIDTH."""
    sample = [len(str(v)) for v in values[:200] if v is not None]
    return min(max([len(column), *sample]) + 2, MAX_WIDTH)


def _cell(value):
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return value
