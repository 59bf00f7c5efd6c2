"""Build the curated SDG Global Database snapshot: SeriesList.json and SeriesData.json.

    uv run python replica/snapshots/sdg-api/build.py [--out DIR]

Deterministic (random.Random(SEED)): a rebuild reproduces the committed files byte for byte.
Rows are stored in the API's own wire shape (convention-sources.md section 7); the replica adds
only the Series/Data envelope and paging. README.md lists the quirks and the bad records.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

SEED = 20261128
OUT = Path(__file__).parent

# code, goal, target, indicator, release, description, unit, years, nature choices, base range
SERIES = [
    ("ER_PTD_TERR", "15", "15.1", "15.1.2", "2025.Q2.G.01",
     "Average proportion of Terrestrial Key Biodiversity Areas (KBAs) covered by protected areas (%)",
     "PERCENT", (2015, 2020, 2024), ("G",), (5.0, 90.0)),
    ("ER_MRN_MPA", "14", "14.5", "14.5.1", "2025.Q2.G.01",
     "Average proportion of Marine Key Biodiversity Areas (KBAs) covered by protected areas (%)",
     "PERCENT", (2015, 2020, 2024), ("G",), (2.0, 85.0)),
    ("ER_RSK_LST", "15", "15.5", "15.5.1", "2025.Q2.G.01", "Red List Index",
     "INDEX", (2015, 2020, 2024), ("G", "E"), (0.55, 0.95)),
    ("AG_LND_FRST", "15", "15.1", "15.1.1", "2025.Q2.G.01", "Forest area as a proportion of total land area (%)",
     "PERCENT", (2015, 2020), ("C", "C", "CA", "E"), (1.0, 75.0)),
    ("EN_WBE_INWTL", "6", "6.6", "6.6.1", "2024.Q4.G.01", "Extent of inland wetlands (% of total land area)",
     "PERCENT", (2017, 2020), ("C", "M"), (0.5, 18.0)),
]
#: Series/List also lists series the pipeline does not fetch
OTHER_SERIES = [("SI_POV_DAY1", "1", "1.1", "1.1.1", "2025.Q2.G.01",
                 "Proportion of population below international poverty line (%)")]

# M49 (as the API sends it: a number as text, not zero-padded), name as the SDG database gives it
COUNTRIES = [
    ("8", "Albania"), ("12", "Algeria"), ("36", "Australia"), ("40", "Austria"), ("76", "Brazil"),
    ("124", "Canada"), ("156", "China"), ("170", "Colombia"), ("180", "Democratic Republic of the Congo"),
    ("231", "Ethiopia"), ("242", "Fiji"), ("250", "France"), ("276", "Germany"), ("356", "India"),
    ("392", "Japan"), ("404", "Kenya"), ("484", "Mexico"), ("516", "Namibia"),
    ("583", "Micronesia (Federated States of)"), ("578", "Norway"), ("604", "Peru"), ("686", "Senegal"),
    ("710", "South Africa"), ("818", "Egypt"), ("826", "United Kingdom of Great Britain and Northern Ireland"),
]
LANDLOCKED = {"40", "231"}  # no marine KBAs: no ER_MRN_MPA rows
AGGREGATES = [("1", "World"), ("2", "Africa"), ("19", "Americas"), ("142", "Asia"), ("150", "Europe"),
              ("9", "Oceania"), ("199", "Least Developed Countries (LDCs)"),
              ("722", "Small island developing States (SIDS)")]
AGGREGATE_YEARS = (2015, 2020)
SOURCES = {"C": "National forest inventory / national statistical office", "CA": "FAO adjusted country data",
           "E": "Custodian agency estimate", "M": "Custodian agency model", "G": "Global monitoring dataset"}
LOCATIONS = ("URBAN", "RURAL")
DISAGGREGATED = {"404", "76", "356"}  # EN_WBE_INWTL 2020 by Location (ALLAREA + URBAN + RURAL)


def row(series: tuple, area: tuple[str, str], year: int, value: str, nature: str, **dims: str) -> dict:
    code, goal, target, indicator, _, description, unit = series[:7]
    return {
        "goal": [goal], "target": [target], "indicator": [indicator], "series": code,
        "seriesDescription": description, "geoAreaCode": area[0], "geoAreaName": area[1],
        "timePeriodStart": float(year), "value": value, "valueType": "Float", "time_detail": None,
        "source": SOURCES.get(nature, "Not stated"), "footnotes": [],
        "attributes": {"Nature": nature, "Units": unit},
        "dimensions": {"Reporting Type": "G", **dims},
    }


def text(rng: random.Random, value: float, unit: str) -> str:
    """A value as the API writes it: text, with as many decimals as the series keeps."""
    return f"{value:.4f}" if unit == "INDEX" else str(round(value, rng.choice((0, 2, 5))))


def series_rows(rng: random.Random, series: tuple) -> list[dict]:
    code, unit, years, natures, (low, high) = series[0], series[6], series[7], series[8], series[9]
    rows = []
    for area in COUNTRIES:
        if code == "ER_MRN_MPA" and area[0] in LANDLOCKED:
            continue
        base = rng.uniform(low, high)
        for year in years:
            drift = (year - years[0]) * rng.uniform(0.0, 0.6 if unit == "PERCENT" else 0.002)
            value = min(base + drift, 100.0) if unit == "PERCENT" else base - drift
            value = text(rng, value, unit)
            nature = rng.choice(natures)
            if code == "EN_WBE_INWTL" and year == 2020 and area[0] in DISAGGREGATED:
                rows.append(row(series, area, year, value, nature, Location="ALLAREA"))
                rows += [row(series, area, year, text(rng, rng.uniform(low, high), unit), nature, Location=where)
                         for where in LOCATIONS]
            else:
                rows.append(row(series, area, year, value, nature))
    for area in AGGREGATES:
        rows += [row(series, area, year, text(rng, rng.uniform(low, high), unit), "G") for year in AGGREGATE_YEARS]
    return rows


def bad_rows(by_code: dict[str, tuple], rows: list[dict]) -> list[dict]:
    """The deliberately bad records (README.md, "Bad records")."""
    terr, frst, rli, wetl = (by_code[c] for c in ("ER_PTD_TERR", "AG_LND_FRST", "ER_RSK_LST", "EN_WBE_INWTL"))
    duplicate = next(r for r in rows if r["series"] == "ER_PTD_TERR" and r["geoAreaCode"] == "404"
                     and r["timePeriodStart"] == 2020.0)
    return [
        row(terr, ("899", "Unknown area"), 2020, "12.5", "G"),  # neither a country nor a known aggregate
        row(frst, ("736", "Sudan [former]"), 2010, "9.87", "E"),  # a former state in the reviewed table
        row(frst, ("412", "Kosovo"), 2020, "41.7", "C"),  # pycountry has no 412: reviewed table maps it
        row(terr, ("516", "Namibia"), 2010, "", "G"),  # empty value
        row(terr, ("276", "Germany"), 2010, ">95", "G"),  # censored value
        row(rli, ("583", "Micronesia (Federated States of)"), 2010, "NaN", "G"),  # NaN
        row(wetl, ("686", "Senegal"), 2010, "3.2", "N"),  # nature N: not mapped to a status
        dict(duplicate),  # the same row again, later in the series (and on a later page)
    ]


def build() -> dict[str, object]:
    rng = random.Random(SEED)
    by_code = {s[0]: s for s in SERIES}
    data = [r for s in SERIES for r in series_rows(rng, s)]
    data += bad_rows(by_code, data)
    series_list = [{"goal": [s[1]], "target": [s[2]], "indicator": [s[3]], "release": s[4], "code": s[0],
                    "description": s[5], "uri": f"/v1/sdg/Series/{s[0]}"} for s in SERIES + OTHER_SERIES]
    return {"SeriesList.json": series_list, "SeriesData.json": data}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    out = parser.parse_args().out
    for name, payload in build().items():
        (out / name).write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {out / name}")


if __name__ == "__main__":
    main()
