"""SDMX-CSV 2.0 export of ``observations``: ``observations.sdmx.csv`` in each release.

One dataflow for every convention, MEA:DF_MEA_OBSERVATIONS(1.0) (README, "SDMX export"):
dimensions REF_AREA (ISO3), CONVENTION, REPORT_CYCLE, INDICATOR, DISAGGREGATION and
TIME_PERIOD, which together are the observations' natural key; measure OBS_VALUE (the number,
else the code, else the text answer); attributes UNIT_MEASURE and OBS_STATUS (SDMX code list
CL_OBS_STATUS: A normal, E estimated, I imputed for derived values).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from outputs.formulas import csv_text

AGENCY, DATAFLOW, VERSION = "MEA", "DF_MEA_OBSERVATIONS", "1.0"
STRUCTURE_ID = f"{AGENCY}:{DATAFLOW}({VERSION})"
#: SDMX dimension -> observations column, in key order
DIMENSIONS = {"REF_AREA": "country_iso3", "CONVENTION": "convention", "REPORT_CYCLE": "report_cycle",
              "INDICATOR": "indicator_code", "DISAGGREGATION": "disaggregation", "TIME_PERIOD": "year"}
ATTRIBUTES = ("UNIT_MEASURE", "OBS_STATUS")
OBS_STATUS = {"reported": "A", "estimated": "E", "derived": "I"}
FILE_NAME = "observations.sdmx.csv"


def sdmx_frame(observations: pd.DataFrame) -> pd.DataFrame:
    """``observations`` as SDMX-CSV 2.0 rows (STRUCTURE, STRUCTURE_ID, ACTION, dimensions, OBS_VALUE, attributes)."""
    number = observations["value_num"].map(lambda v: None if pd.isna(v) else format(v, ".15g"))
    status = observations["observation_status"].map(OBS_STATUS)
    if status.isna().any():
        unknown = sorted(set(observations.loc[status.isna(), "observation_status"].astype(str)))
        raise ValueError(f"observations: observation_status {unknown} has no SDMX OBS_STATUS code")
    frame = pd.DataFrame({"STRUCTURE": "dataflow", "STRUCTURE_ID": STRUCTURE_ID, "ACTION": "I"},
                         index=observations.index)
    for dimension, column in DIMENSIONS.items():
        frame[dimension] = observations[column].astype(str)
    frame["OBS_VALUE"] = csv_text(number.fillna(observations["value_code"]).fillna(observations["value_label"]))
    frame["UNIT_MEASURE"] = observations["unit"]
    frame["OBS_STATUS"] = status
    return frame.sort_values(list(DIMENSIONS), kind="stable", ignore_index=True)


def write_sdmx_csv(folder: Path) -> Path:
    """``observations.sdmx.csv`` from the release's ``observations.parquet``."""
    folder = Path(folder)
    frame = sdmx_frame(pd.read_parquet(folder / "observations.parquet"))
    path = folder / FILE_NAME
    path.write_bytes(frame.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    return path
