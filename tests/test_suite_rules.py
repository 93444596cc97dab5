"""The test suite's own rules, checked on its source so that a defect the audit of issue
13 found cannot come back unnoticed:

* no ``pytest.raises(Exception)`` (or ``BaseException``): name the error the code under
  test must raise;
* no assertion that only an ``except`` clause makes (a ``try`` whose success path checks
  nothing passes when the error it waits for never comes), and no bare ``except:``;
* every ``zip()`` of the tests and of the tools that make their truth is ``strict=``
  (ruff's B905 is on for them);
* every subprocess gets the tests' controlled environment (``env=``, see
  :func:`tests.cli_support.clean_env`), and no test copies the caller's environment;
* no test vanishes from collection when a condition is false: no test defined under an
  ``if`` or ``try``, no ``skip``/``skipif``/``importorskip``, no optional imports;
* every test runs under a timeout (pytest-timeout, configured in ``pyproject.toml``);
* collecting the tests has no side effects: ``pytest --collect-only`` makes nothing in
  ``TMPDIR`` or ``HOME`` (no ``~/.cache`` either).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List, Sequence, Tuple

import pytest

from tests.cli_support import ROOT, clean_env

#: The directories of the test suite and of the tools that make its truth.
SUITE_DIRS = ("tests", "vmcores", "tools", "benchmarks")
SUBPROCESS_CALLS = ("run", "Popen", "check_output", "check_call", "call")


def sources(dirs: Sequence[str] = ("tests",)) -> Iterator[Tuple[str, ast.Module]]:
    """``(path relative to the checkout, parsed module)`` of every Python file in ``dirs``."""
    for d in dirs:
        for path in sorted((ROOT / d).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            yield rel, ast.parse(path.read_text(), rel)


def calls(tree: ast.AST, module: str, names: Sequence[str]) -> Iterator[ast.Call]:
    """Calls of ``module.name`` for each name in ``names``."""
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in names
                and isinstance(node.func.value, ast.Name) and node.func.value.id == module):
            yield node


def test_no_catch_all_raises() -> None:
    bad: List[str] = []
    for rel, tree in sources():
        for call in calls(tree, "pytest", ["raises"]):
            if not call.args:
                continue
            first = call.args[0]
            caught = first.elts if isinstance(first, ast.Tuple) else [first]
            if any(isinstance(c, ast.Name) and c.id in ("Exception", "BaseException") for c in caught):
                bad.append(f"{rel}:{call.lineno}")
    assert not bad, f"pytest.raises(Exception) instead of the error's own class: {bad}"


def _statement_lists(tree: ast.AST) -> Iterator[List[ast.stmt]]:
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            value = getattr(node, field, None)
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                yield value


def _checks(nodes: Sequence[ast.AST]) -> bool:
    """Whether any of ``nodes`` asserts, raises or calls ``pytest.fail``."""
    for node in nodes:
        for sub in ast.walk(node):
            if isinstance(sub, (ast.Assert, ast.Raise)):
                return True
            if isinstance(sub, ast.Call) and ast.unparse(sub.func) == "pytest.fail":
                return True
    return False


def test_no_assertion_only_in_except() -> None:
    """A ``try`` with an assertion in an ``except`` clause must check something when no
    exception comes: in its body, its ``else`` or after it in the same block."""
    bad: List[str] = []
    for rel, tree in sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler) and node.type is None:
                bad.append(f"{rel}:{node.lineno} bare except")
        for block in _statement_lists(tree):
            for i, stmt in enumerate(block):
                if not isinstance(stmt, ast.Try) or not any(
                        isinstance(sub, ast.Assert) for h in stmt.handlers for sub in ast.walk(h)):
                    continue
                if not _checks([*stmt.body, *stmt.orelse, *block[i + 1:]]):
                    bad.append(f"{rel}:{stmt.lineno} asserts only in except")
    assert not bad, bad


def test_every_zip_is_strict() -> None:
    bad = [f"{rel}:{node.lineno}" for rel, tree in sources(SUITE_DIRS) for node in ast.walk(tree)
           if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "zip"
           and not any(k.arg == "strict" for k in node.keywords)]
    assert not bad, f"zip() without strict=: {bad}"
    # ruff's B905 stays on (it fires where the target is Python 3.10, which has strict=)
    pyproject = (ROOT / "pyproject.toml").read_text()
    ignore = re.search(r"^ignore = \[(.*)\]$", pyproject, re.M)
    assert ignore and "B905" not in ignore.group(1)
    targets = re.search(r"^per-file-target-version = \{(.*)\}$", pyproject, re.M)
    assert targets and all(f'"{d}/**" = "py310"' in targets.group(1) for d in SUITE_DIRS)


def test_every_subprocess_gets_a_controlled_environment() -> None:
    bad: List[str] = []
    for rel, tree in sources():
        for call in calls(tree, "subprocess", SUBPROCESS_CALLS):
            if not any(k.arg == "env" for k in call.keywords):
                bad.append(f"{rel}:{call.lineno} subprocess without env=")
        if rel == "tests/cli_support.py":  # where the controlled environment is made
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and ast.unparse(node) == "os.environ":
                bad.append(f"{rel}:{node.lineno} reads the caller's environment")
    # the knobs of the fuzz tests' budget (KDBG_FUZZ_EXAMPLES) are the only reads allowed
    bad = [b for b in bad if not (b.startswith("tests/test_fuzz_") and "environment" in b)]
    assert not bad, bad


def test_no_test_vanishes_from_collection() -> None:
    bad: List[str] = []
    for rel, tree in sources():
        for node in tree.body:
            main = isinstance(node, ast.If) and ast.unparse(node.test) == "__name__ == '__main__'"
            if isinstance(node, (ast.If, ast.Try)) and not main and any(
                    isinstance(sub, (ast.FunctionDef, ast.ClassDef)) and sub.name.startswith(("test_", "Test"))
                    for sub in ast.walk(node)):
                bad.append(f"{rel}:{node.lineno} a test defined under a condition")
        for node in ast.walk(tree):
            text = ast.unparse(node) if isinstance(node, (ast.Attribute, ast.Name)) else ""
            if text in ("pytest.skip", "pytest.mark.skip", "pytest.mark.skipif", "pytest.importorskip",
                        "collect_ignore", "collect_ignore_glob"):
                bad.append(f"{rel}:{node.lineno} {text}")
            if isinstance(node, ast.ExceptHandler) and node.type is not None and any(
                    n in ast.unparse(node.type) for n in ("ImportError", "ModuleNotFoundError")):
                bad.append(f"{rel}:{node.lineno} an optional import")
    assert not bad, bad


def test_every_test_has_a_timeout(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.hasplugin("timeout"), "pytest-timeout is a test dependency"
    assert 0 < float(pytestconfig.getini("timeout")) <= 1800
    test_extras = re.search(r"^test = \[(.*?)^\]", (ROOT / "pyproject.toml").read_text(), re.M | re.S)
    assert test_extras and '"pytest-timeout>=' in test_extras.group(1)


#: Seconds the collection of the whole suite may take in a subprocess (85 s measured on
#: a loaded 2-core machine).
COLLECT_TIMEOUT = 900


@pytest.mark.timeout(COLLECT_TIMEOUT + 60)
def test_collecting_has_no_side_effects(tmp_path: Path) -> None:
    """``python -m pytest --collect-only -q`` of the whole suite, with ``TMPDIR`` and
    ``HOME`` fresh empty directories and no ``KDBG_CACHE``/``XDG_CACHE_HOME`` (so kdbg's
    cache would be ``~/.cache/kdbg``): both directories are still empty afterwards.
    Importing a test module makes no temporary directory, writes no file, builds and
    fetches nothing; only running a test may (a directory removed at exit counts too: a
    process killed by a timeout never removes it)."""
    tmp, home = tmp_path / "tmp", tmp_path / "home"
    tmp.mkdir()
    home.mkdir()
    env = clean_env(HOME=str(home), TMPDIR=str(tmp), KDBG_CACHE=None, XDG_CACHE_HOME=None,
                    PYTHONDONTWRITEBYTECODE="1")
    p = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=COLLECT_TIMEOUT)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert re.search(r"^\d+ tests collected", p.stdout, re.M), p.stdout[-3000:]
    assert sorted(str(f.relative_to(tmp_path)) for f in tmp_path.rglob("*")) == ["home", "tmp"]
