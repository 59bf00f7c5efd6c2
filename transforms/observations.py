"""Observations in the shared schema: ids, catalogue metadata and the long-format columns."""
from __future__ import annotations

import hashlib

import pandas as pd

from transforms.catalogue import indicator

NATURAL_KEY = ["country_iso3", "convention", "report_cycle", "indicator_code", "year", "disaggregation"]


def observation_ids(df: pd.DataFrame) -> list[str]:
    """Stable ids: sha256 of the natural key, so the same fact keeps its id across releases."""
    keys = zip(*(df[k].tolist() for k in NATURAL_KEY))
    return [hashlib.sha256("|".join(map(str, key)).encode("utf-8")).hexdigest()[:24] for key in keys]


def with_catalogue(df: pd.DataFrame) -> pd.DataFrame:
    """Add the catalogue's gbf_target, sdg_indicator and value_type, and the observation_id."""
    out = df.copy()
    entries = {code: indicator(code) for code in out["indicator_code"].unique()}
    out["gbf_target"] = out["indicator_code"].map(lambda c: entries[c].get("gbf_target"))
    out["sdg_indicator"] = out["indicator_code"].map(lambda c: entries[c].get("sdg_indicator"))
    out["value_type"] = out["indicator_code"].map(lambda c: entries[c]["value_type"])
    out["observation_id"] = pd.Series(observation_ids(out), index=out.index, dtype="object")
    return out
