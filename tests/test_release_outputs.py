"""What analysts and officers read in a release: the data dictionary, the workbook, the SDMX-CSV
export and the DuckDB views."""
from __future__ import annotations

import re
import shutil

import duckdb
import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest

from core.manifest import read_manifest
from outputs import contracts, sdmx as sdmx_export, views
from outputs.dictionary import COLUMNS, dictionary
from outputs.workbook import COVERAGE_SHEET, DICTIONARY_SHEET
from processes import run
from transforms.coverage import MISSING, STATUSES, SUBMITTED
from report_helpers import published_release
from transforms.catalogue import indicators


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    with published_release(tmp_path_factory.mktemp("outputs") / "var") as folder:
        yield folder


def read_dictionary(release) -> pd.DataFrame:
    return pd.read_csv(release / "dictionary.csv", dtype=str, keep_default_na=False)


def test_every_published_column_is_in_the_dictionary_with_its_contract_type(release):
    terms = read_dictionary(release)
    assert list(terms.columns) == COLUMNS
    columns = terms[terms["kind"] == "column"]
    documented = {(r.table_name, r.column_name): r for r in columns.itertuples()}
    for table in contracts.table_names():
        for column in pq.read_schema(release / f"{table}.parquet").names:
            row = documented[(table, column)]
            assert row.type == contracts.contracts()[table]["columns"][column]["type"], (table, column)
            assert row.description and row.defined_in == "outputs/contracts.yaml", (table, column)
    assert len(columns) == sum(len(c["columns"]) for c in contracts.contracts().values())


def test_every_published_indicator_is_in_the_dictionary(release):
    terms = read_dictionary(release)
    listed = terms[terms["kind"] == "indicator"].set_index("value")
    published = set(pd.read_parquet(release / "observations.parquet")["indicator_code"]) \
        | set(pd.read_parquet(release / "indicators.parquet")["indicator_code"])
    assert published and published <= set(listed.index)
    assert set(listed.index) == set(indicators())
    gbf = listed.loc["GBF-3.1"]
    assert gbf["unit"] == "PT" and gbf["gbf_target"] == "GBF-T03" and gbf["conventions"] == "cbd,ramsar,cms"
    assert gbf["description"].startswith("Coverage of protected areas") and "  " not in gbf["description"]
    assert gbf["defined_in"] == "transforms/mappings/indicators/shared.yaml"


def test_no_description_was_cut_at_a_comma():
    appendix = dictionary().set_index(["table_name", "column_name"]).loc[("cites_trade", "appendix")]
    assert appendix["description"] == "CITES Appendix (I, II, III, N)."


def test_a_description_with_an_unquoted_comma_is_refused(tmp_path):
    bad = {"t": {"columns": {"c": {"type": "text", "nullable": True, "description": "A", "B": None}}}}
    with pytest.raises(contracts.ContractError, match=r"x.yaml: table t, column c: .*quote a description"):
        contracts.check_columns(bad, tmp_path / "x.yaml")


def test_workbook_sheets_header_styles_and_formats(release):
    book = openpyxl.load_workbook(release / "mea-reporting.xlsx")
    assert book.sheetnames == [DICTIONARY_SHEET, COVERAGE_SHEET, *contracts.table_names()]
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2", sheet.title
        assert sheet.auto_filter.ref and sheet.auto_filter.ref.startswith("A1:"), sheet.title
        header = sheet[1]
        assert all(c.font.b and c.fill.fgColor.rgb.endswith("DDEBF7") for c in header), sheet.title
        assert sheet.column_dimensions["A"].width >= len(str(header[0].value)), sheet.title
    dictionary_sheet = book[DICTIONARY_SHEET]
    assert [c.value for c in dictionary_sheet[1]] == COLUMNS
    assert dictionary_sheet.max_row - 1 == len(read_dictionary(release))
    observations = book["observations"]
    names = [c.value for c in observations[1]]
    year, value = names.index("year") + 1, names.index("value_num") + 1
    assert observations.cell(2, year).number_format == "0"
    assert observations.cell(2, value).number_format == "#,##0.####"
    assert book["report_submissions"].cell(2, 5).number_format == "yyyy-mm-dd"


def test_workbook_coverage_matrix_has_conditional_colours(release):
    sheet = openpyxl.load_workbook(release / "mea-reporting.xlsx")[COVERAGE_SHEET]
    coverage = pd.read_parquet(release / "coverage.parquet")
    header = [c.value for c in sheet[1]]
    assert header[0] == "country_iso3" and len(header) - 1 == coverage[["convention", "report_cycle"]] \
        .drop_duplicates().shape[0]
    assert sheet.max_row - 1 == coverage["country_iso3"].nunique()
    cells = {v for row in sheet.iter_rows(min_row=2, min_col=2, values_only=True) for v in row}
    assert {SUBMITTED, MISSING} <= cells
    rules = [r for rng in sheet.conditional_formatting for r in rng.rules]
    assert sorted(r.formula[0] for r in rules) == sorted(f'"{status}"' for status in STATUSES)
    assert all(r.dxf.fill is not None for r in rules)
    one = coverage.iloc[0]
    row = next(r for r in sheet.iter_rows(min_row=2, values_only=True) if r[0] == one["country_iso3"])
    assert row[header.index(one["report_cycle"])] == one["status"]


def test_workbook_keeps_formula_like_text_as_text(tmp_path):
    import pyarrow as pa

    from outputs.release import WORKBOOK
    from outputs.workbook import write_workbook

    tables = {name: contracts.arrow_schema(name).empty_table() for name in contracts.table_names()}
    title = '=HYPERLINK("http://evil","click")'
    row = {name: None for name in contracts.arrow_schema("conventions").names}
    row.update(convention="cbd", title=title, source_system="informea", raw_sha256="0" * 64)
    tables["conventions"] = pa.Table.from_pylist([row], schema=contracts.arrow_schema("conventions"))
    write_workbook(tmp_path / WORKBOOK, tables)
    cell = openpyxl.load_workbook(tmp_path / WORKBOOK)["conventions"]["B2"]
    assert cell.value == title and cell.data_type == "s" and cell.quotePrefix


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_workbook_converts_with_libreoffice_headless(release, tmp_path):
    profile = tmp_path / "lo-profile"
    done = run(["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "ods",
                "--outdir", str(tmp_path), str(release / "mea-reporting.xlsx")], timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "mea-reporting.ods").stat().st_size > 10_000, done.stdout + done.stderr


def sdmx_structure():
    """The dataflow MEA:DF_MEA_OBSERVATIONS(1.0) as sdmx1 objects, from outputs.sdmx's declaration."""
    from sdmx.model import common, v30

    agency = common.Agency(id=sdmx_export.AGENCY)
    dsd = v30.DataStructureDefinition(id="DSD_MEA_OBSERVATIONS", maintainer=agency, version=sdmx_export.VERSION)
    for dimension in sdmx_export.DIMENSIONS:
        kind = v30.TimeDimension if dimension == "TIME_PERIOD" else v30.Dimension
        dsd.dimensions.getdefault(dimension, cls=kind)
    dsd.measures.getdefault("OBS_VALUE")
    for attribute in sdmx_export.ATTRIBUTES:
        dsd.attributes.getdefault(attribute)
    return v30.Dataflow(id=sdmx_export.DATAFLOW, maintainer=agency, version=sdmx_export.VERSION, structure=dsd)


def test_sdmx_csv_round_trips_through_sdmx1(release):
    import sdmx

    path = release / sdmx_export.FILE_NAME
    assert "observations.sdmx.csv" in read_manifest(release)["files"]
    message = sdmx.read_sdmx(path, structure=sdmx_structure())
    observations = pd.read_parquet(release / "observations.parquet")
    read_back = [o for data_set in message.data for o in data_set.obs]
    assert len(read_back) == len(observations) > 0
    by_key = {tuple(kv.value for kv in o.dimension.values.values()): o for o in read_back}
    assert len(by_key) == len(observations)
    for row in observations.sample(25, random_state=7).itertuples():
        obs = by_key[tuple(str(getattr(row, c)) for c in sdmx_export.DIMENSIONS.values())]
        if pd.notna(row.value_num):
            assert float(obs.value) == pytest.approx(row.value_num)
        else:
            assert obs.value in (row.value_code, row.value_label)
        attributes = {k: a.value for k, a in obs.attached_attribute.items()}
        assert attributes["OBS_STATUS"] == sdmx_export.OBS_STATUS[row.observation_status]
        assert attributes.get("UNIT_MEASURE") == (row.unit if pd.notna(row.unit) else "")


def test_sdmx_refuses_an_unknown_observation_status(release):
    observations = pd.read_parquet(release / "observations.parquet").head(2).assign(observation_status="guessed")
    with pytest.raises(ValueError, match=r"observation_status \['guessed'\] has no SDMX OBS_STATUS code"):
        sdmx_export.sdmx_frame(observations)


@pytest.mark.parametrize("name", list(views.views()))
def test_each_view_has_exactly_its_documented_columns(release, name):
    with duckdb.connect(str(release / "mea.duckdb"), read_only=True) as con:
        described = con.execute(f'DESCRIBE "{name}"').fetchall()
        assert con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] > 0
    columns = views.views()[name]["columns"]
    assert [c[0] for c in described] == list(columns)
    assert [c[1] for c in described] == [contracts.DUCKDB_TYPES[s["type"]] for s in columns.values()]
    terms = read_dictionary(release)
    documented = terms[(terms["kind"] == "view column") & (terms["table_name"] == name)]
    assert list(documented["column_name"]) == list(columns)
    assert (documented["defined_in"] == "outputs/views.yaml").all() and (documented["description"] != "").all()


def test_latest_values_gives_one_row_per_country_and_indicator_at_its_latest_year(release):
    with duckdb.connect(str(release / "mea.duckdb"), read_only=True) as con:
        latest = con.execute("SELECT * FROM latest_values").df()
        expected = con.execute("SELECT country_iso3, indicator_code, max(year) AS year FROM observations "
                               "GROUP BY ALL").df()
    assert not latest.duplicated(["country_iso3", "indicator_code"]).any()
    merged = expected.merge(latest, on=["country_iso3", "indicator_code"], suffixes=("", "_view"))
    assert len(merged) == len(expected) and (merged["year"] == merged["year_view"]).all()


def test_submissions_by_cycle_and_synergy_by_target_agree_with_their_tables(release):
    with duckdb.connect(str(release / "mea.duckdb"), read_only=True) as con:
        cycles = con.execute("SELECT * FROM submissions_by_cycle WHERE report_type = 'national_report'").df()
        synergy = con.execute("SELECT * FROM synergy_by_target").df()
    coverage = pd.read_parquet(release / "coverage.parquet")
    submitted = coverage[coverage["submitted"]].groupby(["convention", "report_cycle"]).size()
    expected = coverage[coverage["expected"]].groupby(["convention", "report_cycle"]).size()
    for row in cycles.itertuples():
        assert row.parties_submitted == submitted[(row.convention, row.report_cycle)]
        assert row.parties_expected == expected[(row.convention, row.report_cycle)]
    matrix = pd.read_parquet(release / "synergy_matrix.parquet")
    parties = matrix.groupby(["gbf_target", "convention"])["country_iso3"].nunique()
    assert dict(zip(zip(synergy["gbf_target"], synergy["convention"]), synergy["parties"])) == parties.to_dict()


def test_report_is_offline_complete_and_listed_in_the_manifest(release):
    from outputs.report import PLOTLY_JS, REPORT

    report = release / REPORT
    files = read_manifest(release)["files"]
    pages = sorted(p.relative_to(release).as_posix() for p in report.rglob("*.html"))
    assert set(pages) | {f"{REPORT}/{PLOTLY_JS.name}", "data_docs/index.html"} <= set(files)
    countries = set(pd.read_parquet(release / "report_submissions.parquet")["country_iso3"]) \
        | set(pd.read_parquet(release / "observations.parquet")["country_iso3"])
    assert {f"{REPORT}/countries/{iso3}.html" for iso3 in countries} <= set(pages)
    assert (report / PLOTLY_JS.name).read_bytes() == PLOTLY_JS.read_bytes()
    for page in report.rglob("*.html"):
        loaded = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="([^"]+)"', page.read_text())
        assert not [url for url in loaded if "//" in url], page.name
    index = (report / "index.html").read_text()
    assert f'<script src="{PLOTLY_JS.name}"></script>' in index and "coverage-heatmap" in index
    assert 'href="../data_docs/index.html"' in index and (release / "data_docs" / "index.html").exists()


def test_the_audit_context_keeps_no_batch_in_memory(tmp_path):
    """One GX context serves the whole audit (its Data Docs); it must not hold every batch of a bulk table."""
    import gc
    import weakref

    from outputs import audit

    context = audit.audit_context(tmp_path / "data_docs")
    frame = contracts.arrow_schema("cites_trade").empty_table().to_pandas()
    ref = weakref.ref(frame)
    result = audit.validate(context, "cites_trade", frame, {"country_codes": ["KEN"]}, batch_name="batch1")
    del frame
    gc.collect()
    assert result["success"] and ref() is None
    context.build_data_docs(site_names=[audit.DATA_DOCS])
    assert list((tmp_path / "data_docs" / "validations").rglob("*.html"))
