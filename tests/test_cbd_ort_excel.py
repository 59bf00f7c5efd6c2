"""CBD ORT indicator-data workbooks from the inbox: pick-up by hash, declared layout, bad rows, golden output.

Regenerate the golden files after a reviewed change: ``uv run python tests/test_cbd_ort_excel.py --update``.
"""
import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from extractors import cbd_ort_excel as extractor
from replica.server import SNAPSHOTS, seed_inbox
from transforms import cbd_ort_excel
from transforms.workbooks import LayoutError

from golden import assert_matches_golden, load_script, update_golden_from

SOURCE = "cbd-ort-excel"
UPDATE = "uv run python tests/test_cbd_ort_excel.py --update"
BROKEN = Path(__file__).parent / "fixtures" / "cbd-ort-excel"
PARTS = ("observations", "quarantine")


def run(tmp_path: Path) -> Path:
    """The replica's inbox fixtures seeded as `python -m replica exec` does, then extract -> stage -> harmonize."""
    seed_inbox(SNAPSHOTS, tmp_path / "var" / "inbox")
    fetch_log = extractor.extract(tmp_path / "var", tmp_path / "run")
    staging = cbd_ort_excel.stage(fetch_log, tmp_path / "var", tmp_path / "run" / "staging")
    return cbd_ort_excel.harmonize(staging, tmp_path / "run" / "parts")


def stage_only(tmp_path: Path, *names: str) -> Path:
    inbox = tmp_path / "var" / "inbox" / "cbd-ort-excel"
    inbox.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(BROKEN / name, inbox / name)
    fetch_log = extractor.extract(tmp_path / "var", tmp_path / "run")
    return cbd_ort_excel.stage(fetch_log, tmp_path / "var", tmp_path / "run" / "staging")


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    return run(tmp_path_factory.mktemp("cbd-ort-excel"))


def test_new_or_changed_workbooks_are_picked_up_by_hash(tmp_path):
    seed_inbox(SNAPSHOTS, tmp_path / "var" / "inbox")
    inbox = tmp_path / "var" / "inbox" / "cbd-ort-excel"

    def picked() -> dict[str, bool]:
        log = json.loads(extractor.extract(tmp_path / "var", tmp_path / "run").read_text())
        return {p["name"]: p["new"] for p in log["entities"]["inbox"]["pages"]}

    assert picked() == {n: True for n in ("FM_7NR_indicator_data.xlsx", "KE_7NR_indicator_data.xlsx",
                                          "NA_7NR_indicator_data.xlsx")}
    shutil.copyfile(inbox / "KE_7NR_indicator_data.xlsx", inbox / "KE_renamed_copy.xlsx")
    assert not any(picked().values())  # a renamed copy is not new
    (inbox / "NA_7NR_indicator_data.xlsx").write_bytes((inbox / "NA_7NR_indicator_data.xlsx").read_bytes() + b"\0")
    assert [n for n, new in picked().items() if new] == ["NA_7NR_indicator_data.xlsx"]  # changed bytes are


def test_a_workbook_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    seed_inbox(SNAPSHOTS, tmp_path / "var" / "inbox")
    small = {**extractor.layout(), "max_bytes": 1000}
    monkeypatch.setattr(extractor, "layout", lambda: small)
    with pytest.raises(ValueError, match=r"\[cbd-ort-excel\] inbox file FM_7NR_indicator_data.xlsx: \d+ bytes"):
        extractor.extract(tmp_path / "var", tmp_path / "run")


@pytest.mark.parametrize("name, message", [
    ("KE_missing_unit.xlsx", r"KE_missing_unit.xlsx: sheet 'Sheet1' row 1 lacks the header\(s\) 'Unit'"),
    ("KE_wrong_sheet.xlsx", r"KE_wrong_sheet.xlsx: no sheet 'Sheet1' \(sheets: Data\)"),
    ("indicator_data_kenya.xlsx", r"indicator_data_kenya.xlsx: file name does not match .* Party is unknown"),
])
def test_a_workbook_off_the_declared_layout_is_rejected_naming_file_and_header(tmp_path, name, message):
    with pytest.raises(LayoutError, match=message):
        stage_only(tmp_path, name)


def test_unparseable_rows_are_quarantined_not_published(tmp_path):
    staging = stage_only(tmp_path, "KE_unparseable_values.xlsx")
    assert len(pd.read_parquet(staging / "workbook_rows.parquet")) == 0
    q = pd.read_parquet(staging / "quarantine.parquet")
    assert len(q) == 6 and set(q["field"]) == {"Year"} and (q["value"] == "twenty twenty").all()
    assert q["source_record_id"].str.startswith("KE_unparseable_values.xlsx!Sheet1!R").all()


def test_quirks_numeric_codes_string_values_and_namibia(parts):
    obs = pd.read_parquet(parts / "observations.parquet")
    fsm = obs[obs["country_iso3"] == "FSM"]
    assert set(fsm["indicator_code"]) == {"GBF-3.1", "GBF-2.1"}  # typed as the numbers 3.1 and 2.1
    assert set(fsm.loc[fsm["indicator_code"] == "GBF-3.1", "unit"]) == {"PT"}  # written "%"
    assert "NAM" in set(obs["country_iso3"])  # NA_...xlsx is Namibia, not a missing value
    assert set(obs["report_cycle"]) == {"cbd:NR7"} and set(obs["observation_status"]) == {"reported"}
    assert not obs.duplicated(["country_iso3", "convention", "report_cycle", "indicator_code", "year",
                               "disaggregation"]).any()


def test_bad_rows_are_quarantined_with_reasons(parts):
    q = pd.read_parquet(parts / "quarantine.parquet")
    reasons = {(r.field, r.value): r.reason for r in q.itertuples()}
    assert "not a number: 'n/a'" in reasons[("Value", "n/a")]
    assert q.loc[q["field"] == "Year", "reason"].tolist() == ["empty: no value given"]
    assert "no row in the cbd-ort-excel crosswalk" in reasons[("Indicator code", "A.7")]
    assert "not the catalogue unit 'HA'" in reasons[("unit", "km2")]
    assert len(q[q["reason"].str.contains("conflicting values")]) == 2


def test_workbooks_rebuild_byte_for_byte():
    module = load_script(SNAPSHOTS / "cbd-ort-excel" / "build_workbooks.py")
    for path, data in module.build().items():
        assert path.read_bytes() == data, f"{path.name}: rebuild with build_workbooks.py"


@pytest.mark.parametrize("part", PARTS)
def test_golden_output(parts, part):
    assert_matches_golden(SOURCE, part, pd.read_parquet(parts / f"{part}.parquet"), UPDATE)


if __name__ == "__main__" and "--update" in sys.argv:
    update_golden_from(run, SOURCE, PARTS)
