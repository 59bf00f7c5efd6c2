"""Unit tests of the small harmonizing rules: OData dates, countries, report cycles."""
from datetime import date, datetime, timezone

import pytest

from transforms.countries import UnknownCountry, countries_table, to_iso3
from transforms.cycles import NoCycle, report_cycle
from transforms.informea import BadDate, parse_odata_date


@pytest.mark.parametrize("raw, expected", [
    ("/Date(1221436800000)/", datetime(2008, 9, 15, tzinfo=timezone.utc)),
    (r"/Date(0)/", datetime(1970, 1, 1, tzinfo=timezone.utc)),
    ("/Date(-86400000)/", datetime(1969, 12, 31, tzinfo=timezone.utc)),
])
def test_odata_date_without_offset_is_utc(raw, expected):
    assert parse_odata_date(raw) == expected


def test_odata_date_offset_keeps_the_instant_and_the_local_day():
    # 2011-12-31T23:30Z shown at +0100 is already 1 January locally.
    parsed = parse_odata_date("/Date(1325374200000+0100)/")
    assert parsed == datetime(2011, 12, 31, 23, 30, tzinfo=timezone.utc)
    assert parsed.date() == date(2012, 1, 1)
    assert parse_odata_date("/Date(1325374200000-0500)/").date() == date(2011, 12, 31)


def test_odata_date_none_stays_none():
    assert parse_odata_date(None) is None


@pytest.mark.parametrize("raw", ["/Date(not-a-date)/", "2019-13-45", "", "/Date(12)", "Date(12)/"])
def test_odata_date_rejects_other_shapes(raw):
    with pytest.raises(BadDate):
        parse_odata_date(raw)


@pytest.mark.parametrize("value, iso3", [
    ("AL", "ALB"), ("al", "ALB"), ("SEN", "SEN"), ("gbr", "GBR"), ("NA", "NAM"), ("Albania", "ALB"),
    ("ZR", "COD"), ("EU", "EUU"), ("Micronesia (Federated States of)", "FSM"), (" fr ", "FRA"),
])
def test_countries_harmonize_to_iso3(value, iso3):
    assert to_iso3(value) == iso3


@pytest.mark.parametrize("value", ["XZ", "QQQ", "", "Atlantis"])
def test_unknown_countries_raise(value):
    with pytest.raises(UnknownCountry):
        to_iso3(value)


def test_countries_table_has_every_override_target_once():
    table = countries_table()
    assert table["iso3"].is_unique
    assert {"EUU", "XKX", "NAM"} <= set(table["iso3"])
    assert table.loc[table.iso3 == "NAM", "iso2"].item() == "NA"


@pytest.mark.parametrize("treaty, title, submitted, cycle", [
    ("cbd", "Albania - Sixth National Report", None, "cbd:NR6"),
    ("cites", "Kenya - CITES annual report 2021", None, "cites:AR2021"),
    ("cms", "National Report of Chile to CMS COP14", None, "cms:COP14"),
    ("ramsar", "COP11 National Reports: Albania - Section 4", None, "ramsar:COP11"),
    ("ramsar", "National Report: Albania", date(2018, 1, 1), "ramsar:COP13"),
    ("whc", "Periodic Report - Third Cycle - Section I - Kenya", None, "whc:PR3"),
    ("unccd", "Peru - UNCCD national report 2022", None, "unccd:2022"),
    ("aewa", "National Report of Senegal for AEWA MOP8", None, "aewa:MOP8"),
    ("stockholm", "Chad - Stockholm Convention national report, round 5", None, "stockholm:R5"),
])
def test_report_cycle_rules(treaty, title, submitted, cycle):
    assert report_cycle(treaty, title, submitted)[0] == cycle


@pytest.mark.parametrize("treaty, title, submitted", [
    ("ramsar", "National Report: Albania", date(2016, 3, 15)),  # between reporting windows
    ("cbd", "Albania report", None),
    ("basel", "Anything", None),  # no rules for the treaty
])
def test_report_cycle_never_guesses(treaty, title, submitted):
    with pytest.raises(NoCycle):
        report_cycle(treaty, title, submitted)
