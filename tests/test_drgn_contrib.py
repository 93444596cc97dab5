"""drgn's own ``contrib/`` scripts, run unchanged under kdbg without DWARF, print what
they print under drgn with Debian's DWARF on the same dump.

The scripts are drgn's (fetched from PyPI at test time by :mod:`vmcores.drgn_source`,
never copied here): nobody on this project wrote them, and they exercise drgn's API the
way its users do (``import drgn``, ``from drgn.helpers.linux import *``, the default
program, ``Object`` arithmetic, the type model).

Each script runs on the three reference kernels (5.10, 6.1, 6.12), on QEMU's ``-p`` ELF dump
(the form drgn reads without its NULL-page bug, see :mod:`vmcores.oracle`) and on
makedumpfile's compressed kdump (which drgn reads too), as a fresh process under each
debugger. Exit status, standard output and any file the script writes must be identical;
when drgn itself fails on a dump (a fault the script does not handle), kdbg must fail the
same way: same status, same output up to that point, same exception class.

One rule: where drgn's printer names a pointer's target from the ELF symbol table of
Debian's ``vmlinux`` (local labels such as ``(const char *).LC3+0x16``), the kernel's own
name of that address wins, as its ``%pS`` prints it from the guest's ``/proc/kallsyms``
(:mod:`tests.kernel_names`): drgn's output is compared with each such name replaced by the
kernel's, and kdbg must print exactly that.

Every script of drgn's ``contrib/`` is either in :data:`RUNS` or in :data:`CANNOT` with the
reason (a test checks that the two lists cover the directory).
"""

from __future__ import annotations

import builtins
import difflib
import re
from typing import List

import pytest

import kdbg.compat.drgn as kdbg_drgn
import kdbg.errors as kdbg_errors
from tests.conftest import resolve_dump
from tests.kernel_names import KernelNames, kernel_names
from vmcores.contrib import ScriptRun, run_under_drgn, run_under_kdbg
from vmcores.contrib_runs import CANNOT, CANNOT_RUNS, FORMS, RUNS, Facts, script_args, script_facts
from vmcores.debian import SUITES
from vmcores.drgn_source import contrib_scripts
from vmcores.dump_index import Dump

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_every_contrib_script_is_accounted_for() -> None:
    """drgn's contrib directory is exactly RUNS + CANNOT: a script added or renamed in
    drgn's release shows here, not as silently untested."""
    root = contrib_scripts()
    present = {str(p.relative_to(root)) for p in root.rglob("*.py")}
    assert not set(RUNS) & set(CANNOT)
    for script, args in CANNOT_RUNS:  # another run of the script is compared
        assert script in RUNS and list(args) not in RUNS[script], (script, args)
    assert present == set(RUNS) | set(CANNOT), (
        f"not listed: {sorted(present - set(RUNS) - set(CANNOT))}; "
        f"listed but absent: {sorted((set(RUNS) | set(CANNOT)) - present)}"
    )


def _facts(suite: str, dump: Dump) -> Facts:
    return script_facts(dump, resolve_dump(suite, "elf-paging", "qemu"))


def _exception_class(run: ScriptRun) -> str:
    """The class of the exception a failing run ended with (``FaultError``), from drgn's
    traceback's last line or kdbg's one error line."""
    m = re.match(r"(?:kdbg: )?(?:[\w.]+\.)?(\w+(?:Error|Exception|Exit))\b", run.last_error)
    return m.group(1) if m else run.last_error


def _same_failure(drgn_run: ScriptRun, kdbg_run: ScriptRun) -> bool:
    """Whether kdbg failed with drgn's exception class or a subclass of it (kdbg's
    ``TypeNotFoundError`` is a ``LookupError``, as drgn raises for a missing type), the
    class named by drgn's API where it is drgn's (``FaultError``)."""
    theirs, ours = _exception_class(drgn_run), _exception_class(kdbg_run)
    # vars(): kdbg's drgn module answers a name it lacks with UnsupportedError, which
    # getattr's default does not catch (a script's sys.exit(1) names no class at all)
    expected = getattr(builtins, theirs, None) or vars(kdbg_drgn).get(theirs)
    got = getattr(builtins, ours, None) or getattr(kdbg_errors, ours, None) or vars(kdbg_drgn).get(ours)
    if not (isinstance(expected, type) and isinstance(got, type)):
        return theirs == ours
    return issubclass(got, expected)


#: A pointer the printer symbolized (``)NAME+0xOFF = 0xADDRESS``) or not (``)0xADDRESS =``).
_SYMBOLIZED = re.compile(r"\)(?:([^\s()=]+)\+0x([0-9a-f]+) = )?0x([0-9a-f]+)(?= =|,|$)", re.M)


def _kernel_named(text: str, names: KernelNames) -> str:
    """``text`` with each symbolized pointer named as the kernel's ``%pS`` names it, and a
    pointer into a module's memory drgn names nothing named as the kernel does (the
    module's last symbol below it)."""
    def rename(m: re.Match[str]) -> str:
        address = int(m.group(3), 16)
        if m.group(1) is None and names.module_of(address) is None:
            return m.group(0)
        kernel = names.symbolize(address)
        return m.group(0) if kernel is None else f"){kernel} = 0x{m.group(3)}"
    return _SYMBOLIZED.sub(rename, text)


def _diff(a: str, b: str) -> str:
    lines = list(difflib.unified_diff(a.splitlines(), b.splitlines(), "drgn", "kdbg", lineterm="", n=1))
    return "\n".join(lines[:60]) + ("\n..." if len(lines) > 60 else "")


CASES = [
    pytest.param(suite, form, tool, script, marks=pytest.mark.timeout(3600), id=f"{suite}-{form}-{script}")
    for suite in SUITES
    for form, tool in FORMS
    for script in RUNS
]


@pytest.mark.parametrize("suite,form,tool,script", CASES)
def test_contrib_script_output_is_drgns(suite: str, form: str, tool: str, script: str) -> None:
    dump = resolve_dump(suite, form, tool)
    facts = _facts(suite, dump)
    names = kernel_names(suite)
    path = contrib_scripts() / script
    problems: List[str] = []
    for template in RUNS[script]:
        args = script_args(template, facts)
        drgn_run = run_under_drgn(dump.path, path, args, suite=suite)
        kdbg_run = run_under_kdbg(dump.path, path, args)
        what = f"{script} {' '.join(args)}"
        if drgn_run.returncode != kdbg_run.returncode:
            problems.append(f"{what}: exit status drgn {drgn_run.returncode} ({drgn_run.last_error}), "
                            f"kdbg {kdbg_run.returncode} ({kdbg_run.last_error})")
        elif drgn_run.returncode != 0 and not _same_failure(drgn_run, kdbg_run):
            problems.append(f"{what}: drgn failed with {drgn_run.last_error!r}, kdbg with {kdbg_run.last_error!r}")
        expected = _kernel_named(drgn_run.stdout, names) if drgn_run.stdout != kdbg_run.stdout else drgn_run.stdout
        if expected != kdbg_run.stdout:
            problems.append(f"{what}: output differs (drgn's with the kernel's symbol names)\n"
                            f"{_diff(expected, kdbg_run.stdout)}")
        if drgn_run.out_sha256 != kdbg_run.out_sha256:
            problems.append(f"{what}: the file it wrote differs (sha256 drgn {drgn_run.out_sha256}, "
                            f"kdbg {kdbg_run.out_sha256})")
    assert not problems, f"{suite} {form}:\n" + "\n".join(problems)


