"""The data dictionary, generated from its one source of truth: the table contracts
(outputs/contracts.yaml), the DuckDB views (outputs/views.yaml) and the indicator catalogue
(transforms/mappings/indicators/). No copy is kept by hand: the workbook's first sheet, the
report's dictionary page and ``dictionary.csv`` in each release are all these rows.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.paths import REPO_ROOT
from outputs import contracts, views
from outputs.formulas import csv_text
from transforms.catalogue import CATALOGUE, indicators

COLUMNS = ["table_name", "column_name", "type", "description", "kind", "nullable", "key", "value", "unit",
           "gbf_target", "sdg_indicator", "conventions", "defined_in"]
CONTRACTS_FILE = contracts.CONTRACTS.relative_to(REPO_ROOT).as_posix()
VIEWS_FILE = views.VIEWS.relative_to(REPO_ROOT).as_posix()
CATALOGUE_DIR = CATALOGUE.relative_to(REPO_ROOT).as_posix()


def table_column_rows() -> list[dict]:
    """One row per column of each published table."""
    return [{"table_name": table, "column_name": column, "type": spec["type"], "description": spec["description"],
             "kind": "column", "nullable": spec["nullable"], "key": column in contract["key"],
             "defined_in": CONTRACTS_FILE}
            for table, contract in contracts.contracts().items() for column, spec in contract["columns"].items()]


def view_column_rows() -> list[dict]:
    """One row per column of each DuckDB view in mea.duckdb."""
    return [{"table_name": name, "column_name": column, "type": spec["type"], "description": spec["description"],
             "kind": "view column", "nullable": spec["nullable"], "key": column in view["key"],
             "defined_in": VIEWS_FILE}
            for name, view in views.views().items() for column, spec in view["columns"].items()]


def indicator_rows() -> list[dict]:
    """One row per catalogue indicator: a value ``observations.indicator_code`` can take."""
    return [{"table_name": "observations", "column_name": "indicator_code", "type": entry["value_type"],
             "description": f"{entry['title']}: {' '.join(entry['description'].split())}", "kind": "indicator",
             "nullable": False, "key": False, "value": code, "unit": entry.get("unit"),
             "gbf_target": entry.get("gbf_target"), "sdg_indicator": entry.get("sdg_indicator"),
             "conventions": ",".join(entry["conventions"]),
             "defined_in": f"{CATALOGUE_DIR}/{entry['catalogue_file']}"}
            for code, entry in indicators().items()]


def dictionary() -> pd.DataFrame:
    """Every published column, view column and indicator, in that order."""
    rows = table_column_rows() + view_column_rows() + indicator_rows()
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


def write_dictionary_csv(folder: Path) -> Path:
    """``dictionary.csv`` in the release folder (formula-like text quote-prefixed, like every release CSV)."""
    frame = dictionary()
    for column in ("description", "value"):
        frame[column] = csv_text(frame[column])
    path = Path(folder) / "dictionary.csv"
    path.write_bytes(frame.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    return path

