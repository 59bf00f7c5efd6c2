"""CITES Trade Database: staging (release members and inbox exports to typed Parquet) and
harmonizing (the ``cites_trade`` part, per-country observations, SYN-CITES-AR-SUBMITTED).

A release is ~23 million rows, so nothing here loads it into pandas: each member is unpacked
alone (extractors.cites_trade.extracted_members), read by DuckDB as text and typed with TRY_CAST,
and written with COPY. Only quarantined rows and per-country aggregates come back to Python.
"""
from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pandas as pd

from core.duck import connect, identifier, literal
from core.progress import Progress
from extractors.cites_trade import check_layout, extracted_members, layouts, read_header
from transforms.catalogue import indicator
from transforms.countries import UnknownCountry, overrides, to_iso3
from transforms.observations import with_catalogue
from transforms.quarantine import COLUMNS as QUARANTINE_COLUMNS, Origin, Quarantine

SOURCE = "cites-trade"
MAPPINGS = Path(__file__).parent / "mappings"
CROSSWALK = MAPPINGS / "crosswalk" / f"{SOURCE}.csv"
#: code list -> (file in mappings/cites/, its key column)
CODE_LISTS = {"term": ("terms", "term"), "unit": ("units", "unit"), "purpose": ("purposes", "code"),
              "source": ("sources", "code")}
APPENDICES = ("I", "II", "III", "N")
#: a longer line is quarantined whole (DuckDB's reject table names it); the longest real line is
#: a few hundred bytes, so this only catches a corrupt file or a deliberately huge field
MAX_LINE_BYTES = 2_000_000
ALIASES = {"App.": "appendix", "Importer reported quantity": "importer_quantity",
           "Exporter reported quantity": "exporter_quantity"}
TYPES = {"year": "BIGINT", "quantity": "DOUBLE", "importer_quantity": "DOUBLE", "exporter_quantity": "DOUBLE"}
CITES_TRADE_COLUMNS = ["id", "year", "appendix", "taxon", "class", "order", "family", "genus", "term", "quantity",
                       "unit", "importer", "exporter", "origin", "purpose", "source", "reporter_type",
                       "import_permit_random_id", "export_permit_random_id", "origin_permit_random_id",
                       "importer_iso3", "exporter_iso3", "origin_iso3", "source_file", "raw_sha256"]


def snake(column: str) -> str:
    """A release or export column in snake case: ``Import.permit.RandomID`` -> ``import_permit_random_id``."""
    if column in ALIASES:
        return ALIASES[column]
    return re.sub(r"[^a-z0-9]+", "_", re.sub(r"(?<=[a-z])(?=[A-Z])", "_", column).lower()).strip("_")


def raw(column: str) -> str:
    """A CSV column as read (all text), blank as NULL."""
    return f"nullif(trim({identifier(column)}), '')"


def typed_select(layout: list[str], columns: list[str]) -> str:
    """SELECT list typing the text columns of ``layout`` into snake-cased ``columns`` (absent ones NULL)."""
    parts = []
    for column in columns:
        name, value = snake(column), raw(column) if column in layout else "NULL"
        parts.append(f"TRY_CAST({value} AS {TYPES[name]}) AS {identifier(name)}" if name in TYPES
                     else f"{value}::VARCHAR AS {identifier(name)}")
    return ", ".join(parts)


# Staging.

def stage(fetch_log_path: Path, data_dir: Path, out_dir: Path) -> Path:
    """Typed staging Parquet (shipments/, comptab/) and quarantine from one fetch log; returns ``out_dir``."""
    fetch_log = json.loads(Path(fetch_log_path).read_text())
    out_dir, data_dir = Path(out_dir), Path(data_dir)
    quarantine = Quarantine(SOURCE)
    for folder in ("shipments", "comptab"):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cites-trade-duckdb-") as temp, connect(temp) as con:
        for page in fetch_log["entities"]["release"]["pages"]:
            stage_release(con, page, data_dir, out_dir / "shipments", quarantine)
        quarantine_duplicate_ids(con, out_dir, quarantine)
        for page in fetch_log["entities"]["comptab"]["pages"]:
            stage_export(con, page, data_dir, out_dir / "comptab", quarantine)
        empty_export(con, out_dir / "comptab")
    quarantine.frame().to_parquet(out_dir / "quarantine.parquet", index=False)
    return out_dir


RELEASE_CHECKS = [  # (field, condition of a bad row, reason); the first that fails is reported
    ("Id", f"{raw('Id')} IS NULL", "no Id"),
    ("Year", f"coalesce(TRY_CAST({raw('Year')} AS BIGINT) NOT BETWEEN 1975 AND 2100, true)",
     "Year is not a year between 1975 and 2100"),
    ("Quantity", f"{raw('Quantity')} IS NOT NULL AND TRY_CAST({raw('Quantity')} AS DOUBLE) IS NULL",
     "Quantity is not a number"),
    ("Quantity", f"TRY_CAST({raw('Quantity')} AS DOUBLE) < 0", "Quantity is negative"),
]
EXPORT_CHECKS = [
    ("Year", f"coalesce(TRY_CAST({raw('Year')} AS BIGINT) NOT BETWEEN 1975 AND 2100, true)",
     "Year is not a year between 1975 and 2100"),
    *[check for c in ("Importer reported quantity", "Exporter reported quantity") for check in (
        (c, f"{raw(c)} IS NOT NULL AND TRY_CAST({raw(c)} AS DOUBLE) IS NULL", f"{c} is not a number"),
        (c, f"TRY_CAST({raw(c)} AS DOUBLE) < 0", f"{c} is negative"))],
]


def read_member(con, path: Path, label: str, kind: str) -> list[str]:
    """Load one CSV as text into temp view ``m`` (with its row ordinal); its layout's columns.

    Lines with too many or too few fields land in DuckDB's reject table ``m_rejects``.
    """
    encoding, delimiter, header = read_header(path, label)
    layout = layouts()[kind][check_layout(kind, header, label)]
    spec = "{" + ", ".join(f"{literal(c)}: 'VARCHAR'" for c in layout) + "}"
    con.execute("DROP VIEW IF EXISTS m; DROP TABLE IF EXISTS m_lines; DROP TABLE IF EXISTS m_rejects; "
                "DROP TABLE IF EXISTS m_scans")
    # rows are stored in file order, so rowid is the row's ordinal: a row_number() window would make
    # a single-threaded pass, and scans of the table keep that order without a sort
    con.execute(f"""CREATE TEMP TABLE m_lines AS SELECT * FROM read_csv(
        {literal(path)}, header = true, auto_detect = false, delim = {literal(delimiter)}, quote = '"', escape = '"',
        encoding = {literal(encoding)}, columns = {spec}, max_line_size = {MAX_LINE_BYTES}, store_rejects = true,
        rejects_table = 'm_rejects', rejects_scan = 'm_scans')""")
    con.execute("CREATE TEMP VIEW m AS SELECT rowid + 1 AS row_number, * FROM m_lines")
    return layout


def reject_rows(con, checks, record_id: str, entity: str, origin: Origin, quarantine: Quarantine) -> str:
    """Quarantine malformed lines and the rows of ``m`` failing ``checks`` (each row under the first
    check it fails), in one scan of ``m``; the SQL of a good row."""
    malformed = con.execute("SELECT line, csv_line, error_message FROM m_rejects ORDER BY line").fetchall()
    for line, text, message in malformed:
        quarantine.reject(entity, f"{entity}@{origin.raw_sha256[:12]}#line{line}", "line", text, message, origin)
    bad = [f"coalesce(({condition}), false)" for _, condition, _ in checks]  # a NULL must not drop a row unreported
    first_failed = "CASE " + " ".join(f"WHEN {c} THEN {i}" for i, c in enumerate(bad)) + " END"
    values = ", ".join(identifier(field) for field, _, _ in checks)
    rows = con.execute(f"SELECT {record_id}, {first_failed}, {values} FROM m WHERE {' OR '.join(bad)} "
                       "ORDER BY row_number").fetchall()
    for rid, failed, *field_values in rows:
        field, _, reason = checks[failed]
        quarantine.reject(entity, rid, field, field_values[failed], reason, origin)
    return " AND ".join(f"NOT {c}" for c in bad)


def stage_release(con, page: dict, data_dir: Path, out: Path, quarantine: Quarantine) -> None:
    """Each member of the release zip to shipments/<member>.parquet, one at a time."""
    origin = Origin(page["sha256"], page["url"], page["retrieved_at"])
    columns = layouts()["release"]["trade_db"]
    zip_path = data_dir / page["raw_path"]
    progress = Progress(f"{SOURCE} ingest of release {page['sha256'][:12]}", "rows",
                        total=len(page.get("members") or []))
    for name, path in extracted_members(zip_path, f"{page['url']} ({zip_path.name})"):
        label = f"{zip_path.name}:{name}"
        read_member(con, path, label, "release")
        progress.advance(con.execute("SELECT count(*) FROM m").fetchone()[0], parts=1)
        record_id = f"coalesce({raw('Id')}, {literal(name + '@' + page['sha256'][:12] + '#')} || row_number)"
        good = reject_rows(con, RELEASE_CHECKS, record_id, name, origin, quarantine)
        member = int(re.search(r"(\d+)\.csv$", name)[1])
        con.execute(f"""COPY (SELECT {typed_select(columns, columns)}, {literal(name)} AS source_file, {member} AS member,
            row_number, {provenance(page)}, {literal(page['url'])} AS source_url FROM m WHERE {good})
            TO {literal(out / name.replace('.csv', '.parquet'))} (FORMAT parquet)""")
    progress.finish()


def provenance(page: dict) -> str:
    """The raw_sha256 and retrieved_at columns of a fetch-log page, as SQL literals."""
    return f"{literal(page['sha256'])} AS raw_sha256, {literal(page['retrieved_at'])} AS retrieved_at"


def quarantine_duplicate_ids(con, out_dir: Path, quarantine: Quarantine) -> None:
    """A release Id seen again (in any member) is quarantined and listed in duplicate_ids.parquet,
    which harmonizing leaves out; the first by member number and row is kept."""
    shipments = literal(out_dir / 'shipments' / '*.parquet')
    # the window runs only over the Ids seen twice: sorting all ~23 million rows by Id would not fit in memory
    con.execute(f"""CREATE TEMP TABLE duplicates AS SELECT id, source_file, row_number, first_file, first_row,
            raw_sha256, source_url, retrieved_at, member FROM (SELECT *, row_number() OVER w AS k,
            first_value(source_file) OVER w AS first_file, first_value(row_number) OVER w AS first_row
            FROM read_parquet({shipments}) SEMI JOIN (SELECT id FROM read_parquet({shipments})
                GROUP BY id HAVING count(*) > 1) USING (id)
            WINDOW w AS (PARTITION BY id ORDER BY member, row_number)) WHERE k > 1""")
    con.execute(f"COPY (SELECT source_file, row_number FROM duplicates ORDER BY member, row_number) "
                f"TO {literal(out_dir / 'duplicate_ids.parquet')} (FORMAT parquet)")
    rows = con.execute("SELECT * EXCLUDE (member) FROM duplicates ORDER BY member, row_number")
    for rid, entity, _, first_file, first_row, sha, url, seen in rows.fetchall():
        quarantine.reject(entity, rid, "Id", rid, f"duplicate Id: first seen in {first_file} row {first_row}",
                          Origin(sha, url, seen))


def export_url(page: dict) -> str:
    """Where an inbox export is, relative to MEA_DATA_DIR (the landed file:// URL names a machine's path)."""
    return f"inbox/{SOURCE}/{page['name']}"


def stage_export(con, page: dict, data_dir: Path, out: Path, quarantine: Quarantine) -> None:
    """One comparative-tabulation export to comptab/<sha>.parquet, in the current layout's columns."""
    origin = Origin(page["sha256"], export_url(page), page["retrieved_at"])
    layout = read_member(con, data_dir / page["raw_path"], page["name"], "comptab")
    record_id = f"{literal(page['name'] + '@' + page['sha256'][:12] + '#')} || row_number"
    good = reject_rows(con, EXPORT_CHECKS, record_id, page["name"], origin, quarantine)
    columns = layouts()["comptab"]["comptab"]
    con.execute(f"""COPY (SELECT {typed_select(layout, columns)}, {literal(page["name"])} AS source_file,
        row_number, {provenance(page)}, {literal(origin.source_url)} AS source_url FROM m WHERE {good})
        TO {literal(out / (page['sha256'] + '.parquet'))} (FORMAT parquet)""")


def empty_export(con, out: Path) -> None:
    """An empty comptab file, so that harmonizing reads the folder whether or not the inbox had any."""
    columns = layouts()["comptab"]["comptab"]
    text = ", ".join(f'NULL::VARCHAR AS "{c}"' for c in columns)
    con.execute(f"""COPY (SELECT {typed_select(columns, columns)}, NULL::VARCHAR AS source_file,
        NULL::BIGINT AS row_number, NULL::VARCHAR AS raw_sha256, NULL::VARCHAR AS retrieved_at,
        NULL::VARCHAR AS source_url FROM (SELECT {text}) WHERE false)
        TO {literal(out / '_empty.parquet')} (FORMAT parquet)""")


# Harmonizing.

def harmonize(staging_dir: Path, out_dir: Path) -> Path:
    """The cites_trade, observations and quarantine parts as Parquet."""
    staging_dir, out_dir = Path(staging_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    quarantine = Quarantine(SOURCE)
    with tempfile.TemporaryDirectory(prefix="cites-trade-duckdb-") as temp, connect(temp) as con:
        con.execute(f"""CREATE VIEW shipments AS SELECT s.*
            FROM read_parquet({literal(staging_dir / 'shipments' / '*.parquet')}) s
            ANTI JOIN read_parquet({literal(staging_dir / 'duplicate_ids.parquet')}) d USING (source_file, row_number)""")
        con.execute(f"CREATE VIEW comptab AS SELECT * FROM read_parquet({literal(staging_dir / 'comptab' / '*.parquet')})")
        load_code_lists(con)
        for table, roles in (("shipments", ("importer", "exporter", "origin")),
                             ("comptab", ("importer", "exporter", "origin"))):
            checked_view(con, table, roles)
        valid = quarantine_codes(con, "shipments", code_checks(RELEASE_FIELDS), "id", quarantine)
        export_id = "source_file || '@' || left(raw_sha256, 12) || '#' || row_number"
        export_valid = quarantine_codes(con, "comptab", code_checks(EXPORT_FIELDS), export_id, quarantine)
        # a role that is not a country is left out alone, noted once; the row counts for the other role
        notes = [role_notes(con, "shipments", valid, "id", RELEASE_FIELDS),
                 role_notes(con, "comptab", export_valid, export_id, EXPORT_FIELDS)]
        # not sorted here: build_release sorts the stacked table by its key once
        con.execute(f"""COPY (SELECT {', '.join(map(identifier, CITES_TRADE_COLUMNS))} FROM checked_shipments
            WHERE {valid})
            TO {literal(out_dir / 'cites_trade.parquet')} (FORMAT parquet)""")
        observations = pd.concat([release_observations(con, f"{valid} AND {REPORTER_IS_A_COUNTRY}"),
                                  export_observations(con, export_valid, quarantine)], ignore_index=True)
    with_catalogue(observations).to_parquet(out_dir / "observations.parquet", index=False)
    staged = pd.read_parquet(staging_dir / "quarantine.parquet")
    pd.concat([staged, quarantine.frame(), *(n for n in notes if len(n))], ignore_index=True) \
        .to_parquet(out_dir / "quarantine.parquet", index=False)
    return out_dir


def read_code_list(name: str) -> pd.DataFrame:
    return pd.read_csv(MAPPINGS / "cites" / f"{name}.csv", dtype=str, keep_default_na=False)


def load_code_lists(con) -> None:
    """The reviewed code lists (mappings/cites/), the term|unit -> indicator map (crosswalk) and the
    country of every code the staged files use (to_iso3 with this source's overrides)."""
    for kind, (name, key) in CODE_LISTS.items():
        frame = read_code_list(name)[[key]].rename(columns={key: "code"})  # noqa: F841 - read by DuckDB
        con.execute(f"CREATE TABLE {kind}_codes AS SELECT code FROM frame")
    ti = term_indicators()  # noqa: F841 - read by DuckDB
    con.execute("CREATE TABLE term_map AS SELECT * FROM ti")
    codes = con.execute("""SELECT DISTINCT code FROM (
        SELECT unnest([importer, exporter, origin]) AS code FROM shipments
        UNION ALL SELECT unnest([importer, exporter, origin]) FROM comptab) WHERE code IS NOT NULL ORDER BY code""")
    country = pd.DataFrame([country_of(code) for (code,) in codes.fetchall()],  # noqa: F841 - read by DuckDB
                           columns=["code", "iso3", "status", "reason", "what"])
    con.execute("CREATE TABLE country_codes AS SELECT * FROM country")


def term_indicators() -> pd.DataFrame:
    """(source_field, term, unit, indicator_code) of the crosswalk's mapped ``<Term>|<Unit>`` rows."""
    crosswalk = pd.read_csv(CROSSWALK, dtype=str, keep_default_na=False)
    mapped = crosswalk[(crosswalk["rule"] == "map") & crosswalk["answer_code"].str.contains("|", regex=False)]
    split = mapped["answer_code"].str.split("|", n=1, expand=True)
    return pd.DataFrame({"source_field": mapped["source_field"], "term": split[0], "unit": split[1],
                         "indicator_code": mapped["indicator_code"]}).reset_index(drop=True)


def country_of(code: str) -> tuple[str, str | None, str, str | None, str | None]:
    """(code, iso3, status, reason, what): status country, not_country (a reviewed row without ISO3) or
    unknown; ``what`` says what a not_country code is, from its reviewed row: "unknown" (XX),
    "region: Various" (XV), "former: Serbia and Montenegro" (CS), "Former Yugoslavia" (YU)."""
    try:
        return code, to_iso3(code, source=SOURCE), "country", None, None
    except UnknownCountry as exc:
        key = code.strip().upper()
        row = overrides(SOURCE).get(key) or overrides().get(key)
        if row is None:
            return code, None, "unknown", str(exc), None
        kind, name = row.get("kind") or "not a country", row.get("name") or ""
        what = kind if name.lower() in ("", kind) else name if kind in name.lower() else f"{kind}: {name}"
        return code, None, "not_country", str(exc), what


def checked_view(con, table: str, roles: tuple[str, ...]) -> None:
    """``checked_<table>``: the staged rows with each country code's ISO3, status, reason and what it is."""
    joins = " ".join(f"LEFT JOIN country_codes {r[0]} ON {r[0]}.code = t.{r}" for r in roles)
    columns = ", ".join(f"{r[0]}.iso3 AS {r}_iso3, {r[0]}.status AS {r}_status, {r[0]}.reason AS {r}_reason, "
                        f"{r[0]}.what AS {r}_what" for r in roles)
    con.execute(f"CREATE VIEW checked_{table} AS SELECT t.*, {columns} FROM {table} t {joins}")


RELEASE_FIELDS = {snake(c): c for c in layouts()["release"]["trade_db"]}
EXPORT_FIELDS = {snake(c): c for c in layouts()["comptab"]["comptab"]}


def code_checks(fields: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """(field, value column, condition of a bad row, reason SQL): codes no reviewed list knows.
    Such rows are neither published in cites_trade nor counted."""
    checks = [(fields[col], col, f"{col}_status = 'unknown'", f"{col}_reason")
              for col in ("importer", "exporter", "origin")]
    checks.append((fields["appendix"], "appendix", f"appendix IS NULL OR appendix NOT IN {APPENDICES}",
                   "'unknown CITES Appendix'"))
    for kind, (name, _) in CODE_LISTS.items():
        checks.append((fields[kind], kind, f"{kind} IS NOT NULL AND {kind} NOT IN (SELECT code FROM {kind}_codes)",
                       f"'unknown CITES {kind} (not in transforms/mappings/cites/{name}.csv)'"))
    if "reporter_type" in fields:
        checks.append((fields["reporter_type"], "reporter_type",
                       "reporter_type IS NULL OR reporter_type NOT IN ('E', 'I')", "'Reporter.type is neither E nor I'"))
    return checks


#: a release record counts only for the Party that reported it (the exporter of E, the importer of I)
REPORTER_IS_A_COUNTRY = "CASE reporter_type WHEN 'E' THEN exporter_status ELSE importer_status END = 'country'"
#: (role column, the other role, what that role's aggregates are called, the Reporter.type of the role)
ROLES = (("importer", "exporter", "imports", "I"), ("exporter", "importer", "exports", "E"))


def role_reason(col: str, other: str, aggregates: str, reporter: str | None) -> str:
    """SQL of why a row's ``col`` is left out and whom the row still counts for. A comparative-tabulation
    row counts for each of its importer and exporter that is a country; a release record (``reporter``,
    the Reporter.type of ``col``, given) only for the Party that reported it, when that one is a country."""
    code = f"'{col} ''' || {col} || ''' is not a country (' || coalesce({col}_what, 'not reviewed') || ')'"
    what = f"CASE WHEN {col} IS NULL THEN '{col} is blank' ELSE {code} END"
    if reporter is None:
        counts = (f"CASE WHEN {other}_status = 'country' THEN ': left out of {aggregates}; the row counts for its "
                  f"{other}' ELSE ': neither the importer nor the exporter is a country, so the row counts for no "
                  "Party' END")
    else:
        counts = (f"CASE WHEN reporter_type = '{reporter}' THEN ': the {col} reported this record, so it counts "
                  "for no Party (a release record counts only for the Party that reported it); published in "
                  f"cites_trade' WHEN {other}_status = 'country' THEN ': left out of {aggregates}; the row counts "
                  f"for its {other}, who reported it' ELSE ': left out of {aggregates}; the row counts for no Party "
                  f"(its {other}, who reported it, is not a country either)' END")
    return f"{what} || {counts}"


def role_notes(con, table: str, ok: str, record_id: str, fields: dict[str, str]) -> pd.DataFrame:
    """Quarantine rows, one per importer or exporter that is not a country (XX, XV, CS, ... or blank) in
    the rows of ``checked_<table>`` passing ``ok``: only that role is left out (NULL ISO3, in no aggregate
    of that role); the row still counts for the other role. One SQL statement however many rows: the
    release has ~23 million. The origin is no role (nothing is counted by origin) and is not noted."""
    release = "reporter_type" in fields
    not_both = " OR ".join(f"{col}_status IS DISTINCT FROM 'country'" for col, *_ in ROLES)
    # one scan of the table for the (few) rows with such a role; each role's notes come from those
    con.execute(f"""CREATE OR REPLACE TEMP TABLE role_rows AS SELECT ({record_id})::VARCHAR AS record_id,
            source_file, row_number, raw_sha256, source_url, retrieved_at, {'reporter_type' if release else 'NULL'}
            AS reporter_type, {', '.join(f'{c}, {c}_status, {c}_what' for c, *_ in ROLES)}
        FROM checked_{table} WHERE {ok} AND ({not_both})""")
    parts = " UNION ALL ".join(
        f"""SELECT {literal(SOURCE)} AS source_system, source_file AS entity, record_id AS source_record_id,
            {literal(fields[col])} AS field, {col} AS value,
            {role_reason(col, other, aggregates, kind if release else None)} AS reason, raw_sha256, source_url,
            retrieved_at AS first_seen, retrieved_at AS last_seen, row_number, {i} AS k
        FROM role_rows WHERE {col}_status IS DISTINCT FROM 'country'"""
        for i, (col, other, aggregates, kind) in enumerate(ROLES))
    return con.execute(f"SELECT {', '.join(QUARANTINE_COLUMNS)} FROM ({parts}) ORDER BY entity, row_number, k").df()


def quarantine_codes(con, table: str, checks, record_id: str, quarantine: Quarantine) -> str:
    """Quarantine every failed check of ``checked_<table>`` (a row can fail several); the SQL of a row
    that passes them all. One scan of the table collects the rows that fail any check."""
    bad = [f"coalesce(({condition}), false)" for _, _, condition, _ in checks]
    per_check = ", ".join(f"{column} AS value_{i}, {reason} AS reason_{i}, {c} AS failed_{i}"
                          for i, ((_, column, _, reason), c) in enumerate(zip(checks, bad)))
    con.execute(f"""CREATE OR REPLACE TEMP TABLE failing AS SELECT {record_id} AS record_id, source_file, row_number,
        raw_sha256, source_url, retrieved_at, {per_check} FROM checked_{table} WHERE {' OR '.join(bad)}""")
    for i, (field, *_) in enumerate(checks):
        rows = con.execute(f"""SELECT record_id, source_file, value_{i}, reason_{i}, raw_sha256, source_url, retrieved_at
            FROM failing WHERE failed_{i} ORDER BY source_file, row_number""")
        for rid, entity, value, why, sha, url, seen in rows.fetchall():
            quarantine.reject(entity, rid, field, value, why, Origin(sha, url, seen))
    return " AND ".join(f"NOT {c}" for c in bad)


def release_observations(con, ok: str) -> pd.DataFrame:
    """Per country x year x appendix x role: records and mapped quantities the Party reported itself,
    and SYN-CITES-AR-SUBMITTED for every country x year it reported in.

    Quantities are summed as DECIMAL: a parallel sum of doubles depends on the order of its
    partial sums, and the same release must give byte-identical values.
    """
    con.execute(f"""CREATE TEMP TABLE own AS SELECT
            CASE reporter_type WHEN 'E' THEN exporter_iso3 ELSE importer_iso3 END AS country_iso3,
            CASE reporter_type WHEN 'E' THEN 'EXPORTER' ELSE 'IMPORTER' END AS role,
            year, appendix, term, coalesce(unit, '') AS unit, quantity, raw_sha256, source_url, retrieved_at
        FROM checked_shipments WHERE {ok}""")
    frame = con.execute("""
        SELECT country_iso3, year, appendix, role, 'CITES-SHIPMENTS' AS indicator_code, 'trade_db.Id' AS source_field,
               count(*)::DOUBLE AS value_num, min(raw_sha256) AS raw_sha256, min(source_url) AS source_url,
               min(retrieved_at) AS retrieved_at
        FROM own GROUP BY ALL
        UNION ALL
        SELECT o.country_iso3, o.year, o.appendix, o.role, m.indicator_code, m.source_field,
               sum(o.quantity::DECIMAL(38, 6))::DOUBLE, min(o.raw_sha256), min(o.source_url), min(o.retrieved_at)
        FROM own o JOIN term_map m ON m.source_field = 'trade_db.Quantity' AND m.term = o.term AND m.unit = o.unit
        WHERE o.quantity IS NOT NULL
        GROUP BY o.country_iso3, o.year, o.appendix, o.role, m.indicator_code, m.source_field
        UNION ALL
        SELECT country_iso3, year, NULL, NULL, 'SYN-CITES-AR-SUBMITTED', 'trade_db.Reporter.type', 1.0,
               min(raw_sha256), min(source_url), min(retrieved_at)
        FROM own GROUP BY country_iso3, year""").df()
    submitted = frame["indicator_code"] == "SYN-CITES-AR-SUBMITTED"
    frame["reported_by"] = None
    return observation_frame(frame, submitted)


def export_observations(con, ok: str, quarantine: Quarantine) -> pd.DataFrame:
    """Per export, country x year x appendix x role x reporting side: the mapped quantities of a
    comparative tabulation. A row counts for its importer and its exporter, each when it is a country
    (an XX exporter leaves the row in its importer's imports, both sides' quantities). Overlapping
    exports: the latest-retrieved keeps the key, the others are quarantined."""
    sides = " UNION ALL ".join(
        f"SELECT {who}_iso3 AS country_iso3, '{who.upper()}' AS role, '{by.upper()}' AS reported_by, "
        f"{by}_quantity AS quantity, 'comptab.{by.capitalize()} reported quantity' AS field, * "
        f"FROM checked_comptab WHERE {ok} AND {who}_status = 'country'"
        for who in ("importer", "exporter") for by in ("importer", "exporter"))
    frame = con.execute(f"""
        SELECT s.country_iso3, s.year, s.appendix, s.role, s.reported_by, m.indicator_code, m.source_field,
               sum(s.quantity::DECIMAL(38, 6))::DOUBLE AS value_num, s.raw_sha256, s.source_url, s.retrieved_at,
               s.source_file
        FROM ({sides}) s
        JOIN term_map m ON m.source_field = s.field AND m.term = s.term AND m.unit = coalesce(s.unit, '')
        WHERE s.quantity IS NOT NULL
        GROUP BY s.country_iso3, s.year, s.appendix, s.role, s.reported_by, m.indicator_code, m.source_field,
                 s.raw_sha256, s.source_url, s.retrieved_at, s.source_file
        ORDER BY s.retrieved_at DESC, s.source_file DESC""").df()
    obs = observation_frame(frame, pd.Series(False, index=frame.index))
    key = ["country_iso3", "report_cycle", "indicator_code", "year", "disaggregation"]
    overlap = obs.duplicated(key, keep="first")
    winner = obs[~overlap].set_index(key)["source_url"]
    for rec in obs[overlap].to_dict("records"):
        quarantine.reject(rec["source_url"].rsplit("/", 1)[-1], rec["source_record_id"], rec["source_field"],
                          rec["value_num"], f"overlapping exports: kept {winner[tuple(rec[k] for k in key)]} "
                          "(the latest retrieved) for the same country, year, appendix, role and indicator",
                          Origin(rec["raw_sha256"], rec["source_url"], rec["retrieved_at"]))
    return obs[~overlap].reset_index(drop=True)


def observation_frame(agg: pd.DataFrame, submitted: pd.Series) -> pd.DataFrame:
    """Aggregates as shared-schema observations (before the catalogue columns)."""
    parts = [agg["appendix"], agg["role"], agg["reported_by"]]
    disaggregation = pd.Series(
        [";".join(f"{name}={v}" for name, v in zip(("APPENDIX", "ROLE", "REPORTED_BY"), values) if pd.notna(v))
         for values in zip(*parts)], index=agg.index, dtype=object).where(~submitted, "_T")
    record = [":".join(str(v) for v in values if pd.notna(v)) for values in
              zip(agg["raw_sha256"].str[:12], agg["country_iso3"], agg["year"], agg["appendix"], agg["role"],
                  agg["reported_by"], agg["indicator_code"].where(~submitted, "AR"))]
    return pd.DataFrame({
        "country_iso3": agg["country_iso3"], "convention": "cites",
        "report_cycle": "cites:AR" + agg["year"].astype(str), "indicator_code": agg["indicator_code"],
        "year": agg["year"].astype("int64"), "disaggregation": disaggregation, "value_num": agg["value_num"],
        "value_code": None, "value_label": None,
        "unit": agg["indicator_code"].map(lambda c: indicator(c).get("unit")),
        "observation_status": "reported", "source_system": SOURCE, "source_record_id": record,
        "source_field": agg["source_field"], "source_url": agg["source_url"], "raw_sha256": agg["raw_sha256"],
        "retrieved_at": agg["retrieved_at"],
    })
