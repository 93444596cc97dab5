"""``import drgn`` inside kdbg is kdbg's drgn (:mod:`kdbg.compat`), everywhere kdbg runs
Python: ``-e`` code, ``-x`` lines, scripts and plugins; outside kdbg it stays drgn's (the
real drgn 0.3.0 is installed in this environment). A drgn API kdbg lacks is one line naming
it; ``--traceback`` shows a failing script's own frames.

Every case runs the real command line (``python -m kdbg``) on the committed sample dump.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import textwrap
from pathlib import Path

import pytest

import kdbg.compat
from tests.cli_support import run_kdbg

pytestmark = pytest.mark.timeout(600)

ROOT = Path(__file__).resolve().parent.parent

#: What the drgn a piece of code imports is, as one line.
PROBE = ("import drgn, kdbg; from drgn.helpers.linux import *; from drgn.helpers.linux.pid import find_task; "
         "from drgn.helpers.common.format import decode_flags; import drgn.helpers.common.memory, "
         "drgn.helpers.common.type, drgn.helpers.common.prog; "
         "print(drgn.__name__, drgn.Program is kdbg.Program, drgn.Object is kdbg.Object, find_task(1).pid.value_(), "
         "len(list(for_each_task())) > 1)")
EXPECTED = "kdbg.compat.drgn True True 1 True\n"


def test_real_drgn_is_installed_here() -> None:
    """The cases below mean something only with the real drgn importable."""
    spec = importlib.util.find_spec("_drgn")  # drgn's compiled core: kdbg has none
    assert spec is not None and spec.origin is not None and not spec.origin.startswith(str(ROOT)), spec


def test_e_code_imports_kdbgs_drgn(sample_dump) -> None:  # type: ignore[no-untyped-def]
    p = run_kdbg("-q", "-c", str(sample_dump.path), "-e", PROBE)
    assert (p.returncode, p.stdout, p.stderr) == (0, EXPECTED, "")


def test_x_lines_import_kdbgs_drgn(sample_dump) -> None:  # type: ignore[no-untyped-def]
    """``-x`` lines are REPL lines: Python where the first word is no command."""
    p = run_kdbg("-q", "-c", str(sample_dump.path), "-x", "import drgn", "-x", "drgn.__name__",
                 "-x", "from drgn.helpers.linux.pid import find_task", "-x", "find_task(1).pid")
    assert (p.returncode, p.stdout, p.stderr) == (0, "'kdbg.compat.drgn'\n(pid_t)1\n", "")


def test_script_imports_kdbgs_drgn(sample_dump, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    script = tmp_path / "probe.py"
    script.write_text(PROBE.replace("; ", "\n") + "\n")
    p = run_kdbg("-q", "-c", str(sample_dump.path), str(script))
    assert (p.returncode, p.stdout, p.stderr) == (0, EXPECTED, "")


def test_plugin_imports_kdbgs_drgn(sample_dump, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = tmp_path / "plugins"
    d.mkdir()
    os.chmod(d, 0o755)
    (d / "uses_drgn.py").write_text(textwrap.dedent("""\
        import drgn
        from drgn.helpers.linux.pid import find_task

        from kdbg.ui.plugins import helper


        @helper
        def drgn_probe(prog):
            return drgn.__name__, find_task(prog, 1).pid.value_()
        """))
    os.chmod(d / "uses_drgn.py", 0o644)
    p = run_kdbg("-q", "--plugin-path", str(d), "-c", str(sample_dump.path), "-e", "drgn_probe(prog)")
    assert (p.returncode, p.stdout, p.stderr) == (0, "('kdbg.compat.drgn', 1)\n", "")


def test_outside_kdbg_drgn_stays_drgns() -> None:
    """In this process (not kdbg's), ``import drgn`` is the real drgn; while kdbg's finder
    is installed it is kdbg's, and uninstalling gives the real one back, the same module."""
    real = importlib.import_module("drgn")
    assert real.__name__ == "drgn" and not str(real.__file__).startswith(str(ROOT))
    kdbg.compat.install()
    try:
        assert importlib.import_module("drgn").__name__ == "kdbg.compat.drgn"
        assert importlib.import_module("drgn.helpers.linux.pid").__name__ == "kdbg.compat.drgn.helpers.linux.pid"
    finally:
        kdbg.compat.uninstall()
    assert importlib.import_module("drgn") is real and sys.modules["drgn"] is real


def test_unsupported_drgn_api_is_one_line(sample_dump) -> None:  # type: ignore[no-untyped-def]
    p = run_kdbg("-q", "-c", str(sample_dump.path), "-e", "prog.add_memory_segment(0, 1, None)")
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.startswith("kdbg: drgn.Program.add_memory_segment is not supported by kdbg: ")
    assert p.stderr.count("\n") == 1, p.stderr


def test_traceback_shows_the_scripts_frames(sample_dump, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    script = tmp_path / "fails.py"
    script.write_text('import drgn\n\ndef inner():\n    return prog["no_such_global_xyz"]\n\n'
                      'def outer():\n    return inner()\n\nouter()\n')
    p = run_kdbg("-q", "-c", str(sample_dump.path), str(script))
    assert (p.returncode, p.stderr) == (1, "kdbg: ObjectNotFoundError: could not find 'no_such_global_xyz'\n")
    p = run_kdbg("-q", "--traceback", "-c", str(sample_dump.path), str(script))
    assert p.returncode == 1
    for line, where in ((9, "<module>"), (7, "outer"), (4, "inner")):
        assert f'File "{script}", line {line}, in {where}\n' in p.stderr, p.stderr
    assert p.stderr.endswith("ObjectNotFoundError: could not find 'no_such_global_xyz'\n"), p.stderr
