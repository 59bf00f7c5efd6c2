"""The shared indicator catalogue: every YAML file in mappings/indicators/, one entry per code.

Shared indicators (fed by several conventions) live in shared.yaml; indicators only one source
feeds live in that source's file. A code defined twice is an error, not a silent override.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd
import yaml

CATALOGUE = Path(__file__).parent / "mappings" / "indicators"


@cache
def indicators() -> dict[str, dict]:
    """Catalogue entries by indicator code, from every file of the catalogue folder."""
    entries: dict[str, dict] = {}
    for path in sorted(CATALOGUE.glob("*.yaml")):
        for entry in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            if entry["code"] in entries:
                raise ValueError(f"indicator {entry['code']} is defined twice (again in {path.name})")
            entries[entry["code"]] = {**entry, "catalogue_file": path.name}
    return entries


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
