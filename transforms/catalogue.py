"""The shared indicator catalogue: every YAML file in mappings/indicators/, one entry per code.

Shared indicators (fed by several conventions) live in shared.yaml; indicators only one source
feeds live in that source's file. A code defined twice is an error, not a silent override, and so
is an indicator without valid unit metadata: a numeric indicator's unit must be a code of the one
unit list (mappings/units.csv, transforms.units); any other indicator has no unit (null).
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd
import yaml

from transforms.units import UNITS, unit_codes

CATALOGUE = Path(__file__).parent / "mappings" / "indicators"


@cache
def indicators() -> dict[str, dict]:
    """Catalogue entries by indicator code, from every file of the catalogue folder."""
    entries: dict[str, dict] = {}
    for path in sorted(CATALOGUE.glob("*.yaml")):
        for entry in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            if entry["code"] in entries:
                raise ValueError(f"indicator {entry['code']} is defined twice (again in {path.name})")
            check_unit(entry, path)
            entries[entry["code"]] = {**entry, "catalogue_file": path.name}
    return entries


def check_unit(entry: dict, path: Path) -> None:
    """A ValueError naming the file and the indicator unless its unit metadata is valid: a code of the
    unit list for a numeric indicator, null for a boolean, categorical or text one."""
    where = f"transforms/mappings/indicators/{path.name}: indicator {entry['code']}"
    if "unit" not in entry:
        raise ValueError(f"{where} has no unit key (a code of transforms/mappings/{UNITS.name}, "
                         "or null when not numeric)")
    unit, value_type = entry["unit"], entry.get("value_type")
    if value_type == "numeric" and unit not in unit_codes():
        raise ValueError(f"{where} has unit {unit!r}, which is not a code of transforms/mappings/{UNITS.name} "
                         f"({', '.join(unit_codes())})")
    if value_type != "numeric" and unit is not None:
        raise ValueError(f"{where} is {value_type}, so its unit must be null, not {unit!r}")


def indicator(code: str) -> dict:
    """The catalogue entry of ``code``; a KeyError names a code that has no metadata."""
    try:
        return indicators()[code]
    except KeyError:
        raise KeyError(f"indicator {code!r} has no entry in transforms/mappings/indicators/") from None


def indicators_table() -> pd.DataFrame:
    """The published ``indicators`` table."""
    rows = [{
        "indicator_code": code, "title": e["title"], "description": e["description"].strip(),
        "unit": e.get("unit"), "value_type": e["value_type"], "gbf_target": e.get("gbf_target"),
        "sdg_indicator": e.get("sdg_indicator"), "conventions": ",".join(e["conventions"]),
    } for code, e in indicators().items()]
    return pd.DataFrame(rows)
