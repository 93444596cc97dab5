"""The interactive examples of drgn's documentation, run by drgn (with Debian's DWARF) and
by kdbg (without) on the same dump.

drgn's documentation shows its API in interactive sessions (``>>>`` and ``...`` lines): the
user guide, the other pages under ``docs/`` and the docstrings of its modules (the API
reference is rendered from ``_drgn.pyi`` and ``drgn/*.py``, the helpers' pages from
``drgn/helpers/**/*.py``). :func:`extract_examples` reads them from drgn's source
distribution (fetched at test time by :mod:`vmcores.drgn_source`, never copied here).

An *example* is one run of prompt lines in one literal block, named by its file and the
line of its first ``>>>`` (``docs/user_guide.rst:31``). The examples of one *document* (an
``.rst`` file, or one docstring) are one session: :func:`run_examples` runs them in order in
one namespace, as a reader following the page types them into drgn's interactive mode.

The driver (``vmcores/doc_driver.py``) is the same script under both debuggers: it builds
the namespace of drgn's interactive mode (``drgn``, ``prog``, drgn's default globals, ``from
drgn.helpers.common import *``, ``from drgn.helpers.linux import *``; the names are read
from drgn's ``cli.py`` by :func:`interactive_names`), executes each statement as the
console does and shows each expression's value as drgn's display hook does (``format_()``
for objects, ``str()`` for types and stack traces, ``repr()`` otherwise). An exception is
shown as its class (the first class that drgn's ``__all__`` or Python's builtins name, so
a subclass kdbg raises is shown as what a drgn user catches) and message.

Usage::

    python -m vmcores.doc_examples                 # list every example: id, document, code
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from vmcores.contrib import ScriptRun, run_under_drgn, run_under_kdbg
from vmcores.debian import cache_root, file_lock
from vmcores.drgn_source import drgn_source

__all__ = [
    "Statement", "Example", "extract_examples", "examples_in_text", "interactive_names", "DRIVER",
    "EXAMPLE_MARK", "NAMESPACE_ID", "run_examples", "split_output", "DRIVER_TIMEOUT", "COLUMNS",
]

#: The driver both debuggers run.
DRIVER = Path(__file__).resolve().parent / "doc_driver.py"

#: The line that starts an example's output in the driver's standard output.
EXAMPLE_MARK = "=== drgn doc example "

#: The pseudo-example id under which the driver lists drgn's interactive names the
#: debugger running it lacks.
NAMESPACE_ID = "(namespace)"

#: Seconds one debugger may take for all the examples on one dump.
DRIVER_TIMEOUT = 1800

#: The terminal width objects are formatted for (drgn's display hook asks the terminal;
#: the driver fixes it, so that both debuggers and every run format alike).
COLUMNS = 80

_PROMPT = re.compile(r"^(\s*)>>>(?: |$)")
_MORE = re.compile(r"^(\s*)\.\.\.(?: |$)")


@dataclasses.dataclass(frozen=True)
class Statement:
    """One ``>>>`` line and its ``...`` continuation lines, prompts removed."""

    line: int
    source: str


@dataclasses.dataclass(frozen=True)
class Example:
    """One run of prompt lines in one literal block.

    ``id`` is ``path:line`` (the path relative to drgn's source tree, the line of the first
    ``>>>``); ``document`` names the session it belongs to (the ``.rst`` file, or
    ``path:qualname`` of a docstring); ``expected`` is the output the documentation shows
    (from its author's machine: for reading, never compared).
    """

    id: str
    document: str
    statements: Tuple[Statement, ...]
    expected: str

    @property
    def code(self) -> str:
        """The example as the documentation shows it, prompts included."""
        out = []
        for st in self.statements:
            first, *rest = st.source.split("\n")
            out.append(">>> " + first)
            out.extend(("... " + r).rstrip() for r in rest)
        return "\n".join(out)


def _strip_prompt(text: str, indent: int) -> str:
    """A prompt line's code: the four prompt characters after ``indent`` removed."""
    return text[indent + 4:] if len(text) > indent + 3 else ""


def examples_in_text(lines: Sequence[str], first_line: int, path: str, document: str) -> List[Example]:
    """The examples in ``lines`` (``lines[0]`` is line ``first_line`` of ``path``).

    A block starts at a ``>>>`` line of indentation *I*; ``...`` lines directly after a
    prompt line continue its statement; other lines are output. The block ends at a line
    indented less than *I*, or at a line of indentation *I* that follows a blank line and
    is no prompt (the prose after a doctest block).
    """
    examples: List[Example] = []
    i = 0
    while i < len(lines):
        m = _PROMPT.match(lines[i])
        if not m:
            i += 1
            continue
        indent = len(m.group(1).expandtabs())
        start = first_line + i
        statements: List[Statement] = []
        expected: List[str] = []
        blank = False
        while i < len(lines):
            text = lines[i].expandtabs()
            if not text.strip():
                blank = True
                expected.append("")
                i += 1
                continue
            here = len(text) - len(text.lstrip())
            prompt = _PROMPT.match(text)
            if here < indent or (blank and here == indent and not prompt):
                break
            blank = False
            if prompt and here == indent:
                source = [_strip_prompt(text, indent)]
                i += 1
                while i < len(lines) and _MORE.match(lines[i].expandtabs()) and \
                        len(lines[i].expandtabs()) - len(lines[i].expandtabs().lstrip()) == indent:
                    source.append(_strip_prompt(lines[i].expandtabs(), indent))
                    i += 1
                statements.append(Statement(first_line + i - len(source), "\n".join(source).rstrip("\n")))
                continue
            expected.append(text[indent:])
            i += 1
        examples.append(Example(f"{path}:{start}", document, tuple(statements), "\n".join(expected).strip("\n")))
    return examples


def _docstrings(tree: ast.Module) -> Iterator[Tuple[str, ast.Constant]]:
    """``(qualname, docstring node)`` of the module, its classes and functions (nested too)."""

    def visit(node: ast.AST, prefix: str) -> Iterator[Tuple[str, ast.Constant]]:
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            yield prefix or "<module>", body[0].value
        for child in body if isinstance(body, list) else []:
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                yield from visit(child, f"{prefix}.{child.name}" if prefix else child.name)

    yield from visit(tree, "")


def _python_examples(path: Path, rel: str) -> List[Example]:
    text = path.read_text()
    lines = text.splitlines()
    examples: List[Example] = []
    for qualname, node in _docstrings(ast.parse(text, str(path))):
        assert node.end_lineno is not None
        # The docstring's own lines: its value with escapes resolved would shift nothing
        # here (drgn's docstrings hold no line-changing escapes), but the file's lines keep
        # the line numbers exact.
        body = lines[node.lineno - 1:node.end_lineno]
        examples += examples_in_text(body, node.lineno, rel, f"{rel}:{qualname}")
    return examples


def extract_examples(tree: Path) -> List[Example]:
    """Every interactive example of drgn's documentation in the source tree ``tree``: the
    ``.rst`` files under ``docs/`` and ``README.rst`` (the user guide's quick start), and
    the docstrings of ``_drgn.pyi``, ``drgn/*.py`` and ``drgn/helpers/**/*.py``."""
    examples: List[Example] = []
    for path in [tree / "README.rst", *sorted((tree / "docs").rglob("*.rst"))]:
        rel = str(path.relative_to(tree))
        examples += examples_in_text(path.read_text().splitlines(), 1, rel, rel)
    sources = [tree / "_drgn.pyi", *sorted((tree / "drgn").glob("*.py")),
               *sorted((tree / "drgn" / "helpers").rglob("*.py"))]
    for path in sources:
        examples += _python_examples(path, str(path.relative_to(tree)))
    return examples


def _drgn_all(tree: Path) -> List[str]:
    """The names drgn's top-level module exports (``__all__`` of ``drgn/__init__.py``)."""
    path = tree / "drgn" / "__init__.py"
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name) and node.targets[0].id == "__all__" and \
                isinstance(node.value, (ast.List, ast.Tuple)):
            return [e.value for e in node.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    raise RuntimeError(f"{path}: __all__ not found")


def interactive_names(tree: Path) -> Dict[str, List[str]]:
    """What drgn's interactive mode (``drgn/cli.py`` of ``tree``) puts in its namespace and
    shows with ``str()``, and what drgn exports: ``{"globals": [...], "display_str": [...],
    "api": [...]}``, names in ``drgn``."""
    module = ast.parse((tree / "drgn" / "cli.py").read_text())
    found: Dict[str, List[str]] = {"api": _drgn_all(tree)}
    for node in module.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
        value = getattr(node, "value", None)
        if not isinstance(target, ast.Name) or not isinstance(value, (ast.List, ast.Tuple)):
            continue
        if target.id == "_DRGN_GLOBALS":
            found["globals"] = [e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        elif target.id == "_DISPLAY_STR_TYPES":
            found["display_str"] = [e.attr for e in value.elts if isinstance(e, ast.Attribute)]
    if set(found) != {"globals", "display_str", "api"} or not all(found.values()):
        raise RuntimeError(f"{tree / 'drgn' / 'cli.py'}: _DRGN_GLOBALS or _DISPLAY_STR_TYPES not found")
    return found


def _blocks_file(payload: Dict[str, Any]) -> Path:
    """The driver's input, in a file named by its content (so drgn's cached answer, keyed
    by the arguments, changes exactly when the input does)."""
    data = json.dumps(payload, sort_keys=True, indent=1)
    digest = hashlib.sha256(data.encode()).hexdigest()[:24]
    path = cache_root() / "doc-examples" / f"examples-{digest}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(path.with_suffix(".lock")):
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_text(data)
            tmp.replace(path)
    return path


def driver_input(examples: Sequence[Example], names: Dict[str, List[str]],
                 sources: Optional[Mapping[str, Sequence[str]]] = None) -> Dict[str, Any]:
    """The driver's input: the examples grouped into sessions in order, with the code of
    each statement (``sources[id]``, one text per statement, replaces an example's own:
    the test's substitutions)."""
    sessions: Dict[str, List[Dict[str, Any]]] = {}
    for ex in examples:
        code = list(sources[ex.id]) if sources and ex.id in sources else [s.source for s in ex.statements]
        sessions.setdefault(ex.document, []).append({"id": ex.id, "statements": code})
    return {"columns": COLUMNS, "names": names, "mark": EXAMPLE_MARK, "namespace_id": NAMESPACE_ID,
            "sessions": [{"document": d, "examples": exs} for d, exs in sessions.items()]}


def split_output(stdout: str) -> Dict[str, str]:
    """The driver's standard output, per example id."""
    out: Dict[str, List[str]] = {}
    current: Optional[List[str]] = None
    for line in stdout.splitlines():
        if line.startswith(EXAMPLE_MARK):
            current = out.setdefault(line[len(EXAMPLE_MARK):], [])
        elif current is not None:
            current.append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def run_examples(core: Path, suite: str, payload: Dict[str, Any],
                 kdbg_core: Optional[Path] = None) -> Tuple[ScriptRun, ScriptRun]:
    """The driver's run under drgn (cached) on ``core`` of ``suite`` and under kdbg on
    ``kdbg_core`` (default ``core``: another form of the same stopped guest where drgn cannot
    read that form)."""
    blocks = _blocks_file(payload)
    drgn_run = run_under_drgn(core, DRIVER, [str(blocks)], suite=suite, timeout=DRIVER_TIMEOUT)
    kdbg_run = run_under_kdbg(kdbg_core or core, DRIVER, [str(blocks)], timeout=DRIVER_TIMEOUT)
    return drgn_run, kdbg_run


def main(argv: Optional[Sequence[str]] = None) -> int:
    for ex in extract_examples(drgn_source()):
        print(f"## {ex.id}  [{ex.document}]")
        print(ex.code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
