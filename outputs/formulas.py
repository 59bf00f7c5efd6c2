"""Formula injection: text from upstream that a spreadsheet would run as a formula.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which some
spreadsheets strip first) is evaluated when a CSV is opened in Excel or LibreOffice, so an
upstream title like ``=HYPERLINK("http://evil","click")`` would become a live link or worse
(OWASP, "CSV Injection"). The release's CSVs prefix such text with a single quote; the workbook
keeps the text as is and marks the cell quote-prefixed, Excel's own way of saying "text, not a
formula". Parquet and DuckDB keep the values untouched. Plain numbers such as ``-3.5`` are left
alone: they are not formulas, and analysts expect them as written.
"""
from __future__ import annotations

import re

import pandas as pd
import pyarrow as pa

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: a plain decimal number, optionally signed and with an exponent; same syntax in Python and DuckDB
NUMBER = r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?"
_NUMBER = re.compile(NUMBER)


def looks_like_formula(value) -> bool:
    """Whether ``value`` is text a spreadsheet would evaluate."""
    return isinstance(value, str) and value[:1] in FORMULA_STARTS and not _NUMBER.fullmatch(value)


def csv_text(values: pd.Series) -> pd.Series:
    """``values`` as a release CSV writes them: formula-like text behind a single quote, the rest
    (other text, numbers, missing values) as they are."""
    text = values.map(lambda v: v if isinstance(v, str) else None)
    formula = text.str[:1].isin(FORMULA_STARTS) & ~text.str.fullmatch(NUMBER).fillna(False).astype(bool)
    return values.where(~formula, "'" + text[formula])


def csv_text_sql(column: str) -> str:
    """The DuckDB expression of ``csv_text`` for a quoted VARCHAR column (the bulk CSVs)."""
    starts = ", ".join("chr(%d)" % ord(c) for c in FORMULA_STARTS)
    return (f"CASE WHEN left({column}, 1) IN ({starts}) AND NOT regexp_full_match({column}, '{NUMBER}') "
            f"THEN '''' || {column} ELSE {column} END")


def is_text(field: pa.Field) -> bool:
    return pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
