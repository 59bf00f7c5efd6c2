"""CBD ORT indicator-data workbooks: staging (declared layout to a typed table) and harmonizing.

Staging checks each landed workbook against ``extractors/cbd_ort_excel.layout.yaml`` (file name
gives the Party, sheet, header row and columns) and fails naming the file and what is missing;
rows whose year or value do not parse are quarantined. Harmonizing applies the same indicator-data
rules as the Clearing-House (transforms.cbd_chm): crosswalk, catalogue unit, unique keys.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import openpyxl
import pandas as pd

from extractors.cbd_ort_excel import layout
from transforms.cbd_chm import data_observations, in_slice, load_crosswalk, origin, parse_number, parse_year
from transforms.countries import UnknownCountry, to_iso3
from transforms.quarantine import Quarantine

SOURCE = "cbd-ort-excel"
ENTITY = "workbook_rows"
COLUMNS = ["record_id", "file", "row", "country_iso3", "Indicator", "Indicator code", "Disaggregation type",
           "Disaggregation", "Year", "Unit", "Value", "Footnote", "year", "value_num", "source_url", "raw_sha256",
           "retrieved_at"]


class LayoutError(ValueError):
    """A workbook that does not match the declared layout; names the file and what is wrong."""


def stage(fetch_log_path: Path, data_dir: Path, out_dir: Path) -> Path:
    """``workbook_rows.parquet`` and ``quarantine.parquet`` from the landed workbooks; returns ``out_dir``."""
    pages = json.loads(Path(fetch_log_path).read_text())["entities"]["inbox"]["pages"]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    quarantine, rows = Quarantine(SOURCE), []
    for page in pages:
        rows += read_workbook(Path(data_dir) / page["raw_path"], page, quarantine)
    pd.DataFrame(rows, columns=COLUMNS).to_parquet(out_dir / f"{ENTITY}.parquet", index=False)
    quarantine.frame().to_parquet(out_dir / "quarantine.parquet", index=False)
    return out_dir


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
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors for a non-workbook
        raise LayoutError(f"[{SOURCE}] {name}: not a readable .xlsx workbook ({exc.__class__.__name__}: {exc})") from exc
    try:
        if spec["sheet"] not in book.sheetnames:
            raise LayoutError(f"[{SOURCE}] {name}: no sheet {spec['sheet']!r} (sheets: {', '.join(book.sheetnames)})")
        lines = book[spec["sheet"]].iter_rows(min_row=spec["header_row"], values_only=True)
        header = [str(c).strip() if c is not None else "" for c in next(lines, ())]
        missing = [c for c in spec["columns"] if c not in header]
        if missing:
            raise LayoutError(f"[{SOURCE}] {name}: sheet {spec['sheet']!r} row {spec['header_row']} lacks the "
                              f"header(s) {', '.join(map(repr, missing))}")
        where = {c: header.index(c) for c in spec["columns"]}
        rows = []
        for number, cells in enumerate(lines, start=spec["header_row"] + 1):
            values = {c: cells[i] if i < len(cells) else None for c, i in where.items()}
            if all(v is None or str(v).strip() == "" for v in values.values()):
                continue  # blank lines between blocks are normal in a filled-in template
            row = typed_row(values, name, number, country, page, quarantine)
            if row:
                rows.append(row)
        return rows
    finally:
        book.close()


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


def harmonize(staging_dir: Path, out_dir: Path, countries: list[str] | None = None,
              cycles: list[str] | None = None) -> Path:
    """``observations`` and ``quarantine`` parts (cycle cbd:NR7) as Parquet."""
    staging_dir, out_dir = Path(staging_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    quarantine = Quarantine(SOURCE)
    rows = pd.read_parquet(staging_dir / f"{ENTITY}.parquet")
    rows = rows.assign(code=rows["Indicator code"], unit=rows["Unit"],
                       disaggregation=rows["Disaggregation"].fillna("").str.strip().replace("", "_T"))
    observations = data_observations(rows, load_crosswalk(SOURCE), "Indicator code", ENTITY, SOURCE, quarantine)
    in_slice(observations, countries, cycles).to_parquet(out_dir / "observations.parquet", index=False)
    pd.concat([pd.read_parquet(staging_dir / "quarantine.parquet"), quarantine.frame()], ignore_index=True).to_parquet(
        out_dir / "quarantine.parquet", index=False)
    return out_dir
