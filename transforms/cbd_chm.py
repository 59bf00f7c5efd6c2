"""CBD Clearing-House: staging (index pages and documents to typed tables) and harmonizing.

Staging keeps CBD's own names and codes (lower-case ISO2 governments, thesaurus identifiers,
indicator codes as the ORT writes them). Harmonizing maps 7NR indicator data rows and binary
answers to GBF-<code> observations (cycle cbd:NR7), national targets and their GBF alignment to
``national_targets``, and 7NR/6NR index docs to ``report_submissions``. The indicator-data rules
(crosswalk, units, numbers, duplicate keys) are shared with the ORT Excel template (cbd_ort_excel).
Units: the free text a Party writes becomes a code of the one unit list through the source's reviewed
spellings (mappings/units/<source>.csv, transforms.units) and must be the catalogue unit.
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pandas as pd

from core.state import all_deferred, fresh_then_carried
from extractors.cbd_chm import solr_docs
from transforms.catalogue import indicator
from transforms.countries import UnknownCountry, to_iso3
from transforms.observations import NATURAL_KEY, with_catalogue
from transforms.quarantine import Origin, Quarantine
from transforms.units import UnknownUnit, to_unit_code

SOURCE = "cbd-chm"
CONVENTION = "cbd"
NR7 = "cbd:NR7"
REPORT_CYCLES = {"nationalReport7": NR7, "nationalReport6": "cbd:NR6"}
CROSSWALKS = Path(__file__).parent / "mappings" / "crosswalk"
OBSERVATION_COLUMNS = ["country_iso3", "convention", "report_cycle", "indicator_code", "year", "disaggregation",
                       "value_num", "value_code", "value_label", "unit", "observation_status", "source_system",
                       "source_record_id", "source_field", "source_url", "raw_sha256", "retrieved_at"]
SUBMISSION_COLUMNS = ["country_iso3", "convention", "report_cycle", "report_type", "submitted_on", "title", "url",
                      "files", "source_system", "source_record_id", "source_url", "raw_sha256", "retrieved_at"]
TARGET_COLUMNS = ["country_iso3", "title", "description", "gbf_target", "degree_of_alignment", "headline_indicators",
                  "source_system", "source_record_id", "source_url", "raw_sha256", "retrieved_at"]
#: 2026-11: binary answers as the ORT stores them (clearing-house-documentation,
#: national-report-binary-indicator-data/request-body.md); which ones map is the crosswalk's call.
ANSWER_LABELS = {"yes": "Yes", "yesFully": "Yes, fully", "partially": "Partially", "no": "No"}
GBF_TARGET = re.compile(r"^GBF-TARGET-(?P<n>0[1-9]|1[0-9]|2[0-3])$")


# Shared rules (also used by transforms.cbd_ort_excel).

def load_crosswalk(source: str) -> dict[tuple[str, str], str | None]:
    """(source_field, answer_code) -> indicator code, or None for a reviewed exclusion."""
    with (CROSSWALKS / f"{source}.csv").open(encoding="utf-8") as f:
        return {(r["source_field"], r["answer_code"]): (r["indicator_code"] or None) if r["rule"] == "map" else None
                for r in csv.DictReader(f)}


def parse_number(value) -> float:
    """A decimal as the ORT sends it: a JSON number or, 2026-11, a decimal string ("12.5")."""
    if value is None or str(value).strip() == "":
        raise ValueError("empty: no value given")
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", text):
        raise ValueError(f"not a number: {value!r}")
    return float(text)


def parse_year(value) -> int:
    """A reference year: an integer (or an integral number or string, as Excel and JSON give it)."""
    number = parse_number(value)
    if not number.is_integer() or not 1900 <= number <= 2100:
        raise ValueError(f"not a year: {value!r}")
    return int(number)


def origin(row: dict) -> Origin:
    return Origin(row["raw_sha256"], row["source_url"], row["retrieved_at"])


def data_observations(rows: pd.DataFrame, crosswalk: dict, field: str, entity: str, source: str,
                      quarantine: Quarantine, known_codes: set[str] | None = None) -> pd.DataFrame:
    """Observations from indicator-data rows (record_id, country_iso3, code, disaggregation, year,
    unit, value_num, source_url, raw_sha256, retrieved_at); the rest quarantined."""
    out = []
    for row in rows.to_dict("records"):
        reject = lambda f, v, reason: quarantine.reject(entity, row["record_id"], f, v, reason, origin(row))  # noqa: E731
        code = row["code"]
        if known_codes is not None and code not in known_codes:
            reject(field, code, f"indicator code {code!r} is not in the GBF indicator thesaurus")
            continue
        if (field, code) not in crosswalk:
            reject(field, code, f"indicator code {code!r} has no row in the {source} crosswalk")
            continue
        mapped = crosswalk[(field, code)]
        if mapped is None:
            continue  # a reviewed exclusion (the crosswalk rule says why)
        try:
            unit = to_unit_code(row["unit"], source)
        except UnknownUnit as exc:
            reject("unit", row["unit"], str(exc))
            continue
        expected = indicator(mapped).get("unit")
        if unit != expected:
            reject("unit", row["unit"],
                   f"unit {row['unit']!r} ({unit}) is not the catalogue unit {expected!r} of {mapped}")
            continue
        out.append({"country_iso3": row["country_iso3"], "convention": CONVENTION, "report_cycle": NR7,
                    "indicator_code": mapped, "year": row["year"], "disaggregation": row["disaggregation"],
                    "value_num": row["value_num"], "value_code": None, "value_label": None, "unit": unit,
                    "observation_status": "reported", "source_system": source, "source_record_id": row["record_id"],
                    "source_field": f"{field}={code}", "source_url": row["source_url"],
                    "raw_sha256": row["raw_sha256"], "retrieved_at": row["retrieved_at"]})
    return unique_keys(pd.DataFrame(out, columns=OBSERVATION_COLUMNS), entity, quarantine)


def unique_keys(obs: pd.DataFrame, entity: str, quarantine: Quarantine) -> pd.DataFrame:
    """One row per natural key: exact repeats keep the first record id; conflicting values are
    all quarantined (we cannot tell which the Party meant)."""
    obs = obs.sort_values(NATURAL_KEY + ["source_record_id"], kind="stable")
    values = [repr((num, code)) for num, code in zip(obs["value_num"], obs["value_code"])]
    conflicting = obs.assign(_v=values).groupby(NATURAL_KEY)["_v"].transform("nunique") > 1
    for row in obs[conflicting].to_dict("records"):
        key = "/".join(str(row[k]) for k in NATURAL_KEY)
        quarantine.reject(entity, row["source_record_id"], row["source_field"],
                          row["value_num"] if pd.notna(row["value_num"]) else row["value_code"],
                          f"duplicate key {key} with conflicting values", origin(row))
    kept = obs[~conflicting].drop_duplicates(NATURAL_KEY, keep="first")
    return with_catalogue(kept.astype({"year": "int64"}).reset_index(drop=True))


# Staging.

def stage(fetch_log_path: Path, data_dir: Path, out_dir: Path) -> Path:
    """Typed staging tables (Parquet) from the raw pages of one fetch log; returns ``out_dir``."""
    log = json.loads(Path(fetch_log_path).read_text())["entities"]
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    quarantine = Quarantine(SOURCE)
    tables = {"thesaurus": thesaurus_rows(log["thesaurus"]["pages"], data_dir),
              "reports": [], "indicator_data": [], "binary_answers": [], "target_alignments": []}
    for schema, entry in log.items():
        if schema == "thesaurus":
            continue
        deferred = all_deferred(entry)
        for page, position, doc in fresh_then_carried(entry, lambda pages: index_docs(pages, data_dir), doc_uid):
            uid, url = doc.get("identifier_s"), (doc.get("url_ss") or [page["url"]])[0]
            record = {"uid": uid, "schema": schema, "government": doc.get("government_s"),
                      "created": doc.get("createdDate_dt"), "source_url": url,
                      "raw_sha256": page["sha256"], "retrieved_at": page["retrieved_at"]}
            if not uid:
                quarantine.reject(schema, f"{schema}@{page['sha256'][:12]}#{position}", "identifier_s", None,
                                  "index doc without identifier_s", origin(record))
                continue
            if schema in REPORT_CYCLES:
                tables["reports"].append({**record, "title": doc.get("title_EN_s") or doc.get("title_s"),
                                          "files": document_links(doc.get("documentLinks_s"))})
                continue
            document_page = deferred[uid]
            document = json.loads((data_dir / document_page["raw_path"]).read_bytes())
            record |= {"raw_sha256": document_page["sha256"], "retrieved_at": document_page["retrieved_at"],
                       "government": (document.get("government") or {}).get("identifier") or record["government"]}
            STAGERS[schema](record, document, tables, quarantine)
    for name, rows in tables.items():
        pd.DataFrame(rows, columns=STAGING_COLUMNS[name]).to_parquet(out_dir / f"{name}.parquet", index=False)
    quarantine.frame().to_parquet(out_dir / "quarantine.parquet", index=False)
    return out_dir


def doc_uid(doc) -> str | None:
    return doc.get("identifier_s") if isinstance(doc, dict) else None


def index_docs(pages: list[dict], data_dir: Path):
    """(page, position, doc) for every doc of every landed index page, in paging order."""
    for page in pages:
        _, docs = solr_docs(json.loads((data_dir / page["raw_path"]).read_bytes()), page["url"])
        for position, doc in enumerate(docs):
            yield page, position, doc


def thesaurus_rows(pages: list[dict], data_dir: Path) -> list[dict]:
    """Terms with the code their title starts with.

    2026-11: headline identifiers embed the code (GBF-INDICATOR-A.1) but binary and component
    ones do not (KMGBF-INDICATOR-BIN-1 is "1.b ..."); the title always starts with the code
    (convention-sources.md §1, "GBF vocabulary identifiers").
    """
    rows = []
    for page in pages:
        for term in json.loads((data_dir / page["raw_path"]).read_bytes()):
            title = (term.get("title") or {}).get("en") or term.get("name") or ""
            rows.append({"domain": page["domain"], "identifier": term["identifier"], "code": title.split(" ")[0],
                         "title": title.split(" ", 1)[-1]})
    return rows


def document_links(value) -> str:
    """JSON list of file URLs. 2026-11: ``documentLinks_s`` is a JSON string inside the JSON doc."""
    links = json.loads(value) if isinstance(value, str) and value else value or []
    return json.dumps([link.get("url") for link in links if isinstance(link, dict)])


def stage_indicator_data(record: dict, document: dict, tables: dict, quarantine: Quarantine) -> None:
    data = document.get("data", [])
    if not isinstance(data, list):
        raise ValueError(f"[{SOURCE}] document {record['uid']}: 'data' is not a list of rows")
    for i, row in enumerate(data):
        row_id = f"{record['uid']}#data[{i}]"
        reject = lambda f, v, reason: quarantine.reject(record["schema"], row_id, f, v, reason, origin(record))  # noqa: E731
        try:
            year = parse_year(row.get("year"))
        except ValueError as exc:
            reject("data.year", row.get("year"), str(exc))
            continue
        try:
            value = parse_number(row.get("value"))
        except ValueError as exc:
            reject("data.value", row.get("value"), str(exc))
            continue
        tables["indicator_data"].append({
            **{k: record[k] for k in ("uid", "government", "source_url", "raw_sha256", "retrieved_at")},
            "record_id": row_id, "indicator": (document.get("indicator") or {}).get("identifier"),
            "indicatorCode": str(row.get("indicatorCode") or "").strip(),
            "hasDisaggregation": bool(row.get("hasDisaggregation")), "disaggregation": row.get("disaggregation"),
            "year": year, "unit": row.get("unit"), "value": value, "value_raw": str(row.get("value")),
            "footnote": row.get("footnote")})


def stage_binary(record: dict, document: dict, tables: dict, quarantine: Quarantine) -> None:
    year = int(record["created"][:4]) if record.get("created") else None
    for field, block in sorted(document.items()):
        if not field.startswith("binaryResponse") or not isinstance(block, dict):
            continue
        for question, answer in sorted((block.get("responses") or {}).items()):
            tables["binary_answers"].append({
                **{k: record[k] for k in ("uid", "government", "source_url", "raw_sha256", "retrieved_at")},
                "record_id": f"{record['uid']}#{field}.{question}", "field": field,
                "indicator": (block.get("indicator") or {}).get("identifier"), "question": question,
                "answer": json.dumps(answer) if not isinstance(answer, str) else answer, "year": year})


def stage_target(record: dict, document: dict, tables: dict, quarantine: Quarantine) -> None:
    """One row per national target and GBF target it aligns with (nationalTarget7), or per
    global target a Party adopts as its own (nationalTarget7Mapping)."""
    english = lambda value: (value or {}).get("en") if isinstance(value, dict) else value  # noqa: E731
    if record["schema"] == "nationalTarget7":
        alignments = [(a.get("identifier"), a.get("degreeOfAlignment")) for a in document.get("globalTargetAlignment")
                      or [] if isinstance(a, dict)]
        headline = [t.get("identifier") for t in document.get("headlineIndicators") or []]
        title, description = english(document.get("title")), english(document.get("description"))
    else:
        alignments = [((document.get("globalGoalOrTarget") or {}).get("identifier"), None)]
        headline = [(p.get("headlineIndicator") or {}).get("identifier") for p in document.get("referencePeriod") or []]
        title, description = None, english(document.get("elementOfGlobalTargetsInfo"))
    for target, degree in alignments:
        tables["target_alignments"].append({
            **{k: record[k] for k in ("uid", "schema", "government", "source_url", "raw_sha256", "retrieved_at")},
            "title": title, "description": description, "target": target, "degreeOfAlignment": degree,
            "headlineIndicators": json.dumps([h for h in headline if h])})


STAGERS = {"nationalReport7IndicatorData": stage_indicator_data, "nationalReport7BinaryIndicatorData": stage_binary,
           "nationalTarget7": stage_target, "nationalTarget7Mapping": stage_target}
_PROVENANCE = ["source_url", "raw_sha256", "retrieved_at"]
STAGING_COLUMNS = {
    "thesaurus": ["domain", "identifier", "code", "title"],
    "reports": ["uid", "schema", "government", "created", "title", "files"] + _PROVENANCE,
    "indicator_data": ["record_id", "uid", "government", "indicator", "indicatorCode", "hasDisaggregation",
                       "disaggregation", "year", "unit", "value", "value_raw", "footnote"] + _PROVENANCE,
    "binary_answers": ["record_id", "uid", "government", "field", "indicator", "question", "answer", "year"]
    + _PROVENANCE,
    "target_alignments": ["uid", "schema", "government", "title", "description", "target", "degreeOfAlignment",
                          "headlineIndicators"] + _PROVENANCE,
}


# Harmonizing.

def harmonize(staging_dir: Path, out_dir: Path) -> Path:
    """Shared-schema parts (observations, report_submissions, national_targets, quarantine) as Parquet."""
    staging_dir, out_dir = Path(staging_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    read = lambda name: pd.read_parquet(staging_dir / f"{name}.parquet")  # noqa: E731
    quarantine, crosswalk, thesaurus = Quarantine(SOURCE), load_crosswalk(SOURCE), read("thesaurus")
    data = with_countries(read("indicator_data"), quarantine, "nationalReport7IndicatorData")
    data["code"] = data["indicatorCode"]
    data["disaggregation"] = total_or(data["disaggregation"], data["hasDisaggregation"])
    data["value_num"] = data["value"]
    headline = set(thesaurus.loc[thesaurus["domain"] != "GBF-TARGETS", "code"])
    observations = pd.concat([
        data_observations(data, crosswalk, "indicatorCode", "nationalReport7IndicatorData", SOURCE, quarantine,
                          headline),
        binary_observations(with_countries(read("binary_answers"), quarantine, "nationalReport7BinaryIndicatorData"),
                            crosswalk, quarantine)], ignore_index=True)
    reports = with_countries(read("reports"), quarantine)
    parts = {
        "observations": observations,
        "report_submissions": submissions(reports),
        "national_targets": national_targets(with_countries(read("target_alignments"), quarantine), thesaurus,
                                             quarantine),
        "quarantine": pd.concat([read("quarantine"), quarantine.frame()], ignore_index=True),
    }
    for name, frame in parts.items():
        frame.to_parquet(out_dir / f"{name}.parquet", index=False)
    return out_dir


def with_countries(frame: pd.DataFrame, quarantine: Quarantine, entity: str | None = None) -> pd.DataFrame:
    """Rows with ``country_iso3`` from the lower-case ISO2 ``government``; unknown ones quarantined
    under ``entity`` (else the row's own schema).

    2026-11: ``government_s`` / ``government.identifier`` is lower-case ISO2 (``ke``); to_iso3 takes any case.
    """
    iso3 = []
    for row in frame.to_dict("records"):
        try:
            iso3.append(to_iso3(row["government"] or "", source=SOURCE))
        except UnknownCountry as exc:
            quarantine.reject(entity or row["schema"], row.get("record_id") or row["uid"], "government",
                              row["government"], str(exc), origin(row))
            iso3.append(None)
    return frame.assign(country_iso3=iso3).dropna(subset=["country_iso3"]).reset_index(drop=True)


def total_or(disaggregation: pd.Series, has_disaggregation: pd.Series) -> pd.Series:
    """``_T`` for a row that is no disaggregation (or names none), else the Party's disaggregation."""
    text = disaggregation.fillna("").astype(str).str.strip()
    return text.where(has_disaggregation.astype(bool) & (text != ""), "_T")


def binary_observations(answers: pd.DataFrame, crosswalk: dict, quarantine: Quarantine) -> pd.DataFrame:
    """One categorical observation per binary question answered; unmapped answers quarantined."""
    out = []
    for row in answers.to_dict("records"):
        code = crosswalk.get((row["field"], row["answer"]))
        if code is None:
            reason = (f"answer {row['answer']!r} to {row['field']}.{row['question']} has no row in the {SOURCE} "
                      "crosswalk")
            quarantine.reject("nationalReport7BinaryIndicatorData", row["record_id"],
                              f"{row['field']}.{row['question']}", row["answer"], reason, origin(row))
            continue
        out.append({"country_iso3": row["country_iso3"], "convention": CONVENTION, "report_cycle": NR7,
                    "indicator_code": code, "year": row["year"], "disaggregation": row["question"],
                    "value_num": None, "value_code": row["answer"], "value_label": ANSWER_LABELS.get(row["answer"]),
                    "unit": None, "observation_status": "reported", "source_system": SOURCE,
                    "source_record_id": row["record_id"], "source_field": f"{row['field']}.responses",
                    "source_url": row["source_url"], "raw_sha256": row["raw_sha256"],
                    "retrieved_at": row["retrieved_at"]})
    return unique_keys(pd.DataFrame(out, columns=OBSERVATION_COLUMNS), "nationalReport7BinaryIndicatorData",
                       quarantine)


def submissions(reports: pd.DataFrame) -> pd.DataFrame:
    """``report_submissions`` rows of the 7NR and 6NR index docs."""
    return pd.DataFrame({
        "country_iso3": reports["country_iso3"], "convention": CONVENTION,
        "report_cycle": reports["schema"].map(REPORT_CYCLES), "report_type": "national_report",
        "submitted_on": pd.to_datetime(reports["created"], utc=True).dt.date, "title": reports["title"],
        "url": reports["source_url"], "files": reports["files"], "source_system": SOURCE,
        "source_record_id": reports["uid"], "source_url": reports["source_url"], "raw_sha256": reports["raw_sha256"],
        "retrieved_at": reports["retrieved_at"]}, columns=SUBMISSION_COLUMNS)


def national_targets(alignments: pd.DataFrame, thesaurus: pd.DataFrame, quarantine: Quarantine) -> pd.DataFrame:
    """``national_targets`` rows: GBF-TARGET-03 -> GBF-T03; unknown targets and indicators quarantined."""
    targets = set(thesaurus.loc[thesaurus["domain"] == "GBF-TARGETS", "identifier"])
    indicator_codes = dict(zip(thesaurus["identifier"], thesaurus["code"]))
    titles = dict(zip(thesaurus["identifier"], thesaurus["title"]))
    out = []
    for row in alignments.to_dict("records"):
        reject = lambda f, v, reason: quarantine.reject(row["schema"], row["uid"], f, v, reason, origin(row))  # noqa: E731
        match = GBF_TARGET.match(row["target"] or "")
        if not match or row["target"] not in targets:
            reject("globalTargetAlignment", row["target"], f"{row['target']!r} is not a GBF target in GBF-TARGETS")
            continue
        codes = []
        for identifier in json.loads(row["headlineIndicators"]):
            if identifier in indicator_codes:
                codes.append(f"GBF-{indicator_codes[identifier]}")
            else:
                reject("headlineIndicators", identifier, f"{identifier!r} is not in the GBF indicator thesaurus")
        # a mapping record adopts the global target itself: its title is the target's
        title = row["title"] if row["schema"] == "nationalTarget7" else titles[row["target"]]
        out.append({"country_iso3": row["country_iso3"], "title": title, "description": row["description"],
                    "gbf_target": f"GBF-T{match['n']}", "degree_of_alignment": row["degreeOfAlignment"],
                    "headline_indicators": ",".join(codes) or None, "source_system": SOURCE,
                    "source_record_id": row["uid"], "source_url": row["source_url"], "raw_sha256": row["raw_sha256"],
                    "retrieved_at": row["retrieved_at"]})
    return pd.DataFrame(out, columns=TARGET_COLUMNS).drop_duplicates(["source_record_id", "gbf_target"])
