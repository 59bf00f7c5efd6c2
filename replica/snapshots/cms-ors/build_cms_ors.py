"""Write the CMS ORS snapshot (questionnaires.json, questions.json) deterministically.

Run ``uv run python replica/snapshots/cms-ors/build_cms_ors.py``; a seeded generator picks the
answers, and the deliberately bad records listed in README.md are added by hand below.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).parent
BASE = "https://ors.cms.int"
PARTIES = ["Kenya", "Senegal", "United Kingdom of Great Britain and Northern Ireland", "Germany", "France",
           "India", "Bolivia (Plurinational State of)", "Democratic Republic of the Congo", "Australia", "Peru",
           "Algeria", "Albania"]
SPECIES = ["Acipenser sturio", "Balaenoptera musculus", "Chelonia mydas", "Falco cherrug"]
CYCLES = {13: ("2019-11-30", "2019-06-01"), 14: ("2023-04-30", "2022-09-01")}
YES_NO = ["Yes", "No", "Partially"]
TRENDS = ["Increasing", "Stable", "Decreasing", "Unknown"]


def questions(cop: int) -> list[dict]:
    """The questions of one COP questionnaire: ids are global in ORS, so COP14's differ from COP13's."""
    base = cop * 100
    return [
        {"id": base + 1, "section_id": base + 10, "looping_section_id": None, "type": "MultiAnswer",
         "title": "Has your country designated protected areas for Appendix I migratory species?",
         "path": ["II. Species", "Protected areas"], "is_mandatory": True, "options": YES_NO},
        {"id": base + 2, "section_id": base + 10, "looping_section_id": None, "type": "NumericAnswer",
         "title": "Total area (km2) of protected areas designated for migratory species",
         "path": ["II. Species", "Protected areas"], "is_mandatory": False, "options": []},
        {"id": base + 3, "section_id": base + 11, "looping_section_id": base + 20, "type": "MultiAnswer",
         "title": "What is the population trend of this Appendix I species in your country?",
         "path": ["II. Species", "Appendix I species", "Status"], "is_mandatory": True, "options": TRENDS},
        {"id": base + 4, "section_id": base + 11, "looping_section_id": None, "type": "MultiAnswer",
         "title": "Are threats to Appendix I species (bycatch, habitat loss, poisoning) being addressed?",
         "path": ["II. Species", "Threats"], "is_mandatory": True, "options": YES_NO},
        {"id": base + 5, "section_id": base + 12, "looping_section_id": None, "type": "RangeAnswer",
         "title": "Please rate the adequacy of resources for implementing CMS (1-5)",
         "path": ["IV. Means of implementation"], "is_mandatory": False, "options": ["1", "2", "3", "4", "5"]},
    ]


def build() -> tuple[list[dict], dict[str, list[dict]]]:
    rng = random.Random(20261128)
    questionnaires, all_questions = [], {}
    for cop, (date, activated) in CYCLES.items():
        qid = cop
        parties = PARTIES + (["Atlantis"] if cop == 14 else [])  # bad: unknown Party name
        respondents = [{"id": cop * 1000 + i, "user_id": 500 + i, "full_name": f"Party: {name}",
                        "status": "Underway" if (cop, name) == (14, "Albania") else "Submitted"}
                       for i, name in enumerate(parties)]
        questionnaires.append({"id": qid, "url": f"{BASE}/questionnaires/{qid}",
                               "title": f"CMS National Report Format for COP{cop}", "language": "EN",
                               "languages": ["EN", "FR", "ES"], "status": "Closed", "activated_on": activated,
                               "questionnaire_date": date, "respondents": respondents})
        qs = questions(cop)
        for q in qs:
            q.update(url=f"{BASE}/questionnaires/{qid}/questions/{q['id']}", language="EN", answers=[],
                     looping_contexts=[])
            for r in respondents:
                who = r["full_name"]
                if q["looping_section_id"]:
                    for sp in SPECIES[: 2 + rng.randrange(3)]:
                        ctx = {"looping_identifier": f"{q['looping_section_id']}S{SPECIES.index(sp)}",
                               "looping_path": ["Appendix I species", sp],
                               "answers": [{"respondent": who, "answer_text": rng.choice(TRENDS)}]}
                        q["looping_contexts"].append(ctx)
                elif q["type"] == "NumericAnswer":
                    q["answers"].append({"respondent": who, "answer_text": str(rng.randrange(500, 90000))})
                elif q["type"] == "RangeAnswer":
                    q["answers"].append({"respondent": who, "answer_text": str(rng.randrange(1, 6))})
                else:
                    q["answers"].append({"respondent": who, "answer_text": rng.choice(YES_NO)})
        by_id = {q["id"]: q for q in qs}
        if cop == 14:
            # bad records, beside good ones (README.md)
            by_id[1401]["answers"][1]["answer_text"] = "Not applicable"   # option not in the crosswalk
            by_id[1402]["answers"][2]["answer_text"] = "about 1,200 km2"   # non-numeric NumericAnswer
            extra = questions(cop)[0] | {"id": 1406, "url": f"{BASE}/questionnaires/14/questions/1406",
                                         "title": "Has your country designated new transboundary protected areas "
                                                  "since COP13?",
                                         "language": "EN", "looping_contexts": [],
                                         "answers": [{"respondent": "Party: Kenya", "answer_text": "Yes"}]}
            qs.append(extra)   # a question with no crosswalk row
        all_questions[str(qid)] = qs
    return questionnaires, all_questions


if __name__ == "__main__":
    questionnaires, all_questions = build()
    (HERE / "questionnaires.json").write_text(json.dumps(questionnaires, indent=1, ensure_ascii=False) + "\n")
    (HERE / "questions.json").write_text(json.dumps(all_questions, indent=1, ensure_ascii=False) + "\n")
