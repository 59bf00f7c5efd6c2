"""CMS ORS API against the replica: token handling, paging, looping answers, bad records, golden output.

Regenerate the golden files after a reviewed change: ``uv run python tests/test_cms_ors.py --update``.
"""
import json
import logging
import os
import sys
from pathlib import Path

import pandas as pd
import pytest
import requests

from extractors import cms_ors as extractor
from extractors.http import UpstreamError
from replica.server import SNAPSHOTS, Replica
from transforms import cms_ors

from golden import assert_matches_golden, load_script, update_golden_from

SOURCE = "cms-ors"
UPDATE = "uv run python tests/test_cms_ors.py --update"
PARTS = ("observations", "report_submissions", "quarantine")
TOKEN = "test-token-7f3a9c0e-never-written"


def run(tmp_path: Path, per_page: int = 2) -> Path:
    """extract (small pages, so paging is exercised) -> stage -> harmonize against the replica."""
    os.environ["MEA_CMS_ORS_TOKEN"] = TOKEN
    with Replica() as server:
        fetch_log = extractor.extract(tmp_path / "var", tmp_path / "run", url=server.source_urls()["cms-ors"],
                                      per_page=per_page)
    staging = cms_ors.stage(fetch_log, tmp_path / "var", tmp_path / "run" / "staging")
    return cms_ors.harmonize(staging, tmp_path / "run" / "parts")


@pytest.fixture(scope="module")
def logged():
    """Every log record of the module's run, at every level, whatever logging set-up an earlier
    test left behind (Airflow's dictConfig disables existing loggers and stops propagation)."""
    records = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    loggers = [logging.getLogger(name) for name in ("", "urllib3", "requests", "extractors", "transforms")]
    saved = [(lg, lg.level, lg.disabled) for lg in loggers]
    disabled_below = logging.root.manager.disable
    logging.disable(logging.NOTSET)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
        lg.addHandler(handler)
    yield records
    for lg, level, disabled in saved:
        lg.removeHandler(handler)
        lg.setLevel(level)
        lg.disabled = disabled
    logging.disable(disabled_below)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, logged):
    previous = os.environ.get("MEA_CMS_ORS_TOKEN")
    tmp = tmp_path_factory.mktemp("cms-ors")
    run(tmp)
    yield tmp
    if previous is None:
        os.environ.pop("MEA_CMS_ORS_TOKEN", None)
    else:
        os.environ["MEA_CMS_ORS_TOKEN"] = previous


@pytest.fixture(scope="module")
def parts(run_dir):
    return run_dir / "run" / "parts"


def test_questions_are_paged_with_per_page_at_most_100(run_dir):
    log = json.loads((run_dir / "run" / "cms-ors" / "fetch.json").read_text())
    pages = log["entities"]["questions"]["pages"]
    # COP13 has 5 questions (pages of 2, 2, 1), COP14 has 6 (2, 2, 2 and an empty page ends it)
    assert [(p["questionnaire_id"], p["records"]) for p in pages] == [(13, 2), (13, 2), (13, 1),
                                                                    (14, 2), (14, 2), (14, 2), (14, 0)]
    assert all("per_page=2" in p["url"] and f"page={i}" in p["url"]
               for i, p in enumerate(pages[:3], start=1))
    staged = pd.read_parquet(run_dir / "run" / "staging" / "answers.parquet")
    assert sorted(staged["question_id"].unique()) == [1301, 1302, 1303, 1304, 1305, 1401, 1402, 1403, 1404, 1405,
                                                      1406]
    with pytest.raises(ValueError, match="per_page must be 1..100"):
        extractor.extract(run_dir / "var", run_dir / "run", url="http://127.0.0.1:9", per_page=101)


def test_the_replica_refuses_per_page_over_100_and_requests_without_the_token(monkeypatch):
    monkeypatch.setenv("MEA_CMS_ORS_TOKEN", TOKEN)
    with Replica() as server:
        url = server.source_urls()["cms-ors"] + "/api/v1/questionnaires"
        assert requests.get(url, timeout=10).status_code == 401
        assert requests.get(url, headers={"X-Authentication-Token": "wrong"}, timeout=10).status_code == 401
        ok = requests.get(url, headers={"X-Authentication-Token": TOKEN}, timeout=10)
        assert ok.status_code == 200 and len(ok.json()["questionnaires"]) == 2
        assert requests.get(f"{url}/14/questions", params={"per_page": 101},
                            headers={"X-Authentication-Token": TOKEN}, timeout=10).status_code == 400


def test_a_wrong_token_fails_the_extract_without_naming_the_token(tmp_path, monkeypatch):
    monkeypatch.setenv("MEA_CMS_ORS_TOKEN", TOKEN)
    monkeypatch.setattr(extractor, "secret", lambda system: "wrong-token-5d1e")
    with Replica() as server, pytest.raises(UpstreamError, match=r"\[cms-ors\] .*HTTP 401") as failure:
        extractor.extract(tmp_path / "var", tmp_path / "run", session=requests.Session(),
                          url=server.source_urls()["cms-ors"])
    assert "wrong-token-5d1e" not in str(failure.value) and TOKEN not in str(failure.value)


def test_no_token_configured_is_an_error_naming_where_to_set_it(tmp_path, monkeypatch):
    monkeypatch.delenv("MEA_CMS_ORS_TOKEN", raising=False)
    with pytest.raises(PermissionError, match="MEA_CMS_ORS_TOKEN"):
        extractor.extract(tmp_path / "var", tmp_path / "run", url="http://127.0.0.1:9")


def test_the_token_is_never_written_anywhere(run_dir, logged, capfd):
    written = [p for p in run_dir.rglob("*") if p.is_file()]
    assert len(written) > 10  # raw pages, sidecars, validators, fetch log, staging, parts
    assert [p for p in written if TOKEN.encode() in p.read_bytes()] == []
    assert logged and not [r for r in logged if TOKEN in r.getMessage()]
    out, err = capfd.readouterr()
    assert TOKEN not in out + err


def test_looping_answers_are_one_observation_per_species(parts):
    obs = pd.read_parquet(parts / "observations.parquet")
    trend = obs[obs["indicator_code"] == "CMS-SPECIES-TREND"]
    assert len(trend) > 0 and trend["disaggregation"].str.startswith("SPECIES=").all()
    assert {"SPECIES=Acipenser sturio", "SPECIES=Balaenoptera musculus"} <= set(trend["disaggregation"])
    assert set(trend["gbf_target"]) == {"GBF-T04"}
    assert (obs.loc[obs["indicator_code"] != "CMS-SPECIES-TREND", "disaggregation"] == "_T").all()


def test_parties_cycles_codes_and_submissions(parts):
    obs = pd.read_parquet(parts / "observations.parquet")
    assert set(obs["convention"]) == {"cms"} and set(obs["report_cycle"]) == {"cms:COP13", "cms:COP14"}
    assert {"BOL", "COD", "GBR", "KEN"} <= set(obs["country_iso3"])
    assert set(obs.loc[obs["gbf_target"] == "GBF-T03", "indicator_code"]) == {"CMS-PA-DESIGNATED", "CMS-PA-AREA"}
    coded = obs[obs["indicator_code"] == "CMS-PA-DESIGNATED"]
    assert set(zip(coded["value_code"], coded["value_label"])) <= {("YES", "Yes"), ("NO", "No"),
                                                                   ("PARTIAL", "Partially")}
    assert set(obs.loc[obs["indicator_code"] == "CMS-PA-AREA", "unit"]) == {"KM2"}
    subs = pd.read_parquet(parts / "report_submissions.parquet")
    assert set(subs["report_type"]) == {"national_report"}
    assert len(subs[subs["report_cycle"] == "cms:COP14"]) == 11  # 13 respondents, less Atlantis and Underway Albania
    assert "ALB" not in set(subs.loc[subs["report_cycle"] == "cms:COP14", "country_iso3"])


def test_bad_records_are_quarantined_with_reasons(parts):
    q = pd.read_parquet(parts / "quarantine.parquet")
    reasons = {(r.field, r.value): r.reason for r in q.itertuples()}
    assert reasons[("full_name", "Party: Atlantis")] == "unknown country code or name 'Atlantis'"
    assert reasons[("question:1401", "Not applicable")] == \
        "option 'Not applicable' of question 1401 has no row in the cms-ors crosswalk"
    assert reasons[("question:1402", "about 1,200 km2")] == "NumericAnswer answer: not a number: 'about 1,200 km2'"
    assert "question 1406" in reasons[("question:1406", "Yes")]
    assert reasons[("respondent", "Party: Albania")] == "report not submitted (respondent status 'Underway')"


def test_snapshot_rebuilds_identically():
    questionnaires, questions = load_script(SNAPSHOTS / "cms-ors" / "build_cms_ors.py").build()
    assert json.loads((SNAPSHOTS / "cms-ors" / "questionnaires.json").read_text()) == questionnaires
    assert json.loads((SNAPSHOTS / "cms-ors" / "questions.json").read_text()) == questions


@pytest.mark.parametrize("part", PARTS)
def test_golden_output(parts, part):
    assert_matches_golden(SOURCE, part, pd.read_parquet(parts / f"{part}.parquet"), UPDATE)


if __name__ == "__main__" and "--update" in sys.argv:
    update_golden_from(run, SOURCE, PARTS)
