"""The layers import only downward (import-linter contracts in pyproject.toml), and every MEA_*
variable is read through core.settings, whose table README shows."""
from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from core import settings

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "extractors", "transforms", "outputs", "replica", "bench")
PRODUCTION = ("core", "extractors", "transforms", "outputs", "dags")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 kept, 0 broken" in done.stdout


def tree_copy(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "cache",
                                                                                         "snapshots", "results"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


@pytest.mark.parametrize("module, upward, contract", [
    ("extractors/fetch.py", "from outputs import contracts", "Stages import only downward"),
    ("core/paths.py", "from transforms import catalogue", "Stages import only downward"),
    ("outputs/summary.py", "from extractors import http", "Publishing does not reach into the extractors"),
    ("transforms/countries.py", "from replica import server", "does not import the replica or the bench"),
])
def test_an_upward_import_breaks_the_contracts(tmp_path, module, upward, contract):
    copy = tree_copy(tmp_path)
    with open(copy / module, "a") as f:
        f.write(f"\n{upward}  # deliberately upward\n")
    done = lint_imports(copy)
    assert done.returncode != 0
    broken = done.stdout[done.stdout.index("Broken contracts"):]
    assert contract in broken, done.stdout
    assert module.removesuffix(".py").replace("/", ".") in broken


def test_transforms_read_only_their_own_sources_wire_format():
    graph = grimp.build_graph("core", "extractors", "transforms", "outputs")
    wrong = {}
    for module in graph.find_children("transforms"):
        allowed = {"extractors." + module.split(".")[1]}
        reached = {m for m in graph.find_modules_directly_imported_by(module) if m.startswith("extractors")}
        if reached - allowed:
            wrong[module] = sorted(reached - allowed)
    assert not wrong


def test_the_dags_import_no_test_replica_or_bench_code():
    for path in (ROOT / "dags").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not [n for n in names if n.split(".")[0] in ("replica", "bench", "tests", "conftest")], path


def production_sources():
    for folder in PRODUCTION:
        yield from (p for p in (ROOT / folder).rglob("*.py") if p != ROOT / "core" / "settings.py")


def test_only_the_settings_module_reads_mea_variables():
    reads = re.compile(r"""(environ(\.get)?\s*[\[(]|getenv\()\s*f?["']MEA_""")
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in production_sources()
                 for n, line in enumerate(p.read_text().splitlines(), 1) if reads.search(line)]
    assert not offenders


def test_every_mea_variable_named_in_the_code_is_declared():
    named = {m for p in production_sources() for m in re.findall(r"\bMEA_[A-Z0-9_<>]+", p.read_text())}
    named -= {"MEA_OBSERVATIONS"}  # part of the SDMX dataflow id DF_MEA_OBSERVATIONS, not a variable
    undeclared = set()
    for name in named:
        try:
            settings._declared(name)
        except KeyError:
            undeclared.add(name)
    assert not undeclared


def readme_settings_table() -> str:
    text = (ROOT / "README.md").read_text()
    start, end = "<!-- settings: python -m core.settings -->\n", "\n<!-- /settings -->"
    return text[text.index(start) + len(start):text.index(end)]


def test_readme_lists_every_setting_as_the_settings_module_declares_it():
    assert readme_settings_table() == settings.markdown_table(), "run: python -m core.settings"


def test_a_setting_that_does_not_parse_names_its_variable(monkeypatch):
    monkeypatch.setenv("MEA_KEEP_RELEASES", "ten")
    with pytest.raises(ValueError, match="MEA_KEEP_RELEASES must be a whole number, not 'ten'"):
        settings.integer("MEA_KEEP_RELEASES")
    monkeypatch.setenv("MEA_KEEP_RELEASES", " ")
    assert settings.integer("MEA_KEEP_RELEASES") == 10
    with pytest.raises(KeyError, match="MEA_NOPE is not a declared setting"):
        settings.text("MEA_NOPE")
