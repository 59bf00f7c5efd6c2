"""InforMEA: staging (raw pages to typed tables) and harmonizing (to the shared schema).

Staging keeps InforMEA's own names and codes; harmonizing maps countries to ISO3, places each
report in its cycle by the reviewed rules, and derives SYN-NR-SUBMITTED / SYN-NAP-SUBMITTED.
Every rejected record goes to quarantine with the field and the reason.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from core.state import all_deferred, fresh_then_carried
from extractors.informea import deferred_key, nav_items, unwrap_collection
from transforms.countries import UnknownCountry, to_iso3
from transforms.cycles import NoCycle, report_cycle
from transforms.observations import with_catalogue
from transforms.quarantine import Origin, Quarantine

SOURCE = "informea"
STAGING_TABLES = {"Treaties": "treaties", "CountryReports": "country_reports", "NationalPlans": "national_plans"}
_ODATA_DATE = re.compile(r"^/Date\((?P<ms>-?\d+)(?P<offset>[+-]\d{4})?\)/$")


class BadDate(ValueError):
    """A date value that is not an OData v2 ``/Date(ms)/``."""


def parse_odata_date(value: str | None) -> datetime | None:
    """``/Date(ms)/`` or ``/Date(ms+hhmm)/`` as an aware datetime; None stays None.

    2026-11: the central service sends UTC milliseconds without offset; MEA providers
    (DateTimeOffset) add ``+hhmm``: the milliseconds are still UTC, the suffix is the local
    offset, which we keep so that the local calendar date is the one the Party saw.
    """
    if value is None:
        return None
    match = _ODATA_DATE.match(str(value).strip())
    if not match:
        raise BadDate(f"not an OData date: {value!r}")
    offset = match["offset"]
    tz = timezone.utc
    if offset:
        sign = -1 if offset[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:])))
    return datetime.fromtimestamp(int(match["ms"]) / 1000, tz=timezone.utc).astimezone(tz)


# Staging.

def stage(fetch_log_path: Path, data_dir: Path, out_dir: Path) -> Path:
    """Typed staging tables (Parquet) from the raw pages of one fetch log; returns ``out_dir``."""
    fetch_log = json.loads(Path(fetch_log_path).read_text())
    quarantine = Quarantine(SOURCE)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for entity, table in STAGING_TABLES.items():
        entry = fetch_log["entities"][entity]
        deferred = all_deferred(entry)
        rows = [stage_record(entity, record, page, position, deferred, data_dir, quarantine)
                for page, position, record in fresh_then_carried(entry, lambda pages: iter_records(pages, data_dir),
                                                                  record_key)]
        frame = pd.DataFrame([r for r in rows if r is not None])
        frame = frame.drop_duplicates("id", keep="first") if len(frame) else frame
        frame.to_parquet(out_dir / f"{table}.parquet", index=False)
    quarantine.frame().to_parquet(out_dir / "quarantine.parquet", index=False)
    return out_dir


def record_key(record) -> str | None:
    return record.get("id") if isinstance(record, dict) else None


def iter_records(pages: list[dict], data_dir: Path):
    """(page, position, record) for every record of every landed page, in paging order."""
    for page in pages:
        payload = json.loads((Path(data_dir) / page["raw_path"]).read_bytes())
        records, _ = unwrap_collection(payload, page["url"])
        for position, record in enumerate(records):
            yield page, position, record


def stage_record(entity: str, record: dict, page: dict, position: int, deferred: dict, data_dir: Path,
                 quarantine: Quarantine) -> dict | None:
    """One typed staging row, or None after quarantining the record with its reason."""
    ref = record.get("id") if isinstance(record, dict) else None
    record_id = str(ref) if ref not in (None, "") else f"{entity}@{page['sha256'][:12]}#{position}"
    metadata = record.get("__metadata") if isinstance(record, dict) else None
    source_url = (metadata or {}).get("uri") or page["first_url"]
    origin = Origin(page["sha256"], source_url, page["retrieved_at"])
    if ref in (None, ""):
        quarantine.reject(entity, record_id, "id", ref, f"{entity} record has no id", origin)
        return None
    row = {"id": record_id, "raw_sha256": page["sha256"], "retrieved_at": page["retrieved_at"],
           "entity_url": source_url}
    for field in ("submission", "updated") if entity != "Treaties" else ():
        try:
            row[field] = parse_odata_date(record.get(field))
        except BadDate as exc:
            quarantine.reject(entity, record_id, field, record.get(field), str(exc), origin)
            return None
    try:
        navs = {nav: resolve_nav(record.get(nav), deferred, data_dir) for nav in ("title", "files", "description")}
    except ValueError as exc:
        quarantine.reject(entity, record_id, "title/files", None, str(exc), origin)
        return None
    row["title"] = english(navs["title"])
    row["titles_json"] = json.dumps(navs["title"], ensure_ascii=False, sort_keys=True)
    if entity == "Treaties":
        row.update({k: record.get(k) for k in ("UUID", "url", "titleEnglish", "officialNameEnglish", "treatyWebsiteURL")})
        return row
    row["files_json"] = json.dumps([f.get("url") for f in navs["files"] if isinstance(f, dict)])
    row.update({k: record.get(k) for k in ("treaty", "country", "url", "type")})
    return row


def resolve_nav(value, deferred: dict, data_dir: Path) -> list[dict]:
    """A navigation property as a list, reading the landed target of a deferred link."""
    items = nav_items(value)
    if isinstance(items, str):
        page = deferred.get(deferred_key(items))
        if page is None:
            raise ValueError(f"deferred link {items!r} was not fetched")
        payload = json.loads((Path(data_dir) / page["raw_path"]).read_bytes())
        items, _ = unwrap_collection(payload, page["url"])
    return [{k: v for k, v in item.items() if k != "__metadata"} for item in items if isinstance(item, dict)]


def english(localized: list[dict]) -> str | None:
    """The English value of a localized-string list, else the first value."""
    for item in localized:
        if item.get("language") == "en":
            return item.get("value")
    return localized[0].get("value") if localized else None


# Harmonizing.

def harmonize(staging_dir: Path, out_dir: Path) -> Path:
    """Shared-schema parts (observations, report_submissions, conventions, quarantine) as Parquet."""
    staging_dir, out_dir = Path(staging_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    quarantine = Quarantine(SOURCE)
    treaties = pd.read_parquet(staging_dir / "treaties.parquet")
    reports = place_submissions(pd.read_parquet(staging_dir / "country_reports.parquet"), "CountryReports",
                                set(treaties["id"]), quarantine)
    plans = place_submissions(pd.read_parquet(staging_dir / "national_plans.parquet"), "NationalPlans",
                              set(treaties["id"]), quarantine)
    submissions = pd.concat([reports, plans], ignore_index=True)
    observations = pd.concat([report_observations(submissions, quarantine), plan_observations(submissions)],
                             ignore_index=True)
    submissions[SUBMISSION_COLUMNS].to_parquet(out_dir / "report_submissions.parquet", index=False)
    observations.to_parquet(out_dir / "observations.parquet", index=False)
    conventions_part(treaties).to_parquet(out_dir / "conventions.parquet", index=False)
    staged_quarantine = pd.read_parquet(staging_dir / "quarantine.parquet")
    pd.concat([staged_quarantine, quarantine.frame()], ignore_index=True).to_parquet(
        out_dir / "quarantine.parquet", index=False)
    return out_dir


SUBMISSION_COLUMNS = ["country_iso3", "convention", "report_cycle", "report_type", "submitted_on", "title", "url",
                      "files", "source_system", "source_record_id", "source_url", "raw_sha256", "retrieved_at"]


def place_submissions(staged: pd.DataFrame, entity: str, treaty_ids: set[str], quarantine: Quarantine) -> pd.DataFrame:
    """Staged reports or plans with ISO3 country, known treaty and cycle; the rest quarantined."""
    rows = []
    for rec in staged.to_dict("records"):
        origin = Origin(rec["raw_sha256"], rec["url"] or rec["entity_url"], rec["retrieved_at"])
        reject = lambda field, value, reason: quarantine.reject(entity, rec["id"], field, value, reason, origin)  # noqa: E731
        submitted = rec["submission"].date() if pd.notna(rec["submission"]) else None
        try:
            iso3 = to_iso3(rec["country"])
        except UnknownCountry as exc:
            reject("country", rec["country"], str(exc))
            continue
        if rec["treaty"] not in treaty_ids:
            reject("treaty", rec["treaty"], f"treaty {rec['treaty']!r} is not in Treaties")
            continue
        if entity == "NationalPlans":
            if not rec.get("type"):
                reject("type", rec.get("type"), "national plan without a type")
                continue
            cycle, report_type = f"{rec['treaty']}:{rec['type'].upper()}", rec["type"].lower()
        else:
            try:
                cycle, _ = report_cycle(rec["treaty"], rec["title"], submitted)
            except NoCycle as exc:
                reject("title", rec["title"], str(exc))
                continue
            report_type = "national_report"
        rows.append({
            "country_iso3": iso3, "convention": rec["treaty"], "report_cycle": cycle, "report_type": report_type,
            "submitted_on": submitted, "title": rec["title"], "url": rec["url"], "files": rec["files_json"],
            "source_system": SOURCE, "source_record_id": rec["id"],
            "source_url": rec["url"] or rec["entity_url"], "raw_sha256": rec["raw_sha256"],
            "retrieved_at": rec["retrieved_at"], "entity": entity,
        })
    return pd.DataFrame(rows, columns=SUBMISSION_COLUMNS + ["entity"])


def report_observations(submissions: pd.DataFrame, quarantine: Quarantine) -> pd.DataFrame:
    """SYN-NR-SUBMITTED: one per country x convention x cycle, from its earliest submission."""
    reports = submissions[submissions["entity"] == "CountryReports"]
    undated = reports[reports["submitted_on"].isna()]
    for rec in undated.to_dict("records"):
        quarantine.reject("CountryReports", rec["source_record_id"], "submission", None,
                          "no submission date: SYN-NR-SUBMITTED needs a year",
                          Origin(rec["raw_sha256"], rec["source_url"], rec["retrieved_at"]))
    first = earliest(reports.dropna(subset=["submitted_on"]), ["country_iso3", "convention", "report_cycle"])
    return observation_frame(first, "SYN-NR-SUBMITTED", disaggregation="_T", source_field="CountryReports.submission")


def plan_observations(submissions: pd.DataFrame) -> pd.DataFrame:
    """SYN-NAP-SUBMITTED: one per country x convention x plan type x year of submission."""
    plans = submissions[(submissions["entity"] == "NationalPlans") & submissions["submitted_on"].notna()].copy()
    plans["year"] = plans["submitted_on"].map(lambda d: d.year)
    first = earliest(plans, ["country_iso3", "convention", "report_type", "year"])
    return observation_frame(first, "SYN-NAP-SUBMITTED", disaggregation=first["report_type"],
                             source_field="NationalPlans.submission")


def earliest(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """The earliest-submitted record per group (ties broken by record id, so runs agree)."""
    ordered = frame.sort_values(by + ["submitted_on", "source_record_id"], kind="stable")
    return ordered.drop_duplicates(by, keep="first").reset_index(drop=True)


def observation_frame(first: pd.DataFrame, code: str, disaggregation, source_field: str) -> pd.DataFrame:
    """Long-format boolean observations (value 1 = submitted) with full provenance."""
    obs = pd.DataFrame({
        "country_iso3": first["country_iso3"], "convention": first["convention"],
        "report_cycle": first["report_cycle"], "indicator_code": code,
        "year": first["submitted_on"].map(lambda d: d.year).astype("int64"),
        "disaggregation": disaggregation, "value_num": 1.0, "value_code": None,
        "value_label": "submitted " + first["submitted_on"].astype(str), "unit": None,
        "observation_status": "reported", "source_system": SOURCE,
        "source_record_id": first["source_record_id"], "source_field": source_field,
        "source_url": first["source_url"], "raw_sha256": first["raw_sha256"], "retrieved_at": first["retrieved_at"],
    })
    return with_catalogue(obs)


def conventions_part(treaties: pd.DataFrame) -> pd.DataFrame:
    """The ``conventions`` rows InforMEA's Treaties give."""
    return pd.DataFrame({
        "convention": treaties["id"], "title": treaties["titleEnglish"].fillna(treaties["title"]),
        "official_name": treaties["officialNameEnglish"], "website_url": treaties["treatyWebsiteURL"],
        "informea_url": treaties["url"], "uuid": treaties["UUID"], "source_system": SOURCE,
        "raw_sha256": treaties["raw_sha256"], "retrieved_at": treaties["retrieved_at"],
    })
