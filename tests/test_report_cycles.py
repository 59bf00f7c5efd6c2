"""The report-cycle catalogue (transforms/mappings/report_cycles.yaml): every convention's whole
reporting history is placed, by title as each secretariat writes it or else by submission date;
ambiguous and unplaceable reports are quarantined (NoCycle); a bad catalogue is refused with its
file and line; deadlines and on_time for report_submissions."""
import re
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from transforms.cycles import (CatalogueError, NoCycle, catalogue, cycle_info, deadline, load_catalogue,
                               report_cycle, with_deadlines)

GOLDEN = Path(__file__).parent / "golden"
ORDINALS = ["First", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh", "Eighth"]


def placed(treaty, title, submitted=None):
    return report_cycle(treaty, title, submitted)


# The catalogue itself.

def test_existing_cycle_ids_are_kept():
    for cycle in ("cbd:NR6", "cms:COP13", "ramsar:COP13", "aewa:MOP7", "cites:AR2019", "whc:PR2", "unccd:2018",
                  "stockholm:R4"):
        assert cycle_info(cycle) is not None, cycle


def test_every_national_report_cycle_of_the_golden_files_is_catalogued():
    cycles = set()
    for path in GOLDEN.glob("*/report_submissions.csv"):
        frame = pd.read_csv(path)
        cycles |= set(frame.loc[frame["report_type"] == "national_report", "report_cycle"])
    assert cycles and not {c for c in cycles if cycle_info(c) is None}


def test_the_whole_history_of_each_convention_is_catalogued():
    ids = set(catalogue().cycles)
    assert {f"cbd:NR{n}" for n in range(1, 8)} <= ids
    assert {f"cites:AR{y}" for y in range(1975, 2025)} <= ids
    assert {"cites:BR2003-2004", "cites:BR2013-2014", "cites:IR2015-2017", "cites:IR2021-2023"} <= ids
    assert {f"cms:COP{n}" for n in range(5, 15)} <= ids
    assert {f"aewa:MOP{n}" for n in range(1, 9)} <= ids
    assert {f"ramsar:COP{n}" for n in range(7, 15)} <= ids
    assert {f"stockholm:R{n}" for n in range(1, 6)} <= ids
    assert {f"unccd:{y}" for y in (2002, 2004, 2006, 2010, 2012, 2014, 2018, 2022)} <= ids
    assert {f"unfccc:NC{n}" for n in range(1, 9)} | {f"unfccc:BR{n}" for n in range(1, 6)} <= ids
    assert {"whc:PR1", "whc:PR2", "whc:PR3"} <= ids


def test_every_cycle_says_where_its_dates_come_from_and_marks_approximations():
    for info in catalogue().cycles.values():
        assert info.source, info.cycle
        if info.basis == "approximate":
            assert "approximate" in info.source, info.cycle
        if info.basis == "none":
            assert info.deadline is None, info.cycle


def test_a_deadline_lies_inside_its_own_window():
    for info in catalogue().cycles.values():
        if info.window and info.deadline:
            assert info.window[0] <= info.deadline <= info.window[1], info.cycle


def test_cycle_info_and_deadline():
    info = cycle_info("cms:COP14")
    assert info.deadline == date(2023, 4, 26) and info.basis == "notification"
    assert "Samarkand" in info.meeting and info.window == (date(2020, 2, 23), date(2024, 2, 17))
    assert "2023/004" in info.source
    assert deadline("cbd:NR6") == date(2018, 12, 31)
    assert deadline("cites:AR2019") == date(2020, 10, 31)
    assert deadline("aewa:MOP1") is None  # no reports were due for MOP1
    assert deadline("unfccc:NC7") is None  # depends on the Party
    assert deadline("cbd:NBSAP") is None and cycle_info("cbd:NBSAP") is None  # plans are not report cycles
    assert deadline(None) is None and deadline(float("nan")) is None


# Placement, convention by convention, with titles and dates as the secretariats write them.

@pytest.mark.parametrize("n", range(1, 9))
def test_cbd_national_reports_by_title(n):
    title = f"Micronesia (Federated States of) - {ORDINALS[n - 1]} National Report"
    assert placed("cbd", title) == (f"cbd:NR{n}", "title")


@pytest.mark.parametrize("submitted, cycle", [
    (date(1998, 5, 4), "cbd:NR1"), (date(1999, 9, 1), "cbd:NR1"),  # at COP4, and under IV/14's extension
    (date(2001, 5, 15), "cbd:NR2"), (date(2005, 7, 1), "cbd:NR3"), (date(2009, 3, 30), "cbd:NR4"),
    (date(2014, 6, 1), "cbd:NR5"), (date(2019, 2, 1), "cbd:NR6"), (date(2026, 2, 27), "cbd:NR7"),
    (date(2029, 6, 30), "cbd:NR8"),
])
def test_cbd_reports_without_an_ordinal_by_date(submitted, cycle):
    assert placed("cbd", "Kenya - National Report", submitted) == (cycle, "submission")


@pytest.mark.parametrize("year", range(1975, 2027))
def test_cites_annual_reports_by_year(year):
    assert placed("cites", f"Kenya - CITES annual report {year}", date(year + 1, 10, 1)) == (f"cites:AR{year}",
                                                                                             "title")


@pytest.mark.parametrize("title, cycle", [
    ("Biennial report 2003-2004 - Kenya", "cites:BR2003-2004"),
    ("Kenya biennial report for 2011-2012", "cites:BR2011-2012"),
    ("CITES implementation report 2015-2017 - Kenya", "cites:IR2015-2017"),
    ("Implementation report 2021–2023 (Kenya)", "cites:IR2021-2023"),
])
def test_cites_biennial_and_implementation_reports(title, cycle):
    assert placed("cites", title) == (cycle, "title")


def test_cites_reports_are_never_placed_by_date():
    with pytest.raises(NoCycle, match="cites cycles have no date windows"):
        placed("cites", "Kenya - CITES report", date(2019, 10, 1))


@pytest.mark.parametrize("n", range(5, 16))
def test_cms_reports_by_title(n):
    assert placed("cms", f"National Report of Chile to CMS COP{n}") == (f"cms:COP{n}", "title")


@pytest.mark.parametrize("submitted, cycle", [
    (date(1996, 10, 1), "cms:COP5"), (date(1999, 5, 10), "cms:COP6"), (date(2002, 3, 1), "cms:COP7"),
    (date(2005, 5, 20), "cms:COP8"), (date(2008, 6, 1), "cms:COP9"), (date(2011, 5, 20), "cms:COP10"),
    (date(2014, 5, 1), "cms:COP11"), (date(2017, 4, 24), "cms:COP12"), (date(2019, 10, 3), "cms:COP13"),
    (date(2023, 4, 26), "cms:COP14"), (date(2025, 9, 1), "cms:COP15"),
    (date(2018, 1, 15), "cms:COP13"),  # late for COP12 (held Oct 2017): the inter-sessional window is COP13's
])
def test_cms_reports_without_a_cop_by_date(submitted, cycle):
    assert placed("cms", "National Report of Chile", submitted) == (cycle, "submission")


@pytest.mark.parametrize("n", range(1, 9))
def test_aewa_reports_by_title(n):
    assert placed("aewa", f"National Report of Senegal for AEWA MOP{n}") == (f"aewa:MOP{n}", "title")


@pytest.mark.parametrize("submitted, cycle", [
    (date(2001, 11, 20), "aewa:MOP2"),
    (date(2003, 4, 14), "aewa:MOP3"),  # submitted 2003, no MOP in the title
    (date(2008, 9, 15), "aewa:MOP4"),  # reference §5.2a: Senegal, senegal2008_fr_mop4_0.pdf
    (date(2011, 12, 1), "aewa:MOP5"), (date(2015, 5, 12), "aewa:MOP6"), (date(2018, 7, 16), "aewa:MOP7"),
    (date(2021, 6, 30), "aewa:MOP8"),
])
def test_aewa_reports_without_a_mop_by_date(submitted, cycle):
    assert placed("aewa", "National Report of Senegal", submitted) == (cycle, "submission")


def test_aewa_report_before_any_reporting_window_is_quarantined():
    with pytest.raises(NoCycle, match=r"nearest: aewa:MOP2 1999-11-10\.\.2002-09-27"):
        placed("aewa", "National Report of Senegal", date(1999, 6, 1))


@pytest.mark.parametrize("n", range(7, 16))
def test_ramsar_reports_by_title(n):
    assert placed("ramsar", f"COP{n} National Report: Kenya") == (f"ramsar:COP{n}", "title")
    assert placed("ramsar", f"COP{n} National Reports: Albania - Section 4") == (f"ramsar:COP{n}", "title")


@pytest.mark.parametrize("submitted, cycle", [
    (date(1998, 11, 10), "ramsar:COP7"), (date(2002, 2, 28), "ramsar:COP8"), (date(2005, 5, 8), "ramsar:COP9"),
    (date(2008, 3, 31), "ramsar:COP10"), (date(2011, 9, 15), "ramsar:COP11"), (date(2014, 9, 1), "ramsar:COP12"),
    (date(2018, 1, 1), "ramsar:COP13"), (date(2021, 1, 21), "ramsar:COP14"), (date(2025, 1, 23), "ramsar:COP15"),
])
def test_ramsar_reports_without_a_cop_by_date(submitted, cycle):
    assert placed("ramsar", "National Report: Kenya", submitted) == (cycle, "submission")


@pytest.mark.parametrize("submitted", [date(2016, 3, 15), date(2019, 7, 1), date(2012, 7, 10)])
def test_ramsar_reports_between_reporting_periods_are_quarantined(submitted):
    with pytest.raises(NoCycle, match="no ramsar report-cycle rule matches title 'National Report: Mali'"):
        placed("ramsar", "National Report: Mali", submitted)


@pytest.mark.parametrize("ordinal, n", [("First", 1), ("Second", 2), ("Third", 3)])
def test_whc_periodic_reports_by_title(ordinal, n):
    assert placed("whc", f"Periodic Report - {ordinal} Cycle - Section I - Kenya") == (f"whc:PR{n}", "title")


@pytest.mark.parametrize("submitted, cycle", [
    (date(2000, 6, 1), "whc:PR1"), (date(2005, 1, 31), "whc:PR1"), (date(2010, 7, 31), "whc:PR2"),
    (date(2014, 7, 31), "whc:PR2"), (date(2019, 7, 31), "whc:PR3"), (date(2023, 7, 31), "whc:PR3"),
])
def test_whc_periodic_reports_without_a_cycle_by_date(submitted, cycle):
    assert placed("whc", "Periodic Report - Section II - Kenya", submitted) == (cycle, "submission")


def test_whc_reflection_years_and_uncatalogued_cycles_are_quarantined():
    with pytest.raises(NoCycle, match="no whc window"):
        placed("whc", "Periodic Report - Section II - Kenya", date(2007, 6, 1))
    with pytest.raises(NoCycle, match="names whc:PR4, which .*report_cycles.yaml does not list"):
        placed("whc", "Periodic Report - Fourth Cycle - Section I - Kenya", date(2026, 3, 1))


@pytest.mark.parametrize("year", [2000, 2002, 2004, 2006, 2010, 2012, 2014, 2018, 2022, 2026])
def test_unccd_reports_by_title(year):
    assert placed("unccd", f"Peru - UNCCD national report {year}") == (f"unccd:{year}", "title")


@pytest.mark.parametrize("submitted, cycle", [
    (date(1999, 10, 1), "unccd:2000"), (date(2002, 5, 1), "unccd:2002"), (date(2004, 10, 1), "unccd:2004"),
    (date(2006, 8, 1), "unccd:2006"), (date(2010, 6, 1), "unccd:2010"), (date(2012, 8, 31), "unccd:2012"),
    (date(2014, 6, 30), "unccd:2014"), (date(2018, 8, 1), "unccd:2018"), (date(2022, 3, 15), "unccd:2022"),
])
def test_unccd_reports_without_a_year_by_date(submitted, cycle):
    assert placed("unccd", "Peru - UNCCD national report", submitted) == (cycle, "submission")


@pytest.mark.parametrize("n", range(1, 7))
def test_stockholm_reports_by_title(n):
    assert placed("stockholm", f"Chad - Stockholm Convention national report, round {n}") == (f"stockholm:R{n}",
                                                                                              "title")


@pytest.mark.parametrize("submitted, cycle", [
    (date(2006, 12, 31), "stockholm:R1"), (date(2007, 7, 31), "stockholm:R1"),
    (date(2010, 10, 31), "stockholm:R2"), (date(2011, 7, 15), "stockholm:R2"),  # under SC-5/16's extension
    (date(2014, 8, 31), "stockholm:R3"), (date(2018, 8, 31), "stockholm:R4"), (date(2022, 8, 31), "stockholm:R5"),
    (date(2026, 8, 31), "stockholm:R6"),
])
def test_stockholm_reports_without_a_round_by_date(submitted, cycle):
    assert placed("stockholm", "Chad - Stockholm Convention national report", submitted) == (cycle, "submission")


@pytest.mark.parametrize("title, cycle", [
    ("Japan's Seventh National Communication", "unfccc:NC7"),
    ("Kenya - Third National Communication", "unfccc:NC3"),
    ("8th National Communication of Germany", "unfccc:NC8"),
    ("Norway NC6", "unfccc:NC6"),
    ("Fourth Biennial Report of Canada", "unfccc:BR4"),
    ("EU BR5", "unfccc:BR5"),
    ("First Biennial Transparency Report - Chile", "unfccc:BTR1"),
    ("Chile BTR1", "unfccc:BTR1"),
])
def test_unfccc_communications_and_reports_by_title(title, cycle):
    assert placed("unfccc", title, date(2023, 1, 1)) == (cycle, "title")


def test_unfccc_biennial_update_reports_are_not_rounds():
    with pytest.raises(NoCycle, match="unfccc cycles have no date windows"):
        placed("unfccc", "Kenya - First Biennial Update Report", date(2015, 12, 1))


# Ambiguity: two rules (or two matches) place the report in different cycles.

@pytest.mark.parametrize("treaty, title, candidates", [
    ("unfccc", "European Union 7th National Communication and 3rd Biennial Report", ["unfccc:NC7", "unfccc:BR3"]),
    ("cms", "National Report of Chile to COP12, updated for COP13", ["cms:COP12", "cms:COP13"]),
    ("cites", "Kenya biennial report 2005-2006 and annual report 2006", ["cites:AR2006", "cites:BR2005-2006"]),
])
def test_a_title_naming_two_cycles_is_quarantined(treaty, title, candidates):
    with pytest.raises(NoCycle) as caught:
        placed(treaty, title, date(2017, 12, 20))
    message = str(caught.value)
    assert message.startswith(f"ambiguous {treaty} report titled {title!r} submitted 2017-12-20")
    assert all(c in message for c in candidates)


def test_the_title_wins_over_the_date():
    # a late COP12 report titled as such stays in COP12 although its date is in COP13's window
    assert placed("cms", "National Report of Chile to CMS COP12", date(2018, 1, 15)) == ("cms:COP12", "title")


def test_unplaced_message_names_treaty_title_date_and_candidates():
    with pytest.raises(NoCycle) as caught:
        placed("ramsar", "National Report: Mali", date(2016, 3, 15))
    assert str(caught.value) == (
        "no ramsar report-cycle rule matches title 'National Report: Mali' submitted 2016-03-15: the title names "
        "no cycle and the date is in no ramsar window (nearest: ramsar:COP12 2014-09-01..2015-05-31, "
        "ramsar:COP13 2017-06-01..2018-10-20)")


def test_undated_report_without_a_cycle_in_its_title_is_quarantined():
    with pytest.raises(NoCycle, match="there is no submission date"):
        placed("aewa", "National Report of Senegal", None)


# A bad catalogue is refused, naming file and line.

CATALOGUE = """\
ordinals: {first: 1}
treaties:
  cms:
    rules:
      - {pattern: '\\bCOP(?P<n>\\d+)', cycle: 'cms:COP{n}'}
    cycles:
      - id: 'cms:COP1'
        deadline: 1985-04-01
        basis: approximate
        meeting: 'COP1'
        window: {from: 1983-11-01, to: 1985-10-25}
        source: 'approximate: test'
      - id: 'cms:COP2'
        deadline: %(deadline)s
        basis: approximate
        meeting: 'COP2'
        window: {from: %(start)s, to: 1988-10-20}
        source: 'approximate: test'
  aewa:
    cycles:
      - {id: 'aewa:MOP1', deadline: null, basis: none, meeting: null, window: {from: 1985-01-01, to: 1986-01-01}, source: x}
"""


def write(tmp_path, **values) -> Path:
    path = tmp_path / "report_cycles.yaml"
    path.write_text(CATALOGUE % {"deadline": "1988-04-01", "start": "1985-10-26", **values}, encoding="utf-8")
    return path


def test_a_valid_test_catalogue_loads(tmp_path):
    cat = load_catalogue(write(tmp_path))
    assert set(cat.cycles) == {"cms:COP1", "cms:COP2", "aewa:MOP1"}  # other conventions' windows may overlap
    assert cat.cycles["cms:COP2"].line == 13


def test_overlapping_windows_of_one_convention_are_refused(tmp_path):
    path = write(tmp_path, start="1985-10-25")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:13: ")
    assert "cms:COP2 (1985-10-25..1988-10-20) overlaps the window of cms:COP1 (1983-11-01..1985-10-25, line 7)" \
        in message


@pytest.mark.parametrize("value, line, problem", [
    ("1988-13-45", 14, "'1988-13-45' is not a date"),
    ("1988-02-30", 14, "'1988-02-30' is not a date"),
    ("'1 April 1988'", 14, "cms:COP2 deadline: '1 April 1988' is not a date (YYYY-MM-DD) or null"),
    ("1988-04-01 10:00:00", 14, "is not a date (YYYY-MM-DD) or null"),
])
def test_unparseable_dates_are_refused(tmp_path, value, line, problem):
    path = write(tmp_path, deadline=value)
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    assert str(caught.value).startswith(f"{path}:{line}: ") and problem in str(caught.value)


def test_a_bad_window_date_names_its_line(tmp_path):
    path = write(tmp_path, start="85-10-26")
    with pytest.raises(CatalogueError, match=rf"^{re.escape(str(path))}:17: cms:COP2 window from: '85-10-26' is not a date"):
        load_catalogue(path)


def test_unknown_keys_and_foreign_ids_are_refused(tmp_path):
    path = tmp_path / "report_cycles.yaml"
    path.write_text(CATALOGUE.replace("basis: approximate\n        meeting: 'COP2'",
                                      "basis: approximate\n        meting: 'COP2'") % {
        "deadline": "1988-04-01", "start": "1985-10-26"}, encoding="utf-8")
    with pytest.raises(CatalogueError, match=rf"^{re.escape(str(path))}:13: .*unknown keys \['meting'\], missing keys \['meeting'\]"):
        load_catalogue(path)
    path.write_text((CATALOGUE % {"deadline": "1988-04-01", "start": "1985-10-26"}).replace("'aewa:MOP1'", "'cms:MOP1'"),
                    encoding="utf-8")
    with pytest.raises(CatalogueError, match=rf"^{re.escape(str(path))}:21: treaty aewa: cycle id 'cms:MOP1' is not aewa:<round>"):
        load_catalogue(path)


# deadline and on_time of report_submissions.

def test_with_deadlines_adds_deadline_and_on_time_after_submitted_on():
    subs = pd.DataFrame({
        "country_iso3": ["KEN", "KEN", "SEN", "ALB", "CHL", "PER"],
        "report_cycle": ["cbd:NR6", "cbd:NR6", "aewa:MOP4", "cbd:NBSAP", "cms:COP14", "unccd:2022"],
        "submitted_on": [date(2018, 12, 31), pd.Timestamp("2019-01-02"), datetime(2008, 9, 15), date(2010, 1, 1),
                         None, date(2022, 3, 1)],
        "title": ["a", "b", "c", "d", "e", "f"],
    })
    out = with_deadlines(subs)
    assert list(out.columns) == ["country_iso3", "report_cycle", "submitted_on", "deadline", "on_time", "title"]
    assert out["deadline"].tolist() == [date(2018, 12, 31), date(2018, 12, 31), date(2008, 5, 18), None,
                                        date(2023, 4, 26), None]
    assert out["on_time"].tolist() == [True, False, False, None, None, None]
    assert list(subs.columns) == ["country_iso3", "report_cycle", "submitted_on", "title"]  # input untouched
    again = with_deadlines(out)
    assert again.equals(out)


def test_with_deadlines_on_an_empty_frame():
    empty = pd.DataFrame(columns=["country_iso3", "report_cycle", "submitted_on"])
    assert list(with_deadlines(empty).columns) == ["country_iso3", "report_cycle", "submitted_on", "deadline",
                                                   "on_time"]
