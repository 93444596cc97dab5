"""The architecture as written down: the layers and no import cycle (import-linter's
contracts in ``pyproject.toml``), no import of kdbg written inside a function, and no Python
file of the repository (the package, plugins, dump builders, tools, benchmarks, tests) far
above the size of one concern."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from tests.cli_support import clean_env

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "kdbg"

pytestmark = pytest.mark.timeout(600)

#: Imports of kdbg inside a function that are there on purpose, with the reason. An import
#: inside a function that dodges a cycle is never one of them.
DEFERRED = {
    "kdbg/ui/repl.py": "prompt_toolkit, pygments and the completer built on them load only when the REPL starts",
}


def test_layers_and_no_cycles() -> None:
    """``lint-imports`` keeps both contracts (layers; acyclic)."""
    lint = Path(sys.executable).with_name("lint-imports")
    p = subprocess.run([str(lint) if lint.exists() else "lint-imports", "--no-cache"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300, env=clean_env())
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    assert "0 broken" in p.stdout


def _function_imports(path: Path) -> List[str]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for sub in ast.walk(node):
                if isinstance(sub, ast.ImportFrom) and (sub.module or "").startswith("kdbg"):
                    out.append(f"{path.relative_to(ROOT)}:{sub.lineno}: from {sub.module}")
                elif isinstance(sub, ast.Import) and any(a.name.startswith("kdbg") for a in sub.names):
                    out.append(f"{path.relative_to(ROOT)}:{sub.lineno}: import {sub.names[0].name}")
    return out


def test_no_kdbg_import_inside_a_function_but_the_deferred_ones() -> None:
    """An import of kdbg inside a function is either a listed deferral (startup time of
    the command line) or a defect; below the user interface there is none at all."""
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) for hit in _function_imports(path)]
    unlisted = [hit for hit in found if hit.split(":")[0] not in DEFERRED]
    assert unlisted == []
    assert {hit.split(":")[0] for hit in found} == set(DEFERRED), "a deferral listed that no longer exists"
    assert all(hit.startswith("kdbg/ui/") for hit in found)


#: The trees held to one concern a file: the package and everything beside it that is
#: Python (the builders of the test dumps, the offline tools, the benchmarks, the tests).
ONE_CONCERN_TREES = ("kdbg", "plugins", "vmcores", "tools", "benchmarks", "tests")


def test_files_have_one_concern() -> None:
    """No Python file of the package, its plugins, the dump builders, the tools, the
    benchmarks or the tests is far above 600 lines (the size one concern fills)."""
    files = [p for tree in ONE_CONCERN_TREES for p in (ROOT / tree).rglob("*.py")]
    assert len(files) > 300 and all((ROOT / tree).is_dir() for tree in ONE_CONCERN_TREES)
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in files}
    assert {p: n for p, n in sizes.items() if n > 660} == {}
