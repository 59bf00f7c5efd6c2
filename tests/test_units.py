"""One unit code list (transforms/mappings/units.csv): the catalogue uses only its codes, each source's
reviewed spellings map onto it, an unknown spelling is quarantined, and what is published carries codes."""
import csv
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from transforms import catalogue, cbd_chm, ramsar_nrf, sdg_api, units
from transforms.quarantine import Quarantine
from transforms.units import UnknownUnit, to_unit_code, unit_codes

ROOT = Path(__file__).resolve().parents[1]
LIST = "IAEG-SDGs:CL_UNIT_MEASURE(1.20)"
SDG_SNAPSHOT = ROOT / "replica" / "snapshots" / "sdg-api" / "SeriesData.json"
GOLDEN = Path(__file__).parent / "golden"
SOURCES_WITH_RAW_UNITS = ("cbd-chm", "cbd-ort-excel", "ramsar-nrf", "sdg-api")


# The list.

def test_the_list_is_one_published_list_cited_in_its_header():
    header = "".join(line for line in units.UNITS.read_text(encoding="utf-8").splitlines(keepends=True)
                     if line.startswith("#"))
    assert LIST.split("(")[0] in header and "registry.sdmx.org" in header and "CL_UNIT_MEASURE/1.20" in header
    assert {row["source_list"] for row in unit_codes().values()} == {LIST}
    assert all(code == code.upper() and row["name"] for code, row in unit_codes().items())
    assert {"PT", "HA", "IX", "NUMBER", "KM2"} <= set(unit_codes())
    assert units.unit_name("PT") == "Percent" and units.unit_name("KM2") == "Square kilometres"
    assert [units.unit_label(v) for v in ("IX", None, float("nan"), "", "odd")] == ["Index", "", "", "", "odd"]


def test_every_catalogue_unit_is_a_code_of_the_list():
    for code, entry in catalogue.indicators().items():
        if entry["value_type"] == "numeric":
            assert entry["unit"] in unit_codes(), f"{entry['catalogue_file']}: {code} unit {entry['unit']!r}"
        else:
            assert entry["unit"] is None, f"{entry['catalogue_file']}: {code} is {entry['value_type']} with a unit"
    assert set(catalogue.indicators_table()["unit"].dropna()) <= set(unit_codes())


@pytest.fixture
def catalogue_dir(tmp_path, monkeypatch):
    """A catalogue folder of one file, read instead of the real one (the cache cleared around the test)."""
    monkeypatch.setattr(catalogue, "CATALOGUE", tmp_path)
    catalogue.indicators.cache_clear()
    yield tmp_path
    catalogue.indicators.cache_clear()


def entry(**fields) -> dict:
    return {"code": "TEST-1", "title": "t", "description": "d", "unit": "PT", "value_type": "numeric",
            "gbf_target": None, "sdg_indicator": None, "conventions": ["cbd"], **fields}


@pytest.mark.parametrize("fields, message", [
    ({"unit": "percent"}, "indicator TEST-1 has unit 'percent', which is not a code of transforms/mappings/units.csv"),
    ({"unit": None}, "indicator TEST-1 has unit None"),
    ({"unit": "PT", "value_type": "categorical"}, "indicator TEST-1 is categorical, so its unit must be null"),
])
def test_the_catalogue_refuses_an_indicator_without_valid_unit_metadata(catalogue_dir, fields, message):
    (catalogue_dir / "broken.yaml").write_text(yaml.safe_dump([entry(**fields)]), encoding="utf-8")
    with pytest.raises(ValueError, match="transforms/mappings/indicators/broken.yaml") as raised:
        catalogue.indicators()
    assert message in str(raised.value)


def test_the_catalogue_refuses_an_indicator_with_no_unit_key(catalogue_dir):
    bare = entry()
    del bare["unit"]
    (catalogue_dir / "bare.yaml").write_text(yaml.safe_dump([bare]), encoding="utf-8")
    with pytest.raises(ValueError, match="bare.yaml: indicator TEST-1 has no unit key"):
        catalogue.indicators()


def test_a_valid_catalogue_loads(catalogue_dir):
    (catalogue_dir / "ok.yaml").write_text(yaml.safe_dump([entry(), entry(code="TEST-2", unit=None,
                                                                         value_type="boolean")]), encoding="utf-8")
    assert catalogue.indicator("TEST-1")["unit"] == "PT" and catalogue.indicator("TEST-2")["unit"] is None


# Each source's spellings.

@pytest.mark.parametrize("source", SOURCES_WITH_RAW_UNITS)
def test_each_source_has_a_reviewed_mapping_onto_the_list(source):
    table = units.spellings(source)
    assert table and {e["code"] for e in table.values()} - {None} <= set(unit_codes())
    with (units.SPELLINGS / f"{source}.csv").open(encoding="utf-8") as f:
        assert next(line for line in f if not line.startswith("#")).strip() == "raw,code,note"


def test_every_mapping_file_is_for_a_source_that_uses_it():
    assert {p.stem for p in units.SPELLINGS.glob("*.csv")} == set(SOURCES_WITH_RAW_UNITS)


@pytest.mark.parametrize("raw, source, code", [
    ("PERCENT", "sdg-api", "PT"), ("percent", "sdg-api", "PT"),
    ("%", "cbd-chm", "PT"), ("percent", "cbd-chm", "PT"), (" Per  Cent ", "cbd-chm", "PT"), ("PERCENT", "cbd-chm", "PT"),
    ("percentage", "cbd-chm", "PT"), ("%", "cbd-ort-excel", "PT"), ("percent", "cbd-ort-excel", "PT"),
    ("INDEX", "sdg-api", "IX"), ("index", "cbd-chm", "IX"), ("index", "cbd-ort-excel", "IX"),
    ("ha", "cbd-chm", "HA"), ("Hectares", "cbd-chm", "HA"), ("ha", "cbd-ort-excel", "HA"), ("ha", "ramsar-nrf", "HA"),
    ("km2", "cbd-chm", "KM2"), ("km2", "ramsar-nrf", "KM2"), ("SQKM", "sdg-api", "KM2"),
    ("NUMBER", "sdg-api", "NUMBER"),
])
def test_known_spellings_map_to_the_one_code(raw, source, code):
    assert to_unit_code(raw, source) == code


def test_the_same_unit_from_different_sources_is_one_code():
    assert {to_unit_code("PERCENT", "sdg-api"), to_unit_code("%", "cbd-chm"), to_unit_code("percent", "cbd-chm"),
            to_unit_code("%", "cbd-ort-excel")} == {"PT"}
    assert {to_unit_code("INDEX", "sdg-api"), to_unit_code("index", "cbd-chm")} == {"IX"}


@pytest.mark.parametrize("raw, source, reason", [
    ("acres", "cbd-chm", "[cbd-chm] unit 'acres' is not in the reviewed mapping transforms/mappings/units/cbd-chm.csv"),
    ("PT", "cbd-chm", "unit 'PT' is not in the reviewed mapping"),  # a code is no spelling until reviewed
    ("HA_TH", "sdg-api", "[sdg-api] unit 'HA_TH' has no code: Thousands of hectares"),
    ("%", "ramsar-nrf", "[ramsar-nrf] unit '%' is not in the reviewed mapping"),
    (None, "cbd-chm", "[cbd-chm] no unit given"), ("  ", "sdg-api", "[sdg-api] no unit given"),
    (float("nan"), "cbd-ort-excel", "[cbd-ort-excel] no unit given"),
])
def test_an_unknown_spelling_raises_a_clear_error(raw, source, reason):
    with pytest.raises(UnknownUnit) as raised:
        to_unit_code(raw, source)
    assert reason in str(raised.value)


def test_a_source_without_a_mapping_is_a_configuration_error():
    with pytest.raises(ValueError, match=r"\[no-such-source\] has no reviewed unit mapping"):
        to_unit_code("%", "no-such-source")


def test_a_mapping_onto_no_code_of_the_list_fails_naming_file_and_line(tmp_path, monkeypatch):
    (tmp_path / "bad.csv").write_text("# header\nraw,code,note\npercent,PT,\npercentage,PERCENT,\n", encoding="utf-8")
    monkeypatch.setattr(units, "SPELLINGS", tmp_path)
    units.spellings.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"bad.csv line 4: unit 'PERCENT' is not a code of"):
            units.spellings("bad")
    finally:
        units.spellings.cache_clear()


# Unknown units go to quarantine: source, record, field unit and the raw value.

ORIGIN = {"source_url": "https://example.org/r/1", "raw_sha256": "0" * 64, "retrieved_at": "2026-12-04T00:00:00+00:00"}


def only_row(quarantine: Quarantine) -> dict:
    assert len(quarantine.rows) == 1, quarantine.rows
    return quarantine.rows[0]


@pytest.mark.parametrize("source", ["cbd-chm", "cbd-ort-excel"])
@pytest.mark.parametrize("raw, reason", [
    ("acres", "unit 'acres' is not in the reviewed mapping"),
    ("km2", "unit 'km2' (KM2) is not the catalogue unit 'HA' of GBF-A.2"),
])
def test_cbd_indicator_data_with_an_unknown_or_wrong_unit_is_quarantined(source, raw, reason):
    rows = pd.DataFrame([{"record_id": "doc-1#data[0]", "country_iso3": "KEN", "code": "A.2", "disaggregation": "_T",
                          "year": 2020, "unit": raw, "value_num": 12.0, **ORIGIN}])
    quarantine = Quarantine(source)
    obs = cbd_chm.data_observations(rows, {("indicatorCode", "A.2"): "GBF-A.2"}, "indicatorCode", "rows", source,
                                    quarantine)
    assert obs.empty
    row = only_row(quarantine)
    assert (row["source_system"], row["source_record_id"], row["field"], row["value"]) == (source, "doc-1#data[0]",
                                                                                          "unit", raw)
    assert reason in row["reason"]


def test_cbd_indicator_data_in_a_known_spelling_is_published_as_the_code():
    rows = pd.DataFrame([{"record_id": "doc-1#data[0]", "country_iso3": "KEN", "code": "3.1", "disaggregation": "_T",
                          "year": 2020, "unit": "%", "value_num": 12.0, **ORIGIN}])
    obs = cbd_chm.data_observations(rows, {("indicatorCode", "3.1"): "GBF-3.1"}, "indicatorCode", "rows", "cbd-chm",
                                    Quarantine("cbd-chm"))
    assert obs["unit"].tolist() == ["PT"]


def sdg_staged(units_value) -> pd.DataFrame:
    record = {"goal": ["15"], "target": ["15.1"], "indicator": ["15.1.2"], "series": "ER_PTD_TERR",
              "seriesDescription": "KBAs (%)", "geoAreaCode": "404", "geoAreaName": "Kenya", "timePeriodStart": 2020.0,
              "value": "44.0", "valueType": "Float", "time_detail": None, "source": "s", "footnotes": [],
              "attributes": {"Nature": "G", "Units": units_value}, "dimensions": {"Reporting Type": "G"}}
    page = {"url": "https://example.org/page", "sha256": "0" * 64, "retrieved_at": ORIGIN["retrieved_at"]}
    row = sdg_api.stage_row(record, page, "page 1 row 0", "https://example.org", {}, Quarantine(sdg_api.SOURCE))
    return pd.DataFrame([row])


@pytest.mark.parametrize("raw, reason", [
    ("HA_TH", "unit 'HA_TH' has no code: Thousands of hectares"),
    ("PERCENT_OF_LAND", "unit 'PERCENT_OF_LAND' is not in the reviewed mapping"),
    ("INDEX", "unit 'INDEX' (IX) is not the catalogue unit 'PT' of SDG-15.1.2"),
    (None, "no unit given"),
])
def test_sdg_rows_with_an_unknown_or_wrong_unit_are_quarantined(raw, reason):
    staged = sdg_staged(raw)
    quarantine = Quarantine(sdg_api.SOURCE)
    placed = sdg_api.place_rows(staged, {"ER_PTD_TERR": "2025.Q2.G.01"}, quarantine)
    assert placed.empty
    row = only_row(quarantine)
    assert (row["source_system"], row["source_record_id"], row["field"], row["value"]) == (
        "sdg-api", staged["record_id"][0], "unit", raw)
    assert reason in row["reason"]


def test_sdg_rows_carry_the_code_into_observations_and_aggregates():
    placed = sdg_api.place_rows(sdg_staged("PERCENT"), {"ER_PTD_TERR": "2025.Q2.G.01"}, Quarantine(sdg_api.SOURCE))
    assert sdg_api.observations_part(placed)["unit"].tolist() == ["PT"]
    assert sdg_api.aggregates_part(placed)["unit"].tolist() == ["PT"]


def ramsar_answer(unit, value=1234.0) -> pd.DataFrame:
    return pd.DataFrame([{"record_id": "Ramsar_NRF_COP14_answers.xlsx!R4!8.6", "file": "f.xlsx", "row": 4,
                          "party": "Kenya", "report_cycle": "ramsar:COP14", "year": 2021, "question": "8.6",
                          "answer": str(value), "value_code": None, "value_label": None, "value_num": value,
                          "unit": unit, **ORIGIN}])


def test_a_ramsar_answer_with_an_unknown_unit_is_quarantined():
    quarantine = Quarantine(ramsar_nrf.SOURCE)
    assert ramsar_nrf.answer_observations(ramsar_answer("acres"), quarantine).empty
    row = only_row(quarantine)
    assert (row["source_system"], row["source_record_id"], row["field"], row["value"]) == (
        "ramsar-nrf", "Ramsar_NRF_COP14_answers.xlsx!R4!8.6", "unit", "acres")
    assert "unit 'acres' is not in the reviewed mapping transforms/mappings/units/ramsar-nrf.csv" in row["reason"]


def test_a_ramsar_extent_in_hectares_is_converted_to_the_catalogue_code():
    obs = ramsar_nrf.answer_observations(ramsar_answer("ha", 1234.0), Quarantine(ramsar_nrf.SOURCE))
    assert obs[["unit", "value_num"]].values.tolist() == [["KM2", 12.34]]


# The real SDG units (replica snapshot) and what is published.

def test_the_sdg_units_seen_in_the_replica_snapshot_map_to_the_catalogue_unit():
    if not SDG_SNAPSHOT.exists():
        pytest.skip(f"no SDG snapshot at {SDG_SNAPSHOT}")
    rules = sdg_api.series_rules()
    seen = {(r["series"], (r.get("attributes") or {}).get("Units"))
            for r in json.loads(SDG_SNAPSHOT.read_text(encoding="utf-8"))}
    assert seen, "the snapshot has no rows"
    for series, raw in sorted(seen, key=str):
        expected = catalogue.indicator(rules[series]["indicator_code"])["unit"]
        assert to_unit_code(raw, "sdg-api") == expected, (series, raw)


@pytest.mark.parametrize("path", sorted(p for p in GOLDEN.glob("*/*.csv")
                                        if p.stem in ("observations", "sdg_aggregates")), ids=lambda p: p.parent.name)
def test_published_units_are_codes_of_the_list(path):
    with path.open(encoding="utf-8") as f:
        published = {row["unit"] for row in csv.DictReader(f)} - {""}
    assert published <= set(unit_codes()), f"{path}: {sorted(published - set(unit_codes()))}"


def test_kenya_shows_one_spelling_per_unit_across_sources():
    """Issue 16: Kenya's page showed percent beside PERCENT; every source's Kenya rows now carry one code."""
    kenya = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in GOLDEN.glob("*/observations.csv")])
    kenya = kenya[(kenya["country_iso3"] == "KEN") & (kenya["unit"] != "")]
    assert {"cbd-chm", "sdg-api"} <= set(kenya["source_system"])
    assert set(kenya["unit"]) <= set(unit_codes()) and "PT" in set(kenya["unit"])
    names = {units.unit_name(code).casefold(): code for code in set(kenya["unit"])}
    assert len(names) == kenya["unit"].nunique()


def test_the_contracts_say_which_list_the_unit_columns_use():
    contracts = yaml.safe_load((ROOT / "outputs" / "contracts.yaml").read_text(encoding="utf-8"))
    for table in ("observations", "indicators", "sdg_aggregates"):
        description = contracts[table]["columns"]["unit"]["description"]
        assert "transforms/mappings/units.csv" in description and "IAEG-SDGs:CL_UNIT_MEASURE" in description, table


def test_the_country_page_shows_the_unit_name_with_the_code_as_its_title():
    """country.html.j2 shows units.csv's name through the report's ``unit_name`` filter, the code as the
    cell's title."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    def render(filters: dict) -> str:
        env = Environment(loader=FileSystemLoader(ROOT / "outputs" / "templates"), autoescape=True,
                          undefined=StrictUndefined)
        env.filters.update({"web_url": lambda value: value, **filters})
        row = {"convention": "cbd", "indicator_code": "GBF-3.1", "indicator_title": "t", "year": 2024,
               "disaggregation": "_T", "value_num": 12.5, "value_code": None, "value_label": None, "unit": "PT",
               "observation_status": "reported", "source_url": "https://x", "report_cycle": "cbd:NR7"}
        return env.get_template("country.html.j2").render(title="Kenya (KEN)", root="../", region=None,
                                                          submissions=[], values=[row], plotly_js="p.js")

    from outputs.report import template_environment

    assert template_environment().filters["unit_name"] is units.unit_label
    assert '<td title="PT">Percent</td>' in render({"unit_name": units.unit_label})
