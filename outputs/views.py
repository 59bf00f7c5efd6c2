"""DuckDB views for the common questions (outputs/views.yaml), created in each release's mea.duckdb."""
from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from core.duck import identifier
from outputs.contracts import check_columns

VIEWS = Path(__file__).parent / "views.yaml"


@cache
def views() -> dict[str, dict]:
    """Every view: description, key, SQL over the release tables, and its documented columns."""
    loaded = yaml.safe_load(VIEWS.read_text(encoding="utf-8"))
    check_columns(loaded, VIEWS)
    return loaded


def create_views(con) -> None:
    """Create every view on ``con``, a DuckDB connection that holds the release tables."""
    for name, view in views().items():
        con.execute(f"CREATE OR REPLACE VIEW {identifier(name)} AS {view['sql']}")
