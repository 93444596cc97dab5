"""The command line's tools (``kdbg shrink|report|triage ...``) are chosen by one dispatch
table and imported only when named: a ``-x`` or ``-e`` run (``btf dump --format c``, whose
start-up issue 13 times against bpftool) does not import them."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kdbg.ui.cli import TOOLS
from tests.cli_support import ROOT, clean_env

pytestmark = pytest.mark.timeout(300)

_MODULES = {"shrink": "kdbg.ui.shrink", "report": "kdbg.ui.report", "triage": "kdbg.ui.triage"}


def test_each_tool_is_its_modules_command() -> None:
    """The table's words are the tools' own ``COMMAND`` names, every tool is in it."""
    assert set(TOOLS) == set(_MODULES)
    for word, module in _MODULES.items():
        assert word == importlib.import_module(module).COMMAND


def test_a_commands_run_imports_no_tool(tmp_path: Path, btf618_path: Path) -> None:
    """``kdbg --btf F -x 'btf dump --format c'``, run in one process: none of the tools'
    modules is imported, and the header is written."""
    btf = str(btf618_path)
    code = (
        "import io, json, sys, contextlib\n"
        "from kdbg.ui.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        f"    rc = main(['--btf', {btf!r}, '-x', 'btf dump --format c', '-q'])\n"
        "print(json.dumps([rc, buf.getvalue()[:22], sorted(m for m in sys.modules if m.startswith('kdbg.ui.'))]))\n"
    )
    env = clean_env(KDBG_CACHE=str(tmp_path))
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr[-2000:]
    rc, head, loaded = json.loads(p.stdout.splitlines()[-1])
    assert rc == 0 and head == "#ifndef __VMLINUX_H__\n"
    assert "kdbg.ui.cli" in loaded
    assert not set(loaded) & set(_MODULES.values()), loaded
