"""Party membership (transforms.membership, mappings/parties/) and the coverage table built on it."""
import csv
import importlib.util
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from transforms import coverage as coverage_module
from transforms import cycles, membership
from transforms.coverage import coverage

PARTIES = membership.PARTIES
HEADER = "iso3,party_name,in_force_from,in_force_to,basis,source\n"
#: deadlines for the tests, standing in for transforms.cycles.deadline
DEADLINES = {"cms:COP13": date(2019, 6, 30), "cms:COP14": date(2023, 6, 30)}


@pytest.fixture
def deadlines(monkeypatch):
    table = dict(DEADLINES)
    monkeypatch.setattr(cycles, "deadline", lambda cycle: table.get(cycle))
    return table


@pytest.fixture
def lists(tmp_path) -> Path:
    """A membership folder: CMS with Parties old and new, an index saying how current it is."""
    folder = tmp_path / "parties"
    folder.mkdir()
    (folder / "cms.csv").write_text(HEADER + "\n".join([
        "EUU,European Union,1983-11-01,,entry into force,test",
        "GBR,United Kingdom,1985-10-01,,entry into force,test",     # never reports
        "KEN,Kenya,1999-05-01,,entry into force,test",
        "NZL,New Zealand,2020-06-01,,entry into force,test",        # joins after the COP13 deadline
        "PER,Peru,1997-06-01,,entry into force,test",
        "UZB,Uzbekistan,1998-09-01,2021-01-01,entry into force; withdrawal,test",  # leaves before COP14
    ]) + "\n")
    (folder / "index.csv").write_text("convention,as_of,as_of_basis,latest_event,parties,periods\n"
                                      "cms,2022-12-31,test,2020-06-01,6,6\n")
    return folder


def report(iso3, cycle, submitted_on, record, convention="cms", report_type="national_report"):
    return {"country_iso3": iso3, "convention": convention, "report_cycle": cycle, "report_type": report_type,
            "submitted_on": submitted_on, "source_record_id": record}


@pytest.fixture
def submissions():
    return pd.DataFrame([
        report("KEN", "cms:COP13", "2019-05-01", "a"),
        report("KEN", "cms:COP13", "2019-05-02", "a-fr"),
        report("KEN", "cms:COP14", "2023-04-01", "b"),
        report("PER", "cms:COP14", "2023-09-01", "c"),       # after the COP14 deadline
        report("NZL", "cms:COP14", "2023-03-01", "d"),
        report("UZB", "cms:COP13", "2019-04-01", "e"),
        report("PER", "cbd:NBSAP", "2016-03-01", "f", convention="cbd", report_type="nbsap"),
    ])


def cells(table: pd.DataFrame) -> dict:
    return {(r.country_iso3, r.report_cycle): r for r in table.itertuples()}


def test_a_party_that_joined_after_a_deadline_is_not_a_party_for_that_cycle(lists, deadlines, submissions):
    grid = cells(coverage(submissions, folder=lists))
    assert grid["NZL", "cms:COP13"].status == "not_a_party"
    assert not grid["NZL", "cms:COP13"].expected and grid["NZL", "cms:COP13"].party_at_deadline is False
    assert grid["NZL", "cms:COP14"].status == "submitted" and grid["NZL", "cms:COP14"].expected
    # a withdrawal takes the Party out of the cycles after it
    assert grid["UZB", "cms:COP13"].status == "submitted" and grid["UZB", "cms:COP14"].status == "not_a_party"


def test_a_party_that_never_reported_is_missing_for_every_cycle_after_it_joined(lists, deadlines, submissions):
    table = coverage(submissions, folder=lists)
    never = table[table["country_iso3"].isin(["GBR", "EUU"])]
    assert len(never) == 4 and set(never["status"]) == {"missing"} and never["expected"].all()
    assert (never["records"] == 0).all() and not never["submitted"].any()
    assert never["first_submitted_on"].isna().all()


def test_a_late_report_is_submitted_late(lists, deadlines, submissions):
    grid = cells(coverage(submissions, folder=lists))
    assert grid["PER", "cms:COP14"].status == "submitted_late"
    assert grid["PER", "cms:COP14"].first_submitted_on == date(2023, 9, 1)
    assert grid["PER", "cms:COP14"].deadline == date(2023, 6, 30)
    assert grid["PER", "cms:COP13"].status == "missing"
    assert grid["KEN", "cms:COP13"].status == "submitted" and grid["KEN", "cms:COP13"].records == 2


def test_a_report_from_a_country_not_a_party_stays_and_is_flagged(lists, deadlines, submissions):
    early = pd.concat([submissions, pd.DataFrame([report("NZL", "cms:COP13", "2019-05-01", "x")])])
    grid = cells(coverage(early, folder=lists))
    nzl = grid["NZL", "cms:COP13"]
    assert nzl.status == "submitted" and nzl.submitted and nzl.party_at_deadline is False and not nzl.expected
    assert nzl.membership_as_of == date(2022, 12, 31) and nzl.expected_basis == "membership"


def test_every_cell_has_one_status_and_the_grid_is_parties_and_submitters_by_cycles(lists, deadlines, submissions):
    table = coverage(submissions, folder=lists)
    assert list(table.columns) == coverage_module.COLUMNS
    assert set(table["status"]) <= set(coverage_module.STATUSES)
    assert set(table["convention"]) == {"cms"}  # plans are not in coverage
    assert not table.duplicated(["country_iso3", "convention", "report_cycle"]).any()
    assert len(table) == 6 * 2


def test_expected_parties_per_cycle_are_those_in_force_on_the_deadline(lists, deadlines, submissions):
    table = coverage(submissions, folder=lists)
    for cycle, due in DEADLINES.items():
        expected = set(table[(table["report_cycle"] == cycle) & table["expected"]]["country_iso3"])
        assert expected == membership.in_force("cms", due, lists)
    assert len(membership.in_force("cms", DEADLINES["cms:COP13"], lists)) == 5
    assert len(membership.in_force("cms", DEADLINES["cms:COP14"], lists)) == 5


def test_without_a_list_or_a_deadline_the_expected_parties_are_those_seen_reporting(lists, deadlines, submissions):
    deadlines.pop("cms:COP13")
    more = pd.concat([submissions, pd.DataFrame([report("BRA", "cbd:NR6", "2019-01-01", "g", convention="cbd"),
                                                 report("PER", "cbd:NR7", "2026-02-01", "h", convention="cbd")])])
    table = coverage(more, folder=lists)
    cop13 = table[table["report_cycle"] == "cms:COP13"]
    assert set(cop13["expected_basis"]) == {"seen_reporting"} and cop13["party_at_deadline"].isna().all()
    assert set(cop13["country_iso3"]) == {"KEN", "NZL", "PER", "UZB"} and cop13["expected"].all()
    assert set(cop13["status"]) == {"submitted", "missing"}
    cbd = cells(table[table["convention"] == "cbd"])
    assert set(cbd) == {("BRA", "cbd:NR6"), ("BRA", "cbd:NR7"), ("PER", "cbd:NR6"), ("PER", "cbd:NR7")}
    assert cbd["PER", "cbd:NR6"].status == "missing" and cbd["PER", "cbd:NR6"].expected_basis == "seen_reporting"
    assert cbd["PER", "cbd:NR6"].membership_as_of is None


def test_without_any_known_deadline_coverage_is_on_the_seen_reporting_basis(lists, monkeypatch, submissions):
    monkeypatch.setattr(cycles, "deadline", lambda cycle: None)
    table = coverage(submissions, folder=lists)
    assert set(table["expected_basis"]) == {"seen_reporting"} and table["deadline"].isna().all()
    assert set(table["country_iso3"]) == {"KEN", "NZL", "PER", "UZB"} and table["expected"].all()


def test_expected_parties_equal_the_in_force_count_of_the_repo_lists(monkeypatch):
    """On the published lists: per convention and cycle, the Parties expected are the rows of
    mappings/parties/<convention>.csv in force on the deadline (overrides applied)."""
    dues = {"cms:COP13": date(2019, 10, 1), "cms:COP14": date(2023, 6, 1), "unccd:2014": date(2014, 6, 1),
            "unccd:2018": date(2018, 6, 1), "cbd:NR6": date(2018, 12, 31), "unfccc:NC8": date(2022, 12, 31)}
    monkeypatch.setattr(cycles, "deadline", dues.get)
    submissions = pd.DataFrame([report("KEN", cycle, "2010-01-01", cycle, convention=cycle.split(":")[0])
                                for cycle in dues])
    table = coverage(submissions)
    expected = table[table["expected"]].groupby("report_cycle").size().to_dict()
    assert expected == {cycle: in_force_count(cycle.split(":")[0], due) for cycle, due in dues.items()}
    assert expected["unccd:2014"] == expected["unccd:2018"] - 1  # Canada, out from 2014-03-28 to 2017-03-21
    assert set(table["expected_basis"]) == {"membership"}


def test_expected_parties_of_the_golden_submissions_follow_the_catalogued_deadlines():
    """The InforMEA golden submissions with the catalogue's deadlines (transforms.cycles): a cycle
    with a deadline expects the Parties in force then; one without, the countries seen reporting."""
    submissions = pd.read_csv(Path(__file__).parent / "golden" / "informea" / "report_submissions.csv", dtype=str)
    table = coverage(submissions)
    reports = submissions[submissions["report_type"] == "national_report"]
    for (convention, cycle), cell in table.groupby(["convention", "report_cycle"]):
        due = cycles.deadline(cycle)
        if due is None:
            assert set(cell["expected_basis"]) == {"seen_reporting"}, cycle
            assert cell["expected"].sum() == reports[reports["convention"] == convention]["country_iso3"].nunique()
        else:
            assert set(cell["expected_basis"]) == {"membership"}, cycle
            assert cell["expected"].sum() == in_force_count(convention, due), cycle
        submitted = reports[reports["report_cycle"] == cycle]["country_iso3"].nunique()
        assert cell["submitted"].sum() == submitted, cycle


def in_force_count(convention: str, on: date) -> int:
    """Counted from the CSV files, not through the loader."""
    rows = pd.read_csv(PARTIES / f"{convention}.csv", dtype=str, keep_default_na=False)
    overrides = pd.read_csv(PARTIES / "overrides.csv", dtype=str, keep_default_na=False)
    overrides = overrides[overrides["convention"] == convention]
    rows = pd.concat([rows[~rows["iso3"].isin(overrides["iso3"])], overrides])
    day = on.isoformat()
    live = rows[(rows["in_force_from"] <= day) & ((rows["in_force_to"] == "") | (rows["in_force_to"] > day))]
    return live["iso3"].nunique()


def test_loader_reads_every_repo_list():
    for path in sorted(PARTIES.glob("*.csv")):
        if path.name in ("index.csv", "overrides.csv"):
            continue
        convention = path.stem
        frame = membership.parties(convention)
        assert membership.has_membership(convention) and len(frame) > 80, convention
        assert membership.as_of(convention) > date(2015, 1, 1), convention
        assert frame["in_force_from"].map(type).eq(date).all()
    assert "EUU" in membership.in_force("cbd", date(2020, 1, 1))
    assert "VAT" not in membership.in_force("unfccc", date(2022, 8, 1))  # accession 2022-07-06, in force 2022-10-04
    assert "VAT" in membership.in_force("unfccc", date(2022, 10, 4))
    assert not membership.has_membership("basel")
    with pytest.raises(LookupError):
        membership.in_force("basel", date(2020, 1, 1))


@pytest.mark.parametrize("row, problem", [
    ("XYZ,Nowhere,2000-01-01,,entry into force,test", "unknown ISO3 code 'XYZ'"),
    ("FRA,France,2000-13-01,,entry into force,test", "in_force_from '2000-13-01' is not a date"),
    ("FRA,France,1.1.2000,,entry into force,test", "in_force_from '1.1.2000' is not a date"),
    ("FRA,France,2000-01-01,2001-02-30,withdrawal,test", "in_force_to '2001-02-30' is not a date"),
    ("FRA,France,2000-01-01,1999-01-01,withdrawal,test", "is not after in_force_from"),
    ("KEN,Kenya,2005-01-01,,second consent,test", "overlaps the one from 1999-05-01"),
])
def test_bad_membership_rows_fail_naming_the_file_and_line(tmp_path, row, problem):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "cms.csv").write_text(HEADER + "KEN,Kenya,1999-05-01,,entry into force,test\n"
                                    'COG,"Congo, Republic of the",2000-01-01,,entry into force,test\n' + row + "\n")
    with pytest.raises(membership.MembershipError) as error:
        membership.in_force("cms", date(2020, 1, 1), folder)
    assert f"{folder / 'cms.csv'}:4: " in str(error.value) and problem in str(error.value)


def test_overlapping_periods_are_found_across_lines_that_are_not_adjacent(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "cms.csv").write_text(HEADER + "PER,Peru,2010-01-01,2012-01-01,,test\n"
                                    "KEN,Kenya,1999-05-01,,,test\nPER,Peru,2011-06-01,,,test\n")
    with pytest.raises(membership.MembershipError, match=r"cms\.csv:4: in-force period of PER from 2011-06-01 "
                                                         r"overlaps the one from 2010-01-01 to 2012-01-01 \(.*cms\.csv:2\)"):
        membership.parties("cms", folder)


def test_overrides_replace_a_partys_rows_and_are_validated(tmp_path, lists):
    overrides = lists / "overrides.csv"
    head = "convention,iso3,party_name,in_force_from,in_force_to,basis,source,reviewed\n"
    overrides.write_text(head + "cms,UZB,Uzbekistan,1998-09-01,,withdrawal withdrawn,test,2026-12-04 test\n")
    assert "UZB" in membership.in_force("cms", date(2023, 1, 1), lists)
    assert membership.parties("cms", lists).set_index("iso3").loc["UZB", "reviewed"] == "2026-12-04 test"
    for folder, line, problem in [
        ("a", "cms,UZB,Uzbekistan,1998-09-01,,x,test,", "an override needs a 'reviewed' note"),
        ("b", "cms,XXX,Nowhere,1998-09-01,,x,test,ok", "unknown ISO3 code 'XXX'"),
        ("c", "cms,UZB,Uzbekistan,1998-09-01,,x,test,ok\ncms,UZB,Uzbekistan,2020-09-01,,x,test,ok",
         "overlaps"),
        ("d", "basel,UZB,Uzbekistan,1998-09-01,,x,test,ok", "convention 'basel' has no membership list"),
    ]:
        bad = tmp_path / folder
        bad.mkdir()
        (bad / "cms.csv").write_text((lists / "cms.csv").read_text())
        (bad / "overrides.csv").write_text(head + line + "\n")
        with pytest.raises(membership.MembershipError, match=problem) as error:
            membership.parties("cms", bad)
        assert f"{bad / 'overrides.csv'}:{line.count(chr(10)) + 2}: " in str(error.value)


def load_build():
    spec = importlib.util.spec_from_file_location("parties_build", PARTIES / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_repo_lists_equal_a_fresh_build_from_the_reference_data(shared_reference):
    source = shared_reference / "membership"
    if not source.is_dir():
        pytest.skip("membership/ is not in ../shared/reference-data")
    built = load_build().build(source)
    assert set(built) == {f"{c}.csv" for c in load_build().CONVENTIONS} | {"index.csv"}
    for name, text in built.items():
        assert (PARTIES / name).read_text(encoding="utf-8") == text, f"{name}: run transforms/mappings/parties/build.py"
    with (source / "unccd.csv").open(encoding="utf-8") as f:
        canada = [r for r in csv.DictReader(f) if r["iso3"] == "CAN"]
    assert [r["action"] for r in canada] == ["", "withdrawal", ""]  # the reference data's Canada, as SOURCES.md says
