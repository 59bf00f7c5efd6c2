"""CITES Trade Database against the replica: the full-release zip, inbox comparative tabulations,
country codes, zip limits, layouts, quarantine and golden files.

Regenerate the golden files after a reviewed change: ``uv run python tests/test_cites_trade.py --update``.
"""
import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from extractors.cites_trade import (BadFile, Limits, copy_limited, extract, extracted_members, read_header,
                                    release_members)
from extractors.http import UpstreamError
from extractors.landing import land, land_stream
from outputs import contracts
from outputs.audit import audit_release
from outputs.publish import publish
from outputs.release import build_release
from replica.faults import FaultyReplica
from replica.server import Replica, Response
from transforms.catalogue import indicators
from transforms.cites_trade import CROSSWALK, harmonize, stage
from transforms.countries import UnknownCountry, countries_table, overrides, to_iso3
from transforms.observations import NATURAL_KEY

from golden import assert_matches_golden, sorted_csv, write_golden
from pipeline_helpers import ALL, harmonized_parts

SOURCE = "cites-trade"
HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures" / SOURCE
SNAPSHOT = HERE.parent / "replica" / "snapshots" / SOURCE
PARTS = ("cites_trade", "observations", "quarantine")


def run(data_dir: Path, replica: Replica) -> Path:
    """extract -> stage -> harmonize on the replica; the parts folder."""
    fetch_log = extract(data_dir, data_dir / "run", url=replica.source_urls()[SOURCE])
    staging = stage(fetch_log, data_dir, fetch_log.parent / "staging")
    return harmonize(staging, fetch_log.parent / "parts")


def golden_csv(frame: pd.DataFrame, replica_url: str) -> str:
    """A part sorted, without volatile columns, with the replica's port-bearing URL made fixed."""
    return sorted_csv(frame).replace(replica_url, "http://replica")


def seed(data_dir: Path) -> Path:
    """The snapshot's comparative tabulations in the inbox, as a data officer would save them."""
    shutil.copytree(SNAPSHOT / "inbox", data_dir / "inbox" / SOURCE)
    return data_dir


@pytest.fixture
def seeded(data_dir):
    return seed(data_dir)


@pytest.fixture
def parts(seeded, replica):
    return run(seeded, replica)


# The full release.

def test_release_is_downloaded_once_then_revalidated_with_etag(data_dir, replica):
    first = run(data_dir, replica).parent / "fetch.json"
    page = json.loads(first.read_text())["entities"]["release"]["pages"][0]
    assert page["status"] == 200 and page["raw_path"].endswith(".zip")
    assert [m.rsplit("/", 1)[-1] for m in page["members"]] == ["trade_db_1.csv", "trade_db_2.csv", "trade_db_3.csv"]
    again = extract(data_dir, data_dir / "run2", url=replica.source_urls()[SOURCE])
    second = json.loads(again.read_text())["entities"]["release"]["pages"][0]
    assert replica.stats.count(status=304) == 1
    assert (second["status"], second["sha256"], second["raw_path"]) == (304, page["sha256"], page["raw_path"])


def test_full_release_members_are_staged_one_by_one(parts):
    staged = sorted(p.name for p in (parts.parent / "staging" / "shipments").glob("*.parquet"))
    assert staged == ["trade_db_1.parquet", "trade_db_2.parquet", "trade_db_3.parquet"]
    trade = pd.read_parquet(parts / "cites_trade.parquet")
    assert set(trade["source_file"]) == {"trade_db_1.csv", "trade_db_2.csv", "trade_db_3.csv"}
    assert trade["id"].is_unique
    schema = pq.read_schema(parts / "cites_trade.parquet")
    assert schema.names == list(contracts.contracts()["cites_trade"]["columns"])
    expected = contracts.arrow_schema("cites_trade")
    assert [schema.field(n).type for n in schema.names] == [expected.field(n).type for n in schema.names]
    contracts.conform("cites_trade", trade)  # raises on a column or type the contract does not allow


def test_every_line_read_is_staged_or_quarantined(parts):
    staging = parts.parent / "staging"
    quarantine = pd.read_parquet(staging / "quarantine.parquet")
    # a repeated Id is staged (harmonizing keeps the first) and quarantined
    quarantined = quarantine[~quarantine["reason"].str.startswith("duplicate Id")]["entity"].value_counts()
    for name, path in extracted_members(SNAPSHOT / "trade_db.zip", "snapshot"):
        lines = len(path.read_bytes().splitlines()) - 1
        staged = len(pd.read_parquet(staging / "shipments" / name.replace(".csv", ".parquet")))
        assert staged + quarantined.get(name, 0) == lines, name
    for export in (SNAPSHOT / "inbox").iterdir():
        lines = len(export.read_bytes().splitlines()) - 1
        staged = pd.read_parquet(staging / "comptab")["source_file"].eq(export.name).sum()
        assert staged + quarantined.get(export.name, 0) == lines, export.name


def test_extracted_members_are_removed_after_use():
    seen = []
    for name, path in extracted_members(SNAPSHOT / "trade_db.zip", "snapshot"):
        assert path.exists() and path.stat().st_size > 1000
        seen.append(path)
    assert len(seen) == 3 and not any(p.exists() for p in seen)


def test_namibia_na_survives_as_a_code_and_maps_to_nam(parts):
    trade = pd.read_parquet(parts / "cites_trade.parquet")
    namibia = trade[(trade["importer"] == "NA") | (trade["exporter"] == "NA")]
    assert len(namibia) > 10
    assert set(namibia.loc[namibia["importer"] == "NA", "importer_iso3"]) == {"NAM"}
    assert set(namibia.loc[namibia["exporter"] == "NA", "exporter_iso3"]) == {"NAM"}
    assert trade["importer"].notna().all() and trade["exporter"].notna().all()
    obs = pd.read_parquet(parts / "observations.parquet")
    assert "NAM" in set(obs["country_iso3"])


def test_non_country_codes_have_no_iso3(parts):
    trade = pd.read_parquet(parts / "cites_trade.parquet").set_index("id")
    assert pd.isna(trade.loc["9000008", "exporter_iso3"]) and trade.loc["9000008", "exporter"] == "YU"
    assert trade.loc[trade["origin"] == "XX", "origin_iso3"].isna().all()
    assert set(trade.loc[trade["importer"] == "KV", "importer_iso3"]) == {"XKX"}


# Observations.

def test_observations_follow_the_contract_and_are_unique(parts):
    obs = pd.read_parquet(parts / "observations.parquet")
    assert sorted(obs.columns) == sorted(contracts.contracts()["observations"]["columns"])
    assert not obs.duplicated(NATURAL_KEY).any()
    assert set(obs["convention"]) == {"cites"} and set(obs["observation_status"]) == {"reported"}
    assert obs["report_cycle"].str.fullmatch(r"cites:AR\d{4}").all()
    assert (obs["report_cycle"] == "cites:AR" + obs["year"].astype(str)).all()
    contracts.conform("observations", obs)


def test_shipments_count_what_each_party_reported_itself(parts):
    trade = pd.read_parquet(parts / "cites_trade.parquet")
    obs = pd.read_parquet(parts / "observations.parquet").set_index(["country_iso3", "indicator_code", "year",
                                                                        "disaggregation"])
    exported = trade[(trade["exporter"] == "ZA") & (trade["reporter_type"] == "E") & (trade["year"] == 2019)
                     & (trade["appendix"] == "II")]
    assert obs.loc[("ZAF", "CITES-SHIPMENTS", 2019, "APPENDIX=II;ROLE=EXPORTER"), "value_num"] == len(exported)
    row = obs.loc[("ZAF", "CITES-SHIPMENTS", 2019, "APPENDIX=II;ROLE=EXPORTER")]
    assert row["source_field"] == "trade_db.Id"
    assert row["source_record_id"].endswith(":ZAF:2019:II:EXPORTER:CITES-SHIPMENTS")
    assert row["source_url"].endswith("/cites/cites_trade/download_db") and row["gbf_target"] == "GBF-T05"


def test_annual_report_submitted_from_the_reporter_type(parts):
    trade = pd.read_parquet(parts / "cites_trade.parquet")
    obs = pd.read_parquet(parts / "observations.parquet")
    submitted = obs[obs["indicator_code"] == "SYN-CITES-AR-SUBMITTED"]
    assert set(submitted["disaggregation"]) == {"_T"} and set(submitted["value_num"]) == {1.0}
    assert set(submitted["value_type"]) == {"boolean"}
    # Kosovo (KV) only ever imports in the snapshot and reports some of it itself (I rows)
    kosovo = trade[(trade["importer"] == "KV") & (trade["reporter_type"] == "I")]
    assert set(submitted.loc[submitted["country_iso3"] == "XKX", "year"]) == set(kosovo["year"])


def test_comptab_observations_are_their_own(parts):
    obs = pd.read_parquet(parts / "observations.parquet")
    comptab = obs[obs["source_field"].str.startswith("comptab.")]
    assert len(comptab) > 0
    assert comptab["disaggregation"].str.contains(";REPORTED_BY=").all()
    assert comptab["source_url"].str.startswith("inbox/cites-trade/comptab_").all()
    tusks = comptab[(comptab["country_iso3"] == "NAM") & (comptab["year"] == 2021)
                    & (comptab["disaggregation"] == "APPENDIX=I;ROLE=EXPORTER;REPORTED_BY=EXPORTER")
                    & (comptab["indicator_code"] == "CITES-TUSKS")]
    assert tusks["value_num"].tolist() == [6.5]  # 4 + the decimal 2.5 of the latin-1 export


def test_params_restrict_the_release_to_a_slice(data_dir, upstream):
    """The release build keeps a run's slice (the contract's ``slice:``): a country's cites_trade rows are
    every shipment it imported or exported, its cycle cites:AR<year>."""
    params = {**ALL, "sources": ["informea", SOURCE], "countries": ["NAM"], "cycles": ["cites:AR2022"]}
    parts = harmonized_parts("slice", params)
    release = build_release(parts, params, "slice")
    audit_release(release)
    publish(release)
    obs = pd.read_parquet(release / "observations.parquet")
    obs = obs[obs["source_system"] == SOURCE]
    assert set(obs["country_iso3"]) == {"NAM"} and set(obs["report_cycle"]) == {"cites:AR2022"}
    trade = pd.read_parquet(release / "cites_trade.parquet")
    assert set(trade["year"]) == {2022}
    assert ((trade["importer_iso3"] == "NAM") | (trade["exporter_iso3"] == "NAM")).all()
    everything = pd.read_parquet(Path(parts[1]) / "cites_trade.parquet")
    either_side = everything[(everything["year"] == 2022)
                             & ((everything["importer_iso3"] == "NAM") | (everything["exporter_iso3"] == "NAM"))]
    assert sorted(trade["id"]) == sorted(either_side["id"])
    assert (trade["importer_iso3"] == "NAM").any() and (trade["exporter_iso3"] == "NAM").any()


# Comparative tabulations from the inbox.

def test_semicolon_latin1_comptab_is_read(data_dir, replica):
    inbox = data_dir / "inbox" / SOURCE
    inbox.mkdir(parents=True)
    source = SNAPSHOT / "inbox" / "comptab_2026-11-20_semicolon_separated.csv"
    shutil.copyfile(source, inbox / source.name)
    assert read_header(source, source.name)[:2] == ("latin-1", ";")
    parts = run(data_dir, replica)
    staged = pd.read_parquet(parts.parent / "staging" / "comptab")
    assert "Paphiopedilum × hybrid" in set(staged["taxon"])
    assert 2.5 in set(staged["exporter_quantity"])
    assert staged["importer"].isin(["NA"]).sum() == 0 and "NA" in set(staged["exporter"])


def test_comptab_with_an_undeclared_header_fails_naming_file_and_column(data_dir, replica):
    inbox = data_dir / "inbox" / SOURCE
    inbox.mkdir(parents=True)
    shutil.copyfile(FIXTURES / "comptab_bad_header.csv", inbox / "comptab_bad_header.csv")
    with pytest.raises(BadFile, match=r"comptab_bad_header\.csv: header does not match .*missing column\(s\) "
                                      r"\['Importer reported quantity', 'Exporter reported quantity'\], "
                                      r"unexpected column\(s\) \['Quantity'\]"):
        extract(data_dir, data_dir / "run", url=replica.source_urls()[SOURCE])


# Broken releases.

def test_a_download_that_is_not_a_zip_is_rejected_naming_it(data_dir):
    class HtmlInstead(Replica):
        def faults(self, request, response):
            return Response(200, {"Content-Type": "text/html"}, (FIXTURES / "not_a_zip.zip").read_bytes())

    with HtmlInstead() as server, pytest.raises(BadFile, match=r"/cites/cites_trade/download_db \(\w+\.zip\): "
                                                               r"not a zip file \(starts b'<!DOCTYPE html>"):
        extract(data_dir, data_dir / "run", url=server.source_urls()[SOURCE])


def test_a_release_download_that_breaks_off_fails_naming_it_and_lands_nothing(data_dir):
    with FaultyReplica("truncated-body", "/cites/cites_trade/download_db", among=1) as server, \
            pytest.raises(UpstreamError, match=r"\[cites-trade\] .*download_db: release download broke off"):
        extract(data_dir, data_dir / "run", url=server.source_urls()[SOURCE])
    assert server.injected >= 1
    assert not [p for p in (data_dir / "raw" / SOURCE).rglob("*") if p.is_file()]


def test_a_streamed_release_lands_where_the_same_bytes_would(tmp_path):
    body = (FIXTURES / "not_a_zip.zip").read_bytes()
    facts = dict(url="http://x/r", params=None, status=200, headers={}, terms="t", suffix=".zip")
    streamed = land_stream(tmp_path / "a", SOURCE, "release", (body[i:i + 7] for i in range(0, len(body), 7)), **facts)
    whole = land(tmp_path / "b", SOURCE, "release", body, **facts)
    assert (streamed.sha256, streamed.path.relative_to(tmp_path / "a")) == \
        (whole.sha256, whole.path.relative_to(tmp_path / "b"))
    assert streamed.path.read_bytes() == body
    assert sorted(p.name for p in streamed.path.parent.iterdir()) == \
        sorted(p.name for p in whole.path.parent.iterdir())


def test_a_zip_bomb_is_rejected_before_it_is_unpacked():
    with pytest.raises(BadFile, match=r"bomb\.zip: member trade_db_1\.csv expands \d+-fold, over the 100-fold limit"):
        release_members(FIXTURES / "bomb.zip", "bomb.zip")
    with pytest.raises(BadFile, match=r"bomb\.zip: member trade_db_1\.csv claims \d+ bytes, over the 1048576-byte"):
        release_members(FIXTURES / "bomb.zip", "bomb.zip", Limits(member_bytes=1 << 20, ratio=10 ** 6))
    with pytest.raises(BadFile, match=r"bomb\.zip: members claim \d+ bytes in all, over the 1000-byte limit"):
        release_members(FIXTURES / "bomb.zip", "bomb.zip", Limits(total_bytes=1000, ratio=10 ** 6))


def test_a_zip_of_too_many_members_is_rejected(tmp_path):
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as zf:
        for n in range(1, 1002):
            zf.writestr(f"trade_db_{n}.csv", "Year,App.\n")
    with pytest.raises(BadFile, match=r"many\.zip: 1001 members, over the limit of 1000"):
        release_members(many, "many.zip")
    assert len(release_members(many, "many.zip", Limits(members=1001))) == 1001


def test_a_member_expanding_past_what_it_claims_is_rejected():
    with pytest.raises(BadFile, match=r"lying\.zip: member trade_db_1\.csv is corrupt \(Bad CRC-32"):
        list(extracted_members(FIXTURES / "lying.zip", "lying.zip"))


def test_bytes_are_counted_while_unpacking(tmp_path):
    with zipfile.ZipFile(SNAPSHOT / "trade_db.zip") as zf, \
            pytest.raises(BadFile, match=r"snapshot: member .*trade_db_1\.csv expands past 1000 bytes"):
        copy_limited(zf, zf.infolist()[0], tmp_path / "member.csv", 1000, "snapshot")


def test_a_release_member_with_a_missing_column_fails_naming_it(tmp_path):
    fetch_log = tmp_path / "fetch.json"
    page = {"url": "http://x/download_db", "raw_path": "missing_column.zip", "sha256": "0",
            "retrieved_at": "2026-11-01T00:00:00+00:00"}
    fetch_log.write_text(json.dumps({"entities": {"release": {"pages": [page]}, "comptab": {"pages": []}}}))
    with pytest.raises(BadFile, match=r"missing_column\.zip:trade_db_1\.csv: header does not match the declared "
                                      r"release layout 'trade_db': missing column\(s\) \['Reporter\.type'\]"):
        stage(fetch_log, FIXTURES, tmp_path / "staging")


# Quarantine.

def test_the_deliberately_bad_records_are_quarantined(parts):
    q = pd.read_parquet(parts / "quarantine.parquet")
    reasons = {(r.field, r.value): r.reason for r in q.itertuples()}
    assert reasons[("Quantity", "n/a")] == "Quantity is not a number"
    assert reasons[("Year", "20l9")].startswith("Year is not a year")
    assert reasons[("Exporter", "QQ")] == "unknown country code or name 'QQ'"
    assert reasons[("Importer", "QQ")] == "unknown country code or name 'QQ'"
    assert "is not a country" in reasons[("Exporter", "XX")]
    assert reasons[("Appendix", "IV")] == "unknown CITES Appendix"
    assert "terms.csv" in reasons[("Term", "mystery parts")] and "purposes.csv" in reasons[("Purpose", "Y")]
    assert reasons[("Id", "9000012")] == "duplicate Id: first seen in trade_db_1.csv row 145"
    assert reasons[("Importer reported quantity", "abc")] == "Importer reported quantity is not a number"
    assert "Expected Number of Columns: 20 Found: 21" in reasons[("line", q.loc[q.field == "line", "value"].iloc[0])]
    assert q.loc[q.field == "Id", "source_record_id"].str.contains("@").any()
    overlaps = q[q["reason"].str.startswith("overlapping exports")]
    assert len(overlaps) > 0 and set(overlaps["entity"]) == {"comptab_2026-11-20_semicolon_separated.csv"}
    assert q["source_system"].eq(SOURCE).all() and q["raw_sha256"].notna().all()


# Reviewed mappings.

def test_every_cites_parties_code_maps(shared_reference):
    parties = pd.read_csv(shared_reference / "citesdb" / "cites_parties.tsv", sep="\t", dtype=str,
                          keep_default_na=False)
    assert "NA" in set(parties["code"])
    iso3s = set(countries_table()["iso3"])
    reviewed = {**overrides(), **overrides(SOURCE)}
    for code in parties["code"]:
        try:
            assert to_iso3(code, source=SOURCE) in iso3s, code
        except UnknownCountry:
            assert code in reviewed and reviewed[code]["iso3"] == "" and reviewed[code]["note"], code
    assert to_iso3("NA", source=SOURCE) == "NAM"


def test_crosswalk_covers_every_column_and_names_catalogued_indicators():
    from extractors.cites_trade import layouts

    crosswalk = pd.read_csv(CROSSWALK, dtype=str, keep_default_na=False)
    assert crosswalk["rule"].str.fullmatch(r"map|exclude: .+").all()
    assert not crosswalk.duplicated(["source_field", "answer_code"]).any()
    upstream = {f"trade_db.{c}" for c in layouts()["release"]["trade_db"]}
    upstream |= {f"comptab.{c}" for c in layouts()["comptab"]["comptab"]}
    assert upstream == set(crosswalk["source_field"])
    mapped = crosswalk.loc[crosswalk["rule"] == "map", "indicator_code"]
    assert set(mapped) <= set(indicators())
    assert all(indicators()[c]["catalogue_file"] == "cites.yaml" for c in mapped)


def update() -> None:
    """Rewrite tests/golden/cites-trade/*.csv from a run on the replica snapshot."""
    with tempfile.TemporaryDirectory() as tmp, Replica() as replica:
        parts = run(seed(Path(tmp)), replica)
        write_golden(SOURCE, parts, PARTS, lambda frame: golden_csv(frame, replica.url))


@pytest.mark.parametrize("part", PARTS)
def test_cites_trade_golden_output(parts, replica, part):
    """Snapshot in, harmonized rows out, against reviewed golden files."""
    assert_matches_golden(SOURCE, part, pd.read_parquet(parts / f"{part}.parquet"),
                          "uv run python tests/test_cites_trade.py --update",
                          lambda frame: golden_csv(frame, replica.url))


if __name__ == "__main__" and "--update" in sys.argv:
    update()
