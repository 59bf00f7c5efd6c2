"""Build the curated InforMEA snapshot: Treaties.json, CountryReports.json, NationalPlans.json.

    uv run python replica/snapshots/build_informea.py [--out DIR]

Deterministic (random.Random(SEED)): a rebuild reproduces the committed files byte for byte.
Records are stored in their own wire shape, quirks included (informea/README.md lists them);
the replica server only adds `__metadata`, envelopes, paging, `$expand` and ordering.
"""

from __future__ import annotations

import argparse
import calendar
import json
import random
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

SEED = 20261128
OUT = Path(__file__).parent / "informea"
LATEST_UPDATE = datetime(2026, 11, 20, tzinfo=timezone.utc)  # nothing in the snapshot is newer
SPECIAL_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "https://www.informea.org/replica/special-records")
ORDINALS = ["First", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh"]

Record = dict[str, Any]

# id, titleEnglish, officialNameEnglish, treatyWebsiteURL, description
TREATIES = [
    ("cbd", "Convention on Biological Diversity", "Convention on Biological Diversity", "https://www.cbd.int",
     "Conservation of biological diversity, sustainable use of its components and fair sharing of benefits."),
    ("cites", "CITES", "Convention on International Trade in Endangered Species of Wild Fauna and Flora",
     "https://cites.org",
     "Ensures that international trade in wild animals and plants does not threaten their survival."),
    ("cms", "CMS", "Convention on the Conservation of Migratory Species of Wild Animals", "https://www.cms.int",
     "Conservation of migratory animals and their habitats across their range."),
    ("ramsar", "Ramsar Convention",
     "Convention on Wetlands of International Importance especially as Waterfowl Habitat", "https://www.ramsar.org",
     "Conservation and wise use of wetlands."),
    ("whc", "World Heritage Convention", "Convention Concerning the Protection of the World Cultural and Natural "
     "Heritage", "https://whc.unesco.org", "Identification and protection of cultural and natural heritage."),
    ("unccd", "UNCCD", "United Nations Convention to Combat Desertification in Those Countries Experiencing Serious "
     "Drought and/or Desertification, Particularly in Africa", "https://www.unccd.int",
     "Combating desertification and mitigating the effects of drought."),
    ("aewa", "AEWA", "Agreement on the Conservation of African-Eurasian Migratory Waterbirds",
     "https://www.unep-aewa.org", "Conservation of migratory waterbirds and their flyways in Africa and Eurasia."),
    ("stockholm", "Stockholm Convention", "Stockholm Convention on Persistent Organic Pollutants",
     "https://www.pops.int", "Eliminates or restricts the production and use of persistent organic pollutants."),
    ("basel", "Basel Convention", "Basel Convention on the Control of Transboundary Movements of Hazardous Wastes "
     "and their Disposal", "https://www.basel.int", "Controls transboundary movements of hazardous wastes."),
    ("rotterdam", "Rotterdam Convention", "Rotterdam Convention on the Prior Informed Consent Procedure for Certain "
     "Hazardous Chemicals and Pesticides in International Trade", "https://www.pic.int",
     "Shared responsibility in the international trade of certain hazardous chemicals."),
    ("montreal", "Montreal Protocol", "Montreal Protocol on Substances that Deplete the Ozone Layer",
     "https://ozone.unep.org", "Phases out the production and consumption of ozone-depleting substances."),
    ("unfccc", "UNFCCC", "United Nations Framework Convention on Climate Change", "https://unfccc.int",
     "Stabilisation of greenhouse gas concentrations in the atmosphere."),
    ("nagoya", "Nagoya Protocol", "Nagoya Protocol on Access to Genetic Resources and the Fair and Equitable Sharing "
     "of Benefits Arising from their Utilization to the Convention on Biological Diversity", "https://www.cbd.int/abs",
     "Access to genetic resources and the fair and equitable sharing of benefits from their use."),
    ("cartagena", "Cartagena Protocol", "Cartagena Protocol on Biosafety to the Convention on Biological Diversity",
     "https://bch.cbd.int/protocol", "Safe handling, transport and use of living modified organisms."),
    ("plant-treaty", "Plant Treaty", "International Treaty on Plant Genetic Resources for Food and Agriculture",
     "https://www.fao.org/plant-treaty", "Conservation and sustainable use of plant genetic resources for food."),
]


@dataclass(frozen=True)
class Country:
    iso2: str
    iso3: str
    name: str  # common English name, as report titles spell it
    region: str


COUNTRIES = [Country(*row) for row in [
    ("DZ", "DZA", "Algeria", "africa"), ("BW", "BWA", "Botswana", "africa"), ("CM", "CMR", "Cameroon", "africa"),
    ("CI", "CIV", "Côte d'Ivoire", "africa"), ("CD", "COD", "Democratic Republic of the Congo", "africa"),
    ("EG", "EGY", "Egypt", "africa"), ("ET", "ETH", "Ethiopia", "africa"), ("GH", "GHA", "Ghana", "africa"),
    ("GW", "GNB", "Guinea-Bissau", "africa"), ("KE", "KEN", "Kenya", "africa"), ("MG", "MDG", "Madagascar", "africa"),
    ("ML", "MLI", "Mali", "africa"), ("MU", "MUS", "Mauritius", "africa"), ("MA", "MAR", "Morocco", "africa"),
    ("MZ", "MOZ", "Mozambique", "africa"), ("NA", "NAM", "Namibia", "africa"), ("NG", "NGA", "Nigeria", "africa"),
    ("SN", "SEN", "Senegal", "africa"), ("ZA", "ZAF", "South Africa", "africa"), ("UG", "UGA", "Uganda", "africa"),
    ("TZ", "TZA", "United Republic of Tanzania", "africa"),
    ("AL", "ALB", "Albania", "europe"), ("AT", "AUT", "Austria", "europe"), ("FI", "FIN", "Finland", "europe"),
    ("FR", "FRA", "France", "europe"), ("DE", "DEU", "Germany", "europe"), ("GR", "GRC", "Greece", "europe"),
    ("IE", "IRL", "Ireland", "europe"), ("IT", "ITA", "Italy", "europe"), ("NL", "NLD", "Netherlands", "europe"),
    ("NO", "NOR", "Norway", "europe"), ("PL", "POL", "Poland", "europe"), ("PT", "PRT", "Portugal", "europe"),
    ("RO", "ROU", "Romania", "europe"), ("ES", "ESP", "Spain", "europe"), ("SE", "SWE", "Sweden", "europe"),
    ("CH", "CHE", "Switzerland", "europe"), ("UA", "UKR", "Ukraine", "europe"),
    ("GB", "GBR", "United Kingdom", "europe"),
    ("BD", "BGD", "Bangladesh", "asia"), ("KH", "KHM", "Cambodia", "asia"), ("CN", "CHN", "China", "asia"),
    ("IN", "IND", "India", "asia"), ("ID", "IDN", "Indonesia", "asia"), ("IR", "IRN", "Iran", "asia"),
    ("JP", "JPN", "Japan", "asia"), ("JO", "JOR", "Jordan", "asia"), ("KZ", "KAZ", "Kazakhstan", "asia"),
    ("MN", "MNG", "Mongolia", "asia"), ("NP", "NPL", "Nepal", "asia"), ("PK", "PAK", "Pakistan", "asia"),
    ("PH", "PHL", "Philippines", "asia"), ("SA", "SAU", "Saudi Arabia", "asia"), ("LK", "LKA", "Sri Lanka", "asia"),
    ("TH", "THA", "Thailand", "asia"), ("TR", "TUR", "Türkiye", "asia"), ("VN", "VNM", "Viet Nam", "asia"),
    ("AR", "ARG", "Argentina", "americas"), ("BO", "BOL", "Bolivia", "americas"), ("BR", "BRA", "Brazil", "americas"),
    ("CA", "CAN", "Canada", "americas"), ("CL", "CHL", "Chile", "americas"), ("CO", "COL", "Colombia", "americas"),
    ("CR", "CRI", "Costa Rica", "americas"), ("CU", "CUB", "Cuba", "americas"), ("EC", "ECU", "Ecuador", "americas"),
    ("GT", "GTM", "Guatemala", "americas"), ("HT", "HTI", "Haiti", "americas"), ("JM", "JAM", "Jamaica", "americas"),
    ("MX", "MEX", "Mexico", "americas"), ("PE", "PER", "Peru", "americas"),
    ("AU", "AUS", "Australia", "oceania"), ("FJ", "FJI", "Fiji", "oceania"),
    ("FM", "FSM", "Micronesia (Federated States of)", "oceania"), ("NZ", "NZL", "New Zealand", "oceania"),
    ("PW", "PLW", "Palau", "oceania"), ("PG", "PNG", "Papua New Guinea", "oceania"), ("WS", "WSM", "Samoa", "oceania"),
    ("SB", "SLB", "Solomon Islands", "oceania"), ("TV", "TUV", "Tuvalu", "oceania"),
]]
BY_ISO2 = {country.iso2: country for country in COUNTRIES}
EU = Country("EU", "EU", "European Union", "europe")  # party to CBD and CMS; always "EU" on the wire
FICTIONAL = {code: Country(code, code, name, "none") for code, name in [("XZ", "Atlantis"), ("QQQ", "Utopia")]}
CMS_NON_PARTIES = {"CA", "CN", "ID", "JP", "MX", "NP", "TH", "TR", "VN"}
LEAST_DEVELOPED = {"BD", "CD", "ET", "GW", "HT", "KH", "MG", "ML", "MZ", "NP", "SB", "SN", "TV", "TZ", "UG", "WS"}

# Report pages at each secretariat; {n} is a node/document number.
REPORT_PAGES = {
    "cbd": "https://chm.cbd.int/database/record?documentID={n}", "cites": "https://cites.org/eng/node/{n}",
    "cms": "https://www.cms.int/en/node/{n}", "ramsar": "http://www.ramsar.org/node/{n}",
    "whc": "https://whc.unesco.org/en/document/{n}", "unccd": "https://www.unccd.int/node/{n}",
    "aewa": "http://www.unep-aewa.org/node/{n}", "stockholm": "http://chm.pops.int/node/{n}",
    "unfccc": "https://unfccc.int/node/{n}", "iwc": "https://iwc.int/document_{n}",
    "ospar": "https://www.ospar.org/documents?d={n}", "minamata": "https://minamataconvention.org/en/node/{n}",
}
TRANSLATED_TITLES = {"fr": "Rapport national - {name}", "es": "Informe nacional - {name}"}


@dataclass(frozen=True)
class Draft:
    """A record before its wire quirks are chosen."""

    treaty: str
    country: Country
    title: str
    submitted: date
    slug: str  # cycle tag used in file names, e.g. "nr6", "ar2019"
    plan_type: str | None = None


def epoch_ms(moment: date | datetime) -> int:
    """Milliseconds since 1970 UTC; a date means its midnight UTC (2.7.0 stores submission date-only, §3.1)."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=timezone.utc)
    return calendar.timegm(moment.utctimetuple()) * 1000


def odata_date(moment: date | datetime, offset: str = "") -> str:
    """The OData v2 JSON form `/Date(ms)/`, with an optional `+hhmm`/`-hhmm` suffix."""
    return f"/Date({epoch_ms(moment)}{offset})/"


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from the seeded generator."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def special_uuid(name: str) -> str:
    """Stable id for a hand-placed record, so README.md stays right when the random records change."""
    return str(uuid.uuid5(SPECIAL_IDS, name))


def treaty_uuid(treaty: str) -> str:
    """The treaty node UUID (`Treaties.UUID`, `treatyUUID` on records), stable per treaty id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://www.informea.org/treaties/{treaty}"))


def day_between(rng: random.Random, first: date, last: date) -> date:
    """A random day in [first, last]."""
    return first + timedelta(days=rng.randrange((last - first).days + 1))


class Builder:
    """Turns drafts into wire records, drawing every random choice from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def pick(self, eligible: Iterable[Country], k: int, exclude: Iterable[str] = ()) -> list[Country]:
        """k distinct countries, in a draw that does not depend on the order of `eligible`."""
        pool = sorted((c for c in eligible if c.iso2 not in set(exclude)), key=lambda c: c.iso2)
        return self.rng.sample(pool, k)

    def record(self, draft: Draft, rid: str | None = None) -> Record:
        """A record in its own wire shape, with this record's quirks drawn at random."""
        rng, rid = self.rng, rid or random_uuid(self.rng)
        cbd_style = rng.random() < 0.25  # bare arrays, protocolVersion, LocalizableString (informea-api.md §5.2b)
        offset = rng.choice(["+0100", "-0500"]) if rng.random() < 0.1 else ""
        updated = min(datetime.combine(draft.submitted, datetime.min.time(), timezone.utc)
                      + timedelta(seconds=rng.randrange(3600, 400 * 86400)), LATEST_UPDATE)
        titles = [("en", draft.title)] + [(lang, text.format(name=draft.country.name))
                                          for lang, text in TRANSLATED_TITLES.items() if rng.random() < 0.2]
        record: Record = {
            "country": self.wire_country(draft.country),
            "id": rid,
            "submission": odata_date(draft.submitted, offset),
            "treaty": draft.treaty,
            "treatyUUID": treaty_uuid(draft.treaty),
            "updated": odata_date(updated, offset),
            "url": REPORT_PAGES[draft.treaty].format(n=rng.randrange(10_000, 999_999)),
            "title": self.titles(rid, titles, cbd_style),
            "files": self.files(rid, draft, cbd_style),
        }
        if draft.plan_type:
            record["type"] = draft.plan_type
        if cbd_style:
            record["protocolVersion"] = 1
        return record

    def wire_country(self, country: Country) -> str:
        """Mostly upper-case ISO2; ~10% ISO3 (AEWA style), ~10% lower-case ISO2 (CBD plans style)."""
        roll = self.rng.random()
        if country is EU or roll >= 0.2:
            return country.iso2
        return country.iso3 if roll < 0.1 else country.iso2.lower()

    def titles(self, rid: str, titles: list[tuple[str, str]], cbd_style: bool) -> Any:
        """The `title` navigation value: central `{"results": [...]}` rows, or a CBD-style bare list."""
        if cbd_style:
            return [{"__metadata": {"type": "LocalizableString"}, "language": lang, "value": value}
                    for lang, value in titles]
        return {"results": [{"Id": f"{rid}-{lang}", "language": lang, "value": value} for lang, value in titles]}

    def files(self, rid: str, draft: Draft, cbd_style: bool) -> Any:
        """The `files` navigation value: 0-3 PDFs, English first."""
        rng = self.rng
        languages = ["en"] + rng.sample(["fr", "es", "ar", "ru"], 2)
        files = []
        for lang in languages[: rng.choice([0, 1, 1, 1, 2, 2, 3])]:
            filename = f"{draft.country.iso2.lower()}-{draft.treaty}-{draft.slug}-{lang}.pdf"
            if draft.treaty == "cbd":
                url = f"https://www.cbd.int/doc/world/{draft.country.iso2.lower()}/{filename}"
            else:
                url = f"https://www.informea.org/sites/default/files/national-reports/{draft.treaty}/{filename}"
            if cbd_style:
                files.append({"__metadata": {"type": "File"}, "filename": filename, "language": lang, "url": url})
                continue
            file = {"filename": filename, "id": f"{rid}-{random_uuid(rng)}", "language": lang,
                    "mimeType": "application/pdf", "url": url}
            if rng.random() < 0.3:  # Edm.Decimal travels as a string (informea-api.md §5.4a, "size")
                file["size"] = str(rng.randrange(150_000, 9_000_000))
            files.append(file)
        return files if cbd_style else {"results": files}


def country_report_drafts(b: Builder) -> Iterator[Draft]:
    """The good CountryReports, treaty by treaty and cycle by cycle."""
    everyone = COUNTRIES
    cbd = [(1, date(1998, 1, 15), date(2001, 6, 30), 7), (2, date(2001, 5, 1), date(2003, 12, 31), 8),
           (3, date(2005, 5, 1), date(2007, 12, 31), 9), (4, date(2009, 3, 1), date(2011, 6, 30), 10),
           (5, date(2014, 3, 1), date(2016, 6, 30), 14), (6, date(2018, 12, 1), date(2020, 12, 31), 16),
           (7, date(2026, 1, 10), date(2026, 10, 31), 14)]
    for n, first, last, k in cbd:
        ordinal = ORDINALS[n - 1]
        parties = b.pick(everyone, k, exclude=RESERVED.get(("cbd", n), ())) + ([EU] if n >= 6 else [])
        for c in parties:
            yield Draft("cbd", c, f"{c.name} - {ordinal} National Report", day_between(b.rng, first, last), f"nr{n}")
    for year in range(2015, 2025):
        for c in b.pick(everyone, 6):
            submitted = day_between(b.rng, date(year + 1, 1, 10), date(year + 1, 12, 15))
            yield Draft("cites", c, f"{c.name} - CITES annual report {year}", submitted, f"ar{year}")
    cms_parties = [c for c in everyone if c.iso2 not in CMS_NON_PARTIES]
    cms = [(12, date(2017, 3, 1), date(2017, 8, 31)), (13, date(2019, 6, 1), date(2019, 12, 15)),
           (14, date(2023, 6, 1), date(2023, 11, 30))]
    for cop, first, last in cms:
        for c in b.pick(cms_parties, 12) + ([EU] if cop >= 13 else []):
            submitted = day_between(b.rng, first, last)
            yield Draft("cms", c, f"National Report of {c.name} to CMS COP{cop}", submitted, f"cop{cop}")
    yield from ramsar_drafts(b)
    for n, first, last in [(2, date(2012, 1, 15), date(2015, 7, 31)), (3, date(2018, 6, 1), date(2024, 7, 31))]:
        for c in b.pick(everyone, 13, exclude=RESERVED.get(("whc", n), ())):
            title = f"Periodic Report - {ORDINALS[n - 1]} Cycle - Section I - {c.name}"
            yield Draft("whc", c, title, day_between(b.rng, first, last), f"pr{n}")
    for year in (2018, 2022):
        for c in b.pick(everyone, 12):
            submitted = day_between(b.rng, date(year, 2, 1), date(year, 8, 31))
            yield Draft("unccd", c, f"{c.name} - UNCCD national report {year}", submitted, f"nr{year}")
    aewa_range = [c for c in everyone if c.region in ("africa", "europe")]
    for mop, first, last in [(7, date(2018, 5, 1), date(2018, 9, 30)), (8, date(2021, 6, 1), date(2021, 12, 31))]:
        for c in b.pick(aewa_range, 10):
            submitted = day_between(b.rng, first, last)
            yield Draft("aewa", c, f"National Report of {c.name} for AEWA MOP{mop}", submitted, f"mop{mop}")
    for n, first, last in [(4, date(2018, 6, 1), date(2019, 3, 31)), (5, date(2022, 1, 10), date(2022, 12, 20))]:
        for c in b.pick(everyone, 11, exclude=RESERVED.get(("stockholm", n), ())):
            title = f"{c.name} - Stockholm Convention national report, round {n}"
            yield Draft("stockholm", c, title, day_between(b.rng, first, last), f"round{n}")


# COP number -> the reporting window in which un-numbered "National Report: {Country}" titles belong to it.
RAMSAR_WINDOWS = {12: (date(2014, 9, 1), date(2015, 5, 31)), 13: (date(2017, 6, 1), date(2018, 10, 20)),
                  14: (date(2021, 1, 1), date(2022, 11, 4))}


def ramsar_drafts(b: Builder) -> Iterator[Draft]:
    """Numbered, central-service "Section" duplicates, and un-numbered titles inside a COP window."""
    for cop, (first, last) in RAMSAR_WINDOWS.items():
        sectioned, unnumbered = {12: (2, 3), 13: (1, 2), 14: (0, 2)}[cop]
        chosen = b.pick(COUNTRIES, 13 + sectioned + unnumbered)
        for c in chosen[:13]:
            title = f"COP{cop} National Report: {c.name}"
            yield Draft("ramsar", c, title, day_between(b.rng, first, last), f"cop{cop}")
        for c in chosen[13:13 + sectioned]:
            submitted = day_between(b.rng, first, last)
            for section in range(1, b.rng.randint(3, 4) + 1):
                title = f"COP{cop} National Reports: {c.name} - Section {section}"
                yield Draft("ramsar", c, title, submitted, f"cop{cop}-s{section}")
        for c in chosen[13 + sectioned:]:
            yield Draft("ramsar", c, f"National Report: {c.name}", day_between(b.rng, first, last), "nr")


def national_plan_drafts(b: Builder) -> Iterator[Draft]:
    """The good NationalPlans: NBSAPs, NIPs, NAPs and NAPAs."""
    rounds = [([(1998, 2010), (2001, 2010)], date(1999, 1, 15), date(2003, 12, 31), 8),
              ([(2011, 2020), (2015, 2025), (2016, 2021)], date(2012, 1, 15), date(2016, 12, 31), 18),
              ([(2024, 2030)], date(2024, 10, 1), date(2026, 9, 30), 14)]
    for periods, first, last, k in rounds:
        for c in b.pick(COUNTRIES, k):
            start, end = b.rng.choice(periods)
            title = f"{c.name} National Biodiversity Strategy and Action Plan ({start}-{end})"
            yield Draft("cbd", c, title, day_between(b.rng, first, last), f"nbsap{start}", "nbsap")
    nip_rounds = [("", date(2004, 3, 1), date(2010, 12, 31)), ("Updated ", date(2014, 1, 1), date(2023, 6, 30))]
    for prefix, first, last in nip_rounds:
        for c in b.pick(COUNTRIES, 12):
            title = f"{prefix}National Implementation Plan for the Stockholm Convention - {c.name}"
            yield Draft("stockholm", c, title, day_between(b.rng, first, last), f"nip{first.year}", "nip")
    for c in b.pick([c for c in COUNTRIES if c.region != "europe"], 16):
        title = f"{c.name} National Action Programme to Combat Desertification"
        yield Draft("unccd", c, title, day_between(b.rng, date(2000, 1, 15), date(2015, 12, 31)), "nap", "nap")
    for c in b.pick([c for c in COUNTRIES if c.iso2 in LEAST_DEVELOPED], 12):
        title = f"{c.name} National Adaptation Programme of Action"
        yield Draft("unfccc", c, title, day_between(b.rng, date(2004, 6, 1), date(2013, 12, 31)), "napa", "napa")


# (treaty, cycle) -> countries the random picks leave out, because a hand-placed record below covers them.
RESERVED = {("cbd", 1): {"CD"}, ("cbd", 2): {"CD"}, ("cbd", 6): {"GH"}, ("whc", 2): {"PE"}, ("whc", 3): {"AL"},
            ("stockholm", 4): {"CL"}}


def special_country_reports(b: Builder) -> Iterator[Record]:
    """Hand-placed CountryReports: historic/odd codes, un-windowed Ramsar reports, and the bad records."""
    dr_congo, albania = BY_ISO2["CD"], BY_ISO2["AL"]
    for n, submitted in [(1, date(1998, 11, 20)), (2, date(2002, 3, 5))]:
        title = f"{dr_congo.name} - {ORDINALS[n - 1]} National Report"
        record = b.record(Draft("cbd", dr_congo, title, submitted, f"nr{n}"), special_uuid(f"zaire-cbd-nr{n}"))
        yield record | {"country": "ZR"}  # Zaire's code until 1997, still on old provider records
    title = f"Periodic Report - Third Cycle - Section I - {albania.name}"
    record = b.record(Draft("whc", albania, title, date(2023, 4, 14), "pr3"), special_uuid("country-name-albania"))
    yield record | {"country": "Albania"}
    for iso2, submitted in [("ML", date(2016, 3, 15)), ("VN", date(2019, 7, 1))]:
        c = BY_ISO2[iso2]
        draft = Draft("ramsar", c, f"National Report: {c.name}", submitted, "nr")
        yield b.record(draft, special_uuid(f"ramsar-outside-windows-{iso2}"))
    yield from bad_country_reports(b)


def bad_country_reports(b: Builder) -> Iterator[Record]:
    """One thing wrong with each; informea/README.md lists them."""
    xz, qqq = FICTIONAL["XZ"], FICTIONAL["QQQ"]
    yield b.record(Draft("cites", xz, f"{xz.name} - CITES annual report 2021", date(2022, 5, 2), "ar2021"),
                   special_uuid("bad-country-XZ")) | {"country": "XZ"}
    yield b.record(Draft("cms", qqq, f"National Report of {qqq.name} to CMS COP14", date(2023, 9, 12), "cop14"),
                   special_uuid("bad-country-QQQ")) | {"country": "QQQ"}
    kenya, peru, ghana, chile = (BY_ISO2[code] for code in ("KE", "PE", "GH", "CL"))
    missing_id = b.record(Draft("ramsar", kenya, f"National Report: {kenya.name}", date(2021, 10, 5), "nr"),
                          special_uuid("bad-missing-id"))
    del missing_id["id"]
    yield missing_id
    title = f"Periodic Report - Second Cycle - Section I - {peru.name}"
    yield b.record(Draft("whc", peru, title, date(2013, 6, 18), "pr2"), special_uuid("bad-null-id")) | {"id": None}
    yield b.record(Draft("cbd", ghana, f"{ghana.name} - Sixth National Report", date(2019, 11, 4), "nr6"),
                   special_uuid("bad-submission-not-a-date")) | {"submission": "/Date(not-a-date)/"}
    title = f"{chile.name} - Stockholm Convention national report, round 4"
    yield b.record(Draft("stockholm", chile, title, date(2019, 1, 8), "round4"),
                   special_uuid("bad-submission-2019-13-45")) | {"submission": "2019-13-45"}
    norway, ireland = BY_ISO2["NO"], BY_ISO2["IE"]
    yield b.record(Draft("iwc", norway, f"{norway.name} - IWC national progress report 2023", date(2023, 8, 30),
                         "npr2023"), special_uuid("bad-treaty-iwc"))
    yield b.record(Draft("ospar", ireland, f"{ireland.name} - OSPAR implementation report 2021", date(2021, 6, 25),
                         "ir2021"), special_uuid("bad-treaty-ospar"))


def bad_national_plans(b: Builder) -> Iterator[Record]:
    """One thing wrong with each; informea/README.md lists them."""
    xz, peru, ghana = FICTIONAL["XZ"], BY_ISO2["PE"], BY_ISO2["GH"]
    title = f"{xz.name} National Biodiversity Strategy and Action Plan (2024-2030)"
    yield b.record(Draft("cbd", xz, title, date(2025, 2, 14), "nbsap2024", "nbsap"),
                   special_uuid("bad-plan-country-XZ")) | {"country": "XZ"}
    title = f"{peru.name} National Action Programme to Combat Desertification"
    yield b.record(Draft("unccd", peru, title, date(2011, 3, 1), "nap", "nap"),
                   special_uuid("bad-plan-submission")) | {"submission": "/Date(2021-02-30)/"}
    title = f"National Action Plan on Artisanal and Small-Scale Gold Mining - {ghana.name}"
    yield b.record(Draft("minamata", ghana, title, date(2020, 11, 9), "nap-asgm", "nap"),
                   special_uuid("bad-plan-treaty-minamata"))


def with_brs_fields(records: list[Record]) -> None:
    """Half of the NIPs come from the BRS WCF feed: protocolVersion and a UN document number (§5.4a)."""
    nips = [r for r in records if r.get("type") == "nip"]
    for number, record in enumerate(nips[::2], start=1):
        titles = record["title"]["results"] if isinstance(record["title"], dict) else record["title"]
        country_name = titles[0]["value"].rsplit(" - ", 1)[-1]
        record.update(protocolVersion=1, brs_unnumber=f"UNEP/POPS/NIP/{country_name.replace(' ', '')}/{number}")


def with_null_updated(b: Builder, records: list[Record], k: int) -> None:
    """`updated` is optional in the spec (informea-api.md §3.9), so a few records carry null."""
    for record in b.rng.sample([r for r in records if r.get("id")], k):
        record["updated"] = None


def treaty_records() -> list[Record]:
    """The Treaties set, one record per row of TREATIES."""
    return [
        {"id": tid, "UUID": treaty_uuid(tid), "url": f"https://www.informea.org/treaties/{tid}", "titleEnglish": title,
         "officialNameEnglish": official, "treatyWebsiteURL": website,
         "title": {"results": [{"language": "en", "value": title}]},
         "description": {"results": [{"language": "en", "value": description}]}}
        for tid, title, official, website, description in TREATIES
    ]


def build(seed: int = SEED) -> dict[str, list[Record]]:
    """All three entity sets, in stored order."""
    b = Builder(seed)
    reports = [b.record(draft) for draft in country_report_drafts(b)] + list(special_country_reports(b))
    plans = [b.record(draft) for draft in national_plan_drafts(b)] + list(bad_national_plans(b))
    with_brs_fields(plans)
    with_null_updated(b, reports, 3)
    with_null_updated(b, plans, 1)
    b.rng.shuffle(reports)
    b.rng.shuffle(plans)
    return {"Treaties": treaty_records(), "CountryReports": reports, "NationalPlans": plans}


def write(sets: dict[str, list[Record]], out: Path) -> None:
    """Pretty-printed, key-sorted, UTF-8 JSON arrays: stable diffs and byte-for-byte rebuilds."""
    out.mkdir(parents=True, exist_ok=True)
    for name, records in sets.items():
        text = json.dumps(records, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        (out / f"{name}.json").write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default: {OUT})")
    args = parser.parse_args()
    sets = build()
    write(sets, args.out)
    print(", ".join(f"{name}: {len(records)}" for name, records in sets.items()), f"-> {args.out}")


if __name__ == "__main__":
    main()
