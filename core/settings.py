"""Every ``MEA_*`` environment variable the pipeline reads, with its default and what it does.

Nothing else in the production code reads an ``MEA_*`` variable: it asks here, so one table
(``SETTINGS``) is the whole configuration surface. README's settings table is generated from it
(``python -m core.settings``) and a test keeps the two equal.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, its default (None: unset) and a one-line description."""

    name: str
    default: str | None
    description: str


#: per-source variables: ``<SOURCE>`` is the source_system upper-cased, dashes as underscores
PER_SOURCE = ("URL", "TOKEN")

SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("MEA_DATA_DIR", None, "the data folder (raw landing, runs, state, releases, current); unset: `./var`"),
    Setting("MEA_<SOURCE>_URL", None, "a source's base URL (e.g. `MEA_INFORMEA_URL`); unset: the source's Airflow "
            "connection (`host`/`schema` or `extra.base_url`), else the production default"),
    Setting("MEA_<SOURCE>_TOKEN", None, "a source's credential (e.g. `MEA_CMS_ORS_TOKEN`); unset: the connection's "
            "password. Never logged, landed or put in a manifest"),
    Setting("MEA_HTTP_TIMEOUT", "10,120", "HTTP `connect,read` seconds, or one number for both"),
    Setting("MEA_HTTP_CONCURRENCY", "2", "requests in flight per upstream host at once"),
    Setting("MEA_FULL_REFRESH_DAYS", "7", "how often cursor sources fetch everything again (a cursor cannot see "
            "deletions)"),
    Setting("MEA_DUCKDB_MEMORY", "1GB", "what DuckDB may hold before it spills to disk (staging, harmonizing and "
            "building bulk tables)"),
    Setting("MEA_KEEP_RELEASES", "10", "how many releases the data folder keeps (the live one always)"),
    Setting("MEA_ALERTS", None, "a YAML file of Airflow notifiers and the events (`failure`, `summary`) each "
            "receives; unset: alerts go to the task log only"),
    Setting("MEA_UPSTREAM_POOL_SLOTS", "1", "slots of each upstream host's Airflow pool (concurrent extract tasks)"),
    Setting("MEA_WAREHOUSE_URL", None, "the PostgreSQL warehouse (libpq URL or conninfo); unset: the Airflow "
            "connection `mea_warehouse`, else `publish_warehouse` is skipped"),
    Setting("MEA_WAREHOUSE_KEEP", "3", "how many release schemas the warehouse keeps"),
    Setting("MEA_POSTGRES_SERVER", "host=127.0.0.1 port=5432 user=postgres dbname=postgres",
            "the PostgreSQL server on which `make run PROFILE=celery` creates its databases"),
    Setting("MEA_CELERY_BROKER", "redis://127.0.0.1:6379/0", "the Celery broker of `make run PROFILE=celery`"),
    Setting("MEA_WORKER_CONCURRENCY", "2", "Celery worker slots of `make run PROFILE=celery`"),
)}


def source_variable(system: str, kind: str) -> str:
    """The per-source variable of ``system``, e.g. (cbd-chm, URL) -> MEA_CBD_CHM_URL."""
    if kind not in PER_SOURCE:
        raise KeyError(f"no per-source setting {kind!r}; known: {PER_SOURCE}")
    return "MEA_" + system.upper().replace("-", "_") + "_" + kind


def _declared(name: str) -> Setting:
    if name in SETTINGS:
        return SETTINGS[name]
    for kind in PER_SOURCE:
        if name.startswith("MEA_") and name.endswith("_" + kind):
            return SETTINGS[f"MEA_<SOURCE>_{kind}"]
    raise KeyError(f"{name} is not a declared setting (core/settings.py)")


def text(name: str) -> str | None:
    """The value of ``name`` (blank counts as unset), else its declared default."""
    value = os.environ.get(name, "").strip()
    return value or _declared(name).default


def integer(name: str) -> int:
    """``name`` as a whole number; a clear error naming the variable otherwise."""
    return _parsed(name, int, "a whole number")


def number(name: str) -> float:
    """``name`` as a number; a clear error naming the variable otherwise."""
    return _parsed(name, float, "a number")


def _parsed(name: str, convert, what: str):
    value = text(name)
    try:
        return convert(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {what}, not {value!r}") from None


def markdown_table() -> str:
    """The settings as README's table (variable, default, what it does)."""
    lines = ["| variable | default | what |", "|---|---|---|"]
    for s in SETTINGS.values():
        default = f"`{s.default}`" if s.default is not None else "unset"
        lines.append(f"| `{s.name}` | {default} | {s.description} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown_table() + "\n")
