"""UN SDG Global Database: staging (raw pages to typed tables) and harmonizing (to the shared schema).

Staging keeps the API's names and codes, parses the string values and zero-pads M49 area codes;
harmonizing maps areas to ISO3 (countries -> observations) or keeps them as M49 (regions and
groups -> sdg_aggregates), places each series in its release cycle, maps Nature to a status, by the
reviewed rules of mappings/sdg_series.yaml, and maps attributes.Units (PERCENT, INDEX, ...) to a code
of the one unit list (mappings/units/sdg-api.csv), which must be the catalogue unit of the series'
indicator. Every rejected row goes to quarantine.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from functools import cache, partial
from pathlib import Path
from urllib.parse import urlencode

import pandas as pd

from extractors.sdg_api import series_spec, unwrap_envelope
from transforms.catalogue import indicator
from transforms.countries import UnknownCountry, overrides, to_iso3
from transforms.observations import NATURAL_KEY, with_catalogue
from transforms.quarantine import Origin, Quarantine
from transforms.units import UnknownUnit, to_unit_code

SOURCE = "sdg-api"
ENTITY = "Series/Data"
#: fields every Series/Data row must carry (convention-sources.md section 7); a row without one is a layout change
ROW_FIELDS = ("series", "geoAreaCode", "geoAreaName", "timePeriodStart", "value", "attributes", "dimensions")
AGGREGATE_KINDS = {"region", "group"}
_RELEASE = re.compile(r"^(?P<year>\d{4})\.(?P<quarter>Q[1-4])\.")
AGGREGATE_KEY = ["area_m49", "series_code", "year", "disaggregation"]


class BadValue(ValueError):
    """A Series/Data field that does not parse: ``field`` names it, the message is the quarantine reason."""

    def __init__(self, field: str, reason: str):
        super().__init__(reason)
        self.field = field


@cache
def series_rules() -> dict[str, dict]:
    """sdg_series.yaml by series code, checked against the catalogue (one place decides the GBF link)."""
    rules = {}
    for entry in series_spec()["series"]:
        entry_in_catalogue = indicator(entry["indicator_code"])
        for field in ("gbf_target", "sdg_indicator"):
            if entry.get(field) != entry_in_catalogue.get(field):
                raise ValueError(f"sdg_series.yaml: {entry['code']} {field}={entry.get(field)!r} but the catalogue "
                                 f"says {entry_in_catalogue.get(field)!r} for {entry['indicator_code']}")
        rules[entry["code"]] = entry
    return rules


def m49_code(value) -> str:
    """A geoAreaCode as three-digit M49 text.

    2026-11: the API sends M49 codes as unpadded numbers in text ("8" for Albania, "1" for World);
    the countries table and pycountry write them with three digits ("008").
    """
    text = str(value).strip() if value is not None else ""
    if not text.isdigit():
        raise BadValue("geoAreaCode", f"geoAreaCode {value!r} is not an M49 number")
    return text.zfill(3)


def parse_value(value) -> float:
    """The number in a Series/Data ``value``.

    2026-11: values are strings (convention-sources.md section 7); "NaN", "" and censored values
    such as ">95" or "<1" occur and are not numbers we can publish.
    """
    text = "" if value is None else str(value).strip()
    if not text:
        raise BadValue("value", "empty value")
    try:
        number = float(text)
    except ValueError:
        raise BadValue("value", f"value {text!r} is not a number") from None
    if not math.isfinite(number):
        raise BadValue("value", f"value {text!r} is not a finite number")
    return number


def parse_year(value) -> int:
    """The reference year from ``timePeriodStart`` (2026-11: sent as a float, e.g. 2020.0)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadValue("timePeriodStart", f"timePeriodStart {value!r} is not a year") from None
    if not number.is_integer():
        raise BadValue("timePeriodStart", f"timePeriodStart {value!r} is not a whole year")
    return int(number)


def disaggregation(dimensions: dict) -> str:
    """``_T`` when every dimension is a total, else sorted NAME=CODE pairs, e.g. ``LOCATION=URBAN``."""
    spec = series_spec()
    parts = sorted(f"{name.upper().replace(' ', '_')}={code}" for name, code in (dimensions or {}).items()
                   if name not in spec["not_disaggregations"] and code not in spec["total_codes"])
    return ";".join(parts) or "_T"


def report_cycle(release: str | None) -> str:
    """``sdg:<year>-<quarter>`` from a series release, e.g. ``2025.Q2.G.01`` -> ``sdg:2025-Q2``."""
    match = _RELEASE.match(release or "")
    if not match:
        raise BadValue("release", f"release {release!r} is not <year>.Q<n>.<...>")
    return f"sdg:{match['year']}-{match['quarter']}"


def record_id(row: dict) -> str:
    """The API's own key of a row (it has no id): series/area/year, plus dimensions other than totals.

    Reporting Type is not part of it, so a global (G) and a national (N) row of one fact are duplicates.
    """
    time = row.get("timePeriodStart")
    time = int(time) if isinstance(time, float) and time.is_integer() else time
    dims = disaggregation(row.get("dimensions"))
    return f"{row.get('series')}/{row.get('geoAreaCode')}/{time}" + ("" if dims == "_T" else f"/{dims}")


# Staging.

STAGED_COLUMNS = ["record_id", "series", "geoAreaCode", "area_m49", "geoAreaName", "year", "value", "value_num",
                  "valueType", "time_detail", "source", "footnotes", "nature", "units", "dimensions",
                  "disaggregation", "source_url", "raw_sha256", "retrieved_at"]


def stage(fetch_log_path: Path, data_dir: Path, out_dir: Path) -> Path:
    """Typed staging tables (Parquet): series (Series/List), series_data, quarantine; returns ``out_dir``."""
    fetch_log = json.loads(Path(fetch_log_path).read_text())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    quarantine = Quarantine(SOURCE)
    stage_series_list(fetch_log["entities"]["SeriesList"]["pages"][0], data_dir).to_parquet(
        out_dir / "series.parquet", index=False)
    rows, seen = [], {}
    for entity, entry in sorted(fetch_log["entities"].items()):
        if entity.startswith("SeriesData."):
            for page, number, position, record in iter_rows(entry["pages"], data_dir):
                row = stage_row(record, page, f"page {number} row {position}", fetch_log["base_url"], seen,
                                quarantine)
                if row is not None:
                    rows.append(row)
    pd.DataFrame(rows, columns=STAGED_COLUMNS).to_parquet(out_dir / "series_data.parquet", index=False)
    quarantine.frame().to_parquet(out_dir / "quarantine.parquet", index=False)
    return out_dir


def stage_series_list(page: dict, data_dir: Path) -> pd.DataFrame:
    """Series/List as a table (code, release, indicator, description); a layout change fails naming the URL."""
    payload = json.loads((Path(data_dir) / page["raw_path"]).read_bytes())
    if not isinstance(payload, list):
        raise ValueError(f"[{SOURCE}] {page['url']}: Series/List is not a JSON array")
    for position, item in enumerate(payload):
        missing = [f for f in ("code", "release", "indicator", "description") if f not in item]
        if missing:
            raise ValueError(f"[{SOURCE}] {page['url']}: Series/List item {position} lacks {missing}")
    return pd.DataFrame([{"code": s["code"], "release": s["release"], "indicator": ",".join(s["indicator"]),
                          "description": s["description"], "raw_sha256": page["sha256"],
                          "retrieved_at": page["retrieved_at"]} for s in payload],
                        columns=["code", "release", "indicator", "description", "raw_sha256", "retrieved_at"])


def iter_rows(pages: list[dict], data_dir: Path):
    """(page, page number, position, row) for every data row of every landed page, in paging order."""
    for number, page in enumerate(pages, start=1):
        payload = json.loads((Path(data_dir) / page["raw_path"]).read_bytes())
        for position, row in enumerate(unwrap_envelope(payload, page["url"])["data"]):
            yield page, number, position, row


def stage_row(record: dict, page: dict, where: str, base_url: str, seen: dict,
              quarantine: Quarantine) -> dict | None:
    """One typed staging row, or None after quarantining it (unparseable field or repeated row)."""
    missing = [f for f in ROW_FIELDS if not isinstance(record, dict) or f not in record]
    if missing:
        raise ValueError(f"[{SOURCE}] {page['url']}: {where} lacks {missing}")
    rid = record_id(record)
    source_url = f"{base_url}/v1/sdg/Series/Data?" + urlencode(
        {"seriesCode": record["series"], "areaCode": record["geoAreaCode"]})
    origin = Origin(page["sha256"], source_url, page["retrieved_at"])
    if rid in seen:
        quarantine.reject(ENTITY, rid, "series/geoAreaCode/timePeriodStart/dimensions", record["value"],
                          f"duplicate row: the same series, area, year and dimensions as {seen[rid]}", origin)
        return None
    seen[rid] = where
    attributes = record["attributes"] or {}
    try:
        parsed = {"area_m49": m49_code(record["geoAreaCode"])}
        parsed["year"] = parse_year(record["timePeriodStart"])
        parsed["value_num"] = parse_value(record["value"])
    except BadValue as exc:
        quarantine.reject(ENTITY, rid, exc.field, record.get(exc.field), str(exc), origin)
        return None
    return {
        "record_id": rid, "series": record["series"], "geoAreaCode": str(record["geoAreaCode"]),
        "geoAreaName": record["geoAreaName"], "value": record["value"], "valueType": record.get("valueType"),
        "time_detail": record.get("time_detail"), "source": record.get("source"),
        "footnotes": json.dumps(record.get("footnotes"), ensure_ascii=False),
        "nature": attributes.get("Nature"), "units": attributes.get("Units"),
        "dimensions": json.dumps(record["dimensions"] or {}, ensure_ascii=False, sort_keys=True),
        "disaggregation": disaggregation(record["dimensions"]), "source_url": source_url,
        "raw_sha256": page["sha256"], "retrieved_at": page["retrieved_at"], **parsed,
    }


# Harmonizing.

def harmonize(staging_dir: Path, out_dir: Path) -> Path:
    """Shared-schema parts (observations, sdg_aggregates, quarantine) as Parquet."""
    staging_dir, out_dir = Path(staging_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    quarantine = Quarantine(SOURCE)
    releases = dict(pd.read_parquet(staging_dir / "series.parquet")[["code", "release"]].itertuples(index=False))
    placed = place_rows(pd.read_parquet(staging_dir / "series_data.parquet"), releases, quarantine)
    country_rows = first_of_each(placed[placed["country_iso3"].notna()], NATURAL_KEY, quarantine)
    aggregate_rows = first_of_each(placed[placed["country_iso3"].isna()], AGGREGATE_KEY, quarantine)
    observations_part(country_rows).to_parquet(out_dir / "observations.parquet", index=False)
    aggregates_part(aggregate_rows).to_parquet(out_dir / "sdg_aggregates.parquet", index=False)
    staged_quarantine = pd.read_parquet(staging_dir / "quarantine.parquet")
    pd.concat([staged_quarantine, quarantine.frame()], ignore_index=True).to_parquet(
        out_dir / "quarantine.parquet", index=False)
    return out_dir


def place_rows(staged: pd.DataFrame, releases: dict[str, str], quarantine: Quarantine) -> pd.DataFrame:
    """Staged rows with series rules, cycle, status and area (ISO3 country, or M49 aggregate); the rest quarantined."""
    rules, natures = series_rules(), series_spec()["natures"]
    rows = []
    for rec in staged.to_dict("records"):
        origin = Origin(rec["raw_sha256"], rec["source_url"], rec["retrieved_at"])
        reject = partial(quarantine.reject, ENTITY, rec["record_id"], origin=origin)
        rule = rules.get(rec["series"])
        if rule is None:
            reject("series", rec["series"], f"series {rec['series']!r} is not in sdg_series.yaml")
            continue
        if rec["series"] not in releases:
            reject("series", rec["series"], f"series {rec['series']!r} is not in Series/List: no release")
            continue
        try:
            cycle = report_cycle(releases[rec["series"]])
        except BadValue as exc:
            reject("release", releases[rec["series"]], str(exc))
            continue
        if rec["nature"] not in natures:
            reject("attributes.Nature", rec["nature"],
                   f"Nature {rec['nature']!r} has no observation_status in sdg_series.yaml")
            continue
        try:
            unit = to_unit_code(rec["units"], SOURCE)
        except UnknownUnit as exc:
            reject("unit", rec["units"], str(exc))
            continue
        expected = indicator(rule["indicator_code"]).get("unit")
        if unit != expected:
            reject("unit", rec["units"], f"unit {rec['units']!r} ({unit}) is not the catalogue unit {expected!r} "
                   f"of {rule['indicator_code']}")
            continue
        try:
            iso3 = to_iso3(rec["area_m49"], source=SOURCE)
        except UnknownCountry as exc:
            if not is_aggregate(rec["area_m49"]):
                reject("geoAreaCode", rec["geoAreaCode"],
                       f"M49 {rec['area_m49']} is neither a country nor a reviewed aggregate: {exc}")
                continue
            iso3 = None
        rows.append({**rec, "country_iso3": iso3, "convention": rule["convention"], "report_cycle": cycle,
                     "indicator_code": rule["indicator_code"], "observation_status": natures[rec["nature"]],
                     "unit": unit})
    columns = list(staged.columns) + ["country_iso3", "convention", "report_cycle", "indicator_code",
                                      "observation_status", "unit"]
    return pd.DataFrame(rows, columns=columns).rename(columns={"series": "series_code"})


def is_aggregate(m49: str) -> bool:
    """Whether the reviewed table (mappings/countries/sdg-api.csv) lists ``m49`` as a region or group."""
    row = overrides(SOURCE).get(m49)
    return row is not None and not row["iso3"] and row["kind"] in AGGREGATE_KINDS


def first_of_each(rows: pd.DataFrame, key: list[str], quarantine: Quarantine) -> pd.DataFrame:
    """One row per ``key`` (the first in paging order); later ones are quarantined naming the first.

    Rows that repeat the API's own key were caught in staging; this catches rows that differ only
    by how a total is written (no Location vs Location=ALLAREA) and so land on the same key.
    """
    repeated = rows.duplicated(key, keep="first")
    first = rows[~repeated].set_index(key)["record_id"]
    for rec in rows[repeated].to_dict("records"):
        quarantine.reject(ENTITY, rec["record_id"], "dimensions", rec["dimensions"],
                          f"same {'/'.join(key)} as {first[tuple(rec[k] for k in key)]}",
                          Origin(rec["raw_sha256"], rec["source_url"], rec["retrieved_at"]))
    return rows[~repeated].reset_index(drop=True)


def observations_part(rows: pd.DataFrame) -> pd.DataFrame:
    """Country rows as observations with the catalogue's metadata."""
    obs = pd.DataFrame({
        "country_iso3": rows["country_iso3"], "convention": rows["convention"], "report_cycle": rows["report_cycle"],
        "indicator_code": rows["indicator_code"], "year": rows["year"].astype("int64"),
        "disaggregation": rows["disaggregation"], "value_num": rows["value_num"].astype("float64"),
        "value_code": None, "value_label": None, "unit": rows["unit"],
        "observation_status": rows["observation_status"], "source_system": SOURCE,
        "source_record_id": rows["record_id"], "source_field": rows["series_code"],
        "source_url": rows["source_url"], "raw_sha256": rows["raw_sha256"], "retrieved_at": rows["retrieved_at"],
    })
    return with_catalogue(obs)


def aggregates_part(rows: pd.DataFrame) -> pd.DataFrame:
    """Region and group rows as ``sdg_aggregates`` (contract columns, in order)."""
    return pd.DataFrame({
        "observation_id": [aggregate_id(r) for r in rows[AGGREGATE_KEY].to_dict("records")],
        "area_m49": rows["area_m49"], "area_name": rows["geoAreaName"], "indicator_code": rows["indicator_code"],
        "sdg_indicator": rows["indicator_code"].map(lambda c: indicator(c).get("sdg_indicator")),
        "series_code": rows["series_code"], "year": rows["year"].astype("int64"),
        "disaggregation": rows["disaggregation"], "value_num": rows["value_num"].astype("float64"),
        "unit": rows["unit"], "observation_status": rows["observation_status"], "source_system": SOURCE,
        "source_url": rows["source_url"], "raw_sha256": rows["raw_sha256"], "retrieved_at": rows["retrieved_at"],
    })


def aggregate_id(key: dict) -> str:
    """Stable id of an aggregate value: sha256 of area, series, year and disaggregation."""
    return hashlib.sha256("|".join(str(key[k]) for k in AGGREGATE_KEY).encode("utf-8")).hexdigest()[:24]
