"""Release history: listing, rollback (DuckDB included), pruning, and publishing over a moved current."""
import duckdb
import pytest

from outputs.audit import audit_release
from outputs.history import describe, prune, releases, rollback
from outputs.publish import CurrentMoved, publish
from outputs.release import build_release
from pipeline_helpers import REBUILD, harmonized_parts, run_pipeline


def live(data_dir):
    return (data_dir / "current").resolve().name


def test_rollback_switches_current_and_duckdb(data_dir, upstream):
    first = run_pipeline("one")
    second = run_pipeline("two", REBUILD)
    assert live(data_dir) == second.name
    rollback(first.name)
    assert live(data_dir) == first.name
    assert (data_dir / "mea.duckdb").resolve() == first / "mea.duckdb"
    with duckdb.connect(str(data_dir / "mea.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from observations").fetchone()[0] > 0
    lines = [describe(f, (data_dir / "current").resolve()) for f in releases()]
    assert lines[0].startswith(f"* {first.name}") and "first release" in lines[0]
    assert lines[1].startswith(f"  {second.name}") and lines[1].endswith("no change")


def test_rollback_refuses_an_unknown_release(data_dir):
    with pytest.raises(FileNotFoundError):
        rollback("20200101T000000Z-deadbeef")


def test_prune_keeps_the_newest_and_the_live_one(data_dir, upstream):
    made = [run_pipeline("r0")] + [run_pipeline(f"r{i}", REBUILD) for i in (1, 2)]
    rollback(made[0].name)
    gone = prune(keep=1)
    assert gone == [made[1].name]
    assert [p.name for p in releases()] == [made[0].name, made[2].name]


def test_a_release_built_before_another_publish_is_refused(data_dir, upstream):
    run_pipeline("base")
    stale = build_release(harmonized_parts("stale", REBUILD), REBUILD, "stale")
    audit_release(stale)
    newer = run_pipeline("newer", REBUILD)
    with pytest.raises(CurrentMoved):
        publish(stale)
    assert live(data_dir) == newer.name


def test_prune_removes_builds_a_crashed_run_left_behind(data_dir, upstream):
    from outputs.locks import build_folder

    made = run_pipeline("kept")
    with build_folder() as building:  # a build in progress holds its folder
        (building / "observations.parquet").write_bytes(b"being written")
        crashed = data_dir / "releases" / ".building-crashed"  # no live process holds its lock
        crashed.mkdir()
        (crashed / "observations.parquet").write_bytes(b"half-written")
        assert prune(keep=5) == [".building-crashed"]
        assert building.exists()
    assert not crashed.exists() and made.exists()
    assert not building.exists(), "a build that raised (here: never renamed) is not left behind"
