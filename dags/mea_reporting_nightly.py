"""
### mea_reporting_nightly

The nightly harmonized-reporting run: every source is extracted to raw landing, staged and
harmonized in its own tasks; the parts are consolidated into a release folder, audited with
Great Expectations, and only then published by switching `current` (write-audit-publish).

* **Schedule**: 02:00 UTC, no catch-up, one run at a time.
* **Params**: `sources`, `countries` (ISO3 codes) and `cycles` (e.g. `cms:COP13`) name the
  slice the run rebuilds; every other slice of the live release is carried over unchanged.
  `reprocess` rebuilds the slice from raw landing without downloading (`make reprocess`);
  `full_refresh` ignores the cursors. A release is all-or-nothing: if a source fails, nothing
  is published, unless `allow_partial` is set, which publishes the others and flags the
  release as partial, naming the failed sources in its manifest; their rows are the live
  release's, carried unchanged (manifest `carried`, `carried_from` of their inputs) until a
  night fetches them again.
* **Incremental**: conditional requests everywhere; InforMEA (`updated`) and CBD
  (`updatedDate_dt`) also keep a cursor, bounded by the run's data interval end, so each run of
  `make backfill` takes its interval's changes. Cursors advance only when a release publishes;
  a full fetch comes round every `MEA_FULL_REFRESH_DAYS` (default 7).
* **Alerts**: an on-failure callback and a summary after publish, in the log and through the
  notifiers configured in `MEA_ALERTS` (outputs/alerts.py).
* **Retries**: two, backing off from 2 minutes, for what may pass (timeouts, 5xx, 429, dropped
  connections). A failure no retry can fix (core/errors.py: a failed audit, a layout or schema
  drift error, a 4xx answer) fails its task at once. Every failure is noted in
  `runs/<run>/failures/`, which `python -m outputs.summary --failed` (`make run`) reports.
* **Outputs**: `$MEA_DATA_DIR/releases/<id>/` (Parquet, CSV, DuckDB, Excel, manifest.json),
  `$MEA_DATA_DIR/current`, `$MEA_DATA_DIR/mea.duckdb`; the Asset `mea_release` on publish; then
  `publish_warehouse` loads the release into PostgreSQL schema `mea_<id>` and switches the views
  in `mea` (skipped when neither `MEA_WAREHOUSE_URL` nor the connection `mea_warehouse` is set).
* **Base URLs**: `MEA_<SOURCE>_URL`, else the Airflow connection (`informea_api`), else production.

Tasks pass paths, never dataframes. The file does no I/O when parsed.
"""
from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta, timezone

from airflow.sdk import Asset, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowRescheduleException, AirflowSkipException

from core.sources import SOURCES as REGISTRY
from outputs.alerts import on_failure
from outputs.pools import pool_for

SOURCES = tuple(REGISTRY)
RELEASE = Asset(name="mea_release", uri="mea://release/current")
# `airflow dags test` (make run) logs "No tasks to run" every second while a retry waits, through
# this stdlib logger, which [logging] namespace_levels does not reach (it sets structlog loggers
# only). Only DAG.test() logs through it; its errors (a task that failed) still show.
logging.getLogger("airflow.sdk.definitions.dag").setLevel(logging.ERROR)


@dag(
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["mea", "nightly", "release"],
    default_args={
        "owner": "mea-reporting",
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "on_failure_callback": on_failure,
    },
    params={
        "sources": Param(list(SOURCES), type="array", description="Source systems to run."),
        "countries": Param([], type="array", description="ISO3 codes to rebuild; empty = all."),
        "cycles": Param([], type="array", description="Report cycles to rebuild, e.g. cms:COP13; empty = all."),
        "allow_partial": Param(False, type="boolean", description="Publish despite failed sources, carrying their live rows."),
        "reprocess": Param(False, type="boolean", description="Rebuild from raw landing; download nothing."),
        "full_refresh": Param(False, type="boolean", description="Ignore cursors; fetch everything again."),
    },
)
def mea_reporting_nightly():
    parts = {source: source_chain(source) for source in SOURCES}
    release = build_release(parts)
    publish_warehouse(publish_release(audit_release(release)))


def fails_fast(source: str | None = None):
    """Decorate a task function: an error no retry can fix (core.errors.is_permanent) fails the
    task at once, as AirflowFailException; any other keeps the task's retries. Either way the
    failure is noted for the run's summary (outputs.summary.record_failure)."""
    def decorate(function):
        @functools.wraps(function)
        def run(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except (AirflowSkipException, AirflowRescheduleException):
                raise  # Airflow's own flow, not a failure
            except Exception as exc:
                from core.errors import is_permanent
                permanent = isinstance(exc, AirflowFailException) or is_permanent(exc)
                _record(source, exc, permanent)
                if permanent and not isinstance(exc, AirflowFailException):
                    raise AirflowFailException(str(exc)) from exc
                raise
        return run
    return decorate


def _record(source: str | None, exc: BaseException, permanent: bool) -> None:
    try:
        from outputs.summary import record_failure
        ti = get_current_context()["ti"]
        record_failure(ti.run_id, ti.task_id, source, exc, ti.try_number, ti.max_tries, permanent)
    except Exception:  # the note is for the summary; never let it hide the task's own error
        logging.getLogger(__name__).exception("could not note the failure for the run summary")


def source_chain(source: str):
    """extract -> stage -> harmonize for one source, each its own task."""
    slug = source.replace("-", "_")

    @task(task_id=f"extract_{slug}", pool=pool_for(source))
    @fails_fast(source)
    def extract() -> str | None:
        from extractors.pipeline import extract_source
        return extract_source(source, _run_id(), _params())

    @task(task_id=f"stage_{slug}")
    @fails_fast(source)
    def stage(fetch_log: str | None) -> str | None:
        from transforms.pipeline import stage_source
        return stage_source(source, fetch_log)

    @task(task_id=f"harmonize_{slug}")
    @fails_fast(source)
    def harmonize(staging_dir: str | None) -> str | None:
        from transforms.pipeline import harmonize_source
        return harmonize_source(source, staging_dir)

    return harmonize(stage(extract()))


@task(trigger_rule="all_done")
@fails_fast()
def build_release(parts: dict[str, str | None]) -> str:
    from outputs.release import build_release as build, failed_sources
    params = _params()
    failed = failed_sources(parts, params)
    if failed and not params["allow_partial"]:
        raise AirflowFailException(f"sources failed: {', '.join(failed)}; nothing is published "
                                   "(trigger with allow_partial=true to publish the others as a partial release)")
    return str(build([p for p in parts.values() if p], params, _run_id(), failed))


@task
@fails_fast()
def audit_release(release_dir: str) -> str:
    from outputs.audit import audit_release as audit
    audit(release_dir)
    return release_dir


@task(outlets=[RELEASE])
@fails_fast()
def publish_release(release_dir: str) -> str:
    import logging

    from outputs.history import prune
    from outputs.publish import publish
    from outputs.summary import summary_text
    from outputs.alerts import send
    release_id = publish(release_dir)
    send("summary", get_current_context(), summary_text())
    logging.getLogger(__name__).info("pruned old releases: %s", prune() or "none")
    return release_id


@task
@fails_fast()
def publish_warehouse(release_id: str) -> str:
    from airflow.sdk.exceptions import AirflowSkipException

    from core.paths import data_dir
    from outputs.warehouse import publish
    schema = publish(data_dir() / "releases" / release_id)
    if schema is None:
        raise AirflowSkipException("no warehouse configured (MEA_WAREHOUSE_URL or connection mea_warehouse)")
    return schema


def _params() -> dict:
    """The run's params, plus ``until``: the end of its data interval (none for manual runs)."""
    context = get_current_context()
    params = context["params"]
    lists = {k: list(params.get(k) or []) for k in ("sources", "countries", "cycles")}
    flags = {k: bool(params.get(k)) for k in ("allow_partial", "reprocess", "full_refresh")}
    end = context.get("data_interval_end")
    return {**lists, **flags, "until": end.isoformat() if end else None}


def _run_id() -> str:
    return get_current_context()["run_id"]


mea_reporting_nightly()
