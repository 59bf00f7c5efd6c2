"""Mutation check of the issue 21 tests: break the code they guard, in a copy, and see them fail.

    python tests/mutation_check.py [carried] [slice] [--baseline]

Each mutation copies the tree (core/ extractors/ transforms/ outputs/ dags/ replica/ tests/
expectations/ pyproject.toml) to a temporary folder, changes outputs/release.py there and runs
the tests that must catch it with pytest, as a subprocess with PYTHONPATH=<copy> and an Airflow
home of its own. It prints pytest's summary and exits non-zero when a mutation survives (its
tests all pass).

* ``carried``: a partial release drops the failed source's rows again (the slice it rebuilds
  keeps the failed sources, so their live rows count as inside and nothing replaces them);
  tests/test_partial_release.py must fail.
* ``slice``: merge_slice returns the live release's rows whatever the slice (the fresh rows only
  when there is no live release); tests/test_slice_changes.py must fail. The older slice tests,
  which run slices on an unchanged upstream, are run beside them for comparison.

``--baseline`` runs the same tests on an unchanged copy first.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COPIED = ("core", "extractors", "transforms", "outputs", "dags", "replica", "tests", "expectations", "pyproject.toml")

MERGE_SLICE = re.compile(r"def merge_slice\(.*?\n(?=\n\n)", re.S)
OLD_ROWS = '''def merge_slice(table: str, fresh: pd.DataFrame, previous: Path | None, selected: dict) -> pd.DataFrame:
    """MUTATED: the live release's rows, whatever the slice."""
    if previous is None or not (previous / f"{table}.parquet").exists():
        return fresh
    return pd.read_parquet(previous / f"{table}.parquet")[list(fresh.columns)]\n'''


def drop_carried(source: str) -> str:
    old = "selected = without_failed(run_slice(params), failed)"
    assert source.count(old) == 1, "build_release no longer leaves the failed sources out of its slice"
    return source.replace(old, "selected = run_slice(params)")


def old_rows(source: str) -> str:
    mutated, n = MERGE_SLICE.subn(lambda _: OLD_ROWS, source)
    assert n == 1, "merge_slice not found"
    return mutated


MUTATIONS = {
    "carried": (drop_carried, ["tests/test_partial_release.py"]),
    "slice": (old_rows, ["tests/test_slice_changes.py",
                         "tests/test_operations.py::test_a_slice_run_replaces_only_its_slice",
                         "tests/test_operations.py::test_reprocessing_a_slice_downloads_nothing_and_leaves_every_other_slice_identical",
                         "tests/test_release.py::test_params_restrict_the_release_to_a_slice"]),
}


def copy_tree(target: Path) -> Path:
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "artifacts"))
        else:
            shutil.copy2(source, target / name)
    return target


def environment(copy: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEA_")}
    home = copy / ".airflow"
    home.mkdir(exist_ok=True)
    env.update(PYTHONPATH=str(copy), AIRFLOW_HOME=str(home), AIRFLOW__CORE__DAGS_FOLDER=str(copy / "dags"),
               AIRFLOW__CORE__LOAD_EXAMPLES="False", GX_ANALYTICS_ENABLED="false",
               AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}")
    return env


def run_tests(copy: Path, tests: list[str]) -> tuple[int, str]:
    env = environment(copy)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], cwd=copy, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", *tests],
                          cwd=copy, env=env, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    summary = [line for line in lines if line.startswith("FAILED")] + lines[-1:]
    return done.returncode, "\n".join(summary)


def check(name: str, baseline: bool) -> bool:
    mutate, tests = MUTATIONS[name]
    with tempfile.TemporaryDirectory(prefix=f"mutation-{name}-") as folder:
        copy = copy_tree(Path(folder))
        if baseline:
            code, summary = run_tests(copy, tests)
            print(f"== {name}: unchanged copy (exit {code})\n{summary}", flush=True)
        release = copy / "outputs" / "release.py"
        release.write_text(mutate(release.read_text()))
        code, summary = run_tests(copy, tests)
        print(f"== {name}: mutated copy (exit {code}) {'killed' if code else 'SURVIVED'}\n{summary}", flush=True)
        return code != 0


def main(argv: list[str]) -> int:
    baseline = "--baseline" in argv
    names = [a for a in argv if not a.startswith("--")] or list(MUTATIONS)
    survived = [name for name in names if not check(name, baseline)]
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
