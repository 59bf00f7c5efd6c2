"""Country harmonizing: any code or name an upstream uses to ISO 3166-1 alpha-3.

pycountry knows ISO codes and names; what it does not know (the EU, withdrawn codes,
secretariats' own spellings) is a reviewed entry in mappings/countries/: common.csv for all
sources, <source_system>.csv for codes only one source uses (CITES' XF, CMS' Party names).
Nothing is guessed: what none of them knows raises UnknownCountry, which callers quarantine.
"""
from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import pandas as pd
import pycountry

OVERRIDES = Path(__file__).parent / "mappings" / "countries"


class UnknownCountry(LookupError):
    """A country code or name with no ISO3 code and no reviewed override."""


@cache
def overrides(source: str = "common") -> dict[str, dict]:
    """The reviewed overrides of ``source`` (common.csv for all), keyed by upper-cased code or name."""
    path = OVERRIDES / f"{source}.csv"
    if not path.exists():
        return {}
    with path.open(encoding="utf-8-sig") as f:
        return {row["code"].strip().upper(): row for row in csv.DictReader(f)}


@cache
def to_iso3(value: str, source: str | None = None) -> str:
    """ISO 3166-1 alpha-3 for an ISO2/ISO3 code in any case, a name, or a reviewed override
    (the source's own first, then the common ones)."""
    text = (value or "").strip()
    if not text:
        raise UnknownCountry("empty country value")
    key = text.upper()
    for table in (overrides(source) if source else {}, overrides()):
        if key in table:
            row = table[key]
            if not row["iso3"]:
                raise UnknownCountry(f"{value!r} is not a country ({row['note']})")
            return row["iso3"]
    found = _pycountry_lookup(key if len(key) <= 3 else text)
    if found is None:
        raise UnknownCountry(f"unknown country code or name {value!r}")
    return found.alpha_3


def _pycountry_lookup(text: str):
    if len(text) == 2:
        return pycountry.countries.get(alpha_2=text)
    if len(text) == 3 and text.isalpha():
        return pycountry.countries.get(alpha_3=text)
    try:
        return pycountry.countries.lookup(text)
    except LookupError:
        return None


def countries_table() -> pd.DataFrame:
    """The published ``countries`` table: every ISO 3166-1 country plus the override-only parties."""
    regions = _un_regions()
    rows = [
        {"iso3": c.alpha_3, "iso2": c.alpha_2, "m49": c.numeric, "name": getattr(c, "common_name", c.name),
         "region": regions.get(c.alpha_3), "kind": "country"}
        for c in pycountry.countries
    ]
    known = {r["iso3"] for r in rows}
    for code, row in overrides().items():
        if row["iso3"] not in known and len(code) == 2:
            rows.append({"iso3": row["iso3"], "iso2": code, "m49": None, "name": row["name"],
                         "region": regions.get(row["iso3"]), "kind": row["kind"]})
            known.add(row["iso3"])
    return pd.DataFrame(rows).sort_values("iso3", ignore_index=True)


def _un_regions() -> dict[str, str]:
    """UN M49 sub-region by ISO3, from country_converter's data file.

    2026-11: country_converter 1.3.2 reads its own file with pandas' default NA values, which
    turns Namibia's ISO2 ``NA`` into NaN and breaks its constructor under pandas 3; reading the
    file ourselves with ``keep_default_na=False`` avoids that.
    """
    from country_converter import country_converter as coco

    data = pd.read_csv(coco.COUNTRY_DATA_FILE, sep="\t", keep_default_na=False, usecols=["ISO3", "UNregion"])
    return {r.ISO3: r.UNregion for r in data.itertuples() if r.UNregion}
