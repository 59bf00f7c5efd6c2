"""DuckDB helpers shared by the bulk paths: spilling connections and vetted SQL text."""
from __future__ import annotations

import os
from pathlib import Path

import duckdb

#: DuckDB's own memory (it spills past it); the process peak stays a few hundred MB above
DEFAULT_MEMORY = "1GB"


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
    con.execute(f"SET memory_limit = {literal(os.environ.get('MEA_DUCKDB_MEMORY', DEFAULT_MEMORY))}")
    return con
