"""Write-audit-publish, step one: build a release folder from the sources' harmonized parts.

A release holds every published table as Parquet and CSV, a DuckDB file with the same tables,
the Excel workbook and manifest.json (inputs, row counts, content hashes, diff against the
live release). Nothing here touches ``current``: that is publish's job, after the audit.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from outputs import contracts
from outputs.paths import REPO_ROOT, current_release, data_dir
from outputs.workbook import write_workbook
from transforms.catalogue import indicators_table
from transforms.countries import countries_table
from transforms.observations import NATURAL_KEY

CROSSWALKS = REPO_ROOT / "transforms" / "mappings" / "crosswalk"
PRECEDENCE = REPO_ROOT / "transforms" / "mappings" / "source_precedence.yaml"

#: tables built here from reference data or from the other tables; sources contribute the rest
CENTRAL_TABLES = ("countries", "indicators", "crosswalk", "coverage", "synergy_matrix")


def failed_sources(parts: dict[str, str | None], params: dict) -> list[str]:
    """Selected sources whose chain produced no parts (a task failed or was skipped upstream)."""
    selected = params.get("sources") or list(parts)
    return sorted(s for s, part in parts.items() if s in selected and part is None)


def build_release(parts_dirs: list[str], params: dict, run_id: str, failed: list[str] = ()) -> Path:
    """Consolidate the parts of every source into a new release folder; return it.

    ``failed`` names sources that failed in a run that allowed a partial release; the
    manifest flags the release as partial and names them.
    """
    tables = consolidate([Path(p) for p in parts_dirs])
    tables["observations"], superseded = resolve_overlaps(tables["observations"])
    tables["quarantine"] = pd.concat([tables["quarantine"], superseded], ignore_index=True)
    previous = current_release()
    tables["quarantine"] = carry_first_seen(tables["quarantine"], previous)
    tables["coverage"] = coverage(tables["report_submissions"])
    tables["synergy_matrix"] = synergy_matrix(tables["observations"])
    tables["countries"] = countries_table()
    tables["indicators"] = indicators_table()
    tables["crosswalk"] = crosswalk_table()
    arrow = {name: contracts.conform(name, tables[name]) for name in contracts.table_names()}
    content = {name: table_digest(t) for name, t in arrow.items()}
    release_id = new_release_id(content)
    folder = data_dir() / "releases" / release_id
    tmp = folder.with_name(folder.name + ".partial")
    tmp.mkdir(parents=True)
    write_tables(tmp, arrow)
    write_duckdb(tmp, arrow)
    write_workbook(tmp / "mea-reporting.xlsx", arrow)
    manifest = {
        "release_id": release_id,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run_id": run_id,
        "code_version": code_version(),
        "params": params,
        "partial": bool(failed),
        "failed_sources": list(failed),
        "inputs": inputs_of(parts_dirs),
        "tables": {name: {"rows": t.num_rows, "sha256": content[name], "files": [f"{name}.parquet", f"{name}.csv"]}
                   for name, t in arrow.items()},
        "quarantine": quarantine_summary(tables["quarantine"]),
        "diff": diff_against(previous, tmp),
    }
    write_manifest(tmp, manifest)
    tmp.rename(folder)
    return folder


def consolidate(parts_dirs: list[Path]) -> dict[str, pd.DataFrame]:
    """Every source's parts of each source table, stacked."""
    tables = {}
    for name in (t for t in contracts.table_names() if t not in CENTRAL_TABLES):
        frames = [pd.read_parquet(d / f"{name}.parquet") for d in parts_dirs if (d / f"{name}.parquet").exists()]
        frames = [f for f in frames if len(f)]
        columns = list(contracts.contracts()[name]["columns"])
        tables[name] = pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
    return tables


def resolve_overlaps(observations: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per natural key across sources, by the reviewed source precedence; the rows
    that lose go to quarantine naming the source that won."""
    order = yaml.safe_load(PRECEDENCE.read_text())["observations"]
    rank = observations["source_system"].map({s: i for i, s in enumerate(order)}).fillna(len(order))
    ranked = observations.assign(_rank=rank).sort_values(NATURAL_KEY + ["_rank"], kind="stable")
    losers = ranked.duplicated(NATURAL_KEY, keep="first")
    winners = ranked[~losers].set_index(NATURAL_KEY)["source_system"]
    lost = ranked[losers]
    quarantined = pd.DataFrame({
        "source_system": lost["source_system"], "entity": "observations",
        "source_record_id": lost["source_record_id"], "field": lost["source_field"],
        "value": lost["value_num"].astype(str).where(lost["value_num"].notna(), lost["value_code"]),
        "reason": [f"superseded by {winners[tuple(k)]} for the same {'/'.join(map(str, k))}"
                   for k in lost[NATURAL_KEY].itertuples(index=False)],
        "raw_sha256": lost["raw_sha256"], "source_url": lost["source_url"],
        "first_seen": lost["retrieved_at"], "last_seen": lost["retrieved_at"],
    })
    return ranked[~losers].drop(columns="_rank").reset_index(drop=True), quarantined


def carry_first_seen(quarantine: pd.DataFrame, previous: Path | None) -> pd.DataFrame:
    """Quarantined rows keep the first_seen of the live release, so none looks new when it is not."""
    if previous is None or not (previous / "quarantine.parquet").exists() or quarantine.empty:
        return quarantine
    keys = contracts.key("quarantine")
    before = pd.read_parquet(previous / "quarantine.parquet", columns=keys + ["first_seen"])
    merged = quarantine.merge(before, on=keys, how="left", suffixes=("", "_before"))
    now = pd.to_datetime(merged["first_seen"], utc=True, format="ISO8601")
    merged["first_seen"] = now.where(merged["first_seen_before"].isna() | (now <= merged["first_seen_before"]),
                                     merged["first_seen_before"])
    return merged.drop(columns="first_seen_before")


def coverage(submissions: pd.DataFrame) -> pd.DataFrame:
    """Country x convention x cycle of national reports, submitted or not.

    The expected Parties of a convention are the countries seen reporting to it in any cycle.
    """
    reports = submissions[submissions["report_type"] == "national_report"]
    parties = reports[["convention", "country_iso3"]].drop_duplicates()
    cycles = reports[["convention", "report_cycle"]].drop_duplicates()
    grid = parties.merge(cycles, on="convention")
    seen = reports.groupby(["country_iso3", "convention", "report_cycle"], as_index=False).agg(
        first_submitted_on=("submitted_on", "min"), records=("source_record_id", "count"))
    out = grid.merge(seen, on=["country_iso3", "convention", "report_cycle"], how="left")
    out["records"] = out["records"].fillna(0).astype("int64")
    out["submitted"] = out["records"] > 0
    return out


def synergy_matrix(observations: pd.DataFrame) -> pd.DataFrame:
    """Country x GBF target x convention: the latest year reported and its value or status."""
    columns = list(contracts.contracts()["synergy_matrix"]["columns"])
    linked = observations.dropna(subset=["gbf_target"])
    if linked.empty:
        return pd.DataFrame(columns=columns)
    keys = ["country_iso3", "gbf_target", "convention"]
    latest = linked.sort_values(keys + ["year", "indicator_code", "disaggregation"],
                                ascending=[True, True, True, False, True, True], kind="stable")
    first = latest.drop_duplicates(keys, keep="first").set_index(keys)
    grouped = linked.groupby(keys)
    out = pd.DataFrame({
        "indicator_codes": grouped["indicator_code"].agg(lambda c: ",".join(sorted(set(c)))),
        "latest_year": first["year"],
        "latest_value_num": first["value_num"],
        "latest_value_label": (first["value_code"].fillna("") + " " + first["value_label"].fillna("")).str.strip()
        .replace("", None),
        "observations": grouped.size(),
    }).reset_index()
    return out[columns]


def crosswalk_table() -> pd.DataFrame:
    """Every source's reviewed crosswalk (transforms/mappings/crosswalk/<source>.csv)."""
    frames = [pd.read_csv(path, dtype=str, keep_default_na=False).assign(source_system=path.stem)
              for path in sorted(CROSSWALKS.glob("*.csv"))]
    columns = list(contracts.contracts()["crosswalk"]["columns"])
    if not frames:
        return pd.DataFrame(columns=columns)
    table = pd.concat(frames, ignore_index=True)
    table["indicator_code"] = table["indicator_code"].replace("", None)
    return table[columns]


def table_digest(table: pa.Table) -> str:
    """sha256 of the table's canonical CSV: equal content, equal digest, whatever the run."""
    return hashlib.sha256(canonical_csv(table)).hexdigest()


def canonical_csv(table: pa.Table) -> bytes:
    return table.to_pandas().to_csv(index=False, lineterminator="\n").encode("utf-8")


def new_release_id(content: dict[str, str]) -> str:
    """UTC timestamp plus a short hash of the content, e.g. 20261128T020000Z-1a2b3c4d."""
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:8]
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{digest}"


def write_tables(folder: Path, arrow: dict[str, pa.Table]) -> None:
    for name, table in arrow.items():
        pq.write_table(table, folder / f"{name}.parquet", compression="zstd")
        (folder / f"{name}.csv").write_bytes(canonical_csv(table))


def write_duckdb(folder: Path, arrow: dict[str, pa.Table]) -> None:
    """The release's own DuckDB file; ``var/mea.duckdb`` reaches it through ``current``."""
    with duckdb.connect(str(folder / "mea.duckdb")) as con:
        for name in arrow:
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM read_parquet(?)', [str(folder / f"{name}.parquet")])


def write_manifest(folder: Path, manifest: dict) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")


def read_manifest(folder: Path) -> dict:
    return json.loads((Path(folder) / "manifest.json").read_text())


def inputs_of(parts_dirs: list[str]) -> dict:
    """The raw files behind each source's parts, by sha256, from the runs' fetch logs."""
    inputs = {}
    for parts in map(Path, parts_dirs):
        fetch_log = json.loads((parts.parent / "fetch.json").read_text())
        raw = sorted({(p["sha256"], p["url"]) for e in fetch_log["entities"].values()
                      for p in e["pages"] + list(e["deferred"].values())})
        inputs[fetch_log["source_system"]] = {"base_url": fetch_log["base_url"],
                                              "raw_files": [{"sha256": s, "url": u} for s, u in raw]}
    return inputs


def quarantine_summary(quarantine: pd.DataFrame) -> dict:
    by = quarantine.groupby(["source_system", "field"]).size() if len(quarantine) else pd.Series(dtype=int)
    return {"rows": len(quarantine), "by_source_and_field": {f"{s}.{f}": int(n) for (s, f), n in by.items()}}


def diff_against(previous: Path | None, folder: Path) -> dict:
    """Rows added, removed and changed per table (by key) against the live release."""
    if previous is None:
        return {"previous_release": None, "changed": True, "tables": {}}
    tables, changed = {}, False
    with duckdb.connect() as con:
        for name in contracts.table_names():
            old, new = previous / f"{name}.parquet", folder / f"{name}.parquet"
            if not old.exists():
                tables[name] = {"added": pq.read_metadata(new).num_rows, "removed": 0, "changed": 0}
            else:
                tables[name] = table_diff(con, old, new, contracts.key(name))
            changed |= any(tables[name].values())
    return {"previous_release": read_manifest(previous)["release_id"], "changed": changed, "tables": tables}


def table_diff(con, old: Path, new: Path, key: list[str]) -> dict:
    """Counts of keys only in new, only in old, and in both with a different row."""
    k = ", ".join(f'"{c}"' for c in key)
    rows = f"SELECT ({k})::VARCHAR AS k, md5(t::VARCHAR) AS h FROM read_parquet(?) t"
    added, removed, changed = con.execute(f"""
        WITH o AS ({rows}), n AS ({rows})
        SELECT count(*) FILTER (WHERE o.k IS NULL), count(*) FILTER (WHERE n.k IS NULL),
               count(*) FILTER (WHERE o.h <> n.h)
        FROM o FULL OUTER JOIN n ON o.k = n.k""", [str(old), str(new)]).fetchone()
    return {"added": added, "removed": removed, "changed": changed}


def code_version() -> dict:
    """The package version and, in a git checkout, the commit."""
    try:
        commit = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
    except OSError:
        commit = None
    return {"package": version("mea-reporting"), "git": commit}
