"""The ``coverage`` table: country x convention x cycle of national reports, with who was expected.

Who is expected to report in a cycle (``expected_basis``):

- ``membership``: the convention has a membership list (transforms.membership) and the cycle a
  known deadline (transforms.cycles.deadline): the Parties in force on the deadline.
- ``seen_reporting``: otherwise, the countries seen reporting to the convention in any cycle of
  the release (as before membership lists existed).

The grid of a convention is every country expected in any of its cycles, plus every country that
submitted, times every cycle with a national report in the release; a cycle on the
``seen_reporting`` basis has rows for the countries seen reporting only. ``status`` of a cell:

- ``submitted`` / ``submitted_late``: a report of the cycle is in the release, its first
  submission on or before / after the deadline (``submitted`` when the deadline is unknown);
- ``missing``: expected, and no report;
- ``not_a_party``: not a Party in force on the deadline, and no report.

A report from a country the list does not show in force on the deadline stays published: its
status says submitted or submitted_late, with ``party_at_deadline`` false and ``expected`` false.
When the deadline is after the list's ``membership_as_of`` the country may have joined since:
a reviewed row in transforms/mappings/parties/overrides.csv settles it.
"""
from __future__ import annotations

import logging
from datetime import date, datetime

import pandas as pd

from transforms import cycles, membership

log = logging.getLogger(__name__)

SUBMITTED, SUBMITTED_LATE, MISSING, NOT_A_PARTY = "submitted", "submitted_late", "missing", "not_a_party"
STATUSES = (SUBMITTED, SUBMITTED_LATE, MISSING, NOT_A_PARTY)
MEMBERSHIP, SEEN_REPORTING = "membership", "seen_reporting"
KEY = ["country_iso3", "convention", "report_cycle"]
COLUMNS = [*KEY, "submitted", "first_submitted_on", "records", "status", "expected", "party_at_deadline",
           "expected_basis", "deadline", "membership_as_of"]


def coverage(submissions: pd.DataFrame, folder=None) -> pd.DataFrame:
    """The coverage table of the national reports in ``submissions`` (report_submissions rows).

    ``folder`` is the membership lists' folder (transforms.membership; its default when None).
    """
    reports = submissions[submissions["report_type"] == "national_report"].copy()
    if reports.empty:
        return pd.DataFrame(columns=COLUMNS)
    reports["submitted_on"] = pd.to_datetime(reports["submitted_on"], format="ISO8601", errors="coerce")
    grouped = reports.groupby(KEY, as_index=False).agg(first_submitted_on=("submitted_on", "min"),
                                                       records=("source_record_id", "count"))
    seen = {(r.country_iso3, r.convention, r.report_cycle):
            (None if pd.isna(r.first_submitted_on) else r.first_submitted_on.date(), r.records)
            for r in grouped.itertuples()}
    rows = []
    for convention, of_convention in reports.groupby("convention", sort=True):
        rows += convention_cells(convention, of_convention, seen, folder)
    return pd.DataFrame(rows, columns=COLUMNS)


def convention_cells(convention: str, reports: pd.DataFrame, seen: dict, folder=None) -> list[dict]:
    """The cells of one convention's grid."""
    reporters = set(reports["country_iso3"])
    listed = membership.has_membership(convention, folder)
    as_of = membership.as_of(convention, folder) if listed else None
    plan = {}  # cycle -> (deadline, basis, expected countries)
    for cycle in sorted(set(reports["report_cycle"])):
        due = deadline(cycle)
        if listed and due is not None:
            plan[cycle] = (due, MEMBERSHIP, membership.in_force(convention, due, folder))
        else:
            plan[cycle] = (due, SEEN_REPORTING, reporters)
    countries = reporters.union(*(expected for _, basis, expected in plan.values() if basis == MEMBERSHIP))
    cells = []
    for cycle, (due, basis, expected) in plan.items():
        flagged = 0
        for iso3 in sorted(countries if basis == MEMBERSHIP else reporters):
            first, records = seen.get((iso3, convention, cycle), (None, 0))
            party = iso3 in expected if basis == MEMBERSHIP else None
            if records:
                late = due is not None and first is not None and first > due
                status = SUBMITTED_LATE if late else SUBMITTED
                flagged += party is False
            else:
                status = MISSING if iso3 in expected else NOT_A_PARTY
            cells.append({"country_iso3": iso3, "convention": convention, "report_cycle": cycle,
                          "submitted": bool(records), "first_submitted_on": first, "records": int(records),
                          "status": status, "expected": iso3 in expected, "party_at_deadline": party,
                          "expected_basis": basis, "deadline": due,
                          "membership_as_of": as_of if basis == MEMBERSHIP else None})
        if flagged:
            stale = f"; the list is current to {as_of} only" if as_of and as_of < due else ""
            log.warning("%s: %d report(s) from countries not a Party in force on the deadline %s%s "
                        "(published; party_at_deadline false)", cycle, flagged, due, stale)
    return cells


def deadline(cycle: str) -> date | None:
    """The cycle's deadline (transforms.cycles.deadline) as a date; None when unknown."""
    due = cycles.deadline(cycle)
    return due.date() if isinstance(due, datetime) else due
