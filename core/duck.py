"""DuckDB helpers shared by the bulk paths: spilling connections and vetted SQL text."""
from __future__ import annotations

from pathlib import Path

import duckdb

from core import settings

def literal(value) -> str:
    """A text or path as a SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def identifier(name: str) -> str:
    """A column or table name as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def connect(temp: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that spills to ``temp`` beyond ``MEA_DUCKDB_MEMORY`` (default 1GB), so a
    23-million-row release is sorted and joined in bounded memory on a small machine."""
    con = duckdb.connect()
    con.execute(f"SET temp_directory = {literal(Path(temp))}")
    con.execute(f"SET memory_limit = {literal(settings.text('MEA_DUCKDB_MEMORY'))}")
    return con
