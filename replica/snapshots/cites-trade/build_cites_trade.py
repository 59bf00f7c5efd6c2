"""Write the cites-trade snapshot: trade_db.zip (3 members) and the comparative-tabulation inbox files.

Deterministic (seeded generator, fixed zip timestamps): ``uv run python replica/snapshots/cites-trade/build_cites_trade.py``.
The deliberately bad records are appended by hand at the end of each member; README.md lists them.
"""
from __future__ import annotations

import csv
import io
import random
import zipfile
from pathlib import Path

HERE = Path(__file__).parent
RELEASE_COLUMNS = ["Id", "Year", "Appendix", "Taxon", "Class", "Order", "Family", "Genus", "Term", "Quantity", "Unit",
                   "Importer", "Exporter", "Origin", "Purpose", "Source", "Reporter.type", "Import.permit.RandomID",
                   "Export.permit.RandomID", "Origin.permit.RandomID"]
COMPTAB_COLUMNS = ["Year", "App.", "Taxon", "Class", "Order", "Family", "Genus", "Importer", "Exporter", "Origin",
                   "Importer reported quantity", "Exporter reported quantity", "Term", "Unit", "Purpose", "Source"]
#: taxon, appendix, class, order, family, genus, exporters, (term, unit, quantity range, decimals), purposes, sources
TAXA = [
    ("Loxodonta africana", "I", "Mammalia", "Proboscidea", "Elephantidae", "Loxodonta", ["NA", "ZA", "KE"],
     [("tusks", "", (1, 4), 0), ("ivory carvings", "", (1, 20), 0), ("trophies", "", (1, 2), 0)], "HPS", "WO"),
    ("Python regius", "II", "Reptilia", "Squamata", "Pythonidae", "Python", ["SN", "KE"],
     [("live", "", (10, 800), 0), ("skins", "", (5, 300), 0)], "TTP", "WRC"),
    ("Crocodylus niloticus", "II", "Reptilia", "Crocodylia", "Crocodylidae", "Crocodylus", ["ZA", "NA", "KE"],
     [("skins", "", (20, 900), 0), ("live", "", (2, 40), 0), ("meat", "kg", (5, 400), 1)], "TTZ", "RCW"),
    ("Psittacus erithacus", "I", "Aves", "Psittaciformes", "Psittacidae", "Psittacus", ["ZA", "CD"],
     [("live", "", (1, 60), 0)], "TBZ", "CF"),
    ("Panthera leo", "II", "Mammalia", "Carnivora", "Felidae", "Panthera", ["ZA", "NA"],
     [("trophies", "", (1, 3), 0), ("skins", "", (1, 5), 0), ("bones", "kg", (1, 300), 2)], "HHT", "CW"),
    ("Swietenia macrophylla", "II", "Magnoliopsida", "Sapindales", "Meliaceae", "Swietenia", ["PE", "BR", "MX"],
     [("timber", "m3", (1, 250), 3), ("sawn wood", "m3", (1, 120), 3)], "TTT", "WA"),
    ("Pericopsis elata", "II", "Magnoliopsida", "Fabales", "Leguminosae", "Pericopsis", ["CD"],
     [("timber", "m3", (5, 400), 3), ("veneer", "m2", (50, 2000), 1)], "TT", "W"),
    ("Cedrela odorata", "III", "Magnoliopsida", "Sapindales", "Meliaceae", "Cedrela", ["PE", "BR"],
     [("timber", "m3", (1, 90), 3), ("sawn wood", "m3", (1, 60), 3)], "TT", "WA"),
    ("Acipenser baerii", "II", "Actinopteri", "Acipenseriformes", "Acipenseridae", "Acipenser", ["CN", "FR", "DE"],
     [("caviar", "kg", (1, 900), 1), ("live", "", (100, 5000), 0)], "TTS", "CF"),
    ("Aloe ferox", "II", "Liliopsida", "Asparagales", "Asphodelaceae", "Aloe", ["ZA"],
     [("extract", "kg", (100, 9000), 1), ("live", "", (5, 200), 0)], "TTM", "WA"),
    ("Dendrobium spp.", "II", "Liliopsida", "Asparagales", "Orchidaceae", "Dendrobium", ["CN", "IN"],
     [("live", "", (50, 3000), 0), ("flowers", "kg", (1, 40), 1)], "TTT", "AA"),
    ("Mellivora capensis", "III", "Mammalia", "Carnivora", "Mustelidae", "Mellivora", ["ZA"],
     [("skins", "", (1, 10), 0)], "TH", "W"),
]
IMPORTERS = ["DE", "FR", "GB", "AT", "CN", "US", "CA", "AU", "MX", "AL", "DZ", "IN", "NA", "KV"]
YEARS = {1: (2018, 2019), 2: (2020, 2021), 3: (2022, 2023)}
ZIP_TIME = (2026, 11, 1, 0, 0, 0)


def permit(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(10)) if rng.random() < 0.8 else ""


def quantity(rng: random.Random, low: int, high: int, decimals: int) -> str:
    value = rng.uniform(low, high) if decimals else rng.randint(low, high)
    return f"{value:.{decimals}f}" if decimals else str(value)


def shipments(rng: random.Random, member: int, next_id: int, count: int) -> list[list[str]]:
    """``count`` shipments of the member's years; about a third are reported by both sides."""
    rows = []
    while len(rows) < count:
        taxon, app, cls, order, family, genus, exporters, terms, purposes, sources = rng.choice(TAXA)
        term, unit, (low, high), decimals = rng.choice(terms)
        exporter = rng.choice(exporters)
        importer = rng.choice([c for c in IMPORTERS if c != exporter])
        origin = rng.choice(["", "", "", "XX", "XF"]) if rng.random() < 0.15 else ""
        year = str(rng.randint(*YEARS[member]))
        purpose, source = rng.choice(purposes), rng.choice(sources)
        qty = quantity(rng, low, high, decimals)
        ip, ep = permit(rng), permit(rng)
        base = [year, app, taxon, cls, order, family, genus, term, qty, unit, importer, exporter, origin, purpose, source]
        reporters = rng.choice([["E"], ["E"], ["I"], ["E", "I"]])
        for reporter in reporters:
            reported_qty = qty if reporter == "E" else quantity(rng, low, high, decimals)
            row = [str(next_id)] + base[:8] + [reported_qty] + base[9:] + [reporter, ip, ep, ""]
            rows.append(row)
            next_id += 1
    return rows


def bad_rows(member: int) -> list[list[str]]:
    """The deliberately bad or odd records of each member (README.md, "Deliberately bad records")."""
    fill = ["Mammalia", "Carnivora", "Felidae", "Panthera"]
    if member == 1:
        return [
            ["9000001", "2019", "II", "Panthera leo", *fill, "skins", "n/a", "", "DE", "ZA", "", "T", "W", "E", "", "", ""],
            ["9000002", "20l9", "II", "Panthera leo", *fill, "skins", "3", "", "DE", "ZA", "", "T", "W", "E", "", "", ""],
            ["", "2019", "II", "Panthera leo", *fill, "skins", "2", "", "FR", "ZA", "", "T", "W", "E", "", "", ""],
            ["9000004", "2019", "II", "Panthera leo", *fill, "skins", "1", "", "GB", "QQ", "", "T", "W", "E", "", "", ""],
            ["9000012", "2019", "II", "Panthera leo", *fill, "skins", "6", "", "NA", "ZA", "", "T", "W", "I", "", "", ""],
        ]
    if member == 2:
        return [
            ["9000012", "2020", "II", "Panthera leo", *fill, "skins", "4", "", "DE", "ZA", "", "T", "W", "E", "", "", ""],
            ["9000005", "2020", "II", "Panthera leo", *fill, "skins", "2", "", "DE", "XX", "", "T", "W", "E", "", "", ""],
            ["9000006", "2021", "II", "Panthera leo", *fill, "mystery parts", "7", "", "FR", "NA", "", "T", "W", "E",
             "", "", ""],
            ["9000007", "2021", "IV", "Panthera leo", *fill, "skins", "1", "", "AT", "NA", "", "T", "W", "E", "", "", ""],
            ["9000010", "2021", "II", "Panthera leo", *fill, "skins", "9", "", "CN", "NA", "", "Y", "W", "E", "", "", ""],
        ]
    return [
        ["9000008", "2022", "I", "Loxodonta africana", "Mammalia", "Proboscidea", "Elephantidae", "Loxodonta",
         "ivory carvings", "3", "", "CN", "YU", "YU", "T", "O", "I", "", "", ""],
        ["9000009", "2023", "N", "Loxodonta africana", "Mammalia", "Proboscidea", "Elephantidae", "Loxodonta",
         "tusks", "2", "", "NA", "KE", "", "", "", "I", "", "", ""],
    ]


def member_bytes(rows: list[list[str]], extra_line: str | None = None) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RELEASE_COLUMNS)
    writer.writerows(rows)
    text = buffer.getvalue()
    if extra_line:
        text += extra_line + "\n"  # a line with a field too many, as a broken export would have
    return text.encode("utf-8")


def build_release(rng: random.Random) -> bytes:
    out = io.BytesIO()
    next_id = 1000001
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, count in ((1, 140), (2, 160), (3, 150)):
            rows = shipments(rng, member, next_id, count)
            next_id += 1000
            extra = ('9000011,2023,II,Python regius,Reptilia,Squamata,Pythonidae,Python,live,5,,DE,SN,,T,W,E,,,,surplus'
                     if member == 3 else None)
            info = zipfile.ZipInfo(f"Trade_database_download_v2026.1/trade_db_{member}.csv", ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, member_bytes(rows + bad_rows(member), extra))
        readme = zipfile.ZipInfo("Trade_database_download_v2026.1/README.txt", ZIP_TIME)
        zf.writestr(readme, b"CITES Trade Database full download (replica snapshot). See trade.cites.org.\n")
    return out.getvalue()


def comptab_rows(rng: random.Random, years: range) -> list[list[str]]:
    rows = []
    for year in years:
        for taxon, app, cls, order, family, genus, exporters, terms, purposes, sources in TAXA[:6]:
            term, unit, (low, high), decimals = terms[0]
            exporter = exporters[0]
            importer = IMPORTERS[(year + len(taxon)) % 6]
            exp_q = quantity(rng, low, high, decimals) if rng.random() < 0.8 else ""
            imp_q = quantity(rng, low, high, decimals) if rng.random() < 0.6 else ""
            rows.append([str(year), app, taxon, cls, order, family, genus, importer, exporter, "", imp_q, exp_q,
                         term, unit, purposes[0], sources[0]])
    return rows


def write_comptab(path: Path, rows: list[list[str]], delimiter: str, encoding: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(COMPTAB_COLUMNS)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))


def main() -> None:
    rng = random.Random(20261128)
    (HERE / "trade_db.zip").write_bytes(build_release(rng))
    orchid = ["Liliopsida", "Asparagales", "Orchidaceae", "Paphiopedilum"]
    semicolon = comptab_rows(rng, range(2021, 2023)) + [
        ["2022", "II", "Paphiopedilum × hybrid", *orchid, "DE", "CN", "", "120", "100", "live", "", "T", "A"],
        ["2022", "II", "Python regius", "Reptilia", "Squamata", "Pythonidae", "Python", "QQ", "SN", "", "40", "",
         "live", "", "T", "W"],
        ["2022", "II", "Python regius", "Reptilia", "Squamata", "Pythonidae", "Python", "FR", "SN", "", "abc", "12",
         "live", "", "T", "W"],
        ["2021", "I", "Loxodonta africana", "Mammalia", "Proboscidea", "Elephantidae", "Loxodonta", "GB", "NA", "XF",
         "", "2.5", "tusks", "", "H", "W"],
    ]
    write_comptab(HERE / "inbox" / "comptab_2026-11-20_semicolon_separated.csv", semicolon, ";", "latin-1")
    comma = comptab_rows(rng, range(2022, 2024)) + [
        ["2023", "II", "Paphiopedilum × hybrid", *orchid, "FR", "CN", "", "", "75", "live", "", "T", "A"],
    ]
    write_comptab(HERE / "inbox" / "comptab_2026-11-21_comma_separated.csv", comma, ",", "utf-8")


if __name__ == "__main__":
    main()
