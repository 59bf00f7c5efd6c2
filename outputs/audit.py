"""Write-audit-publish, step two: run each table's Great Expectations suite on the release.

Suites live in expectations/<table>.json (GX 1.x format); one ephemeral context runs them and
renders the results as Data Docs in the release's ``data_docs/``, which the report links to.
Code lists are suite parameters filled from the release itself (countries, conventions, indicators); row-count bounds come
from the live release and the ratios in each suite's ``meta``. A failed audit raises
AuditFailed, and publish refuses a release without a passing audit.
"""
from __future__ import annotations

import gc
import json
import logging
import os
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from outputs import contracts
from outputs.paths import REPO_ROOT, current_release
from outputs.release import add_files, read_manifest, write_manifest

SUITES = REPO_ROOT / "expectations"
#: rows of a bulk table validated at once
BULK_BATCH_ROWS = 1_000_000
#: the release's folder (and GX site name) of the Data Docs built from its audit
DATA_DOCS = "data_docs"
log = logging.getLogger(__name__)


class AuditFailed(RuntimeError):
    """At least one expectation failed; the message lists them."""


def audit_release(folder: Path) -> dict:
    """Validate every table of the release; record the result in audit.json and the manifest."""
    folder = Path(folder)
    if folder.resolve() == current_release() and (folder / "audit.json").exists():
        # a no-change night kept the live release: it passed this audit before it was published
        return json.loads((folder / "audit.json").read_text())["summary"]
    bulk = contracts.bulk_tables()
    tables = {name: pd.read_parquet(folder / f"{name}.parquet") for name in contracts.table_names() if name not in bulk}
    parameters = suite_parameters(tables, current_release())
    context = audit_context(folder / DATA_DOCS)
    results = {name: validate(context, name, tables[name], parameters) if name in tables
               else validate_in_batches(context, name, folder / f"{name}.parquet", parameters)
               for name in contracts.table_names()}
    context.build_data_docs(site_names=[DATA_DOCS])
    add_files(folder, [f"{DATA_DOCS}/index.html"])
    failures = [f"{table}: {f}" for table, r in results.items() for f in r["failures"]]
    summary = {"success": not failures, "suites": len(results),
               "expectations": sum(r["expectations"] for r in results.values()), "failures": failures}
    (folder / "audit.json").write_text(json.dumps({"summary": summary, "tables": results}, indent=2, default=str))
    manifest = read_manifest(folder)
    manifest["audit"] = summary
    write_manifest(folder, manifest)
    if failures:
        raise AuditFailed(f"audit of release {folder.name} failed: " + "; ".join(failures))
    return summary


def suite_parameters(tables: dict[str, pd.DataFrame], previous: Path | None) -> dict:
    """Values the suites refer to as ``{"$PARAMETER": name}``."""
    params = {
        "country_codes": sorted(tables["countries"]["iso3"]),
        "convention_ids": sorted(tables["conventions"]["convention"]),
        "indicator_codes": sorted(tables["indicators"]["indicator_code"]),
    }
    previous_rows = read_manifest(previous)["tables"] if previous else {}
    for name in contracts.table_names():
        ratios = load_suite(name).get("meta", {}).get("row_count_vs_previous", {})
        before = previous_rows.get(name, {}).get("rows")
        params[f"{name}_min_rows"] = int(before * ratios["min_ratio"]) if before and ratios else 0
        params[f"{name}_max_rows"] = int(before * ratios["max_ratio"]) + 1 if before and ratios else None
    return params


def load_suite(table: str) -> dict:
    return json.loads((SUITES / f"{table}.json").read_text())


def audit_context(data_docs: Path):
    """An ephemeral GX context whose Data Docs site is the release's ``data_docs/`` folder."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx  # imported here: 5-10 s, only the audit task pays it
    logging.getLogger("great_expectations").setLevel(logging.WARNING)

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    context.add_data_docs_site(DATA_DOCS, {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(data_docs)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    })
    return context


def validate(context, table: str, df: pd.DataFrame, parameters: dict, batch_name: str = "release") -> dict:
    """Run the suite of ``table`` on ``df`` (one batch of it, named ``batch_name``) in ``context``."""
    import great_expectations as gx

    suite = context.suites.add_or_update(gx.ExpectationSuite(**_without_ids(load_suite(table))))
    name = f"{table}_{batch_name}"
    batch = context.data_sources.add_pandas(name=name).add_dataframe_asset(name=table) \
        .add_batch_definition_whole_dataframe(batch_name)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=f"{name}_audit", data=batch,
                                                                            suite=suite))
    result = definition.run(batch_parameters={"dataframe": df}, expectation_parameters=parameters,
                            result_format="SUMMARY")
    context.data_sources.delete(name)  # the data source holds on to ``df``; the stored result does not
    failures = [describe_failure(r) for r in result.results if not r.success]
    return {"success": result.success, "expectations": len(result.results), "rows": len(df), "failures": failures}


def validate_in_batches(context, table: str, path: Path, parameters: dict) -> dict:
    """Run the suite of a bulk table one Parquet batch at a time, so memory stays bounded.

    Column expectations hold for the table when they hold for every batch; the file is sorted
    by its key, so a key repeated across batches is caught at the batch boundaries.
    """
    failures, expectations, rows, previous_last = [], 0, 0, None
    parquet = pq.ParquetFile(path)
    key = contracts.key(table)
    for number, batch in enumerate(parquet.iter_batches(batch_size=BULK_BATCH_ROWS), start=1):
        frame = batch.to_pandas()
        result = validate(context, table, frame, parameters, batch_name=f"batch{number}")
        failures += [f for f in result["failures"] if f not in failures]
        expectations, rows = result["expectations"], rows + len(frame)
        first = tuple(frame.iloc[0][key])
        if previous_last == first:
            failures.append(f"key {key} repeated across batches: {first}")
        previous_last = tuple(frame.iloc[-1][key])
        del frame
        # GX's objects hold each batch in reference cycles, which only the cyclic collector frees:
        # without this, 23 batches of a SCALE=1 release pile up to 7 GB (bench/, 2026-11-29)
        gc.collect()
    if rows == 0:
        return validate(context, table, parquet.schema_arrow.empty_table().to_pandas(), parameters)
    return {"success": not failures, "expectations": expectations, "rows": rows, "failures": failures}


def describe_failure(r) -> str:
    cfg = r.expectation_config
    detail = r.result or {}
    sample = detail.get("partial_unexpected_list") or detail.get("observed_value")
    return f"{cfg.type}({cfg.kwargs.get('column') or cfg.kwargs.get('column_list') or ''}) unexpected " \
           f"{detail.get('unexpected_count', '')} e.g. {str(sample)[:160]}"


def _without_ids(suite: dict) -> dict:
    out = {k: v for k, v in suite.items() if k != "id"}
    out["expectations"] = [{k: v for k, v in e.items() if k != "id"} for e in suite["expectations"]]
    return out
