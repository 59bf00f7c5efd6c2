"""The table contracts, the GX suites, the catalogue and the crosswalks agree with each other."""
import json
from pathlib import Path

import pandas as pd
import pytest

from outputs import contracts
from outputs.release import CROSSWALKS, crosswalk_table
from transforms.catalogue import indicators

SUITES = Path(__file__).resolve().parents[1] / "expectations"


@pytest.mark.parametrize("table", contracts.table_names())
def test_every_table_has_a_suite_that_freezes_its_columns_and_nulls(table):
    suite = json.loads((SUITES / f"{table}.json").read_text())
    kinds = {(e["type"], e["kwargs"].get("column")) for e in suite["expectations"]}
    columns = contracts.contracts()[table]["columns"]
    frozen = [e for e in suite["expectations"] if e["type"] == "expect_table_columns_to_match_ordered_list"]
    assert frozen and frozen[0]["kwargs"]["column_list"] == list(columns)
    for column, spec in columns.items():
        if not spec["nullable"]:
            assert ("expect_column_values_to_not_be_null", column) in kinds, f"{table}.{column}"
    for e in suite["expectations"]:
        for name in ("column",):
            if name in e["kwargs"]:
                assert e["kwargs"][name] in columns, f"{table}: suite names unknown column {e['kwargs'][name]}"


def test_no_suite_without_a_table():
    assert {p.stem for p in SUITES.glob("*.json")} == set(contracts.table_names())


def test_every_catalogue_entry_is_complete():
    for code, entry in indicators().items():
        assert entry["title"] and entry["description"], code
        assert entry["value_type"] in {"numeric", "boolean", "categorical", "text"}, code
        assert entry["conventions"], code
        assert entry.get("gbf_target") is None or entry["gbf_target"].startswith("GBF-T"), code


def test_every_crosswalk_row_maps_to_a_catalogued_indicator_or_says_why_not():
    table = crosswalk_table()
    assert len(table) > 0 and {p.stem for p in CROSSWALKS.glob("*.csv")} >= {"informea"}
    for row in table.itertuples():
        if row.rule == "map":
            assert row.indicator_code in indicators(), row
        else:
            assert row.rule.startswith("exclude: ") and len(row.rule) > len("exclude: "), row
            assert pd.isna(row.indicator_code), row
