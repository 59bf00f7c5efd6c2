"""DuckDB helpers shared by the bulk paths: spilling connections and vetted SQL text."""
from __future__ import annotations

from pathlib import Path

import duckdb


def literal(value) -> str:
    """A text or path as a SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def identifier(name: str) -> str:
    """A column or table name as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def connect(temp: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that spills to ``temp`` rather than running out of memory."""
    con = duckdb.connect()
    con.execute(f"SET temp_directory = {literal(Path(temp))}")
    return con
