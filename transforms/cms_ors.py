"""CMS ORS: staging (questionnaires, respondents, answers) and harmonizing (to the shared schema).

Staging keeps ORS's own ids, Party names and option texts, one row per answer (looping answers
carry their species). Harmonizing maps "Party: <name>" to ISO3, (question, option) to an indicator
and code through the reviewed crosswalk, places each questionnaire in its cycle (cms:COP13 ...),
and gives a report_submissions row per Submitted respondent. Everything else is quarantined.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd

from extractors.cms_ors import records, unwrap
from transforms.catalogue import indicator
from transforms.cbd_chm import CROSSWALKS, OBSERVATION_COLUMNS, SUBMISSION_COLUMNS, origin, parse_number, \
    unique_keys
from transforms.countries import UnknownCountry, to_iso3
from transforms.cycles import report_cycle
from transforms.quarantine import Quarantine

SOURCE = "cms-ors"
CONVENTION = "cms"
_PROVENANCE = ["source_url", "raw_sha256", "retrieved_at"]
STAGING_COLUMNS = {
    "questionnaires": ["id", "title", "questionnaire_date", "status"] + _PROVENANCE,
    "respondents": ["questionnaire_id", "id", "full_name", "status"] + _PROVENANCE,
    "answers": ["record_id", "questionnaire_id", "question_id", "type", "title", "respondent", "answer_text",
                "looping_identifier", "species"] + _PROVENANCE,
}


def load_crosswalk() -> dict[tuple[str, str], dict]:
    """(source_field, answer_code) -> the crosswalk row (indicator_code, value_code, rule)."""
    with (CROSSWALKS / f"{SOURCE}.csv").open(encoding="utf-8") as f:
        return {(r["source_field"], r["answer_code"]): r for r in csv.DictReader(f)}


# Staging.

def stage(fetch_log_path: Path, data_dir: Path, out_dir: Path) -> Path:
    """Typed staging tables (Parquet) from the raw pages of one fetch log; returns ``out_dir``."""
    entities = json.loads(Path(fetch_log_path).read_text())["entities"]
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    read = lambda page: json.loads((data_dir / page["raw_path"]).read_bytes())  # noqa: E731
    provenance = lambda page, url: {"source_url": url, "raw_sha256": page["sha256"],  # noqa: E731
                                    "retrieved_at": page["retrieved_at"]}
    tables = {name: [] for name in STAGING_COLUMNS}
    for page in entities["questionnaire"]["pages"]:
        q = unwrap(read(page), "questionnaire", page["url"])
        tables["questionnaires"].append({**{k: q.get(k) for k in ("id", "title", "questionnaire_date", "status")},
                                         **provenance(page, q.get("url") or page["url"])})
        for r in q.get("respondents") or []:
            r = r.get("respondent", r)
            tables["respondents"].append({"questionnaire_id": q["id"], "id": r.get("id"),
                                          "full_name": r.get("full_name"), "status": r.get("status"),
                                          **provenance(page, q.get("url") or page["url"])})
    for page in entities["questions"]["pages"]:
        for question in records(read(page), "questions", "question", page["url"]):
            tables["answers"] += answer_rows(page["questionnaire_id"], question, provenance(page, question.get("url")
                                                                                            or page["url"]))
    for name, rows in tables.items():
        pd.DataFrame(rows, columns=STAGING_COLUMNS[name]).to_parquet(out_dir / f"{name}.parquet", index=False)
    Quarantine(SOURCE).frame().to_parquet(out_dir / "quarantine.parquet", index=False)
    return out_dir


def answer_rows(qid, question: dict, provenance: dict) -> list[dict]:
    """One row per answer, plain or looping; a looping answer's species is the last step of its path.

    2026-11: looping answers (per species) sit in ``looping_contexts[].answers`` with the species
    as the last element of ``looping_path`` (convention-sources.md §3, example answer).
    """
    contexts = [(None, None, question.get("answers") or [])]
    contexts += [(c.get("looping_identifier"), (c.get("looping_path") or [None])[-1], c.get("answers") or [])
                 for c in question.get("looping_contexts") or []]
    rows = []
    for looping, species, answers in contexts:
        for answer in answers:
            rid = f"{qid}/{question['id']}/{answer.get('respondent')}" + (f"/{looping}" if looping else "")
            rows.append({"record_id": rid, "questionnaire_id": qid, "question_id": question["id"],
                         "type": question.get("type"), "title": question.get("title"),
                         "respondent": answer.get("respondent"), "answer_text": answer.get("answer_text"),
                         "looping_identifier": looping, "species": species, **provenance})
    return rows


# Harmonizing.

def harmonize(staging_dir: Path, out_dir: Path) -> Path:
    """Shared-schema parts (observations, report_submissions, quarantine) as Parquet."""
    staging_dir, out_dir = Path(staging_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    read = lambda name: pd.read_parquet(staging_dir / f"{name}.parquet")  # noqa: E731
    quarantine = Quarantine(SOURCE)
    questionnaires = read("questionnaires")
    placed = {q["id"]: (report_cycle(CONVENTION, q["title"], None)[0], int(str(q["questionnaire_date"])[:4]))
              for q in questionnaires.to_dict("records")}
    respondents = with_parties(read("respondents"), quarantine, "respondents", "full_name")
    submitted = respondents[respondents["status"] == "Submitted"]
    answers = answer_observations(read("answers"), placed, respondents, quarantine)
    parts = {
        "observations": answers,
        "report_submissions": submissions(submitted, questionnaires, placed),
        "quarantine": pd.concat([read("quarantine"), quarantine.frame()], ignore_index=True),
    }
    for name, frame in parts.items():
        frame.to_parquet(out_dir / f"{name}.parquet", index=False)
    return out_dir


def party_name(full_name) -> str:
    """The Party's name. 2026-11: ORS respondents are named "Party: <name>" (convention-sources.md §3)."""
    text = str(full_name or "").strip()
    return text.split(":", 1)[1].strip() if text.startswith("Party:") else text


def with_parties(frame: pd.DataFrame, quarantine: Quarantine, entity: str, column: str) -> pd.DataFrame:
    """Rows with ``country_iso3`` from the Party name in ``column``; unknown names quarantined."""
    iso3 = []
    for row in frame.to_dict("records"):
        try:
            iso3.append(to_iso3(party_name(row[column]), source=SOURCE))
        except UnknownCountry as exc:
            record_id = row.get("record_id") or f"{row['questionnaire_id']}/respondents/{row['id']}"
            quarantine.reject(entity, record_id, column, row[column], str(exc), origin(row))
            iso3.append(None)
    return frame.assign(country_iso3=iso3).dropna(subset=["country_iso3"]).reset_index(drop=True)


def answer_observations(answers: pd.DataFrame, placed: dict, respondents: pd.DataFrame,
                        quarantine: Quarantine) -> pd.DataFrame:
    """One observation per mapped answer of a Submitted Party; the rest quarantined or excluded by the crosswalk."""
    crosswalk, out = load_crosswalk(), []
    status = {(r["questionnaire_id"], r["full_name"]): (r["status"], r["country_iso3"])
              for r in respondents.to_dict("records")}
    for row in answers.to_dict("records"):
        reject = lambda f, v, reason: quarantine.reject("answers", row["record_id"], f, v, reason, origin(row))  # noqa: E731
        field, text = f"question:{row['question_id']}", str(row["answer_text"] or "").strip()
        rule = crosswalk.get((field, text)) or crosswalk.get((field, "*"))
        if rule is None:
            question_known = any(key[0] == field for key in crosswalk)
            reject(field, text, f"option {text!r} of question {row['question_id']} has no row in the {SOURCE} crosswalk"
                   if question_known else f"question {row['question_id']} ({row['title']!r}) has no row in the "
                   f"{SOURCE} crosswalk")
            continue
        if rule["rule"] != "map":
            continue  # a reviewed exclusion (the crosswalk rule says why)
        key = (row["questionnaire_id"], row["respondent"])
        if key not in status:
            reject("respondent", row["respondent"], "answer from a respondent with no known Party (unknown name, "
                   "quarantined under respondents) or not listed by the questionnaire")
            continue
        if status[key][0] != "Submitted":
            reject("respondent", row["respondent"], f"report not submitted (respondent status {status[key][0]!r})")
            continue
        value_num = None
        if rule["answer_code"] == "*":
            try:
                value_num = parse_number(text)
            except ValueError as exc:
                reject(field, text, f"{row['type']} answer: {exc}")
                continue
        cycle, year = placed[row["questionnaire_id"]]
        out.append({"country_iso3": status[key][1], "convention": CONVENTION, "report_cycle": cycle,
                    "indicator_code": rule["indicator_code"], "year": year,
                    "disaggregation": f"SPECIES={row['species']}" if pd.notna(row["species"]) else "_T",
                    "value_num": value_num, "value_code": rule["value_code"] or None,
                    "value_label": None if value_num is not None else text,
                    "unit": indicator(rule["indicator_code"]).get("unit"), "observation_status": "reported",
                    "source_system": SOURCE, "source_record_id": row["record_id"], "source_field": field,
                    "source_url": row["source_url"], "raw_sha256": row["raw_sha256"],
                    "retrieved_at": row["retrieved_at"]})
    return unique_keys(pd.DataFrame(out, columns=OBSERVATION_COLUMNS), "answers", quarantine)


def submissions(submitted: pd.DataFrame, questionnaires: pd.DataFrame, placed: dict) -> pd.DataFrame:
    """``report_submissions`` rows: one per Submitted respondent (ORS gives no submission date)."""
    titles = dict(zip(questionnaires["id"], questionnaires["title"]))
    return pd.DataFrame({
        "country_iso3": submitted["country_iso3"], "convention": CONVENTION,
        "report_cycle": submitted["questionnaire_id"].map(lambda q: placed[q][0]), "report_type": "national_report",
        "submitted_on": None, "title": submitted["questionnaire_id"].map(titles), "url": submitted["source_url"],
        "files": None, "source_system": SOURCE,
        "source_record_id": [f"{q}/respondents/{r}" for q, r in zip(submitted["questionnaire_id"], submitted["id"])],
        "source_url": submitted["source_url"], "raw_sha256": submitted["raw_sha256"],
        "retrieved_at": submitted["retrieved_at"]}, columns=SUBMISSION_COLUMNS)
