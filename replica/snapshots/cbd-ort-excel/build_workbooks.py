"""Write the CBD ORT indicator-data workbooks: good ones for the inbox, broken ones for the tests.

    uv run python replica/snapshots/cbd-ort-excel/build_workbooks.py

Deterministic: random.Random(SEED), fixed document dates and fixed zip entry times, so a rebuild
gives the same bytes (and so the same raw_sha256). README.md lists the quirks and bad rows.
"""
from __future__ import annotations

import io
import random
import re
import zipfile
from pathlib import Path

import openpyxl

SEED = 20261128
HERE = Path(__file__).parent
INBOX = HERE / "inbox"
BROKEN = HERE.parents[2] / "tests" / "fixtures" / "cbd-ort-excel"
HEADER = ["Indicator", "Indicator code", "Disaggregation type", "Disaggregation", "Year", "Unit", "Value", "Footnote"]
TITLES = {"3.1": "Coverage of protected areas and other effective area-based conservation measures",
          "A.2": "Extent of natural ecosystems", "A.3": "Red List Index", "2.1": "Area under restoration",
          "10.1": "Proportion of agricultural area under productive and sustainable agriculture"}
FIXED = (2026, 11, 1, 0, 0, 0)


def row(code, year, unit, value, disaggregation_type=None, disaggregation=None, footnote=None) -> list:
    return [TITLES.get(str(code), "Unknown indicator"), code, disaggregation_type, disaggregation, year, unit, value,
            footnote]


def kenya(r: random.Random) -> list[list]:
    rows = []
    for year in range(2019, 2024):  # overlaps the Clearing-House's Kenya 3.1 rows on purpose
        land, sea = 12 + (year - 2019) * r.uniform(0.2, 0.6), 0.8 + (year - 2019) * r.uniform(0.1, 0.3)
        rows += [row("3.1", year, "percent", round((land + sea) / 2, 2), footnote="KWS protected-area database"),
                 row("3.1", year, "percent", round(land, 2), "Realm", "Terrestrial"),
                 row("3.1", year, "percent", round(sea, 2), "Realm", "Marine")]
    rows += [row("A.3", y, "index", round(0.83 - 0.003 * i, 4)) for i, y in enumerate(range(2016, 2024, 2))]
    rows += [
        row("3.1", 2024, "percent", "n/a", footnote="not yet compiled"),  # bad: value is no number
        row("A.7", 2022, "index", 0.4),  # bad: code in no crosswalk
        row("3.1", "", "percent", 14.2),  # bad: no year
        row("A.3", 2016, "index", 0.91),  # bad: same key as an earlier row, another value
    ]
    return rows


def micronesia(r: random.Random) -> list[list]:
    # 2026-11: codes typed as numbers (3.1, 2.1) and values typed as text ("12.5"), as Excel keeps them
    rows = []
    for year in (2021, 2022, 2023):
        rows += [row(3.1, year, "%", f"{r.uniform(5, 9):.2f}", "Realm", "Terrestrial"),
                 row(3.1, year, "%", f"{r.uniform(1, 4):.2f}", "Realm", "Marine")]
    rows += [row(2.1, y, "ha", round(r.uniform(50, 400), 1)) for y in (2022, 2023)]
    rows.append(row("A.2", 2020, "km2", 702.0, "Ecosystem type", "Forest"))  # bad: not the catalogue unit
    return rows


def namibia(r: random.Random) -> list[list]:
    # NA_...: Namibia's ISO2 is "NA", which naive readers take for a missing value
    rows = []
    for year in (2015, 2020):
        parts = {k: round(r.uniform(1e6, 2e7), 1) for k in ("Savanna", "Desert", "Wetlands")}
        rows.append(row("A.2", year, "ha", round(sum(parts.values()), 1)))
        rows += [row("A.2", year, "ha", v, "Ecosystem type", k) for k, v in parts.items()]
        rows.append([None] * len(HEADER))  # a blank line between blocks
    rows += [row("10.1", y, "percent", round(r.uniform(3, 9), 2)) for y in (2019, 2020, 2021)]
    return rows


def workbook(rows: list[list], header: list[str] = HEADER, sheet: str = "Sheet1") -> bytes:
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    ws.append(header)
    for line in rows:
        ws.append(line)
    buffer = io.BytesIO()
    book.save(buffer)
    return deterministic(buffer.getvalue())


def deterministic(xlsx: bytes) -> bytes:
    """The same workbook with fixed zip entry times and a fixed modified date (openpyxl stamps now)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>2026-11-01T00:00:00Z", data)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=FIXED), data, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def build() -> dict[Path, bytes]:
    """Every workbook by the path it is written to: the good ones first (they share one generator)."""
    r = random.Random(SEED)
    good = {"KE_7NR_indicator_data.xlsx": kenya(r), "FM_7NR_indicator_data.xlsx": micronesia(r),
            "NA_7NR_indicator_data.xlsx": namibia(r)}
    ke = good["KE_7NR_indicator_data.xlsx"][:6]
    broken = {
        "KE_missing_unit.xlsx": workbook([line[:5] + line[6:] for line in ke], [h for h in HEADER if h != "Unit"]),
        "KE_wrong_sheet.xlsx": workbook(ke, sheet="Data"),
        "KE_unparseable_values.xlsx": workbook([line[:4] + ["twenty twenty", line[5], "about 12", line[7]]
                                                for line in ke]),
        "indicator_data_kenya.xlsx": workbook(ke),  # no <ISO2>_ prefix: the Party is unknown
    }
    return {**{INBOX / n: workbook(rows) for n, rows in good.items()}, **{BROKEN / n: b for n, b in broken.items()}}


def main() -> None:
    for path, data in build().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"wrote {path.relative_to(HERE.parents[2])}")


if __name__ == "__main__":
    main()
