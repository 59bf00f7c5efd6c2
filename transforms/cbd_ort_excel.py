"""CBD ORT indicator-data workbooks: staging (declared layout to a typed table) and harmonizing.

Staging checks each landed workbook against ``extractors/cbd_ort_excel.layout.yaml`` (file name
gives the Party, sheet, header row and columns) and fails naming the file and what is missing;
rows whose year or value do not parse are quarantined. Harmonizing applies the same indicator-data
rules as the Clearing-House (transforms.cbd_chm): crosswalk, catalogue unit (the ``Unit`` cell as a code
of the one unit list, through mappings/units/cbd-ort-excel.csv), unique keys.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from extractors.cbd_ort_excel import layout
from transforms.cbd_chm import data_observations, load_crosswalk, origin, parse_number, parse_year
from transforms.countries import UnknownCountry, to_iso3
from transforms.quarantine import Quarantine
from transforms.workbooks import LayoutError, declared_rows, stage_workbooks

SOURCE = "cbd-ort-excel"
ENTITY = "workbook_rows"
COLUMNS = ["record_id", "file", "row", "country_iso3", "Indicator", "Indicator code", "Disaggregation type",
           "Disaggregation", "Year", "Unit", "Value", "Footnote", "year", "value_num", "source_url", "raw_sha256",
           "retrieved_at"]


def stage(fetch_log_path: Path, data_dir: Path, out_dir: Path) -> Path:
    """``workbook_rows.parquet`` and ``quarantine.parquet`` from the landed workbooks; returns ``out_dir``."""
    return stage_workbooks(SOURCE, ENTITY, COLUMNS, read_workbook, fetch_log_path, data_dir, out_dir)


def workbook_country(name: str) -> str:
    """ISO3 of the Party a workbook is from, by the declared file-name rule."""
    rule = layout()["country"]
    match = re.match(rule["pattern"], name)
    if not match:
        raise LayoutError(f"[{SOURCE}] {name}: file name does not match {rule['pattern']!r}, so the Party is unknown "
                          "(name the file <ISO2>_....xlsx)")
    try:
        return to_iso3(match["iso2"], source=SOURCE)
    except UnknownCountry as exc:
        raise LayoutError(f"[{SOURCE}] {name}: file name gives no known Party ({exc})") from exc


def read_workbook(path: Path, page: dict, quarantine: Quarantine) -> list[dict]:
    """Typed rows of one workbook; a layout mismatch raises LayoutError naming the file."""
    spec, name = layout(), page["name"]
    country = workbook_country(name)
    rows = (typed_row(values, name, number, country, page, quarantine)
            for number, values in declared_rows(path, name, SOURCE, spec, spec["columns"]))
    return [row for row in rows if row]


def typed_row(values: dict, name: str, number: int, country: str, page: dict, quarantine: Quarantine) -> dict | None:
    """One staging row, or None after quarantining the row with the cell that is wrong."""
    row = {**values, "record_id": f"{name}!{layout()['sheet']}!R{number}", "file": name, "row": number,
           "country_iso3": country, "source_url": f"inbox/{SOURCE}/{name}", "raw_sha256": page["sha256"],
           "retrieved_at": page["retrieved_at"]}
    row["Indicator code"] = indicator_code(values["Indicator code"])
    for column, parse, target in (("Year", parse_year, "year"), ("Value", parse_number, "value_num")):
        try:
            row[target] = parse(values[column])
        except ValueError as exc:
            quarantine.reject(ENTITY, row["record_id"], column, values[column], str(exc), origin(row))
            return None
    for column in ("Indicator", "Disaggregation type", "Disaggregation", "Year", "Unit", "Value", "Footnote"):
        row[column] = None if values[column] is None else str(values[column]).strip()
    return row


def indicator_code(value) -> str:
    """The code as text. 2026-11: Excel turns a typed ``3.1`` into the number 3.1; its repr is the code."""
    return repr(value) if isinstance(value, float) else str(value or "").strip()


def harmonize(staging_dir: Path, out_dir: Path) -> Path:
    """``observations`` and ``quarantine`` parts (cycle cbd:NR7) as Parquet."""
    staging_dir, out_dir = Path(staging_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    quarantine = Quarantine(SOURCE)
    rows = pd.read_parquet(staging_dir / f"{ENTITY}.parquet")
    rows = rows.assign(code=rows["Indicator code"], unit=rows["Unit"],
                       disaggregation=rows["Disaggregation"].fillna("").str.strip().replace("", "_T"))
    observations = data_observations(rows, load_crosswalk(SOURCE), "Indicator code", ENTITY, SOURCE, quarantine)
    observations.to_parquet(out_dir / "observations.parquet", index=False)
    pd.concat([pd.read_parquet(staging_dir / "quarantine.parquet"), quarantine.frame()], ignore_index=True).to_parquet(
        out_dir / "quarantine.parquet", index=False)
    return out_dir
