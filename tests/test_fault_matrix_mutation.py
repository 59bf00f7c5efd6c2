"""A mutation check of the fault matrix itself: without the retries, the short-lived cells must fail.

The matrix (tests/test_faults.py) passes a short-lived fault only when its cell gives exactly the
fault-free rows. If it still passed with the retries gone, it would be checking nothing about them.
So this runs the short-lived cells of every web source and CITES, in a pytest subprocess with a
test-only plugin that sets ``extractors.http.RETRIES = 0`` (make_session's urllib3 Retry: total,
connect, read and status 0) and ``BODY_ATTEMPTS = 1`` (no second fetch of a body cut short), and
counts the failed cells: they must be exactly the short-lived cells. Lasting cells run alongside as
controls (one the pipeline absorbs, one it fails on) and must still pass: the switch removes the
retries and nothing else.
"""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from test_faults import ENDPOINTS, SHORT_LIVED

REPO = Path(__file__).resolve().parents[1]
MODULE = "tests/test_faults.py"
WEB = "test_a_fault_gives_the_same_observations_or_a_clean_failure"
CITES = "test_a_fault_on_the_cites_release_gives_the_same_observations_or_a_clean_failure"
#: lasting faults that need no retry: one absorbed (same rows), one failed on
CONTROLS = ("latency", "truncated-body")

NO_RETRIES = '''"""Test-only: every retry of extractors.http off (tests/test_fault_matrix_mutation.py)."""
import extractors.http

extractors.http.RETRIES = 0
extractors.http.BODY_ATTEMPTS = 1
'''


def cells(faults) -> dict[str, tuple[str, str]]:
    """pytest test id -> (source, fault), for ``faults`` on every web source and on CITES."""
    ids = {f"{MODULE}::{WEB}[{source}-{fault}]": (source, fault) for source in ENDPOINTS for fault in faults}
    return ids | {f"{MODULE}::{CITES}[{fault}]": ("cites-trade", fault) for fault in faults}


def test_the_matrix_fails_every_short_lived_cell_when_the_retries_are_gone(tmp_path):
    short_lived, controls = cells(SHORT_LIVED), cells(CONTROLS)
    (tmp_path / "no_retries.py").write_text(NO_RETRIES)
    report = tmp_path / "report.xml"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), str(REPO),
                                                                     os.environ.get("PYTHONPATH")]))}
    env.pop("FAULT_MATRIX", None)  # the mutant's outcomes are not the matrix's
    # --tb=native: pytest's own traceback rendering parses source with ast, which CPython 3.11 can
    # break off with "AST constructor recursion depth mismatch" after many failures (an INTERNALERROR)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no_retries",
                          "--tb=native", f"--junitxml={report}", *short_lived, *controls],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=540)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]  # 1: tests ran, some failed

    failed, passed = {}, set()
    for case in ET.parse(report).iter("testcase"):
        test_id = f"{MODULE}::{case.get('name')}"
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        if problem is None and case.find("skipped") is None:
            passed.add(test_id)
        elif problem is not None:
            failed[test_id] = problem.get("message", "")
    assert len(failed) == len(short_lived) == len(SHORT_LIVED) * (len(ENDPOINTS) + 1)
    assert set(failed) == set(short_lived), sorted(set(failed) ^ set(short_lived))
    assert passed == set(controls), sorted(set(controls) - passed)
    # each failed because its run failed cleanly where a retry was needed, not by crashing
    for test_id, message in failed.items():
        assert "must give the fault-free rows, not fail" in message, (short_lived[test_id], message)
