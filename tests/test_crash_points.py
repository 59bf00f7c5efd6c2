"""Crash points: the publishing run SIGKILLed at every step of build and publish, then a normal run.

Each test runs the pipeline in a child process that wraps one step function so that the process
kills itself (SIGKILL: no finally, no atexit) right after the real step ran, or just before it.
No production code knows about it. Then it checks what a reader sees at that moment (one whole
release, or none before the first publish) and that the next ordinary run, in this process,
heals everything: ``current``, ``mea.duckdb`` and the published state agree, no ``.building-*``
folder is left, every release published before is still there. docs/faults.md, "Crash points",
has the table.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from core.state import FILE
from pipeline_helpers import ALL, run_pipeline

REPO = Path(__file__).resolve().parents[1]
SOURCES = {**ALL, "sources": ["informea", "sdg-api"]}
#: everything rebuilt from raw landing, so the killed run has a release of its own to publish
REBUILT = {**SOURCES, "reprocess": True}

KILLER = r'''
import json, os, pathlib, signal, sys
point, run_id, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
import outputs.publish, outputs.release, outputs.warehouse
from pipeline_helpers import run_pipeline

def die():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)

def after(owner, name, when=lambda *args: True):
    """``owner.name`` runs for real, then the process dies if ``when(*args)``."""
    real = getattr(owner, name)
    def step(*args, **kwargs):
        result = real(*args, **kwargs)
        if when(*args):
            die()
        return result
    setattr(owner, name, step)

def before(owner, name):
    setattr(owner, name, lambda *args, **kwargs: die())

def first_source_only(fetch_logs):
    """The published state of the first source recorded for real, then the process dies."""
    real_record(dict(list(fetch_logs.items())[:1]))
    die()

if point == "build-writing":
    before(outputs.release, "write_duckdb")
elif point == "build-renamed":
    after(pathlib.Path, "rename", lambda self, target: self.name.startswith(".building-"))
elif point == "current-switched":
    after(outputs.publish, "switch_link", lambda link, target: link.name == "current")
elif point == "duckdb-linked":
    after(outputs.publish, "switch_link", lambda link, target: link.name == "mea.duckdb")
elif point == "state-not-recorded":
    before(outputs.publish, "record_published")
elif point == "state-half-recorded":
    real_record = outputs.publish.record_published
    outputs.publish.record_published = first_source_only
elif point == "warehouse-loading":
    copied = []
    after(outputs.warehouse, "copy_table", lambda con, duck, schema, table: copied.append(table) or len(copied) == 2)
elif point == "warehouse-loaded":
    before(outputs.warehouse, "switch_views")
else:
    raise SystemExit(f"unknown crash point {point}")
release = run_pipeline(run_id, params)
if point.startswith("warehouse-"):
    outputs.warehouse.publish(release)
raise SystemExit(f"crash point {point} was never reached")
'''


def killed_at(point: str, params: dict, run_id: str = "killed", env: dict | None = None) -> None:
    """The pipeline run in a child process that SIGKILLs itself at ``point``."""
    done = subprocess.run([sys.executable, "-c", KILLER, point, run_id, json.dumps(params)], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}", **(env or {})},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == -signal.SIGKILL, f"{point}: exit {done.returncode}\n{done.stderr[-3000:]}"


def live(data_dir: Path) -> Path | None:
    link = data_dir / "current"
    return link.resolve() if link.exists() else None


def releases(data_dir: Path) -> list[str]:
    folder = data_dir / "releases"
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


def building(data_dir: Path) -> list[str]:
    folder = data_dir / "releases"
    return sorted(p.name for p in folder.glob(".building-*")) if folder.is_dir() else []


def assert_readers_see_one_whole_release(data_dir: Path) -> Path | None:
    """``current`` is absent or names a whole, audited release, and ``mea.duckdb`` (when there)
    opens on that release; the live release."""
    release = live(data_dir)
    if release is None:
        assert not (data_dir / "mea.duckdb").exists(), "mea.duckdb without a current release"
        return None
    manifest = json.loads((release / "manifest.json").read_text())
    assert json.loads((release / "audit.json").read_text())["summary"]["success"]
    assert release.parent == (data_dir / "releases").resolve() and not release.name.startswith(".")
    if (data_dir / "mea.duckdb").exists():
        assert (data_dir / "mea.duckdb").resolve() == release / "mea.duckdb"
        with duckdb.connect(str(data_dir / "mea.duckdb"), read_only=True) as con:
            rows = con.execute("select count(*) from observations").fetchone()[0]
        assert rows == manifest["tables"]["observations"]["rows"] > 0
    return release


def assert_state_agrees_with_current(data_dir: Path) -> None:
    """The published state of every source the live release fetched is that release's fetch log."""
    release = live(data_dir)
    inputs = json.loads((release / "manifest.json").read_text())["inputs"]
    for source, entry in inputs.items():
        if "carried_from" in entry:
            continue
        state = data_dir / "state" / source / FILE
        assert state.exists(), f"{source}: no published state for live release {release.name}"
        assert json.loads(state.read_text()) == json.loads(Path(entry["fetch_log"]).read_text()), \
            f"{source}: the published state is not the live release's ({release.name})"


def assert_healed(data_dir: Path, published_before: list[str]) -> Path:
    """After the next run: one whole live release, with its DuckDB link and its state; no build
    folder left; nothing published before is gone."""
    release = assert_readers_see_one_whole_release(data_dir)
    assert release is not None and (data_dir / "mea.duckdb").is_symlink()
    assert_state_agrees_with_current(data_dir)
    assert building(data_dir) == [], "a half-built release folder was left behind"
    assert set(published_before) <= set(releases(data_dir)), "a published release was lost"
    return release


# Build and publish, over a live release


@pytest.mark.parametrize("point", ["build-writing", "build-renamed", "current-switched", "state-not-recorded",
                                   "state-half-recorded"])
def test_a_run_killed_while_publishing_over_a_live_release_is_healed_by_the_next(point, data_dir, upstream):
    old = run_pipeline("old", SOURCES)
    killed_at(point, REBUILT)
    seen = assert_readers_see_one_whole_release(data_dir)
    if point.startswith("build-"):
        assert seen == old, "current moved before the release was audited and published"
        assert (building(data_dir) != []) == (point == "build-writing")
    else:
        assert seen != old, "the kill came after the switch: the new release is live"
    nightly = run_pipeline("next", SOURCES)
    healed = assert_healed(data_dir, [old.name] + ([seen.name] if seen != old else []))
    assert healed == nightly.resolve()


# The first publish: nothing live yet, no mea.duckdb, no state


@pytest.mark.parametrize("point", ["build-writing", "current-switched", "duckdb-linked"])
def test_the_first_publish_killed_is_healed_by_the_next_run(point, data_dir, upstream):
    killed_at(point, SOURCES)
    seen = assert_readers_see_one_whole_release(data_dir)
    assert (seen is None) == (point == "build-writing")
    assert not (data_dir / "state").exists() or not any((data_dir / "state").rglob(FILE))
    nightly = run_pipeline("next", SOURCES)
    assert assert_healed(data_dir, [seen.name] if seen else []) == nightly.resolve()


def test_a_no_change_night_after_a_killed_first_switch_makes_the_link_and_records_the_state(data_dir, upstream):
    killed_at("current-switched", ALL)
    seen = live(data_dir)
    assert seen is not None and not (data_dir / "mea.duckdb").exists()
    nightly = run_pipeline("next", ALL)
    assert nightly.resolve() == seen, "nothing changed upstream: the release that went live stays live"
    assert_healed(data_dir, [seen.name])


# The warehouse load


@pytest.fixture
def warehouse_db(monkeypatch) -> str:
    from outputs.cluster import scratch_database

    with scratch_database("mea_crash_test") as conninfo:
        monkeypatch.setenv("MEA_WAREHOUSE_URL", conninfo)
        yield conninfo


@pytest.mark.parametrize("point", ["warehouse-loading", "warehouse-loaded"])
def test_a_warehouse_load_killed_leaves_the_views_on_the_old_release_until_the_next_run(
        point, data_dir, upstream, warehouse_db):
    import psycopg

    from outputs import contracts, warehouse

    def fingerprints(con, schema):
        return {t: warehouse.postgres_fingerprint(con, schema, t) for t in contracts.table_names()}

    def duckdb_fingerprints(release):
        with duckdb.connect(str(release / "mea.duckdb"), read_only=True) as duck:
            return {t: warehouse.duckdb_fingerprint(duck, t) for t in contracts.table_names()}

    old = run_pipeline("old", SOURCES)
    warehouse.publish(old)
    killed_at(point, REBUILT)
    new = live(data_dir)
    assert new != old, "the files published before the warehouse load"
    with psycopg.connect(warehouse_db, autocommit=True) as con:
        assert warehouse.live_release(con) == old.name
        assert fingerprints(con, warehouse.LIVE_SCHEMA) == duckdb_fingerprints(old)
    # the next run: no change upstream, so the live release stays, and its warehouse load is done again
    nightly = run_pipeline("next", SOURCES)
    warehouse.publish(nightly)
    assert_healed(data_dir, [old.name, new.name])
    with psycopg.connect(warehouse_db, autocommit=True) as con:
        assert warehouse.live_release(con) == nightly.resolve().name
        assert fingerprints(con, warehouse.LIVE_SCHEMA) == duckdb_fingerprints(nightly.resolve())


# Two runs racing to publish


RACER = r'''
import sys
import outputs.publish as publish
from outputs.publish import CurrentMoved

if sys.argv[2] == "hold":  # stop inside the lock until told to go on
    switch = publish.point_current_at
    def held(release_id):
        print("holding", flush=True)
        sys.stdin.readline()
        switch(release_id)
    publish.point_current_at = held
try:
    print("published", publish.publish(sys.argv[1]), flush=True)
except CurrentMoved as refused:
    print("refused", refused, flush=True)
    raise SystemExit(3)
'''


def blocked_on_a_lock(pid: int) -> bool:
    """Whether process ``pid`` waits for a file lock (a ``->`` line of /proc/locks)."""
    return any(line.split()[1] == "->" and line.split()[5] == str(pid)
               for line in Path("/proc/locks").read_text().splitlines() if len(line.split()) > 5)


def test_two_runs_racing_to_publish_one_wins_the_other_is_refused(data_dir, upstream):
    from outputs.audit import audit_release
    from outputs.release import build_release
    from pipeline_helpers import harmonized_parts

    base = run_pipeline("base", SOURCES)
    first, second = (build_release(harmonized_parts(run, REBUILT), REBUILT, run) for run in ("first", "second"))
    assert first.name != second.name
    for release in (first, second):
        audit_release(release)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    racers = []
    try:
        holder = subprocess.Popen([sys.executable, "-c", RACER, str(first), "hold"], cwd=REPO, env=env, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        racers.append(holder)
        assert holder.stdout.readline() == "holding\n", holder.stderr.read()
        waiter = subprocess.Popen([sys.executable, "-c", RACER, str(second), "go"], cwd=REPO, env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        racers.append(waiter)
        for _ in range(6000):  # until the second publish waits on the lock the first holds (at most 10 min)
            if blocked_on_a_lock(waiter.pid) or waiter.poll() is not None:
                break
            time.sleep(0.1)
        assert waiter.poll() is None and blocked_on_a_lock(waiter.pid), "the second publish never waited on the lock"
        assert live(data_dir) == base, "current moved while the first publish was held before its switch"
        out, err = holder.communicate("go\n", timeout=600)
        assert holder.returncode == 0 and out.strip() == f"published {first.name}", err
        out, err = waiter.communicate(timeout=600)
        assert waiter.returncode == 3 and out.startswith(f"refused release {second.name} was built against"), err
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
            racer.communicate()
    assert live(data_dir) == first and (data_dir / "mea.duckdb").resolve() == first / "mea.duckdb"
    assert_state_agrees_with_current(data_dir)
    assert second.exists() and base.exists()
