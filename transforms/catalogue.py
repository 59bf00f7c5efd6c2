"""The shared indicator catalogue (mappings/indicators.yaml)."""
from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd
import yaml

CATALOGUE = Path(__file__).parent / "mappings" / "indicators.yaml"


@cache
def indicators() -> dict[str, dict]:
    """Catalogue entries by indicator code."""
    entries = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))
    return {e["code"]: e for e in entries}


def indicator(code: str) -> dict:
    """The catalogue entry of ``code``; a KeyError names a code that has no metadata."""
    try:
        return indicators()[code]
    except KeyError:
        raise KeyError(f"indicator {code!r} has no entry in {CATALOGUE.name}") from None


def indicators_table() -> pd.DataFrame:
    """The published ``indicators`` table."""
    rows = [{
        "indicator_code": code, "title": e["title"], "description": e["description"].strip(),
        "unit": e.get("unit"), "value_type": e["value_type"], "gbf_target": e.get("gbf_target"),
        "sdg_indicator": e.get("sdg_indicator"), "conventions": ",".join(e["conventions"]),
    } for code, e in indicators().items()]
    return pd.DataFrame(rows)
