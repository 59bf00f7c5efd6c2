"""Ramsar NRF answer workbooks from the inbox: declared layout, coded and numeric answers, bad cells, golden output.

Regenerate the golden files after a reviewed change: ``uv run python tests/test_ramsar_nrf.py --update``.
"""
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from extractors import ramsar_nrf as extractor
from replica.server import SNAPSHOTS, seed_inbox
from transforms import ramsar_nrf
from transforms.workbooks import LayoutError

from golden import assert_matches_golden, load_script, update_golden_from

SOURCE = "ramsar-nrf"
UPDATE = "uv run python tests/test_ramsar_nrf.py --update"
BROKEN = Path(__file__).parent / "fixtures" / "ramsar-nrf"
PARTS = ("observations", "quarantine")


def run(tmp_path: Path) -> Path:
    """The replica's inbox fixtures seeded as `python -m replica exec` does, then extract -> stage -> harmonize."""
    seed_inbox(SNAPSHOTS, tmp_path / "var" / "inbox")
    fetch_log = extractor.extract(tmp_path / "var", tmp_path / "run")
    staging = ramsar_nrf.stage(fetch_log, tmp_path / "var", tmp_path / "run" / "staging")
    return ramsar_nrf.harmonize(staging, tmp_path / "run" / "parts")


def stage_only(tmp_path: Path, *names: str) -> Path:
    inbox = tmp_path / "var" / "inbox" / "ramsar-nrf"
    inbox.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(BROKEN / name, inbox / name)
    fetch_log = extractor.extract(tmp_path / "var", tmp_path / "run")
    return ramsar_nrf.stage(fetch_log, tmp_path / "var", tmp_path / "run" / "staging")


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    return run(tmp_path_factory.mktemp("ramsar-nrf"))


@pytest.mark.parametrize("name, message", [
    ("missing_header.xlsx", r"\[ramsar-nrf\] missing_header.xlsx: sheet 'NRF' row 3 lacks the header\(s\) '8.6'"),
    ("extra_column.xlsx", r"\[ramsar-nrf\] extra_column.xlsx: sheet 'NRF' row 3 has undeclared header\(s\) '8.7'"),
])
def test_a_workbook_off_the_declared_layout_is_rejected_naming_file_and_header(tmp_path, name, message):
    with pytest.raises(LayoutError, match=message):
        stage_only(tmp_path, name)


@pytest.mark.parametrize("name, field, value, reason", [
    ("bad_option.xlsx", "5.1", "Z", "option 'Z' is not one of A, B, C, D declared for 5.1"),
    ("non_numeric_extent.xlsx", "8.6", "lots", "not a number: 'lots'"),
])
def test_bad_cells_are_quarantined_and_the_rest_of_the_workbook_kept(tmp_path, name, field, value, reason):
    staging = stage_only(tmp_path, name)
    q = pd.read_parquet(staging / "quarantine.parquet")
    assert q[["field", "value", "reason"]].values.tolist() == [[field, value, reason]]
    assert q["source_record_id"].str.startswith(f"{name}!R").all()
    assert len(pd.read_parquet(staging / "answers.parquet")) == 3 * 6 - 1  # 3 Parties x 6 questions, less the bad cell


def test_a_workbook_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    seed_inbox(SNAPSHOTS, tmp_path / "var" / "inbox")
    small = {**extractor.layout(), "max_bytes": 1000}
    monkeypatch.setattr(extractor, "layout", lambda: small)
    with pytest.raises(ValueError, match=r"\[ramsar-nrf\] inbox file Ramsar_NRF_COP13_answers.xlsx: \d+ bytes"):
        extractor.extract(tmp_path / "var", tmp_path / "run")


def test_coded_and_numeric_answers(parts):
    obs = pd.read_parquet(parts / "observations.parquet")
    assert set(obs["convention"]) == {"ramsar"} and set(obs["report_cycle"]) == {"ramsar:COP13", "ramsar:COP14"}
    coded = obs[obs["indicator_code"] == "RAMSAR-8.1"]
    assert coded["value_num"].isna().all() and set(coded["value_type"]) == {"categorical"}
    assert {(c, label) for c, label in zip(coded["value_code"], coded["value_label"])} <= {
        ("A", "Yes"), ("B", "No"), ("C", "In progress"), ("D", "Planned")}
    extent = obs[obs["indicator_code"] == "RAMSAR-WETLAND-EXTENT"]
    assert set(extent["unit"]) == {"KM2"} and set(extent["sdg_indicator"]) == {"6.6.1"}
    # the workbook gives Austria's extent as 33217300 ha; it is published in km2
    assert extent.loc[(extent["country_iso3"] == "AUT") & (extent["report_cycle"] == "ramsar:COP14"),
                      "value_num"].tolist() == [332173.0]
    assert set(obs.loc[obs["gbf_target"] == "GBF-T03", "indicator_code"]) == {"RAMSAR-5.1", "RAMSAR-SITES-AREA"}
    assert {"BOL", "COD", "IRN"} <= set(obs["country_iso3"])  # UN-style names through ramsar-nrf.csv
    assert not obs.duplicated(["country_iso3", "convention", "report_cycle", "indicator_code", "year",
                               "disaggregation"]).any()


def test_bad_rows_are_quarantined_with_reasons(parts):
    q = pd.read_parquet(parts / "quarantine.parquet")
    reasons = {(r.field, r.value): r.reason for r in q.itertuples()}
    assert reasons[("8.1", "E")] == "option 'E' is not one of A, B, C, D declared for 8.1"
    assert reasons[("8.6", "n/a (approx. 12 000)")] == "not a number: 'n/a (approx. 12 000)'"
    assert reasons[("Contracting Party", "Ruritania")] == "unknown country code or name 'Ruritania'"
    assert len(q) == 2 + 6  # Ruritania's six answers


def test_workbooks_rebuild_byte_for_byte():
    for path, data in load_script(BROKEN / "build_workbooks.py").build().items():
        assert path.read_bytes() == data, f"{path.name}: rebuild with build_workbooks.py"


@pytest.mark.parametrize("part", PARTS)
def test_golden_output(parts, part):
    assert_matches_golden(SOURCE, part, pd.read_parquet(parts / f"{part}.parquet"), UPDATE)


if __name__ == "__main__" and "--update" in sys.argv:
    update_golden_from(run, SOURCE, PARTS)
