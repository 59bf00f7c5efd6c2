"""Registry of upstream sources: where each one lives and how it may be used.

Base URLs are resolved at task run time, never at import: the environment variable
``MEA_<SOURCE>_URL`` wins, then the Airflow connection, then the production default.
"""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """One upstream system the pipeline harvests."""

    system: str
    connection_id: str
    default_url: str
    terms: str

    @property
    def env_var(self) -> str:
        return "MEA_" + self.system.upper().replace("-", "_") + "_URL"


SOURCES: dict[str, Source] = {
    "informea": Source(
        system="informea",
        connection_id="informea_api",
        default_url="http://odata.informea.org/informea.svc",
        terms=(
            "InforMEA (UNEP): open data; the InforMEA project asks that display of the data on "
            "third-party sites be agreed with the InforMEA/IKM project (https://www.informea.org)."
        ),
    ),
}


def get_source(system: str) -> Source:
    """The registered source named ``system``, or a KeyError that lists the known ones."""
    try:
        return SOURCES[system]
    except KeyError:
        raise KeyError(f"unknown source_system {system!r}; known: {sorted(SOURCES)}") from None


def base_url(system: str) -> str:
    """The base URL of ``system``: MEA_<SOURCE>_URL, else its Airflow connection, else the default."""
    source = get_source(system)
    url = os.environ.get(source.env_var) or _connection_url(source.connection_id) or source.default_url
    return url.rstrip("/")


def _connection_url(connection_id: str) -> str | None:
    """The URL held by an Airflow connection (extra ``base_url``, else scheme://host:port/schema)."""
    try:
        from airflow.sdk import Connection  # imported late: extractors run without Airflow too
        conn = Connection.get(connection_id)
    except Exception:  # no Airflow, no such connection, or no API server to ask
        return None
    extra = conn.extra_dejson or {}
    if extra.get("base_url"):
        return extra["base_url"]
    if not conn.host:
        return None
    scheme = conn.conn_type if conn.conn_type in ("http", "https") else "http"
    port = f":{conn.port}" if conn.port else ""
    schema = f"/{conn.schema}" if conn.schema else ""
    return f"{scheme}://{conn.host}{port}{schema}"
