"""Shared fixtures: an isolated data folder per test and the replica on 127.0.0.1."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# The embedded Airflow home that `make test` migrates; set here too so plain `pytest` works.
os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".airflow"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{REPO / '.airflow' / 'airflow.db'}")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A fresh MEA_DATA_DIR for the test."""
    folder = tmp_path / "var"
    monkeypatch.setenv("MEA_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def replica():
    """The replica with its default options, serving on a free 127.0.0.1 port."""
    from replica.server import Replica

    with Replica() as server:
        yield server


@pytest.fixture
def upstream(replica, data_dir, monkeypatch):
    """Every source pointed at the replica (MEA_<SOURCE>_URL and its credentials) and its inbox
    fixtures in the data folder."""
    from replica.server import seed_inbox

    for variable, value in replica.client_env().items():
        monkeypatch.setenv(variable, value)
    seed_inbox(replica.snapshot_root, data_dir / "inbox")
    return replica


@pytest.fixture
def shared_reference() -> Path:
    """../shared/reference-data, or skip when the project is checked out without it."""
    folder = SHARED / "reference-data"
    if not folder.is_dir():
        pytest.skip("../shared/reference-data is not beside the checkout")
    return folder


# Hygiene: the suite fails if it leaves a process running or writes into the checkout's var/.


def child_processes(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every live descendant of ``pid`` (zombies aside), from /proc."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, ...
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for child in sorted(p for p, pp in parents.items() if pp == parent):
            found.append(child)
            frontier.append(child)
    return [(child, command_line(child)) for child in found]


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def checkout_var() -> dict[str, tuple[int, int]] | None:
    """Every file under the checkout's var/ with its (mtime, size); None when there is no var/."""
    var = REPO / "var"
    if not var.is_dir():
        return None
    return {str(p.relative_to(var)): (p.lstat().st_mtime_ns, p.lstat().st_size)
            for p in var.rglob("*") if p.is_file() or p.is_symlink()}


@pytest.fixture(scope="session", autouse=True)
def hygiene():
    """After the whole session: no child process of pytest still running (a replica, a worker, a
    command), and nothing written into the checkout's var/ (tests use a temporary data folder)."""
    var_before = checkout_var()
    yield
    import time

    problems = []
    leftover = child_processes(os.getpid())
    for _ in range(20):  # a child told to stop gets a moment to exit (not a timed assertion: a grace period)
        if not leftover:
            break
        time.sleep(0.1)
        leftover = child_processes(os.getpid())
    problems += [f"child process {pid} still running: {cmd}" for pid, cmd in leftover]
    var_after = checkout_var()
    if var_after != var_before:
        before = var_before or {}
        changed = sorted(p for p, stamp in (var_after or {}).items() if before.get(p) != stamp)
        problems.append(f"the tests wrote into {REPO / 'var'}: " + (", ".join(changed[:20]) or "created the folder"))
    assert not problems, "test hygiene:\n  " + "\n  ".join(problems)
