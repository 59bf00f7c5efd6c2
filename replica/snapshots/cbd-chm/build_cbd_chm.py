"""Build the curated CBD Clearing-House snapshot: index.json, documents.json, thesaurus.json.

    uv run python replica/snapshots/cbd-chm/build_cbd_chm.py

Deterministic (random.Random(SEED)): a rebuild reproduces the committed files byte for byte.
Index docs and documents are stored in their wire shape (convention-sources.md §1); the replica
adds only the Solr envelope, filtering, sorting and paging. README.md lists the quirks and the
deliberately bad records.
"""
from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

SEED = 20261128
OUT = Path(__file__).parent
NS = uuid.UUID("6f1b0c1e-7d0a-4c55-9a57-2c1d0ab7c0de")
ORT = "https://ort.cbd.int/database/record?documentID={}"

# ISO2 (lower case, as CBD sends it), English name, has a coast
COUNTRIES = [
    ("al", "Albania", True), ("dz", "Algeria", True), ("sn", "Senegal", True), ("gb", "United Kingdom", True),
    ("fr", "France", True), ("de", "Germany", True), ("br", "Brazil", True), ("in", "India", True),
    ("ke", "Kenya", True), ("na", "Namibia", True), ("mx", "Mexico", True), ("pe", "Peru", True),
    ("ca", "Canada", True), ("za", "South Africa", True), ("at", "Austria", False),
]
NO_NR7_YET = {"pe", "na"}  # 7NR due Feb 2026: not every Party has submitted
ABBR = {"nationalReport7": "nr7", "nationalReport6": "nr6", "nationalReport7IndicatorData": "nr7id",
        "nationalReport7BinaryIndicatorData": "nr7bid", "nationalTarget7": "nt7", "nationalTarget7Mapping": "nt7m"}

HEADLINE = {  # code -> title (ORT app-data/indicators.ts wording)
    "A.1": "Red List of Ecosystems", "A.2": "Extent of natural ecosystems", "A.3": "Red List Index",
    "A.4": "Proportion of populations within species with an effective population size greater than 500",
    "1.1": "Percentage of land and sea area covered by biodiversity-inclusive spatial plans",
    "2.1": "Area under restoration",
    "3.1": "Coverage of protected areas and other effective area-based conservation measures",
    "5.1": "Proportion of fish stocks within biologically sustainable levels",
    "9.1": "Benefits from the sustainable use of wild species",
    "10.1": "Proportion of agricultural area under productive and sustainable agriculture",
    "21.1": "Indicator on biodiversity information for monitoring the Kunming-Montreal Global Biodiversity "
            "Framework",
}
BINARY = {  # thesaurus identifier -> (code, title, ORT field, questions)
    "KMGBF-INDICATOR-BIN-1": ("1.b", "Number of countries using participatory, integrated and biodiversity-inclusive "
                              "spatial planning", "binaryResponseTarget1", ["1_a", "1_b", "1_c"]),
    "KMGBF-INDICATOR-BIN-6": ("6.b", "Number of countries adopting relevant regulations, processes and measures to "
                              "reduce the impact of invasive alien species", "binaryResponseTarget6", ["6_1", "6_2"]),
    "KMGBF-INDICATOR-BIN-22": ("22.b", "Number of countries taking action towards the full, equitable, inclusive, "
                               "effective and gender responsive representation and participation in decision-making",
                               "binaryResponseTarget22", ["22_2", "22_4"]),
    "KMGBF-INDICATOR-BIN-B": ("B.b", "Number of countries with policies or actions for implementing and monitoring "
                              "the sustainable use of biodiversity", "binaryResponseGoalB", ["b_1", "b_2"]),
}
TARGET_TITLES = {3: "Conserve 30% of land, waters and seas", 2: "Restore 30% of all degraded ecosystems",
                 1: "Plan and manage all areas to reduce biodiversity loss", 6: "Reduce the introduction of invasive "
                 "alien species by 50% and minimize their impact", 10: "Enhance biodiversity and sustainability in "
                 "agriculture, aquaculture, fisheries, and forestry", 22: "Ensure participation in decision-making "
                 "and access to justice and information related to biodiversity for all", 14: "Integrate "
                 "biodiversity in decision-making at every level", 19: "Mobilize $200 billion per year for "
                 "biodiversity from all sources"}


class Builder:
    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.index: list[dict] = []
        self.documents: dict[str, dict] = {}
        self.doc_id = 265000

    def uid(self, *parts: object) -> str:
        return str(uuid.uuid5(NS, "/".join(map(str, parts)))).upper()

    def add(self, schema: str, gov: str, gov_name: str, created: str, document: dict | None, **fields) -> str:
        """One index doc (and its document, when the schema has one); returns the uid."""
        self.doc_id += self.rng.randint(1, 40)
        uid = self.uid(schema, gov, self.doc_id)
        unique = f"ort-{ABBR[schema]}-{gov}-{self.doc_id}-1"
        doc = {"id": unique, "identifier_s": uid, "uniqueIdentifier_s": unique, "schema_s": schema,
               "schemaType_s": "national", "government_s": gov, "government_EN_t": gov_name, "realm_ss": ["ort"],
               "url_ss": [ORT.format(self.doc_id)], "createdDate_dt": created, "updatedDate_dt": created, **fields}
        self.index.append(doc)
        if document is not None:
            self.documents[uid] = {"header": {"schema": schema, "identifier": uid, "languages": ["en"]},
                                   "government": {"identifier": gov}, **document}
        return uid

    def date(self, year: int, months: tuple[int, int] = (1, 12)) -> str:
        r = self.rng
        return f"{year}-{r.randint(*months):02d}-{r.randint(1, 28):02d}T{r.randint(7, 18):02d}:{r.randint(0, 59):02d}:00Z"


def series_31(b: Builder, coast: bool, as_string: bool, unit: str) -> list[dict]:
    """3.1 protected-area coverage: total, terrestrial and (coastal Parties) marine, 4-6 years."""
    r, rows = b.rng, []
    start = r.randint(2017, 2019)
    land, sea = r.uniform(8, 28), r.uniform(1, 15)
    for year in range(start, start + r.randint(4, 6)):
        land, sea = land + r.uniform(0, 1.2), sea + r.uniform(0, 1.5)
        parts = [("Terrestrial", land)] + ([("Marine", sea)] if coast else [])
        total = (land + sea) / 2 if coast else land
        for disaggregation, value in [("", total)] + parts:
            rows.append(data_row("3.1", year, unit, round(value, 2), disaggregation, as_string))
    return rows


def data_row(code: str, year, unit: str, value, disaggregation: str = "", as_string: bool = False) -> dict:
    row = {"indicatorCode": code, "hasDisaggregation": bool(disaggregation), "year": year, "unit": unit,
           "value": str(value) if as_string and isinstance(value, float) else value}
    if disaggregation:
        row["disaggregation"] = disaggregation
    return row


def other_series(b: Builder, code: str, as_string: bool) -> list[dict]:
    r = b.rng
    if code == "A.2":  # extent by ecosystem type, hectares
        rows = []
        for year in (2015, 2020):
            parts = {k: round(r.uniform(2e5, 9e6), 1) for k in ("Forest", "Wetlands", "Grassland")}
            rows.append(data_row(code, year, "ha", round(sum(parts.values()), 1), "", as_string))
            rows += [data_row(code, year, "ha", v, k, as_string) for k, v in parts.items()]
        return rows
    if code == "A.3":  # Red List Index, every other year, slowly falling
        value = r.uniform(0.78, 0.95)
        return [data_row(code, y, "index", round(value - 0.004 * i, 4), "", as_string)
                for i, y in enumerate(range(2016, 2025, 2))]
    if code == "A.1":
        return [data_row(code, y, "index", round(r.uniform(0.6, 0.9), 3), "", as_string) for y in (2020, 2024)]
    if code == "2.1":
        area = r.uniform(1e3, 5e4)
        return [data_row(code, y, "ha", round(area * (1 + 0.3 * i), 1), "", as_string)
                for i, y in enumerate(range(2022, 2025))]
    if code == "10.1":
        share = r.uniform(5, 40)
        return [data_row(code, y, "percent" if r.random() < 0.5 else "%", round(share + i * r.uniform(0, 2), 2), "",
                         as_string) for i, y in enumerate(range(2019, 2023))]
    raise ValueError(code)


def build() -> Builder:
    b = Builder()
    r = b.rng
    for gov, name, coast in COUNTRIES:
        as_string = gov in ("br", "in", "mx", "za")  # 2026-11: some Parties' values arrive as strings
        unit_31 = "%" if gov in ("gb", "ca", "al") else "percent"
        b.add("nationalReport6", gov, name, b.date(2019, (1, 12)), None,
              title_EN_s=f"Sixth National Report of {name}", title_s=f"Sixth National Report of {name}",
              documentLinks_s=json.dumps([{"url": f"https://chm.cbd.int/api/v2013/documents/{gov}-6nr.pdf",
                                           "name": f"{gov}-nr-06-en.pdf"}]))
        if gov not in NO_NR7_YET:
            b.add("nationalReport7", gov, name, b.date(2026, (1, 6)), None,
                  title_EN_s=f"Seventh National Report of {name}", title_s=f"Seventh National Report of {name}")
        codes = ["3.1"] + sorted(r.sample(["A.1", "A.2", "A.3", "2.1", "10.1"], r.randint(2, 4)))
        if gov == "fr" and "A.2" not in codes:
            codes.append("A.2")
        if gov == "ke" and "A.3" not in codes:
            codes.append("A.3")
        for code in codes:
            rows = series_31(b, coast, as_string, unit_31) if code == "3.1" else other_series(b, code, as_string)
            rows = bad_rows(gov, code, rows)
            b.add("nationalReport7IndicatorData", gov, name, b.date(2025, (6, 12)),
                  {"indicator": {"identifier": f"GBF-INDICATOR-{code}"},
                   "sourceOfData": f"National statistics office of {name}", "data": rows},
                  title_EN_s=f"{code} {HEADLINE[code]}")
        if gov not in NO_NR7_YET:
            b.add("nationalReport7BinaryIndicatorData", gov, name, b.date(2025, (9, 12)), binary_document(b, gov))
        for seq, targets in enumerate(national_target_plan(b, gov), start=1):
            b.add("nationalTarget7", gov, name, b.date(2024, (3, 12)), national_target(b, name, seq, targets),
                  title_EN_s=f"{name} national target {seq}")
        for target in r.sample([1, 6, 10, 22], r.randint(1, 2)):
            b.add("nationalTarget7Mapping", gov, name, b.date(2024, (6, 12)), {
                "globalGoalOrTarget": {"identifier": f"GBF-TARGET-{target:02d}"},
                "elementOfGlobalTargetsInfo": {"en": f"<p>{name} adopts GBF Target {target} as its national "
                                                     "target; all elements are addressed.</p>"},
                "referencePeriod": [{"headlineIndicator": {"identifier": "GBF-INDICATOR-1.1"},
                                     "hasReferencePeriod": True, "referencePeriodInfo": {"en": "<p>2011-2020</p>"}}]
                if target == 1 else []})
    # Bad: a government code that is no country (unknown "xx"), beside good ones.
    b.add("nationalReport7IndicatorData", "xx", "Unknown", b.date(2025, (6, 12)),
          {"indicator": {"identifier": "GBF-INDICATOR-3.1"}, "sourceOfData": "?",
           "data": [data_row("3.1", 2022, "percent", 12.5), data_row("3.1", 2023, "percent", 13.0)]})
    b.add("nationalReport7", "xx", "Unknown", b.date(2026, (1, 6)), None, title_EN_s="Seventh National Report")
    return b


def bad_rows(gov: str, code: str, rows: list[dict]) -> list[dict]:
    """The deliberately bad indicator-data rows (README.md lists them)."""
    if gov == "ke" and code == "A.3":  # an indicator code in neither the thesaurus nor the crosswalk
        rows.append(data_row("A.9", 2022, "index", 0.5))
    if gov == "br" and code == "3.1":  # a value that is no number
        rows.append(data_row("3.1", 2016, "percent", "not assessed", "Terrestrial"))
    if gov == "de" and code == "3.1":  # the same key twice with different values
        first = next(r for r in rows if r.get("disaggregation") == "Terrestrial")
        rows.append({**first, "value": round(float(first["value"]) + 1.5, 2)})
    if gov == "fr" and code == "A.2":  # a unit that is not the catalogue's
        rows.append(data_row("A.2", 2010, "km2", 151234.0, "Forest"))
    return rows


def binary_document(b: Builder, gov: str) -> dict:
    r, document = b.rng, {}
    for identifier, (_, _, field, questions) in BINARY.items():
        responses = {q: r.choice(["yes", "yesFully", "partially", "no"]) for q in questions}
        if gov == "in" and field == "binaryResponseTarget6":
            responses["6_2"] = "??"  # 2026-11: the API's own examples carry "??" for unanswered questions
        document[field] = {"indicator": {"identifier": identifier}, "responses": responses,
                           "comments": {"en": "<p>See section III.</p>"}}
    return document


def national_target_plan(b: Builder, gov: str) -> list[list[int]]:
    r = b.rng
    plan = [[3] + r.sample([2, 1, 14], r.randint(0, 1))] + [r.sample([2, 10, 14, 19, 22], r.randint(1, 2))
                                                            for _ in range(r.randint(1, 3))]
    if gov == "mx":
        plan.append([24])  # a GBF target that does not exist
    return plan


def national_target(b: Builder, name: str, seq: int, targets: list[int]) -> dict:
    r = b.rng
    title = " and ".join(TARGET_TITLES.get(t, f"Target {t}") for t in targets)
    return {
        "title": {"en": f"{name} NT{seq}: {title}"},
        "description": {"en": f"<p>By 2030, {name} will {title[0].lower() + title[1:]}.</p>"},
        "sequence": seq,
        "globalTargetAlignment": [{"identifier": f"GBF-TARGET-{t:02d}",
                                   "degreeOfAlignment": r.choice(["high", "medium", "low"])} for t in targets],
        "headlineIndicators": [{"identifier": f"GBF-INDICATOR-{c}"}
                               for c in (["3.1", "A.2"] if 3 in targets else ["2.1"] if 2 in targets else [])],
    }


def thesaurus() -> dict[str, list[dict]]:
    def term(identifier: str, title: str, term_id: int) -> dict:
        return {"termId": term_id, "identifier": identifier, "name": title, "title": {"en": title},
                "shortTitle": {"en": title}, "description": "", "source": "", "broaderTerms": [], "narrowerTerms": [],
                "relatedTerms": [], "nonPreferedTerms": []}
    return {
        "GBF-HEADLINE-INDICATORS": [term(f"GBF-INDICATOR-{c}", f"{c} {t}", 7500 + i)
                                    for i, (c, t) in enumerate(HEADLINE.items())],
        "GBF-BINARY-INDICATORS": [term(i, f"{c} {t}", 7600 + n) for n, (i, (c, t, _, _)) in enumerate(BINARY.items())],
        "GBF-TARGETS": [term(f"GBF-TARGET-{n:02d}", f"GBF-T{n:02d}. {TARGET_TITLES.get(n, f'Global target {n}')}",
                             7397 + n) for n in range(1, 24)],
    }


def write(path: Path, payload) -> None:
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")


def main() -> None:
    b = build()
    write(OUT / "index.json", b.index)
    write(OUT / "documents.json", b.documents)
    write(OUT / "thesaurus.json", thesaurus())
    print(f"{len(b.index)} index docs, {len(b.documents)} documents, "
          f"{sum(len(d.get('data', [])) for d in b.documents.values())} indicator data rows")


if __name__ == "__main__":
    main()
