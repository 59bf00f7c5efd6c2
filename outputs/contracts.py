"""The published table contracts (contracts.yaml): columns, types, keys, descriptions."""
from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd
import pyarrow as pa
import yaml

from core.duck import identifier

CONTRACTS = Path(__file__).parent / "contracts.yaml"
ARROW_TYPES = {
    "text": pa.string(),
    "int": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}

DUCKDB_TYPES = {"text": "VARCHAR", "int": "BIGINT", "double": "DOUBLE", "bool": "BOOLEAN", "date": "DATE",
                "timestamp": "TIMESTAMPTZ"}


class ContractError(ValueError):
    """A table that does not have the columns its contract names."""


#: the keys a column's spec may have; any other key is text cut off by an unquoted comma
COLUMN_KEYS = {"type", "nullable", "description"}


@cache
def contracts() -> dict[str, dict]:
    """Every published table's contract, in publishing order."""
    loaded = yaml.safe_load(CONTRACTS.read_text(encoding="utf-8"))
    check_columns(loaded, CONTRACTS)
    return loaded


def check_columns(loaded: dict[str, dict], path: Path) -> None:
    """Refuse a column spec with keys beyond COLUMN_KEYS: in YAML flow style an unquoted comma in
    a description ends it there and turns the rest into keys (``description: a, b`` -> ``{b: None}``)."""
    for table, contract in loaded.items():
        for column, spec in contract["columns"].items():
            if set(spec) != COLUMN_KEYS:
                raise ContractError(f"{path.name}: table {table}, column {column}: expected keys "
                                    f"{sorted(COLUMN_KEYS)}, got {sorted(spec, key=str)}; quote a description "
                                    "that holds a comma")


def table_names() -> list[str]:
    return list(contracts())


def bulk_tables() -> list[str]:
    """Tables too large for pandas (``bulk: true``): built, written and audited in DuckDB or in batches."""
    return [name for name, contract in contracts().items() if contract.get("bulk")]


def duckdb_select(table: str) -> str:
    """A SELECT list casting each contract column to its DuckDB type, in contract order."""
    columns = contracts()[table]["columns"]
    return ", ".join(f"CAST({identifier(name)} AS {DUCKDB_TYPES[spec['type']]}) AS {identifier(name)}"
                     for name, spec in columns.items())


def key(table: str) -> list[str]:
    return contracts()[table]["key"]


def arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema of ``table``, in contract column order."""
    columns = contracts()[table]["columns"]
    return pa.schema([pa.field(name, ARROW_TYPES[spec["type"]], nullable=spec["nullable"])
                      for name, spec in columns.items()])


def conform(table: str, df: pd.DataFrame) -> pa.Table:
    """``df`` as an Arrow table with exactly the contract's columns, order and types,
    sorted by the table's key so that equal inputs give byte-identical files."""
    schema = arrow_schema(table)
    missing = [c for c in schema.names if c not in df.columns]
    extra = [c for c in df.columns if c not in schema.names]
    if missing or extra:
        raise ContractError(f"table {table}: missing columns {missing}, unexpected columns {extra}")
    ordered = df[schema.names].sort_values(key(table), kind="stable", ignore_index=True)
    arrays = [pa.array(_python_values(ordered[name], field.type), type=field.type) for name, field in
              zip(schema.names, schema)]
    return pa.Table.from_arrays(arrays, schema=schema)


def _python_values(series: pd.Series, arrow_type: pa.DataType) -> list:
    """Column values as Python objects of the contract's type, every missing marker as None
    (pandas 3 mixes NaN, NA and NaT; timestamps may arrive as ISO text)."""
    if pa.types.is_timestamp(arrow_type):
        series = pd.to_datetime(series, utc=True, format="ISO8601")
    elif pa.types.is_date32(arrow_type):
        series = pd.to_datetime(series, format="ISO8601").dt.date
    values = series.astype(object)
    return values.where(values.notna(), None).tolist()
