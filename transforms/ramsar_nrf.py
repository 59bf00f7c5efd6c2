"""Ramsar NRF answer workbooks: staging (declared layout to one row per answer) and harmonizing.

Staging checks each landed workbook against ``extractors/ramsar_nrf.yaml`` (sheet, header row,
Party column, exactly the declared question columns) and fails naming the file and the missing or
unexpected header. Coded answers must be a declared option, numbers must parse; other cells are
quarantined. Harmonizing maps Party names to ISO3 and (question, option) to indicators through the
reviewed crosswalk: coded answers become categorical observations, numbers numeric ones, their unit
(declared, or the Party's "<question> unit" cell) mapped to a code of the one unit list through
mappings/units/ramsar-nrf.csv and the value converted to the catalogue unit.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from extractors.ramsar_nrf import layout
from transforms.catalogue import indicator
from transforms.cbd_chm import OBSERVATION_COLUMNS, load_crosswalk, origin, parse_number, unique_keys
from transforms.countries import UnknownCountry, to_iso3
from transforms.quarantine import Quarantine
from transforms.units import UnknownUnit, to_unit_code
from transforms.workbooks import LayoutError, blank, declared_rows, stage_workbooks

SOURCE = "ramsar-nrf"
CONVENTION = "ramsar"
ENTITY = "answers"
COLUMNS = ["record_id", "file", "row", "party", "report_cycle", "year", "question", "answer", "value_code",
           "value_label", "value_num", "unit", "source_url", "raw_sha256", "retrieved_at"]
#: hectares per unit code (mappings/units.csv). 2026-11: Parties report wetland extent in km2 or ha;
#: the catalogue unit is KM2
HECTARES = {"KM2": 100.0, "HA": 1.0}


def stage(fetch_log_path: Path, data_dir: Path, out_dir: Path) -> Path:
    """``answers.parquet`` and ``quarantine.parquet`` from the landed workbooks; returns ``out_dir``."""
    return stage_workbooks(SOURCE, ENTITY, COLUMNS, read_workbook, fetch_log_path, data_dir, out_dir)


def cycle_of(name: str) -> str:
    """The file name's COP<n> (e.g. ``Ramsar_NRF_COP13_answers.xlsx``), else the layout's cycle."""
    match = re.search(layout()["cycle_from_file_name"], name)
    return f"{CONVENTION}:COP{int(match['n'])}" if match else layout()["report_cycle"]


def read_workbook(path: Path, page: dict, quarantine: Quarantine) -> list[dict]:
    """One staging row per answered question cell; a layout mismatch raises LayoutError naming the file."""
    spec, name = layout(), page["name"]
    declared = [spec["country"]["column"], *spec["questions"]]
    base = {"file": name, "report_cycle": cycle_of(name), "year": spec["year"], "source_url": f"inbox/{SOURCE}/{name}",
            "raw_sha256": page["sha256"], "retrieved_at": page["retrieved_at"]}
    rows = []
    for number, values in declared_rows(path, name, SOURCE, spec, declared, strict=True):
        rows += typed_answers(values, {**base, "row": number, "party": values[declared[0]]}, quarantine)
    return rows


def typed_answers(values: dict, base: dict, quarantine: Quarantine) -> list[dict]:
    """The answered cells of one Party's row; a cell that is not a declared option or a number is quarantined.
    A blank cell is a question the Party did not answer: no row."""
    questions, out = layout()["questions"], []
    for question, rule in questions.items():
        answer = values[question]
        if rule["kind"] == "unit" or blank(answer):
            continue
        row = {**base, "record_id": f"{base['file']}!R{base['row']}!{question}", "question": question,
               "answer": str(answer).strip(), "value_code": None, "value_label": None, "value_num": None,
               "unit": rule.get("unit")}
        reject = lambda reason: quarantine.reject(ENTITY, row["record_id"], question, answer, reason, origin(row))  # noqa: E731
        if rule["kind"] == "coded":
            if row["answer"] not in rule["options"]:
                reject(f"option {row['answer']!r} is not one of {', '.join(rule['options'])} declared for {question}")
                continue
            row.update(value_code=row["answer"], value_label=rule["options"][row["answer"]])
        else:
            unit_column = next((q for q, r in questions.items() if r["kind"] == "unit" and r["of"] == question), None)
            if unit_column:
                row["unit"] = str(values[unit_column] or "").strip()
                if row["unit"] not in questions[unit_column]["allowed"]:
                    reject(f"unit {row['unit']!r} in {unit_column!r} is not one of {questions[unit_column]['allowed']}")
                    continue
            try:
                row["value_num"] = parse_number(answer)
            except ValueError as exc:
                reject(str(exc))
                continue
        out.append(row)
    return out


def harmonize(staging_dir: Path, out_dir: Path) -> Path:
    """``observations`` and ``quarantine`` parts as Parquet."""
    staging_dir, out_dir = Path(staging_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    quarantine = Quarantine(SOURCE)
    observations = answer_observations(pd.read_parquet(staging_dir / f"{ENTITY}.parquet"), quarantine)
    observations.to_parquet(out_dir / "observations.parquet", index=False)
    pd.concat([pd.read_parquet(staging_dir / "quarantine.parquet"), quarantine.frame()], ignore_index=True).to_parquet(
        out_dir / "quarantine.parquet", index=False)
    return out_dir


def answer_observations(answers: pd.DataFrame, quarantine: Quarantine) -> pd.DataFrame:
    """Observations of the mapped answers; unknown Parties and unmapped answers quarantined."""
    crosswalk, out = load_crosswalk(SOURCE), []
    for row in answers.to_dict("records"):
        reject = lambda f, v, reason: quarantine.reject(ENTITY, row["record_id"], f, v, reason, origin(row))  # noqa: E731
        try:
            iso3 = to_iso3(row["party"], source=SOURCE)
        except UnknownCountry as exc:
            reject(layout()["country"]["column"], row["party"], str(exc))
            continue
        key = (row["question"], row["value_code"] if pd.notna(row["value_code"]) else "*")
        if key not in crosswalk:
            reject(row["question"], row["answer"], f"answer {key[1]!r} to {row['question']} has no row in the "
                   f"{SOURCE} crosswalk")
            continue
        code = crosswalk[key]
        if code is None:
            continue  # a reviewed exclusion (the crosswalk rule says why)
        unit, value = indicator(code).get("unit"), row["value_num"]
        if pd.notna(value):
            try:
                given = to_unit_code(row["unit"], SOURCE)
            except UnknownUnit as exc:
                reject("unit", row["unit"], str(exc))
                continue
            if given != unit and not {given, unit} <= set(HECTARES):
                reject("unit", row["unit"], f"unit {row['unit']!r} ({given}) is not the catalogue unit {unit!r} of "
                       f"{code} and has no conversion to it")
                continue
            if given != unit:
                value = value * HECTARES[given] / HECTARES[unit]
        out.append({"country_iso3": iso3, "convention": CONVENTION, "report_cycle": row["report_cycle"],
                    "indicator_code": code, "year": row["year"], "disaggregation": "_T", "value_num": value,
                    "value_code": row["value_code"], "value_label": row["value_label"], "unit": unit,
                    "observation_status": "reported", "source_system": SOURCE, "source_record_id": row["record_id"],
                    "source_field": row["question"], "source_url": row["source_url"], "raw_sha256": row["raw_sha256"],
                    "retrieved_at": row["retrieved_at"]})
    return unique_keys(pd.DataFrame(out, columns=OBSERVATION_COLUMNS), ENTITY, quarantine)
