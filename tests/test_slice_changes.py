"""Slices with changes upstream (issue 21, item 3).

Upstream changes both inside and outside a run's slice (titles, dates and values of Kenya and of
Peru). A country, a cycle and a source slice each rebuild the rows inside from the new data, the
same rows a whole run on the changed upstream gives, and keep every row outside exactly as the
live release has it, the old values included.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from outputs import contracts
from outputs.release import run_slice, slice_predicate
from pipeline_helpers import ALL, run_pipeline, serving
from replica.server import SNAPSHOTS

pytestmark = pytest.mark.e2e

SOURCES = ["informea", "sdg-api"]
#: where a row came from and when, not what it says: differs between two runs that fetched the same record
VOLATILE = ["raw_sha256", "retrieved_at", "first_seen", "last_seen"]
#: the changed countries: Kenya is inside the country slice, Peru outside it
CHANGED = {"informea": {"KE", "PE"}, "sdg-api": {"Kenya", "Peru"}}
DAY_MS = 24 * 3600 * 1000
SLICES = {
    "country": {"sources": SOURCES, "countries": ["KEN"]},
    "cycle": {"sources": SOURCES, "cycles": ["sdg:2024-Q4"]},
    "source": {"sources": ["sdg-api"]},
}


def params(**extra) -> dict:
    # full_refresh: the incremental cursors are not what is tested here
    return {**ALL, "sources": SOURCES, "full_refresh": True, **extra}


def shifted(odata_date: str, days: int) -> str:
    """``/Date(1527811200000)/`` ``days`` days later, its offset kept."""
    return re.sub(r"\((-?\d+)", lambda m: f"({int(m.group(1)) + days * DAY_MS}", odata_date, count=1)


def revised(title):
    """A title, in whichever shape the snapshot gives it (text, a list of them, OData results), revised."""
    if isinstance(title, str):
        return f"{title} (revised)"
    if isinstance(title, list):
        return [revised(t) for t in title]
    if isinstance(title, dict):
        return {k: revised(v) if k in ("results", "value") else v for k, v in title.items()}
    return title


def change_upstream(snapshot: Path) -> None:
    """Kenya's and Peru's InforMEA reports get a new title, a submission a day later and a newer
    ``updated``; their SDG values go up by 1.5."""
    path = snapshot / "informea" / "CountryReports.json"
    reports = json.loads(path.read_text())
    for report in reports:
        if str(report.get("country", "")).upper() in CHANGED["informea"]:
            report["title"] = revised(report.get("title"))
            if report.get("submission", "").startswith("/Date("):
                report["submission"] = shifted(report["submission"], 1)
            if report.get("updated", "").startswith("/Date("):
                report["updated"] = shifted(report["updated"], 2)
    path.write_text(json.dumps(reports))
    path = snapshot / "sdg-api" / "SeriesData.json"
    series = json.loads(path.read_text())
    for record in series:
        if record["geoAreaName"] in CHANGED["sdg-api"]:
            try:
                record["value"] = str(float(record["value"]) + 1.5)
            except (TypeError, ValueError):
                pass
    path.write_text(json.dumps(series))


def split(release: Path, table: str, selected: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of ``table`` inside and outside ``selected`` (its contract's slice), every column,
    each in a stable order."""
    predicate, args = slice_predicate(table, selected)
    halves = []
    with duckdb.connect() as con:
        for where in (predicate, f"NOT {predicate}"):
            frame = con.execute(f"SELECT * FROM read_parquet($path) WHERE {where}",
                                {**args, "path": str(release / f"{table}.parquet")}).df()
            halves.append(frame.sort_values(list(frame.columns)).reset_index(drop=True))
    return halves[0], halves[1]


def content(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.drop(columns=[c for c in VOLATILE if c in frame.columns])
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def sliced_tables() -> list[str]:
    return [name for name in contracts.table_names() if contracts.contracts()[name].get("slice")
            and not contracts.contracts()[name].get("bulk")]


@pytest.mark.parametrize("kind", list(SLICES))
def test_a_slice_rebuilds_the_changed_rows_inside_and_keeps_the_changed_rows_outside(
        kind, data_dir, tmp_path, monkeypatch):
    snapshot = tmp_path / "snapshots"
    shutil.copytree(SNAPSHOTS, snapshot)
    with serving(snapshot, monkeypatch) as server:
        live = run_pipeline("before", params())
        port = int(server.url.rsplit(":", 1)[1])
    change_upstream(snapshot)
    run = params(**SLICES[kind])
    selected = run_slice(run)
    with serving(snapshot, monkeypatch, port):
        sliced = run_pipeline(f"{kind}-slice", run)
        # what a whole run on the changed upstream publishes, in a data folder of its own
        monkeypatch.setenv("MEA_DATA_DIR", str(tmp_path / "whole"))
        whole = run_pipeline("whole-after", params())

    for table in sliced_tables():
        inside, outside = split(sliced, table, selected)
        live_inside, live_outside = split(live, table, selected)
        whole_inside, _ = split(whole, table, selected)
        pd.testing.assert_frame_equal(outside, live_outside, obj=f"{table}: rows outside the {kind} slice")
        pd.testing.assert_frame_equal(content(inside), content(whole_inside), obj=f"{table}: rows inside the {kind} slice")

    # the upstream change reached both sides of the slice: the test would see a slice that ignored it
    inside, outside = split(sliced, "observations", selected)
    live_inside, live_outside = split(live, "observations", selected)
    _, whole_outside = split(whole, "observations", selected)
    assert len(inside) > 0 and len(outside) > 0
    assert not content(inside).equals(content(live_inside)), "nothing changed inside the slice"
    assert not content(whole_outside).equals(content(live_outside)), "nothing changed outside the slice"
