"""Registry of upstream sources: where each one lives and how it may be used.

Base URLs are resolved at task run time, never at import: the environment variable
``MEA_<SOURCE>_URL`` wins, then the Airflow connection, then the production default.
Credentials come the same way (``MEA_<SOURCE>_TOKEN``, else the connection's password) and
are never logged or landed.
"""
from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass

from core import settings


@dataclass(frozen=True)
class Source:
    """One upstream system the pipeline harvests."""

    system: str
    connection_id: str
    default_url: str | None
    terms: str

    @property
    def env_var(self) -> str:
        return url_env_var(self.system)


def url_env_var(system: str) -> str:
    """The environment variable carrying a source's base URL, e.g. cbd-chm -> MEA_CBD_CHM_URL."""
    return settings.source_variable(system, "URL")


SOURCES: dict[str, Source] = {s.system: s for s in (
    Source("informea", "informea_api", "http://odata.informea.org/informea.svc",
           "InforMEA (UNEP): open data; the InforMEA project asks that display of the data on third-party sites "
           "be agreed with the InforMEA/IKM project (https://www.informea.org)."),
    Source("cbd-chm", "cbd_chm", "https://api.cbd.int",
           "CBD Secretariat Clearing-House Mechanism / Online Reporting Tool; terms of use not stated in the API "
           "documentation (2026-11); cite the Party's national report and https://chm.cbd.int."),
    Source("cites-trade", "cites_trade", "https://trade.cites.org",
           "UNEP-WCMC (Comps.) Full CITES Trade Database Download. CITES Secretariat, Geneva, Switzerland. "
           "Compiled by UNEP-WCMC, Cambridge, UK (https://trade.cites.org)."),
    Source("cms-ors", "cms_ors", "https://ors.cms.int",
           "CMS Online Reporting System (UNEP-WCMC); API access by token; licence not stated (2026-11)."),
    Source("ramsar-nrf", "ramsar_nrf", None,
           "Ramsar Convention Secretariat national reports (https://www.ramsar.org/terms-use); workbooks received "
           "by e-mail and placed in the inbox."),
    Source("cbd-ort-excel", "cbd_ort_excel", None,
           "CBD Online Reporting Tool indicator-data template filled in by the Party; received by e-mail and "
           "placed in the inbox."),
    Source("sdg-api", "sdg_api", "https://unstats.un.org/SDGAPI",
           "UN SDG Global Database (UN DESA Statistics Division), https://unstats.un.org/sdgs/dataportal; "
           "UN terms of use (https://www.un.org/en/about-us/terms-of-use)."),
)}


def get_source(system: str) -> Source:
    """The registered source named ``system``, or a KeyError that lists the known ones."""
    try:
        return SOURCES[system]
    except KeyError:
        raise KeyError(f"unknown source_system {system!r}; known: {sorted(SOURCES)}") from None


def source_module(package: str, source: str):
    """``<package>.<source>`` (dashes as underscores): the source's extractor or transform."""
    return importlib.import_module(f"{package}.{source.replace('-', '_')}")


def base_url(system: str) -> str:
    """The base URL of ``system``: MEA_<SOURCE>_URL, else its Airflow connection, else the default."""
    source = get_source(system)
    url = settings.text(source.env_var) or _connection_url(source.connection_id) or source.default_url
    if not url:
        raise ValueError(f"[{system}] has no base URL: it is read from the inbox, not fetched")
    return url.rstrip("/")


def upstream_id(system: str, url: str) -> str:
    """Whose data a source's state holds: its base URL, and for a source with a credential the
    account the credential belongs to (the connection's login, else a short fingerprint of the
    credential; never the credential itself). State from another upstream is never built on."""
    token = settings.text(settings.source_variable(system, "TOKEN"))
    connection = airflow_connection(get_source(system).connection_id) if not token else None
    login = getattr(connection, "login", None)
    credential = token or getattr(connection, "password", None)
    if login:
        return f"{url} as {login}"
    if credential:
        return f"{url} as credential sha256:{hashlib.sha256(credential.encode()).hexdigest()[:12]}"
    return url


def secret(system: str) -> str:
    """The credential of ``system``: MEA_<SOURCE>_TOKEN, else its Airflow connection's password."""
    source = get_source(system)
    variable = settings.source_variable(system, "TOKEN")
    value = settings.text(variable) or getattr(airflow_connection(source.connection_id), "password", None)
    if not value:
        raise PermissionError(f"[{system}] no credential: set {variable} or the password of the Airflow "
                              f"connection {source.connection_id!r}")
    return value


def airflow_connection(connection_id: str):
    """The Airflow connection ``connection_id``, or None without Airflow, such a connection or an API server."""
    try:
        from airflow.sdk import Connection  # imported late: extractors run without Airflow too
        return Connection.get(connection_id)
    except Exception:  # no Airflow, no such connection, or no API server to ask
        return None


def _connection_url(connection_id: str) -> str | None:
    """The URL held by an Airflow connection (extra ``base_url``, else scheme://host:port/schema)."""
    conn = airflow_connection(connection_id)
    if conn is None:
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
