"""Write-audit-publish, step two: run each table's Great Expectations suite on the release.

Suites live in expectations/<table>.json (GX 1.x format); one ephemeral context runs them and
renders the results as Data Docs in the release's ``data_docs/``, which the report links to.
Code lists are suite parameters filled from the release itself (countries, conventions, indicators); row-count bounds come
from the live release and the ratios in each suite's ``meta``. A failed audit raises
AuditFailed (core.errors.Permanent: the DAG does not retry it), one line per failed expectation
in the words a person would use (``describe``), and publish refuses a release without a passing audit.
"""
from __future__ import annotations

import gc
import json
import logging
import os
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from core.errors import Permanent
from core.manifest import add_files, read_manifest, write_manifest
from core.paths import REPO_ROOT, current_release
from outputs import contracts

SUITES = REPO_ROOT / "expectations"
#: rows of a bulk table validated at once
BULK_BATCH_ROWS = 1_000_000
#: the release's folder (and GX site name) of the Data Docs built from its audit
DATA_DOCS = "data_docs"
#: suite parameters that are code lists: parameter -> (the release table they come from, its column)
CODE_LISTS = {"country_codes": ("countries", "iso3"), "convention_ids": ("conventions", "convention"),
              "indicator_codes": ("indicators", "indicator_code")}
#: examples of unexpected values a failure line shows
EXAMPLES = 3
log = logging.getLogger(__name__)


class AuditFailed(RuntimeError, Permanent):
    """At least one expectation failed; ``failures`` has one line for each, and so does the message.
    Permanent (core.errors): auditing the same release again fails the same way."""

    def __init__(self, release_id: str, failures: list[str]):
        self.release_id, self.failures = release_id, list(failures)
        count = f"{len(self.failures)} expectation{'s' if len(self.failures) != 1 else ''}"
        super().__init__("\n".join([f"audit of release {release_id} failed ({count}):", *self.failures]))


def audit_release(folder: Path) -> dict:
    """Validate every table of the release; record the result in audit.json and the manifest."""
    folder = Path(folder)
    if folder.resolve() == current_release() and (folder / "audit.json").exists():
        # a no-change night kept the live release: it passed this audit before it was published
        return json.loads((folder / "audit.json").read_text())["summary"]
    bulk = contracts.bulk_tables()
    tables = {name: pd.read_parquet(folder / f"{name}.parquet") for name in contracts.table_names() if name not in bulk}
    parameters = suite_parameters(tables, current_release())
    previous = previous_rows(current_release())
    context = audit_context(folder / DATA_DOCS)
    results = {name: validate(context, name, tables[name], parameters, previous=previous) if name in tables
               else validate_in_batches(context, name, folder / f"{name}.parquet", parameters, previous=previous)
               for name in contracts.table_names()}
    context.build_data_docs(site_names=[DATA_DOCS])
    add_files(folder, [f"{DATA_DOCS}/index.html"])
    failures = [f for r in results.values() for f in r["failures"]]
    summary = {"success": not failures, "suites": len(results),
               "expectations": sum(r["expectations"] for r in results.values()), "failures": failures}
    (folder / "audit.json").write_text(json.dumps({"summary": summary, "tables": results}, indent=2, default=str))
    manifest = read_manifest(folder)
    manifest["audit"] = summary
    write_manifest(folder, manifest)
    if failures:
        raise AuditFailed(folder.name, failures)
    return summary


def suite_parameters(tables: dict[str, pd.DataFrame], previous: Path | None) -> dict:
    """Values the suites refer to as ``{"$PARAMETER": name}``."""
    params = {name: sorted(tables[table][column]) for name, (table, column) in CODE_LISTS.items()}
    previous_rows = read_manifest(previous)["tables"] if previous else {}
    for name in contracts.table_names():
        ratios = load_suite(name).get("meta", {}).get("row_count_vs_previous", {})
        before = previous_rows.get(name, {}).get("rows")
        params[f"{name}_min_rows"] = int(before * ratios["min_ratio"]) if before and ratios else 0
        params[f"{name}_max_rows"] = int(before * ratios["max_ratio"]) + 1 if before and ratios else None
    return params


def previous_rows(previous: Path | None) -> dict | None:
    """{"release": id, "rows": {table: rows}} of the live release, which the row-count bounds
    are relative to; None before the first publish."""
    if previous is None:
        return None
    tables = read_manifest(previous).get("tables", {})
    return {"release": previous.name, "rows": {name: t.get("rows") for name, t in tables.items()}}


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


def validate(context, table: str, df: pd.DataFrame, parameters: dict, batch_name: str = "release",
             previous: dict | None = None) -> dict:
    """Run the suite of ``table`` on ``df`` (one batch of it, named ``batch_name``) in ``context``;
    ``failures`` has a line for each failed expectation (``describe``)."""
    summary, failed = run_suite(context, table, df, parameters, batch_name)
    return {**summary, "failures": [describe(table, f, previous) for f in failed]}


def run_suite(context, table: str, df: pd.DataFrame, parameters: dict, batch_name: str) -> tuple[dict, list[dict]]:
    """The suite's outcome on ``df`` and its failed expectations (``failure_of``)."""
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
    failed = [failure_of(r) for r in result.results if not r.success]
    return {"success": result.success, "expectations": len(result.results), "rows": len(df)}, failed


def validate_in_batches(context, table: str, path: Path, parameters: dict, previous: dict | None = None) -> dict:
    """Run the suite of a bulk table one Parquet batch at a time, so memory stays bounded.

    Column expectations hold for the table when they hold for every batch; the file is sorted
    by its key, so a key repeated across batches is caught at the batch boundaries. An expectation
    that fails in several batches is one line, with the counts added up.
    """
    failed, extra, expectations, rows, previous_last = {}, [], 0, 0, None
    parquet = pq.ParquetFile(path)
    key = contracts.key(table)
    for index, batch in enumerate(parquet.iter_batches(batch_size=BULK_BATCH_ROWS), start=1):
        frame = batch.to_pandas()
        result, batch_failed = run_suite(context, table, frame, parameters, f"batch{index}")
        for failure in batch_failed:
            merge_failure(failed, failure)
        expectations, rows = result["expectations"], rows + len(frame)
        first = tuple(frame.iloc[0][key])
        if previous_last == first:
            extra.append(f"{table}.({', '.join(key)}): key repeated across batches, e.g. {example(first)}")
        previous_last = tuple(frame.iloc[-1][key])
        del frame
        # GX's objects hold each batch in reference cycles, which only the cyclic collector frees:
        # without this, 23 batches of a SCALE=1 release pile up to 7 GB (bench/, 2026-11-29)
        gc.collect()
    if rows == 0:
        return validate(context, table, parquet.schema_arrow.empty_table().to_pandas(), parameters, previous=previous)
    failures = [describe(table, f, previous) for f in failed.values()] + extra
    return {"success": not failures, "expectations": expectations, "rows": rows, "failures": failures}


# Failure lines: what failed, in the words a person would use.

def failure_of(r) -> dict:
    """The parts of a failed GX validation result ``r`` that ``describe`` needs (plain data)."""
    kwargs = {k: v for k, v in dict(r.expectation_config.kwargs).items() if k != "batch_id"}
    return {"type": r.expectation_config.type, "kwargs": kwargs, "result": dict(r.result or {}),
            "error": exception_message(r.exception_info)}


def exception_message(info) -> str | None:
    """The message of an exception GX caught while running an expectation (a missing column, say)."""
    if not isinstance(info, dict):
        return None
    if "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    messages = [v.get("exception_message") for v in info.values() if isinstance(v, dict)]
    return next((m for m in messages if m), None)


def merge_failure(failed: dict, failure: dict) -> None:
    """Add one batch's ``failure`` to ``failed``, keyed by expectation: counts add up, examples collect."""
    key = (failure["type"], json.dumps(failure["kwargs"], sort_keys=True, default=str))
    if key not in failed:
        failed[key] = {**failure, "result": dict(failure["result"])}
        return
    into, more = failed[key]["result"], failure["result"]
    for count in ("unexpected_count", "element_count"):
        if count in more:
            into[count] = into.get(count, 0) + more[count]
    into["partial_unexpected_counts"] = into.get("partial_unexpected_counts", []) + more.get("partial_unexpected_counts", [])
    into["partial_unexpected_list"] = into.get("partial_unexpected_list", []) + more.get("partial_unexpected_list", [])


def describe(table: str, failure: dict, previous: dict | None = None) -> str:
    """One line for a failed expectation of ``table``'s suite, e.g.
    ``conventions: 6 rows, expected 7 to 31 (15 in release <id>)`` or
    ``observations.country_iso3: 3 values not in countries, e.g. XKX``.
    ``previous`` (``previous_rows``) names the release the row-count bounds come from."""
    kind, kwargs, detail = failure["type"], failure["kwargs"], failure["result"]
    column, columns = kwargs.get("column"), kwargs.get("column_list")
    where = f"{table}.{column}" if column else \
        f"{table}.({', '.join(columns)})" if columns and kind == "expect_compound_columns_to_be_unique" else table
    if failure.get("error"):
        return f"{where}: {kind} could not run: {failure['error']}"
    count, rows = detail.get("unexpected_count") or 0, detail.get("element_count")
    eg = f", e.g. {examples(detail)}" if examples(detail) else ""
    if kind == "expect_table_row_count_to_be_between":
        text = f"{where}: {amount(detail.get('observed_value'), 'row')}, " \
               f"expected {bounds(kwargs.get('min_value'), kwargs.get('max_value'))}"
        if relative_to_previous(table, kind) and previous and previous["rows"].get(table) is not None:
            text += f" ({number(previous['rows'][table])} in release {previous['release']})"
        return text
    if kind == "expect_column_values_to_be_in_set":
        return f"{where}: {amount(count, 'value')} not in {set_name(table, kind, column, kwargs.get('value_set'))}{eg}"
    if kind == "expect_column_values_to_not_be_null":
        share = f"{number(count)} of {amount(rows, 'row')}" if rows else amount(count, "row")
        return f"{where}: {share} empty"
    if kind == "expect_column_values_to_be_unique":
        return f"{where}: {amount(count, 'row')} with a repeated value{eg}"
    if kind == "expect_compound_columns_to_be_unique":
        return f"{where}: {amount(count, 'row')} with a repeated key{eg}"
    if kind == "expect_column_values_to_match_regex":
        return f"{where}: {amount(count, 'value')} not matching {kwargs.get('regex')}{eg}"
    if kind == "expect_column_values_to_be_between":
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        span = f"outside {example(low)} to {example(high)}" if low is not None and high is not None else \
            f"below {example(low)}" if low is not None else f"above {example(high)}"
        return f"{where}: {amount(count, 'value')} {span}{eg}"
    if kind == "expect_table_columns_to_match_ordered_list":
        return f"{where}: columns {column_difference(columns or [], detail.get('observed_value') or [])}"
    if count:
        return f"{where}: {kind} failed for {amount(count, 'value')}{eg}"
    return f"{where}: {kind} failed (observed {str(detail.get('observed_value'))[:160]})"


def amount(n, noun: str) -> str:
    """``1 row``, ``2,144 rows``."""
    return f"{number(n)} {noun}{'' if n == 1 else 's'}"


def number(value) -> str:
    """``2,144`` for 2144 or 2144.0; anything else as it prints."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def bounds(low, high) -> str:
    """``7 to 31``, ``at least 7``, ``at most 31``."""
    if low is not None and high is not None:
        return f"{number(low)} to {number(high)}"
    return f"at least {number(low)}" if low is not None else f"at most {number(high)}" if high is not None \
        else "any number"


def raw_kwargs(table: str, kind: str, column: str | None) -> dict:
    """The kwargs of the expectation as its suite file writes them (``$PARAMETER`` references intact)."""
    for expectation in load_suite(table)["expectations"]:
        if expectation["type"] == kind and expectation["kwargs"].get("column") == column:
            return expectation["kwargs"]
    return {}


def relative_to_previous(table: str, kind: str) -> bool:
    """True when the suite's row-count bounds are the ones computed from the live release."""
    low = raw_kwargs(table, kind, None).get("min_value")
    return isinstance(low, dict) and str(low.get("$PARAMETER", "")).endswith("_min_rows")


def set_name(table: str, kind: str, column: str | None, values) -> str:
    """What the allowed values are: the release table of a code list (``countries``), else the values."""
    reference = raw_kwargs(table, kind, column).get("value_set")
    if isinstance(reference, dict) and reference.get("$PARAMETER") in CODE_LISTS:
        return CODE_LISTS[reference["$PARAMETER"]][0]
    values = list(values or [])
    if len(values) <= 12:
        return "{" + ", ".join(map(str, values)) + "}"
    return f"the {len(values)} allowed values"


def column_difference(expected: list, observed: list) -> str:
    """How the observed columns differ from the expected ones, in a few words."""
    missing = [c for c in expected if c not in observed]
    unexpected = [c for c in observed if c not in expected]
    parts = [f"missing {', '.join(missing)}" if missing else "",
             f"unexpected {', '.join(unexpected)}" if unexpected else ""]
    position = next((i for i, (e, o) in enumerate(zip(expected, observed)) if e != o), None)
    if not any(parts) and position is not None:
        parts = [f"out of order: {observed[position]} at position {position + 1}, expected {expected[position]}"]
    elif not any(parts):
        parts = [f"{', '.join(map(str, observed))}, expected {', '.join(map(str, expected))}"]
    return "; ".join(p for p in parts if p)


def examples(detail: dict) -> str:
    """Up to EXAMPLES distinct unexpected values, most frequent first, as a person would list them."""
    counted = detail.get("partial_unexpected_counts") or [{"value": v} for v in detail.get("partial_unexpected_list") or []]
    seen = []
    for entry in counted:
        text = example(entry.get("value"))
        if text not in seen:
            seen.append(text)
    return ", ".join(seen[:EXAMPLES])


def example(value) -> str:
    """One value as text: an empty cell as ``(empty)``, 4.0 as ``4``, a key as ``(KEN, 2020)``."""
    if isinstance(value, dict):
        value = tuple(value.values())
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(example(v) for v in value) + ")"
    if value is None or (isinstance(value, float) and value != value) or str(value) in ("<NA>", "nan", "NaT", "None"):
        return "(empty)"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)[:40]


def _without_ids(suite: dict) -> dict:
    out = {k: v for k, v in suite.items() if k != "id"}
    out["expectations"] = [{k: v for k, v in e.items() if k != "id"} for e in suite["expectations"]]
    return out
