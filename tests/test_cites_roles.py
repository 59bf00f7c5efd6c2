"""A CITES record counts for every role that is a country (issue 16, item 5).

A shipment whose importer or exporter is not a country (XX unknown, XV various, CS, AN and other dissolved
States: transforms/mappings/countries/cites-trade.csv) used to be quarantined whole, so it vanished from
its partner's figures: a real comparative tabulation of elephant trade came out short for the Parties
whose partner was XX or a dissolved State. Now only the non-country role is left out (NULL ISO3, in no
aggregate of that role), noted once in quarantine; a row in which no role is a country still counts for
no Party.

The tusk figures of the elephant export (tests/fixtures/cites-roles/good/, written by make_fixtures.py)
are counted here by hand, with plain Python over the CSV rows, and compared with what the pipeline publishes.
"""
from __future__ import annotations

import csv
import hashlib
import json
import shutil
import zipfile
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

from transforms.cites_trade import harmonize, stage

from pipeline_helpers import ALL, run_pipeline

SOURCE = "cites-trade"
FIXTURES = Path(__file__).parent / "fixtures" / "cites-roles"
ELEPHANT = FIXTURES / "good" / "comptab_2026-12-02_comma_separated.csv"
BROKEN_EXPORT = FIXTURES / "broken" / "comptab_2026-12-03_comma_separated.csv"
RETRIEVED = "2026-12-02T09:00:00+00:00"
#: the ten Parties whose tusk figures are checked, as the export codes them and as ISO3
PARTIES = {"ZA": "ZAF", "NA": "NAM", "BW": "BWA", "ZW": "ZWE", "TZ": "TZA", "US": "USA", "DE": "DEU", "ES": "ESP",
           "FR": "FRA", "CN": "CHN"}
#: the codes of the fixtures that are not countries (transforms/mappings/countries/cites-trade.csv)
NOT_COUNTRIES = {"XX", "XV", "CS", "AN", "SU", "DD", "YU"}
QUANTITY = {"IMPORTER": "Importer reported quantity", "EXPORTER": "Exporter reported quantity"}


def read_rows(path: Path) -> list[dict]:
    """The export's rows as the CSV module reads them (trade.cites.org writes latin-1)."""
    with path.open(encoding="latin-1", newline="") as f:
        return list(csv.DictReader(f))


def hand_count(rows: list[dict]) -> dict[tuple, float]:
    """(ISO3, year, Appendix, role, reported by) -> tusks, for the ten Parties: every row whose Term is
    tusks with no unit (a number of tusks; kg are a weight), for each of the Party's roles in it, and
    each side's quantity when that side gave one. The partner in the other role does not matter."""
    figures = defaultdict(float)
    for row in rows:
        if row["Term"] != "tusks" or row["Unit"] != "":
            continue
        for role, code in (("IMPORTER", row["Importer"]), ("EXPORTER", row["Exporter"])):
            for by, column in QUANTITY.items():
                if code in PARTIES and row[column] != "":
                    figures[(PARTIES[code], int(row["Year"]), row["App."], role, by)] += float(row[column])
    return dict(figures)


def tusk_figures(observations: pd.DataFrame, export: str) -> dict[tuple, float]:
    """The same figures from the CITES-TUSKS observations of one export."""
    ours = observations[(observations["indicator_code"] == "CITES-TUSKS")
                        & observations["source_url"].str.endswith("/" + export)
                        & observations["country_iso3"].isin(PARTIES.values())]
    figures = {}
    for obs in ours.itertuples():
        parts = dict(part.split("=") for part in obs.disaggregation.split(";"))
        figures[(obs.country_iso3, obs.year, parts["APPENDIX"], parts["ROLE"], parts["REPORTED_BY"])] = obs.value_num
    return figures


def only(rows: list[dict], **match) -> tuple[int, dict]:
    """(row number in the file, row) of the one row with these values."""
    found = [(i, r) for i, r in enumerate(rows, 1) if all(r[k.replace("_", " ")] == v for k, v in match.items())]
    assert len(found) == 1, (match, found)
    return found[0]


def record_id(path: Path, row_number: int) -> str:
    return f"{path.name}@{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}#{row_number}"


def run(tmp: Path, release_csv: Path | None, exports: list[Path]) -> Path:
    """stage -> harmonize on a release of one member, ``release_csv`` (else the good one), and ``exports``,
    from a fetch log written here (as extract would, without the replica)."""
    data = tmp / "data"
    data.mkdir()
    member = release_csv or FIXTURES / "good" / "trade_db_1.csv"
    with zipfile.ZipFile(data / "release.zip", "w") as zf:
        zf.write(member, "trade_db_1.csv")
    pages = []
    for export in exports:
        shutil.copyfile(export, data / export.name)
        pages.append(page(data / export.name, data, name=export.name))
    fetch_log = tmp / "fetch.json"
    fetch_log.write_text(json.dumps({"entities": {"release": {"pages": [page(data / "release.zip", data)]},
                                                  "comptab": {"pages": pages}}}))
    return harmonize(stage(fetch_log, data, tmp / "staging"), tmp / "parts")


def page(path: Path, data: Path, **extra) -> dict:
    return {"url": "https://trade.cites.org/cites_trade/download_db", "raw_path": str(path.relative_to(data)),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "retrieved_at": RETRIEVED, **extra}


def figure(observations: pd.DataFrame, iso3: str, indicator: str, year: int, disaggregation: str) -> list[float]:
    found = observations[(observations["country_iso3"] == iso3) & (observations["indicator_code"] == indicator)
                         & (observations["year"] == year) & (observations["disaggregation"] == disaggregation)]
    return found["value_num"].tolist()


@pytest.fixture(scope="module")
def elephant(tmp_path_factory):
    """The elephant export harmonized (beside a small release): its rows, observations and quarantine."""
    parts = run(tmp_path_factory.mktemp("elephant"), None, [ELEPHANT])
    return read_rows(ELEPHANT), pd.read_parquet(parts / "observations.parquet"), \
        pd.read_parquet(parts / "quarantine.parquet")


# The elephant export, counted by hand.

def test_the_published_tusk_figures_of_an_elephant_export_are_those_counted_by_hand(data_dir, upstream):
    """The export dropped in the inbox, through extract, stage, harmonize, build, audit and publish."""
    shutil.copyfile(ELEPHANT, data_dir / "inbox" / SOURCE / ELEPHANT.name)
    release = run_pipeline("elephant", {**ALL, "sources": ["informea", SOURCE]})
    published = tusk_figures(pd.read_parquet(release / "observations.parquet"), ELEPHANT.name)
    by_hand = hand_count(read_rows(ELEPHANT))
    assert len(by_hand) > 250 and {k[0] for k in by_hand} == set(PARTIES.values())
    assert published == by_hand


def test_no_row_of_the_elephant_export_is_quarantined_whole(elephant):
    rows, _, quarantine = elephant
    ours = quarantine[quarantine["entity"] == ELEPHANT.name]
    expected = {(record_id(ELEPHANT, i), role, row[role]) for i, row in enumerate(rows, 1)
                for role in ("Importer", "Exporter") if row[role] in NOT_COUNTRIES}
    assert len(expected) == 9
    assert set(zip(ours["source_record_id"], ours["field"], ours["value"])) == expected
    assert len(ours) == len(expected)  # noted once, not once per reported side
    assert ours["reason"].str.contains(r": left out of (?:im|ex)ports; the row counts for its (?:ex|im)porter$").all()


def test_a_row_with_exporter_xx_counts_in_its_importers_imports_from_both_sides(elephant):
    rows, observations, quarantine = elephant
    number, row = only(rows, Year="2006", Importer="ES", Exporter="XX")
    figures, without = tusk_figures(observations, ELEPHANT.name), hand_count([r for r in rows if r is not row])
    for by, column in QUANTITY.items():
        key = ("ESP", 2006, "I", "IMPORTER", by)
        assert figures[key] == without.get(key, 0) + float(row[column]) and float(row[column]) > 0
    note = quarantine[quarantine["source_record_id"] == record_id(ELEPHANT, number)]
    assert note[["field", "value", "reason"]].values.tolist() == [
        ["Exporter", "XX", "exporter 'XX' is not a country (unknown): left out of exports; the row counts for its "
                           "importer"]]
    assert not observations["country_iso3"].isna().any()


def test_a_row_with_importer_xv_counts_in_its_exporters_exports(elephant):
    rows, observations, quarantine = elephant
    number, row = only(rows, Year="2009", Importer="XV", Exporter="ZW")
    key = ("ZWE", 2009, "II", "EXPORTER", "EXPORTER")
    without = hand_count([r for r in rows if r is not row])
    assert tusk_figures(observations, ELEPHANT.name)[key] == without[key] + float(row["Exporter reported quantity"])
    note = quarantine[quarantine["source_record_id"] == record_id(ELEPHANT, number)]
    assert note[["field", "value", "reason"]].values.tolist() == [
        ["Importer", "XV", "importer 'XV' is not a country (region: Various): left out of imports; the row counts "
                           "for its exporter"]]


def test_a_dissolved_state_is_left_out_and_its_partner_keeps_the_row(elephant):
    rows, observations, quarantine = elephant
    number, row = only(rows, Year="2005", Importer="CS", Exporter="BW")
    figures = tusk_figures(observations, ELEPHANT.name)
    without = hand_count([r for r in rows if r is not row])
    for by, column in QUANTITY.items():  # Serbia and Montenegro reported its side too: it counts for Botswana
        key = ("BWA", 2005, "II", "EXPORTER", by)
        assert figures[key] == without[key] + float(row[column])
    note = quarantine[quarantine["source_record_id"] == record_id(ELEPHANT, number)]
    assert note["reason"].tolist() == ["importer 'CS' is not a country (former: Serbia and Montenegro): left out of "
                                       "imports; the row counts for its exporter"]


def test_look_alike_rows_weights_and_a_re_import_are_each_counted_as_they_are(elephant):
    rows, observations, _ = elephant
    figures = tusk_figures(observations, ELEPHANT.name)
    # distinct shipments that differ only in purpose, or only in origin: each adds its tusks
    for match, key in (({"Year": "2009", "Importer": "US", "Exporter": "ZA", "Unit": ""},
                        ("USA", 2009, "II", "IMPORTER", "IMPORTER")),
                       ({"Year": "2011", "Importer": "CN", "Exporter": "FR", "Term": "tusks"},
                        ("CHN", 2011, "I", "IMPORTER", "EXPORTER"))):
        alike = [r for r in rows if all(r[k] == v for k, v in match.items())]
        assert len(alike) >= 2
        without = hand_count([r for r in rows if r not in alike])
        added = sum(float(r[QUANTITY[key[4]]] or 0) for r in alike)
        assert figures[key] == without.get(key, 0) + added and added > 0
    # 391.15 kg of tusks are not 391.15 tusks
    number, weighed = only(rows, Year="2003", Importer="FR", Exporter="CI")
    assert weighed["Unit"] == "kg"
    key = ("FRA", 2003, "I", "IMPORTER", "EXPORTER")
    assert figures.get(key, 0) == hand_count([r for r in rows if r is not weighed]).get(key, 0)
    # South Africa both imports and exports a re-imported pair
    _, reimport = only(rows, Year="2003", Importer="ZA", Exporter="ZA")
    without = hand_count([r for r in rows if r is not reimport])
    for role in ("IMPORTER", "EXPORTER"):
        key = ("ZAF", 2003, "II", role, "EXPORTER")
        assert figures[key] == without.get(key, 0) + 2


# Rows in which no role is a country, and unknown codes.

def test_a_comptab_row_where_no_role_is_a_country_counts_for_no_party(tmp_path):
    parts = run(tmp_path, None, [BROKEN_EXPORT])
    rows = read_rows(BROKEN_EXPORT)
    observations = pd.read_parquet(parts / "observations.parquet")
    quarantine = pd.read_parquet(parts / "quarantine.parquet")
    ours = quarantine[quarantine["entity"] == BROKEN_EXPORT.name]
    for fields in ({"Importer": "XV", "Exporter": "XX"}, {"Importer": "XX", "Exporter": "SU"}):
        number, _ = only(rows, **fields)
        notes = ours[ours["source_record_id"] == record_id(BROKEN_EXPORT, number)]
        assert sorted(zip(notes["field"], notes["value"])) == sorted(fields.items())
        assert notes["reason"].str.endswith(": neither the importer nor the exporter is a country, so the row "
                                            "counts for no Party").all()
    unknown, _ = only(rows, Importer="QQ")  # the unknown code quarantines the row whole; XX beside it is not noted
    notes = ours[ours["source_record_id"] == record_id(BROKEN_EXPORT, unknown)]
    assert notes[["field", "value", "reason"]].values.tolist() == [
        ["Importer", "QQ", "unknown country code or name 'QQ'"]]
    comptab = observations[observations["source_field"].str.startswith("comptab.")]
    assert set(comptab["country_iso3"]) == {"DEU", "TZA"}  # only the ordinary row counts
    assert figure(comptab, "DEU", "CITES-TUSKS", 2011, "APPENDIX=I;ROLE=IMPORTER;REPORTED_BY=IMPORTER") == [2.0]
    assert not ours.duplicated(["source_record_id", "field"]).any()


# The full release: a record counts for the Party that reported it, whatever its partner is.

@pytest.fixture(scope="module")
def release_parts(tmp_path_factory) -> Path:
    return run(tmp_path_factory.mktemp("release"), FIXTURES / "good" / "trade_db_1.csv", [])


def notes_of(quarantine: pd.DataFrame, rid: str) -> list[list[str]]:
    return quarantine.loc[quarantine["source_record_id"] == rid, ["field", "value", "reason"]].values.tolist()


def test_a_release_record_with_exporter_xx_counts_for_the_importer_that_reported_it(release_parts):
    trade = pd.read_parquet(release_parts / "cites_trade.parquet").set_index("id")
    observations = pd.read_parquet(release_parts / "observations.parquet")
    quarantine = pd.read_parquet(release_parts / "quarantine.parquet")
    assert trade.loc["7100001", ["importer_iso3", "exporter"]].tolist() == ["DEU", "XX"]
    assert pd.isna(trade.loc["7100001", "exporter_iso3"])
    # Germany's own 2008 import records of Appendix I: 7100001 (from XX), 7100005 and 7100006 (origin XX)
    assert figure(observations, "DEU", "CITES-TUSKS", 2008, "APPENDIX=I;ROLE=IMPORTER") == [2.0 + 3.0 + 2.0]
    assert figure(observations, "DEU", "CITES-SHIPMENTS", 2008, "APPENDIX=I;ROLE=IMPORTER") == [3.0]
    assert notes_of(quarantine, "7100001") == [
        ["Exporter", "XX", "exporter 'XX' is not a country (unknown): left out of exports; the row counts for its "
                           "importer, who reported it"]]
    assert notes_of(quarantine, "7100006") == []  # a non-country origin is no role: nothing is left out
    assert notes_of(quarantine, "7100003") == [
        ["Exporter", "CS", "exporter 'CS' is not a country (former: Serbia and Montenegro): left out of exports; "
                           "the row counts for its importer, who reported it"]]
    assert figure(observations, "USA", "CITES-TUSKS", 2005, "APPENDIX=II;ROLE=IMPORTER") == [2.0]


def test_a_release_record_with_importer_xv_counts_for_the_exporter_that_reported_it(release_parts):
    trade = pd.read_parquet(release_parts / "cites_trade.parquet").set_index("id")
    observations = pd.read_parquet(release_parts / "observations.parquet")
    quarantine = pd.read_parquet(release_parts / "quarantine.parquet")
    assert trade.loc["7100002", ["importer", "exporter_iso3"]].tolist() == ["XV", "ZAF"]
    assert pd.isna(trade.loc["7100002", "importer_iso3"])
    assert figure(observations, "ZAF", "CITES-TUSKS", 2009, "APPENDIX=II;ROLE=EXPORTER") == [4.0 + 2.0]
    assert figure(observations, "ZAF", "CITES-SHIPMENTS", 2009, "APPENDIX=II;ROLE=EXPORTER") == [2.0]
    assert notes_of(quarantine, "7100002") == [
        ["Importer", "XV", "importer 'XV' is not a country (region: Various): left out of imports; the row counts "
                           "for its exporter, who reported it"]]
    assert figure(observations, "NAM", "CITES-TUSKS", 2008, "APPENDIX=II;ROLE=EXPORTER") == [6.0]  # to AN
    assert notes_of(quarantine, "7100004")[0][:2] == ["Importer", "AN"]


def test_a_release_record_reported_by_a_non_country_counts_for_no_party_and_is_noted_once(release_parts):
    trade = pd.read_parquet(release_parts / "cites_trade.parquet").set_index("id")
    observations = pd.read_parquet(release_parts / "observations.parquet")
    quarantine = pd.read_parquet(release_parts / "quarantine.parquet")
    assert "7100008" in trade.index  # published shipment by shipment
    assert figure(observations, "DEU", "CITES-SHIPMENTS", 2009, "APPENDIX=II;ROLE=IMPORTER") == []
    assert notes_of(quarantine, "7100008") == [
        ["Exporter", "XX", "exporter 'XX' is not a country (unknown): the exporter reported this record, so it "
                           "counts for no Party (a release record counts only for the Party that reported it); "
                           "published in cites_trade"]]
    assert not quarantine.duplicated(["source_record_id", "field"]).any()
    assert not observations["country_iso3"].isna().any()


def test_a_release_record_where_no_role_is_a_country_or_a_code_is_unknown(tmp_path):
    parts = run(tmp_path, FIXTURES / "broken" / "trade_db_1.csv", [])
    trade = pd.read_parquet(parts / "cites_trade.parquet").set_index("id")
    observations = pd.read_parquet(parts / "observations.parquet")
    quarantine = pd.read_parquet(parts / "quarantine.parquet")
    assert trade.loc["7200001", ["importer_iso3", "exporter_iso3"]].isna().all()
    assert [n[:2] for n in notes_of(quarantine, "7200001")] == [["Importer", "XV"], ["Exporter", "XX"]]
    assert notes_of(quarantine, "7200001")[0][2].endswith(
        ": left out of imports; the row counts for no Party (its exporter, who reported it, is not a country either)")
    assert "7200002" not in trade.index  # QQ is no reviewed code: the record is quarantined whole, as before
    assert notes_of(quarantine, "7200002") == [["Importer", "QQ", "unknown country code or name 'QQ'"]]
    assert set(observations["country_iso3"]) == {"DEU"}
