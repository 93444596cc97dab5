"""drgn's ``contrib/`` scripts run by drgn (with Debian's DWARF) and by kdbg (without).

:func:`run_under_drgn` runs a script as drgn's command line runs one (the default program
set, ``prog`` the only global, the script's directory first on ``sys.path``), on a
program opened as the oracle opens it (:data:`vmcores.oracle._OPEN_PROGRAM`: the dump,
Debian's ``vmlinux``, module symbols from kallsyms). Its answer is cached under
``<cache>/oracle/contrib/``, keyed by the dump, the ``vmlinux``, drgn's version, the script's
bytes and the arguments. :func:`run_under_kdbg` runs ``python -m kdbg -c CORE SCRIPT ARGS``
as a user would, never cached.

A ``{out}`` in the arguments is a file the script writes (``gcore.py PID {out}``): its
SHA-256 is part of the answer.

Usage::

    python -m vmcores.contrib SUITE SCRIPT [ARG ...]   # both outputs, and whether they agree
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from vmcores.build import reference_dumps
from vmcores.debian import cache_root, debian_dbg_vmlinux, file_lock
from vmcores.drgn_source import contrib_scripts
from vmcores.oracle import _OPEN_PROGRAM, ORACLE_FORM, _file_id, drgn_version

__all__ = ["ScriptRun", "run_under_drgn", "run_under_kdbg", "SCRIPT_TIMEOUT"]

#: Seconds one script may take (search_kernel_memory reads every page of the dump).
SCRIPT_TIMEOUT = 600

#: Version of the cached answer's layout; part of the key.
CONTRIB_FORMAT = 1

_DRGN_LAUNCHER = r"""
import os, runpy, sys, time
import drgn
OPEN_PROGRAM
core, vmlinux, script, *args = sys.argv[1:]
prog, _ = open_program(core, vmlinux)
drgn.set_default_prog(prog)
sys.argv = [script, *args]
sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
runpy.run_path(script, init_globals={"prog": prog}, run_name="__main__")
"""


@dataclasses.dataclass(frozen=True)
class ScriptRun:
    """One run: exit status, standard output, the last line of standard error (the error
    a failing script ended with) and the SHA-256 of the ``{out}`` file, if any."""

    returncode: int
    stdout: str
    last_error: str
    out_sha256: Optional[str]

    def as_json(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def _run(argv: Sequence[str], args: Sequence[str], cwd: Path, env: Dict[str, str], timeout: int) -> ScriptRun:
    out = cwd / "out.file"
    full = list(argv) + [a.replace("{out}", str(out)) for a in args]
    try:
        proc = subprocess.run(full, capture_output=True, text=True, errors="replace", timeout=timeout,
                              env=env, cwd=cwd, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return ScriptRun(-1, "", f"timed out after {timeout}s", None)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    sha = hashlib.sha256(out.read_bytes()).hexdigest() if out.exists() else None
    return ScriptRun(proc.returncode, proc.stdout, lines[-1] if lines else "", sha)


def _clean_env() -> Dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def run_under_drgn(core: Path, script: Path, args: Sequence[str], *, suite: str,
                   vmlinux: Optional[Path] = None, timeout: int = SCRIPT_TIMEOUT) -> ScriptRun:
    """``script ARGS`` under drgn with Debian's DWARF ``vmlinux`` of ``suite`` (cached; a run
    that timed out is not)."""
    vml = Path(vmlinux) if vmlinux is not None else debian_dbg_vmlinux(suite)
    key_data = {
        "format": CONTRIB_FORMAT, "core": _file_id(core), "vmlinux": _file_id(vml), "drgn": drgn_version(),
        "script": hashlib.sha256(script.read_bytes()).hexdigest(), "name": script.name, "args": list(args),
    }
    key = hashlib.sha256(json.dumps(key_data, sort_keys=True).encode()).hexdigest()[:24]
    path = cache_root() / "oracle" / "contrib" / f"{script.stem}-{key}.json"
    with file_lock(path.with_suffix(".lock")):
        if path.exists():
            return ScriptRun(**json.loads(path.read_text())["run"])
        launcher = _DRGN_LAUNCHER.replace("OPEN_PROGRAM", _OPEN_PROGRAM)
        with tempfile.TemporaryDirectory(prefix="kdbg-contrib-") as tmp:
            argv = [sys.executable, "-c", launcher, str(core), str(vml), str(script)]
            run = _run(argv, args, Path(tmp), _clean_env(), timeout)
        if run.returncode == -1:
            return run
        tmp_path = path.with_suffix(".tmp")
        tmp_path.write_text(json.dumps({"key": key_data, "run": run.as_json()}))
        tmp_path.replace(path)
        return run


def run_under_kdbg(core: Path, script: Path, args: Sequence[str], *, checkout: Optional[Path] = None,
                   timeout: int = SCRIPT_TIMEOUT) -> ScriptRun:
    """``kdbg -c CORE script ARGS`` (``python -m kdbg`` of ``checkout``, default this one)."""
    root = Path(checkout) if checkout is not None else Path(__file__).resolve().parent.parent
    env = _clean_env()
    env["PYTHONPATH"] = str(root)
    with tempfile.TemporaryDirectory(prefix="kdbg-contrib-") as tmp:
        return _run([sys.executable, "-m", "kdbg", "-c", str(core), str(script)], args, Path(tmp), env, timeout)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suite")
    parser.add_argument("script", help="a contrib script's name (ps.py) or path")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args(argv)
    script = Path(ns.script) if os.sep in ns.script else contrib_scripts() / ns.script
    (dump,) = [d for d in reference_dumps(suites=[ns.suite]) if d.form == ORACLE_FORM]
    d = run_under_drgn(dump.path, script, ns.args, suite=ns.suite)
    k = run_under_kdbg(dump.path, script, ns.args)
    for name, run in (("drgn", d), ("kdbg", k)):
        print(f"== {name}: exit {run.returncode} {run.last_error}")
        sys.stdout.write(run.stdout)
    same = (d.returncode, d.stdout, d.out_sha256) == (k.returncode, k.stdout, k.out_sha256)
    print("== same" if same else "== DIFFERENT")
    return 0


if __name__ == "__main__":
    sys.exit(main())
