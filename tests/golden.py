"""Golden files: a source's harmonized parts, sorted and without volatile columns, against the reviewed
CSV files in tests/golden/<source>/<part>.csv; and the build scripts of the replica's snapshots.

The test modules import this as ``from golden import ...``, as they do ``pipeline_helpers`` (tests/ is on
sys.path under pytest and when a test module is run as a script for ``--update``).
"""
from __future__ import annotations

import difflib
import importlib.util
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

import pandas as pd

ROOT = Path(__file__).parent / "golden"
#: columns that hold retrieval times or hashes of the served bytes; the rest must match the golden files
VOLATILE = frozenset({"raw_sha256", "retrieved_at", "first_seen", "last_seen"})
#: at most this many lines of a unified diff in a failure message
DIFF_LINES = 40


def sorted_csv(frame: pd.DataFrame) -> str:
    """The frame without volatile columns, sorted by all its columns, as CSV with "\\n" line ends."""
    stable = frame[[c for c in frame.columns if c not in VOLATILE]]
    return stable.sort_values(list(stable.columns)).to_csv(index=False, lineterminator="\n")


def golden_file(source: str, part: str) -> Path:
    return ROOT / source / f"{part}.csv"


def assert_matches_golden(source: str, part: str, frame: pd.DataFrame, how_to_update: str,
                          render: Callable[[pd.DataFrame], str] = sorted_csv) -> None:
    """Fail, with the first lines of a diff and how to regenerate, unless `render(frame)` is the golden file."""
    path, name = golden_file(source, part), f"tests/golden/{source}/{part}.csv"
    assert path.exists(), f"no golden file {name}; review the output, then: {how_to_update}"
    actual, expected = render(frame), path.read_text(encoding="utf-8")
    if actual == expected:
        return
    diff = list(difflib.unified_diff(expected.splitlines(), actual.splitlines(), name, f"{source} {part} of this run",
                                     lineterm="", n=1))
    shown = "\n".join(diff[:DIFF_LINES]) + (f"\n... {len(diff) - DIFF_LINES} more diff lines"
                                            if len(diff) > DIFF_LINES else "")
    raise AssertionError(f"{source} {part} differs from {name} (this run {len(actual.splitlines())} lines, "
                         f"the golden file {len(expected.splitlines())}):\n{shown}\n"
                         f"review the change, then: {how_to_update}")


def write_golden(source: str, parts_dir: Path, parts: Iterable[str],
                 render: Callable[[pd.DataFrame], str] = sorted_csv) -> None:
    """Rewrite tests/golden/<source>/<part>.csv from the parquet parts of a run."""
    folder = ROOT / source
    folder.mkdir(parents=True, exist_ok=True)
    for part in parts:
        path = golden_file(source, part)
        path.write_text(render(pd.read_parquet(Path(parts_dir) / f"{part}.parquet")), encoding="utf-8")
        print(f"wrote {path}")


def update_golden_from(run: Callable[[Path], Path], source: str, parts: Iterable[str]) -> None:
    """Rewrite a source's golden files from ``run(tmp_dir) -> parts_dir`` on the replica snapshot;
    the ``--update`` entry point of inbox and token sources' test modules."""
    with tempfile.TemporaryDirectory() as tmp:
        write_golden(source, run(Path(tmp)), parts)


def load_script(path: Path) -> ModuleType:
    """The module a stand-alone script (a snapshot's build script) defines, loaded from its file path."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
