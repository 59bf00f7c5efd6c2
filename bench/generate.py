"""Scale the replica snapshots to real-world volume, deterministically, into a cache folder.

``python -m bench.generate --scale 0.05`` writes ``bench/cache/scale-0.05/`` laid out like
replica/snapshots/ (serve it with ``python -m replica exec --data DIR``) and reuses it when it is
already complete. ``SCALE=1`` is the full corpus: 46 CITES members x 500,000 shipment rows, 20,000
InforMEA CountryReports, 6,000 NationalPlans, 200,000 CBD indicator-data rows, 150,000 SDG rows and
CMS and Ramsar answers for about 200 Parties (``parties(scale)``: fewer at small scales, so that a
quick bench is not all per-Party requests).

Every record is a clone of a snapshot record (same fields, same quirks, deliberately bad ones
included) with a new id, a Party drawn from the 193 UN members with a Zipf-like weight (a few
Parties report or trade much more than most), and new years and values; all randomness comes from
``random.Random(SEED)`` or, for CITES rows, DuckDB's ``hash`` of the row number and the seed.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import re
import shutil
import sys
import uuid
import zipfile
from functools import cache
from pathlib import Path

import duckdb
import pandas as pd
import pycountry

REPO = Path(__file__).resolve().parents[1]
SNAPSHOTS = REPO / "replica" / "snapshots"
CACHE = Path(__file__).parent / "cache"
SEED = 20261129
FULL = {"cites_members": 46, "cites_rows_per_member": 500_000, "informea_country_reports": 20_000,
        "informea_national_plans": 6_000, "cbd_indicator_rows": 200_000, "sdg_rows": 150_000, "parties": 200}
CITES_YEARS = (1975, 2024)
ZIP_TIME = (2026, 11, 1, 0, 0, 0)
ZIP_EPOCH = 1793491200  # the same instant, for os.utime (UTC; zip times are local)
ODATA_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")
NAMESPACE = uuid.UUID("5b1e4c6e-6a4a-4c1e-9a57-3f4d2b6f0b11")


def targets(scale: float) -> dict[str, int]:
    """How many records of each kind ``scale`` means (46 CITES members at every scale)."""
    counts = {name: max(1, round(n * scale)) for name, n in FULL.items()}
    counts["cites_members"] = FULL["cites_members"]
    counts["parties"] = parties(scale)
    return counts


def parties(scale: float) -> int:
    """Parties answering CMS and Ramsar and reporting to the CBD: 200 at SCALE=1, ~45 at 0.05."""
    return max(10, min(FULL["parties"], round(FULL["parties"] * scale ** 0.5)))


def cache_dir(scale: float) -> Path:
    return CACHE / f"scale-{scale:g}"


def load_script(path: Path):
    """A snapshot build script as a module (their folders have dashes, so they are not packages)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Countries.

@cache
def un_members() -> list[dict]:
    """The 193 UN members (ISO2, ISO3, M49, pycountry name), Namibia (``NA``) among them."""
    from country_converter import country_converter as coco

    # keep_default_na=False: Namibia's ISO2 is "NA" (see transforms/countries.py)
    data = pd.read_csv(coco.COUNTRY_DATA_FILE, sep="\t", keep_default_na=False, usecols=["ISO3", "UNmember"])
    members = []
    for iso3 in sorted(data.loc[data["UNmember"] != "", "ISO3"]):
        country = pycountry.countries.get(alpha_3=iso3)
        if country is not None:
            members.append({"iso2": country.alpha_2, "iso3": iso3, "m49": str(int(country.numeric)),
                            "name": country.name})
    return members


def weighted_countries(rng: random.Random) -> tuple[list[dict], list[float]]:
    """The UN members in a seeded order with Zipf weights 1/rank: a long tail, as in real reporting."""
    members = list(un_members())
    rng.shuffle(members)
    return members, [1 / rank for rank in range(1, len(members) + 1)]


def party_sample(rng: random.Random, count: int) -> list[dict]:
    """``count`` distinct UN members, the same first ones at every scale (Namibia always in)."""
    members = sorted(un_members(), key=lambda c: (c["iso2"] != "NA", rng.random()))
    return members[:count]


# CITES Trade Database.

def cites_lookup(con) -> None:
    """Tables ``combo`` (taxon x term of the snapshot's taxa) and ``country`` (ISO2 by Zipf weight)."""
    taxa = load_script(SNAPSHOTS / "cites-trade" / "build_cites_trade.py").TAXA
    combos = [(taxon, app, cls, order, family, genus, term, unit, low, high, decimals, purposes, sources)
              for taxon, app, cls, order, family, genus, _, terms, purposes, sources in taxa
              for term, unit, (low, high), decimals in terms]
    con.execute("CREATE TABLE combo (k INT, taxon VARCHAR, appendix VARCHAR, class VARCHAR, ord VARCHAR, "
                "family VARCHAR, genus VARCHAR, term VARCHAR, unit VARCHAR, low DOUBLE, high DOUBLE, "
                "decimals INT, purposes VARCHAR, sources VARCHAR)")
    con.executemany("INSERT INTO combo VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(k, *row) for k, row in enumerate(combos)])
    members, weights = weighted_countries(random.Random(SEED))
    total, cumulative, rows = sum(weights), 0.0, []
    for member, weight in zip(members, weights):
        rows.append((member["iso2"], cumulative / total, (cumulative + weight) / total))
        cumulative += weight
    con.execute("CREATE TABLE country (iso2 VARCHAR, lo DOUBLE, hi DOUBLE)")
    con.executemany("INSERT INTO country VALUES (?, ?, ?)", rows)


def member_years(member: int, members: int) -> tuple[int, int]:
    """The years of member ``member`` (1-based): the release is numbered in year order."""
    first, last = CITES_YEARS
    span = last - first + 1
    return first + (member - 1) * span // members, first + member * span // members - 1


def u(column: int) -> str:
    """SQL for a uniform [0, 1) number from the row number and the seed (stable across threads)."""
    return f"(hash(i, {SEED + column}) % 1000000007) / 1000000007.0"


def member_sql(member: int, members: int, rows: int) -> str:
    """SELECT of one member's rows, in the release's columns; blanks as NULL (written empty)."""
    first_year, last_year = member_years(member, members)
    start = 10_000_001 + (member - 1) * rows
    pick = lambda col: f"(SELECT iso2 FROM country WHERE {u(col)} >= lo AND {u(col)} < hi)"  # noqa: E731
    permit = lambda col: (f"CASE WHEN {u(col)} < 0.8 "  # noqa: E731 - 10 hex digits, 80% of permits present
                          f"THEN printf('%010x', hash(i, {SEED + col + 100}) % 1099511627776) END")
    return f"""
    WITH r AS (SELECT i, c.* FROM range({start}, {start + rows}) t(i)
               JOIN combo c ON c.k = hash(i, {SEED}) % (SELECT count(*) FROM combo)),
    q AS (SELECT *, low + {u(1)} * (high - low) AS amount,
                 {first_year} + (hash(i, {SEED + 2}) % {last_year - first_year + 1})::BIGINT AS year FROM r)
    SELECT i AS "Id", year AS "Year", appendix AS "Appendix", taxon AS "Taxon", class AS "Class", ord AS "Order",
      family AS "Family", genus AS "Genus", term AS "Term",
      CASE WHEN hash(i, {SEED + 3}) % 100000 = 0 THEN 'n/a'  -- a few unparseable quantities, as upstream
           WHEN decimals = 0 THEN round(amount)::BIGINT::VARCHAR
           ELSE printf('%.' || decimals || 'f', amount) END AS "Quantity",
      nullif(unit, '') AS "Unit",
      {pick(4)} AS "Importer",
      CASE WHEN hash(i, {SEED + 5}) % 100000 = 1 THEN 'QQ' ELSE {pick(6)} END AS "Exporter",
      CASE WHEN {u(7)} < 0.05 THEN ['XX', 'XF'][1 + (hash(i, {SEED + 8}) % 2)::BIGINT]
           WHEN {u(7)} < 0.15 THEN {pick(9)} END AS "Origin",
      nullif(substr(purposes, 1 + (hash(i, {SEED + 10}) % length(purposes))::BIGINT, 1), '') AS "Purpose",
      nullif(substr(sources, 1 + (hash(i, {SEED + 11}) % length(sources))::BIGINT, 1), '') AS "Source",
      CASE WHEN {u(12)} < 0.6 THEN 'E' ELSE 'I' END AS "Reporter.type",
      {permit(13)} AS "Import.permit.RandomID", {permit(14)} AS "Export.permit.RandomID",
      NULL AS "Origin.permit.RandomID"
    FROM q ORDER BY i"""


def write_cites(out: Path, members: int, rows: int) -> int:
    """trade_db.zip with ``members`` members of ``rows`` rows (plus the snapshot's README.txt and
    its inbox exports); returns the number of shipment rows."""
    folder = out / "cites-trade"
    work = folder / "members"
    work.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        cites_lookup(con)
        for member in range(1, members + 1):
            con.execute(f"COPY ({member_sql(member, members, rows)}) TO '{work / f'trade_db_{member}.csv'}' "
                        "(HEADER, DELIMITER ',')")
    # level 1: several times faster than the default, the zip ~15% bigger
    with zipfile.ZipFile(folder / "trade_db.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for member in range(1, members + 1):
            path = work / f"trade_db_{member}.csv"
            os.utime(path, (ZIP_EPOCH, ZIP_EPOCH))  # the member's zip time, so the bytes are the same every time
            zf.write(path, f"Trade_database_download_v2026.1/{path.name}")
        zf.writestr(zipfile.ZipInfo("Trade_database_download_v2026.1/README.txt", ZIP_TIME),
                    b"CITES Trade Database full download (bench/generate.py, scaled replica snapshot).\n")
    shutil.rmtree(work)
    shutil.copytree(SNAPSHOTS / "cites-trade" / "inbox", folder / "inbox")
    return members * rows


# JSON sources: every record is a template record with its id, Party, dates and values replaced.

def clone(template: object, replacements: dict[str, str]) -> object:
    """A deep copy of ``template`` with every occurrence of each key string replaced (ids, names)."""
    text = json.dumps(template, ensure_ascii=False)
    for old, new in replacements.items():
        if old:
            text = text.replace(old, new)
    return json.loads(text)


def country_name(code: str) -> str | None:
    code = code.upper()
    found = pycountry.countries.get(alpha_2=code) if len(code) == 2 else pycountry.countries.get(alpha_3=code)
    return found.name if found else None


def shifted_date(value: str, shift_ms: int) -> str:
    """An OData ``/Date(ms[+hhmm])/`` moved by ``shift_ms`` (not past the snapshot date), suffix kept."""
    match = ODATA_DATE.fullmatch(value)
    if not match:
        return value
    return f"/Date({min(int(match[1]) + shift_ms, 1_793_491_200_000)}{match[2] or ''})/"


def informea_records(templates: list[dict], count: int, rng: random.Random, prefix: str) -> list[dict]:
    """``count`` InforMEA records cloned from ``templates``: new ids, Parties, submission/updated dates."""
    members, weights = weighted_countries(rng)
    records = []
    for n in range(count):
        template = templates[n % len(templates)]
        party = rng.choices(members, weights)[0]
        old_code = template.get("country") or ""
        new_code = party["iso3"] if len(old_code) == 3 else party["iso2"]
        new_id = str(uuid.uuid5(NAMESPACE, f"{prefix}-{n}"))
        record = clone(template, {template.get("id") or "": new_id, country_name(old_code) or "": party["name"]})
        record["country"] = new_code if old_code else template.get("country")
        shift_ms = rng.randrange(-5 * 365, 365) * 86_400_000  # submitted within the last ~6 years
        for field in ("submission", "updated"):
            if isinstance(template.get(field), str):
                record[field] = shifted_date(template[field], shift_ms)
        records.append(record)
    return records


def write_informea(out: Path, reports: int, plans: int, rng: random.Random) -> dict[str, int]:
    source, folder = SNAPSHOTS / "informea", out / "informea"
    folder.mkdir(parents=True, exist_ok=True)
    read = lambda name: json.loads((source / f"{name}.json").read_text(encoding="utf-8"))  # noqa: E731
    (folder / "Treaties.json").write_text(json.dumps(read("Treaties"), ensure_ascii=False))
    for name, count, prefix in (("CountryReports", reports, "cr"), ("NationalPlans", plans, "np")):
        rows = informea_records(read(name), count, rng, prefix)
        (folder / f"{name}.json").write_text(json.dumps(rows, ensure_ascii=False))
    return {"CountryReports": reports, "NationalPlans": plans}


CBD_YEARS = range(1995, 2025)


def cbd_series(data: list[dict], provinces: int) -> list[dict]:
    """One template row per disaggregation of an indicator document (the year series it spans),
    plus ``provinces`` subnational series: only 6 GBF indicators are mapped, so 200,000 rows over
    ~190 Parties need Parties that report by province, as some do."""
    seen = {}
    for row in data:
        seen.setdefault(row.get("disaggregation"), row)
    total = next(iter(seen.values()))
    extra = [{**total, "hasDisaggregation": True, "disaggregation": f"Province {n}"} for n in range(1, provinces + 1)]
    return list(seen.values()) + extra


def write_cbd(out: Path, rows_wanted: int, party_count: int, rng: random.Random) -> int:
    """Index, documents and thesaurus: each Party's reports, targets and mappings cloned from one
    snapshot Party's, and indicator-data documents (one per Party x indicator, 1995-2024) until
    ``rows_wanted`` data rows."""
    source, folder = SNAPSHOTS / "cbd-chm", out / "cbd-chm"
    folder.mkdir(parents=True, exist_ok=True)
    read = lambda name: json.loads((source / f"{name}.json").read_text(encoding="utf-8"))  # noqa: E731
    index, documents = read("index"), read("documents")
    shutil.copyfile(source / "thesaurus.json", folder / "thesaurus.json")
    indicator_docs = {}
    for doc in index:
        if doc["schema_s"] == "nationalReport7IndicatorData" and doc["identifier_s"] in documents:
            code = documents[doc["identifier_s"]]["indicator"]["identifier"]
            indicator_docs.setdefault(code, doc)
    others = [doc for doc in index if doc["government_s"] == "ke" and doc["schema_s"] != "nationalReport7IndicatorData"]
    new_index, new_docs, counter, rows_made = [], {}, iter(range(10**9)), 0

    def add(template: dict, party: dict) -> dict:
        number = next(counter)
        uid = str(uuid.uuid5(NAMESPACE, f"cbd-{number}")).upper()
        doc_id = str(300000 + number)
        old_gov = template["government_s"]
        swap = {template["identifier_s"]: uid, template["id"].split("-")[-2]: doc_id,
                template.get("government_EN_t", ""): party["name"]}
        entry = clone(template, swap)
        new_gov = party["iso2"].lower()
        entry.update(government_s=new_gov, id=entry["id"].replace(f"-{old_gov}-", f"-{new_gov}-"))
        entry["uniqueIdentifier_s"] = entry["id"]
        new_index.append(entry)
        if template["identifier_s"] in documents:
            document = clone(documents[template["identifier_s"]], swap)
            document["government"] = {"identifier": party["iso2"].lower()}
            new_docs[uid] = document
        return entry

    for party in party_sample(random.Random(SEED), party_count):
        for template in others:
            add(template, party)
    members, weights = weighted_countries(rng)
    pairs = [(p, code) for code in sorted(indicator_docs) for p in members]
    rng.shuffle(pairs)
    provinces = max(0, -(-rows_wanted // (len(pairs) * len(CBD_YEARS))) - 1)
    for party, code in pairs:
        if rows_made >= rows_wanted:
            break
        entry = add(indicator_docs[code], party)
        document = new_docs[entry["identifier_s"]]
        data = []
        for year in CBD_YEARS:
            for row in cbd_series(document["data"], provinces):
                value = row["value"]
                if isinstance(value, (int, float)) or (isinstance(value, str) and value.replace(".", "", 1).isdigit()):
                    number = round(float(value) * (0.8 + 0.4 * rng.random()), 2)
                    value = f"{number}" if isinstance(value, str) else number
                data.append({**row, "year": year, "value": value})
        document["data"] = data[:rows_wanted - rows_made]
        rows_made += len(document["data"])
    (folder / "index.json").write_text(json.dumps(new_index, ensure_ascii=False))
    (folder / "documents.json").write_text(json.dumps(new_docs, ensure_ascii=False))
    return rows_made


SDG_YEARS = range(1970, 2025)
SDG_AREAS = REPO / "transforms" / "mappings" / "countries" / "sdg-api.csv"


def sdg_areas() -> list[dict]:
    """The UN members, then the M49 regions and groups the API also serves (they go to sdg_aggregates)."""
    regions = pd.read_csv(SDG_AREAS, dtype=str, keep_default_na=False)
    regions = regions[regions["kind"].isin(["region", "group"])]
    return un_members() + [{"m49": str(int(r.code)), "name": r.name} for r in regions.itertuples()]


def water_fill(total: int, capacity: dict[str, int]) -> dict[str, int]:
    """An equal share of ``total`` for each key, up to its capacity; what a full key cannot take is
    shared among the others (series with one variant run out of areas x years first)."""
    quota, left = {}, dict(capacity)
    while left:
        share = -(-(total - sum(quota.values())) // len(left))
        full = {key: cap for key, cap in left.items() if cap <= share}
        if not full:
            return quota | {key: share for key in left}
        quota |= full
        left = {key: cap for key, cap in left.items() if key not in full}
    return quota


def write_sdg(out: Path, rows_wanted: int, rng: random.Random) -> int:
    """SeriesData rows: every series' variants x area x year (1970-2024), in API order (series, area,
    year), until ``rows_wanted`` or every distinct row: another Reporting Type or Nature of the same
    fact would be a duplicate (transforms/sdg_api.py), so SCALE=1 gives ~104,000 of the 150,000."""
    source, folder = SNAPSHOTS / "sdg-api", out / "sdg-api"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / "SeriesList.json", folder / "SeriesList.json")
    templates = json.loads((source / "SeriesData.json").read_text(encoding="utf-8"))
    variants: dict[str, dict[str, dict]] = {}
    for row in templates:
        key = json.dumps([row["dimensions"], row["attributes"]["Units"]], sort_keys=True)
        variants.setdefault(row["series"], {}).setdefault(key, row)
    areas = sdg_areas()
    quota = water_fill(rows_wanted, {series: len(kinds) * len(areas) * len(SDG_YEARS)
                                     for series, kinds in variants.items()})
    rows = []
    for series, kinds in variants.items():
        made = 0
        for area in areas:
            for year in SDG_YEARS:
                for template in kinds.values():
                    if made >= quota[series] or len(rows) >= rows_wanted:
                        break
                    value = round(100 * rng.random(), 2)
                    rows.append({**template, "geoAreaCode": area["m49"], "geoAreaName": area["name"],
                                 "timePeriodStart": float(year), "value": str(value)})
                    made += 1
    (folder / "SeriesData.json").write_text(json.dumps(rows, ensure_ascii=False))
    return len(rows)


def write_cms(out: Path, party_count: int, rng: random.Random) -> int:
    """Questionnaires whose respondents are ``party_count`` Parties, each question answered by each."""
    source, folder = SNAPSHOTS / "cms-ors", out / "cms-ors"
    folder.mkdir(parents=True, exist_ok=True)
    questionnaires = json.loads((source / "questionnaires.json").read_text(encoding="utf-8"))
    questions = json.loads((source / "questions.json").read_text(encoding="utf-8"))
    names = [f"Party: {p['name']}" for p in party_sample(random.Random(SEED), party_count)]
    for q in questionnaires:
        template = q["respondents"][0]
        q["respondents"] = [{**template, "id": q["id"] * 1000 + n, "user_id": 500 + n, "full_name": name}
                            for n, name in enumerate(names)]
    for items in questions.values():
        for question in items:
            answers = question["answers"]
            question["answers"] = [{**rng.choice(answers), "respondent": name} for name in names] if answers else []
    (folder / "questionnaires.json").write_text(json.dumps(questionnaires, ensure_ascii=False))
    (folder / "questions.json").write_text(json.dumps(questions, ensure_ascii=False))
    return len(names)


def write_inboxes(out: Path, party_count: int) -> None:
    """Ramsar answers workbooks for ``party_count`` Parties; the CBD ORT workbooks as in the snapshot."""
    shutil.copytree(SNAPSHOTS / "cbd-ort-excel" / "inbox", out / "cbd-ort-excel" / "inbox")
    builder = load_script(REPO / "tests" / "fixtures" / "ramsar-nrf" / "build_workbooks.py")
    names = [p["name"] for p in party_sample(random.Random(SEED), party_count)]
    inbox = out / "ramsar-nrf" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    for cop in (13, 14):
        rows = builder.answers(names, SEED + cop)
        (inbox / f"Ramsar_NRF_COP{cop}_answers.xlsx").write_bytes(builder.workbook(builder.HEADER, rows, cop))


def generate(scale: float, out: Path | None = None) -> Path:
    """The scaled folder for ``scale`` (built now unless already complete); returns its path."""
    out = Path(out or cache_dir(scale))
    manifest = out / "manifest.json"
    if manifest.exists():
        return out
    if out.exists():
        shutil.rmtree(out)  # an interrupted earlier build
    out.mkdir(parents=True)
    want, rng = targets(scale), random.Random(SEED)
    counts = {
        "cites_rows": write_cites(out, want["cites_members"], want["cites_rows_per_member"]),
        **{f"informea_{k}": v for k, v in write_informea(out, want["informea_country_reports"],
                                                           want["informea_national_plans"], rng).items()},
        "cbd_indicator_rows": write_cbd(out, want["cbd_indicator_rows"], want["parties"], rng),
        "sdg_rows": write_sdg(out, want["sdg_rows"], rng),
        "cms_parties": write_cms(out, want["parties"], rng),
    }
    write_inboxes(out, want["parties"])
    manifest.write_text(json.dumps({"scale": scale, "seed": SEED, "targets": want, "counts": counts}, indent=1))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05, help="1 = the full corpus (default 0.05)")
    parser.add_argument("--out", type=Path, help="folder to write (default bench/cache/scale-<scale>)")
    args = parser.parse_args(argv)
    print(generate(args.scale, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
