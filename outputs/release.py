"""Write-audit-publish, step one: build a release folder from the sources' harmonized parts.

A release holds every published table as Parquet and CSV, a DuckDB file with the same tables
and views, the Excel workbook, the data dictionary, the SDMX-CSV export and manifest.json
(inputs, row counts, content hashes, diff against the live release, the other files). Nothing
here touches ``current``: that is publish's job, after the audit (and the report).
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from core.duck import connect, identifier
from core.errors import Permanent
from core.manifest import read_manifest, write_manifest
from core.paths import REPO_ROOT, current_release
from core.sources import SOURCES
from core.state import published_upstream, raw_pages
from outputs import contracts
from outputs.dictionary import write_dictionary_csv
from outputs.formulas import csv_text, csv_text_sql, is_text
from outputs.locks import build_folder
from outputs.sdmx import write_sdmx_csv
from outputs.views import create_views
from outputs.workbook import write_workbook
from transforms import reuse
from transforms.catalogue import indicators_table
from transforms.countries import countries_table
from transforms.cycles import with_deadlines
from transforms.observations import NATURAL_KEY

log = logging.getLogger(__name__)

CROSSWALKS = REPO_ROOT / "transforms" / "mappings" / "crosswalk"
PRECEDENCE = REPO_ROOT / "transforms" / "mappings" / "source_precedence.yaml"

#: tables built here from reference data or from the other tables; sources contribute the rest
CENTRAL_TABLES = ("countries", "indicators", "crosswalk", "coverage", "synergy_matrix", "revisions")
SUPERSEDED = "superseded by "
#: where a row came from, as opposed to what it says (left out when diffing releases)
PROVENANCE = ("raw_sha256", "retrieved_at")
WORKBOOK, DUCKDB = "mea-reporting.xlsx", "mea.duckdb"


class MixedUpstreams(ValueError, Permanent):
    """A build would publish records of two upstreams for one source."""


def failed_sources(parts: dict[str, str | None], params: dict) -> list[str]:
    """Selected sources whose chain produced no parts (a task failed or was skipped upstream)."""
    selected = params.get("sources") or list(parts)
    return sorted(s for s, part in parts.items() if s in selected and part is None)


def build_release(parts_dirs: list[str], params: dict, run_id: str, failed: list[str] = ()) -> Path:
    """Consolidate the parts of every source into a new release folder; return it.

    ``failed`` names sources that failed in a run that allowed a partial release; the
    manifest flags the release as partial and names them. Their rows are not dropped: they are
    left out of the slice the run rebuilds, so that every table keeps the live release's rows of
    theirs unchanged, and the manifest says where they were carried from (``carried``, the
    ``carried_from`` of their inputs). Bulk tables never pass through pandas: DuckDB stacks,
    sorts and writes them.
    """
    parts, previous = [Path(p) for p in parts_dirs], current_release()
    selected = without_failed(run_slice(params), failed)
    inputs = inputs_of(parts_dirs)
    refuse_mixed_upstreams(inputs, previous, selected)
    if not failed and covers_everything(selected) and (live := reuse.live_release_if_unchanged(parts_dirs)):
        log.info("no source changed since release %s: it stays live, nothing is built", live.name)
        return live
    tables = {name: merge_slice(name, frame, previous, selected) for name, frame in consolidate(parts).items()}
    # rows carried from a live release built before deadline/on_time existed get them too
    tables["report_submissions"] = with_deadlines(tables["report_submissions"])
    # superseded rows are worked out again below, from the merged observations; those of a source
    # the run did not rebuild are kept as carried (the rows that lost are not among the observations)
    quarantine = tables["quarantine"]
    was_superseded = quarantine["reason"].str.startswith(SUPERSEDED)
    tables["observations"], superseded = resolve_overlaps(tables["observations"])
    tables["quarantine"] = pd.concat([quarantine[~was_superseded], superseded,
                                      carried_superseded(quarantine[was_superseded], superseded, selected)],
                                     ignore_index=True)
    tables["quarantine"] = carry_first_seen(tables["quarantine"], previous)
    built_at = datetime.now(timezone.utc)
    tables["revisions"] = revisions(tables["observations"], previous, built_at)
    tables["coverage"] = coverage(tables["report_submissions"])
    tables["synergy_matrix"] = synergy_matrix(tables["observations"])
    tables["countries"] = countries_table()
    tables["indicators"] = indicators_table()
    tables["crosswalk"] = crosswalk_table()
    arrow = {name: contracts.conform(name, tables[name]) for name in tables}
    # locked while it is written; a build killed before its rename is removed by the next one
    with build_folder() as tmp:
        write_tables(tmp, arrow)
        bulk_rows = {name: write_bulk_table(tmp, name, parts, previous, selected) for name in contracts.bulk_tables()}
        rows = {**{name: t.num_rows for name, t in arrow.items()}, **bulk_rows}
        content = {name: file_digest(tmp / f"{name}.csv") for name in contracts.table_names()}
        release_id = new_release_id(content)
        write_duckdb(tmp)
        write_workbook(tmp / WORKBOOK, arrow, too_large=bulk_rows)
        files = [path.name for path in (write_dictionary_csv(tmp), write_sdmx_csv(tmp))] + [DUCKDB, WORKBOOK]
        manifest = {
            "release_id": release_id,
            "created_at": built_at.isoformat(timespec="seconds"),
            "run_id": run_id,
            "code_version": code_version(),
            "params": params,
            "slice": selected,
            "partial": bool(failed),
            "failed_sources": list(failed),
            "inputs": (all_inputs := with_carried_inputs(inputs, previous)),
            "carried": carried_sources(tmp, failed, all_inputs),
            "upstream_resets": {source: i["upstream_reset"] for source, i in inputs.items() if i.get("upstream_reset")},
            "schema_drift": schema_drift_of(parts_dirs),
            "tables": {name: {"rows": rows[name], "sha256": content[name], "files": [f"{name}.parquet", f"{name}.csv"]}
                       for name in contracts.table_names()},
            "files": sorted(files),
            "quarantine": {**quarantine_summary(tables["quarantine"]),
                           "resolved": resolved_quarantine(tables["quarantine"], previous)},
            "diff": diff_against(previous, tmp),
        }
        manifest["run_summary"] = run_summary(manifest, previous)
        write_manifest(tmp, manifest)
        folder = tmp.parent / release_id
        tmp.rename(folder)
    return folder


def consolidate(parts_dirs: list[Path]) -> dict[str, pd.DataFrame]:
    """Every source's parts of each source table, stacked."""
    tables = {}
    for name in (t for t in contracts.table_names() if t not in CENTRAL_TABLES + tuple(contracts.bulk_tables())):
        frames = [pd.read_parquet(d / f"{name}.parquet") for d in parts_dirs if (d / f"{name}.parquet").exists()]
        frames = [f for f in frames if len(f)]
        columns = list(contracts.contracts()[name]["columns"])
        stacked = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
        if name == "report_submissions":
            stacked = with_deadlines(stacked)  # deadline, on_time: computed here, not by the sources
        tables[name] = stacked[columns]
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
        "reason": [f"{SUPERSEDED}{winners[tuple(k)]} for the same {'/'.join(map(str, k))}"
                   for k in lost[NATURAL_KEY].itertuples(index=False)],
        "raw_sha256": lost["raw_sha256"], "source_url": lost["source_url"],
        "first_seen": lost["retrieved_at"], "last_seen": lost["retrieved_at"],
    })
    return ranked[~losers].drop(columns="_rank").reset_index(drop=True), quarantined


def carried_superseded(before: pd.DataFrame, superseded: pd.DataFrame, selected: dict) -> pd.DataFrame:
    """The live release's superseded rows of sources outside the slice (carried, as their rows that
    lost are not among the observations to work them out again from), less those worked out again."""
    keys = contracts.key("quarantine")
    kept = before[~before["source_system"].isin(selected["sources"])]
    if kept.empty:
        return kept
    again = kept[keys].merge(superseded[keys].drop_duplicates(), on=keys, how="left", indicator=True)["_merge"]
    return kept[(again == "left_only").to_numpy()]


def run_slice(params: dict) -> dict:
    """The slice a run rebuilds: its sources (all when none are named), countries and cycles."""
    return {"sources": sorted(params.get("sources") or SOURCES),
            "countries": sorted(c.upper() for c in params.get("countries") or []),
            "cycles": sorted(params.get("cycles") or [])}


def without_failed(selected: dict, failed: list[str]) -> dict:
    """The slice a partial run rebuilds: its slice without the sources that failed, whose rows
    are then carried from the live release like any other row outside the slice."""
    return {**selected, "sources": [s for s in selected["sources"] if s not in set(failed)]}


def carried_sources(folder: Path, failed: list[str], inputs: dict) -> dict:
    """For each failed source: the release its rows were carried from (its inputs' ``carried_from``,
    None when no release had any) and how many rows of it each sliced table of ``folder`` holds."""
    carried = {}
    with duckdb.connect() as con:
        for source in failed:
            rows = {}
            for name in contracts.table_names():
                spec = contracts.contracts()[name].get("slice")
                if spec and (folder / f"{name}.parquet").exists():
                    rows[name] = con.execute(
                        f"SELECT count(*) FROM read_parquet($path) WHERE coalesce({spec['source']} = $source, false)",
                        {"path": str(folder / f"{name}.parquet"), "source": source}).fetchone()[0]
            carried[source] = {"from_release": inputs.get(source, {}).get("carried_from"), "rows": rows}
    return carried


def covers_everything(selected: dict) -> bool:
    return set(selected["sources"]) >= set(SOURCES) and not selected["countries"] and not selected["cycles"]


def slice_predicate(table: str, selected: dict) -> tuple[str, dict]:
    """SQL that is true for the rows of ``table`` inside the slice, from the contract's ``slice``
    expressions, and its parameters ($sources, $countries, $cycles: the values never enter the SQL)."""
    spec = contracts.contracts()[table]["slice"]
    if not selected["sources"]:  # every source of a partial run failed: nothing is rebuilt
        return "false", {}
    clauses, args = [f"list_contains($sources, {spec['source']})"], {"sources": selected["sources"]}
    if selected["countries"] and spec.get("country"):
        clauses.append("(" + " OR ".join(f"list_contains($countries, {c})" for c in spec["country"]) + ")")
        args["countries"] = selected["countries"]
    if selected["cycles"] and spec.get("cycle"):
        clauses.append(f"list_contains($cycles, {spec['cycle']})")
        args["cycles"] = selected["cycles"]
    return "coalesce(" + " AND ".join(clauses) + ", false)", args


def merge_slice(table: str, fresh: pd.DataFrame, previous: Path | None, selected: dict) -> pd.DataFrame:
    """The fresh rows inside the run's slice plus the live release's rows outside it, unchanged."""
    predicate, args = slice_predicate(table, selected)
    with duckdb.connect() as con:
        con.register("fresh", fresh)
        inside = con.execute(f"SELECT * FROM fresh WHERE {predicate}", args).df()
        if previous is None or covers_everything(selected) or not (previous / f"{table}.parquet").exists():
            return inside
        outside = con.execute(f"SELECT * FROM read_parquet($path) WHERE NOT {predicate}",
                              {**args, "path": str(previous / f"{table}.parquet")}).df()
    return pd.concat([outside, inside], ignore_index=True)[list(fresh.columns)]


def value_text(observations: pd.DataFrame) -> pd.Series:
    """A published value as one text: the number (or code, or label) and its unit."""
    number = observations["value_num"].map(lambda v: None if pd.isna(v) else format(v, ".15g"))
    text = number.fillna(observations["value_code"]).fillna(observations["value_label"])
    unit = observations["unit"].fillna("")
    return text.where(unit == "", text + " " + unit)


def revisions(observations: pd.DataFrame, previous: Path | None, built_at: datetime) -> pd.DataFrame:
    """The live release's revisions plus one row per observation whose value this build changes."""
    columns = list(contracts.contracts()["revisions"]["columns"])
    if previous is None:
        return pd.DataFrame(columns=columns)
    kept = pd.read_parquet(previous / "revisions.parquet") if (previous / "revisions.parquet").exists() \
        else pd.DataFrame(columns=columns)
    old = pd.read_parquet(previous / "observations.parquet")
    both = old.assign(value=value_text(old)).merge(observations.assign(value=value_text(observations)),
                                                   on="observation_id", suffixes=("_old", "_new"))
    changed = both[both["value_old"].fillna("\0") != both["value_new"].fillna("\0")]
    fresh = pd.DataFrame({
        "observation_id": changed["observation_id"],
        **{c: changed[f"{c}_new"] for c in NATURAL_KEY},
        "old_value": changed["value_old"], "new_value": changed["value_new"],
        **{f"{age}_{c}": changed[f"{c}_{age}"] for age in ("old", "new")
           for c in ("source_system", "raw_sha256", "retrieved_at")},
        "previous_release": previous.name, "detected_at": built_at,
    })
    return pd.concat([kept, fresh[columns]] if len(kept) else [fresh[columns]], ignore_index=True)


def run_summary(manifest: dict, previous: Path | None) -> dict:
    """What a data officer wants to see after a run: rows, quarantine growth, revisions, failures."""
    before = read_manifest(previous)["tables"] if previous else {}
    rows = {name: info["rows"] for name, info in manifest["tables"].items()}
    growth = lambda name: rows[name] - before.get(name, {}).get("rows", 0)  # noqa: E731
    return {"rows": rows, "changed": manifest["diff"]["changed"], "quarantine_growth": growth("quarantine"),
            "new_revisions": growth("revisions"), "failed_sources": manifest["failed_sources"],
            "carried": {source: c["from_release"] for source, c in manifest.get("carried", {}).items()}}


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


def resolved_quarantine(quarantine: pd.DataFrame, previous: Path | None) -> list[dict]:
    """The live release's quarantine rows this build no longer has (a mapping fix, a corrected
    upstream record): listed in the manifest so that none leaves the quarantine silently."""
    if previous is None or not (previous / "quarantine.parquet").exists():
        return []
    keys = contracts.key("quarantine")
    before = pd.read_parquet(previous / "quarantine.parquet", columns=keys + ["first_seen", "last_seen"])
    gone = before.merge(quarantine[keys].drop_duplicates(), on=keys, how="left", indicator=True)
    gone = gone[gone["_merge"] == "left_only"].drop(columns="_merge")
    return json.loads(gone.sort_values(keys).to_json(orient="records", date_format="iso"))


def coverage(submissions: pd.DataFrame) -> pd.DataFrame:
    """Country x convention x cycle of national reports: submitted, late, missing or not a Party.

    Expected Parties of a cycle are the Parties in force on its deadline (membership lists), else
    the countries seen reporting to the convention; see transforms.coverage.
    """
    from transforms.coverage import coverage as coverage_table

    return coverage_table(submissions)


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


def file_digest(path: Path) -> str:
    """sha256 of a file, read in chunks: the canonical CSV's digest names the table's content."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def canonical_csv(table: pa.Table) -> bytes:
    """A table as its release CSV: UTF-8, LF, formula-like text quote-prefixed (outputs.formulas)."""
    frame = table.to_pandas()
    for field in filter(is_text, table.schema):
        frame[field.name] = csv_text(frame[field.name])
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def csv_select(path: Path) -> str:
    """SELECT list of a Parquet file as its release CSV writes it (the DuckDB twin of canonical_csv)."""
    return ", ".join(csv_text_sql(identifier(f.name)) + f" AS {identifier(f.name)}" if is_text(f)
                     else identifier(f.name) for f in pq.read_schema(path))


def new_release_id(content: dict[str, str]) -> str:
    """UTC timestamp plus a short hash of the content, e.g. 20261128T020000Z-1a2b3c4d."""
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:8]
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{digest}"


def write_tables(folder: Path, arrow: dict[str, pa.Table]) -> None:
    for name, table in arrow.items():
        pq.write_table(table, folder / f"{name}.parquet", compression="zstd")
        (folder / f"{name}.csv").write_bytes(canonical_csv(table))


def write_bulk_table(folder: Path, name: str, parts: list[Path], previous: Path | None, selected: dict) -> int:
    """Stack the sources' parts of bulk table ``name`` (and the live release's rows outside the
    run's slice) in DuckDB, typed and sorted by its key, into the release's Parquet and CSV;
    return its row count."""
    files = [str(d / f"{name}.parquet") for d in parts if (d / f"{name}.parquet").exists()]
    target = folder / f"{name}.parquet"
    (predicate, args), select = slice_predicate(name, selected), contracts.duckdb_select(name)
    queries = [f"SELECT {select} FROM read_parquet($files, union_by_name = true) WHERE {predicate}"] if files else []
    if previous is not None and not covers_everything(selected) and (previous / f"{name}.parquet").exists():
        queries.append(f"SELECT {select} FROM read_parquet($previous) WHERE NOT {predicate}")
        args["previous"] = str(previous / f"{name}.parquet")
    if files:
        args["files"] = files
    spill = folder / ".duckdb-spill"
    with connect(spill) as con:
        if not queries:
            pq.write_table(contracts.arrow_schema(name).empty_table(), target, compression="zstd")
        else:
            order = ", ".join(identifier(c) for c in contracts.key(name))
            con.sql(f"SELECT * FROM ({' UNION ALL '.join(queries)}) ORDER BY {order}", params=args) \
                .write_parquet(str(target), compression="zstd")
        con.sql(f"SELECT {csv_select(target)} FROM read_parquet($target)", params={"target": str(target)}) \
            .write_csv(str(folder / f"{name}.csv"), header=True)
    shutil.rmtree(spill, ignore_errors=True)
    return pq.read_metadata(target).num_rows


def write_duckdb(folder: Path) -> None:
    """The release's own DuckDB file with every table and the views of outputs/views.yaml;
    ``var/mea.duckdb`` reaches it through ``current``."""
    with duckdb.connect(str(folder / DUCKDB)) as con:
        for name in contracts.table_names():
            con.execute(f"CREATE TABLE {identifier(name)} AS SELECT * FROM read_parquet(?)",
                        [str(folder / f"{name}.parquet")])
        create_views(con)


def inputs_of(parts_dirs: list[str]) -> dict:
    """The upstream and raw files behind each source's parts, by sha256, from the runs' fetch logs."""
    inputs = {}
    for parts in map(Path, parts_dirs):
        fetch_log = json.loads((parts.parent / "fetch.json").read_text())
        raw = sorted({(p["sha256"], p["url"]) for p in raw_pages(fetch_log)})
        inputs[fetch_log["source_system"]] = {
            "base_url": fetch_log["base_url"], "upstream": published_upstream(fetch_log),
            **({"upstream_reset": fetch_log["upstream_reset"]} if fetch_log.get("upstream_reset") else {}),
            "fetch_log": str(parts.parent / "fetch.json"), "raw_files": [{"sha256": s, "url": u} for s, u in raw]}
    return inputs


def with_carried_inputs(inputs: dict, previous: Path | None) -> dict:
    """Tonight's inputs plus, for each source this run did not fetch (a source slice), the live
    release's, marked with the release they come from: every manifest names every source's upstream."""
    if previous is None:
        return inputs
    before = read_manifest(previous)["inputs"]
    carried = {source: {**entry, "carried_from": entry.get("carried_from", previous.name)}
               for source, entry in before.items() if source not in inputs}
    return {**carried, **inputs}


def refuse_mixed_upstreams(inputs: dict, previous: Path | None, selected: dict) -> None:
    """A country or cycle slice keeps the live release's rows outside it: refused for a source
    whose upstream changed since, as the release would hold records of two upstreams."""
    if previous is None or not (selected["countries"] or selected["cycles"]):
        return
    before = read_manifest(previous)["inputs"]
    for source, entry in sorted(inputs.items()):
        if source in before and published_upstream(before[source]) != entry["upstream"]:
            raise MixedUpstreams(
                f"[{source}] upstream changed from {published_upstream(before[source])} to {entry['upstream']} "
                f"since release {previous.name}: a slice of countries {selected['countries'] or 'all'} and cycles "
                f"{selected['cycles'] or 'all'} would keep the old upstream's rows beside the new one's. Run the whole "
                f"source once (no countries, no cycles), then slice.")


def schema_drift_of(parts_dirs: list[str]) -> dict:
    """source -> entity -> undeclared upstream fields (extractors/drift.py) -> the first page that
    carried each, from the runs' fetch logs; drift in a field the pipeline does not use is reported
    here, never published silently."""
    drift = {}
    for parts in map(Path, parts_dirs):
        fetch_log = json.loads((parts.parent / "fetch.json").read_text())
        for entity, entry in fetch_log["entities"].items():
            for page in entry["pages"]:
                for name in page.get("schema_drift", []):
                    drift.setdefault(fetch_log["source_system"], {}).setdefault(entity, {}).setdefault(name, page["url"])
    return drift


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
    """Counts of keys only in new, only in old, and in both with different content. Where a row
    came from (raw_sha256, retrieved_at) is not content: a page re-fetched because another record
    on it changed does not make its other rows count as changed."""
    k = ", ".join(identifier(c) for c in key)
    rows = "SELECT ({k})::VARCHAR AS k, md5(t::VARCHAR) AS h FROM (SELECT {columns} FROM read_parquet(?)) t"
    added, removed, changed = con.execute(f"""
        WITH o AS ({rows.format(k=k, columns=content_columns(old))}),
             n AS ({rows.format(k=k, columns=content_columns(new))})
        SELECT count(*) FILTER (WHERE o.k IS NULL), count(*) FILTER (WHERE n.k IS NULL),
               count(*) FILTER (WHERE o.h <> n.h)
        FROM o FULL OUTER JOIN n ON o.k = n.k""", [str(old), str(new)]).fetchone()
    return {"added": added, "removed": removed, "changed": changed}


def content_columns(path: Path) -> str:
    """The columns of a Parquet file that are not provenance, as a SELECT list."""
    return ", ".join(identifier(c) for c in pq.read_schema(path).names if c not in PROVENANCE)


def code_version() -> dict:
    """The package version and, in a git checkout, the commit."""
    try:
        commit = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
    except OSError:
        commit = None
    return {"package": version("mea-reporting"), "git": commit}
