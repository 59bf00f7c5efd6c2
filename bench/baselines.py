"""What the pipeline is measured against, each run in its own process by bench/run.py:

- ``informea-sequential``: the loop a data officer would write: requests, one page after the other
  (``__next`` or ``$skip``), every set into a pandas DataFrame and a Parquet file;
- ``informea-dlt``: dlt's ``rest_api`` source on the same endpoints, into DuckDB;
- ``cites-pandas``: pandas ``read_csv`` of every release member (``keep_default_na=False``: Namibia is
  ``NA``), the same ISO2 -> ISO3 mapping (transforms.countries.to_iso3), ``to_parquet``;
- ``cites-copy-floor``: unzip the members, DuckDB reads them and writes one Parquet file, no mapping.

``python -m bench.baselines NAME BASE_URL_OR_ZIP OUT_DIR`` prints ``{"seconds": ...}`` as its last line.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from bench.measure import own_peak_rss_mb

#: the entity sets, expansions and orders the pipeline asks for (extractors/informea.py)
INFORMEA_SETS = {"Treaties": ("title,description", "id"), "CountryReports": ("title,files", "updated desc,id"),
                 "NationalPlans": ("title,files", "updated desc,id")}
PAGE_SIZE = 100


def informea_sequential(service_url: str, out: Path) -> int:
    """Page every set one request at a time; one Parquet file per set; returns records fetched."""
    import pandas as pd
    import requests

    session, total = requests.Session(), 0
    for name, (expand, order) in INFORMEA_SETS.items():
        records, skip, url = [], 0, f"{service_url}/{name}"
        params = {"$format": "json", "$expand": expand, "$orderby": order, "$top": PAGE_SIZE, "$skip": 0}
        while url:
            d = session.get(url, params=params, timeout=120).json()["d"]
            page = d if isinstance(d, list) else d["results"]
            records += page
            if isinstance(d, dict) and d.get("__next"):
                url, params = d["__next"], None
            elif params is not None and len(page) == PAGE_SIZE:
                skip += PAGE_SIZE
                params = {**params, "$skip": skip}
            else:
                url = None
        pd.json_normalize(records).astype(str).to_parquet(out / f"{name}.parquet", index=False)
        total += len(records)
    return total


def informea_dlt(service_url: str, out: Path) -> int:
    """dlt rest_api over the same sets (``d.__next`` paging, ``d``/``d.results`` records) into DuckDB."""
    import dlt
    from dlt.sources.rest_api import rest_api_source

    resources = []
    for name, (expand, order) in INFORMEA_SETS.items():
        paged = name == "CountryReports"  # the only set the server pages (replica/informea.py)
        resources.append({
            "name": name.lower(),
            "endpoint": {
                "path": name,
                "params": {"$format": "json", "$expand": expand, "$orderby": order},
                "data_selector": "d.results" if name != "NationalPlans" else "d",
                "paginator": {"type": "json_link", "next_url_path": "d.__next"} if paged else {"type": "single_page"},
            },
        })
    source = rest_api_source({"client": {"base_url": service_url + "/"}, "resources": resources})
    pipeline = dlt.pipeline(pipeline_name="bench_informea", destination=dlt.destinations.duckdb(str(out / "dlt.duckdb")),
                            dataset_name="informea", pipelines_dir=str(out / "dlt"))
    pipeline.run(source)
    counts = pipeline.last_trace.last_normalize_info.row_counts
    return sum(n for table, n in counts.items() if not table.startswith("_dlt"))


def release_members(zip_path: Path, folder: Path) -> list[Path]:
    """Unzip the trade_db_<n>.csv members into ``folder``; their paths in number order."""
    with zipfile.ZipFile(zip_path) as zf:
        names = sorted((n for n in zf.namelist() if n.endswith(".csv")),
                       key=lambda n: int(n.rsplit("_", 1)[1].split(".")[0]))
        for name in names:
            zf.extract(name, folder)
    return [folder / name for name in names]


def cites_pandas(zip_path: Path, out: Path) -> int:
    """read_csv every member, map the three country columns to ISO3, write one Parquet file."""
    import pandas as pd

    from transforms.countries import UnknownCountry, to_iso3

    def iso3(code: str) -> str | None:
        try:
            return to_iso3(code, source="cites-trade")
        except UnknownCountry:
            return None

    with tempfile.TemporaryDirectory(dir=out) as temp:
        frames = [pd.read_csv(path, dtype=str, keep_default_na=False) for path in release_members(zip_path, Path(temp))]
    frame = pd.concat(frames, ignore_index=True)
    del frames
    for column in ("Importer", "Exporter", "Origin"):
        codes = {code: iso3(code) for code in frame[column].unique() if code}
        frame[f"{column.lower()}_iso3"] = frame[column].map(codes)
    frame.to_parquet(out / "cites_trade_pandas.parquet", index=False)
    return len(frame)


def cites_copy_floor(zip_path: Path, out: Path) -> int:
    """Unzip, then DuckDB reads every member as text and writes one Parquet file."""
    import duckdb

    with tempfile.TemporaryDirectory(dir=out) as temp:
        members = [str(p) for p in release_members(zip_path, Path(temp))]
        with duckdb.connect() as con:
            con.execute(f"COPY (SELECT * FROM read_csv({members!r}, all_varchar = true)) "
                        f"TO '{out / 'cites_trade_floor.parquet'}' (FORMAT parquet)")
            return con.execute(f"SELECT count(*) FROM '{out / 'cites_trade_floor.parquet'}'").fetchone()[0]


def json_parse_seconds(folder: Path) -> float:
    """Time to json.loads every landed InforMEA response under ``folder`` (the floor's parse part)."""
    bodies = [p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".meta.json")]
    started = time.perf_counter()
    for body in bodies:
        try:
            json.loads(body)
        except ValueError:
            continue
    return time.perf_counter() - started


BASELINES = {"informea-sequential": informea_sequential, "informea-dlt": informea_dlt,
             "cites-pandas": cites_pandas, "cites-copy-floor": cites_copy_floor}


def main(argv: list[str]) -> int:
    name, target, out = argv
    Path(out).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    count = BASELINES[name](target if name.startswith("informea") else Path(target), Path(out))
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "records": count, "peak_rss_mb": own_peak_rss_mb()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
