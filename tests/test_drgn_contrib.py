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

Every script of drgn's ``contrib/`` is either in :data:`RUNS` or in :data:`CANNOT` with the
reason (a test checks that the two lists cover the directory).
"""

from __future__ import annotations

import builtins
import difflib
import re
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

import kdbg.compat.drgn as kdbg_drgn
import kdbg.errors as kdbg_errors
from tests.conftest import resolve_dump
from vmcores.contrib import ScriptRun, run_under_drgn, run_under_kdbg
from vmcores.debian import SUITES
from vmcores.drgn_source import contrib_scripts
from vmcores.oracle import Query, ask_drgn

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

#: The dump forms each script runs on: ``(form, tool)``.
FORMS: List[Tuple[str, str]] = [("elf-paging", "qemu"), ("kdump-zlib", "makedumpfile")]

#: What a script's arguments are made of on one dump: values drgn (with DWARF) finds, and
#: ``release``, the kernel release the guest reported (``uname -r``).
Facts = Dict[str, str]

#: drgn expressions whose values some scripts take as arguments (asked on each dump).
FACT_QUERIES = {
    # A struct file PID 1 has open (its standard input).
    "file": "drgn.helpers.linux.pid.find_task(prog, 1).files.fdt.fd[0]",
    # A user address of PID 1 whose page is present: its argument strings.
    "user_vaddr": "drgn.helpers.linux.pid.find_task(prog, 1).mm.arg_start",
}

#: Scripts that run on a vmcore: name -> argument lists (each list is one run), written
#: with ``{fact}`` placeholders from :data:`FACT_QUERIES` and ``{out}`` for a file the
#: script writes.
RUNS: Dict[str, List[List[str]]] = {
    "bpf_inspect.py": [["prog"], ["map"], ["link"], ["prog", "--show-details"]],
    "cgroup.py": [["tree"], ["stat"], ["bpf"]],
    "find_struct_file.py": [["{file}"]],
    "fs_inodes.py": [[], ["/proc"]],
    "gcore.py": [["1", "{out}"]],
    "irq.py": [[]],
    "kcore_list.py": [[]],
    "lsmod.py": [[]],
    "mount.py": [[]],
    "mutex_owner.py": [["module_mutex"]],
    "platform_drivers.py": [[]],
    "ps.py": [[], ["-d"], ["-k"], ["-u"], ["-t", "1", "2"], ["--hierarchy", "1"], ["-c", "2"]],
    "search_kernel_memory.py": [["--string", "{release}"]],
    "show_page_info.py": [["1", "{user_vaddr}"]],
    "slabinfo.py": [[]],
    "tcp_sock.py": [[]],
    "vmallocinfo.py": [[]],
    "vmmap.py": [["1"]],
    "vmstat.py": [[]],
    "pp_leak/ls_pp_leaks.py": [[]],
    # an interface the guests have (lo) and one they lack: drgn's netdev_get_by_name finds and misses
    "pp_leak/scan_tcp_socks.py": [[], ["-i", "lo"], ["-i", "eth9"]],
}

#: Scripts that cannot run on these vmcores, and why.
CANNOT: Dict[str, str] = {
    "bt_by_pid_and_frame.py": "prints source files and lines and inline frames of a stack trace, and a "
    "frame's local variables: DWARF-only information (kdbg's stack traces are ORC's, named by kallsyms)",
    "pstack.py": "unwinds user-space stacks with the user programs' debug info (DWARF of the binaries)",
    "stack_trace_call_fault.py": "needs a crash through a call to a bad address and DWARF to name its "
    "caller's registers; the guests' crashes are a sysrq panic, a NULL write and an NMI",
    "qemu_mem.py": "reads a running QEMU process's memory on the host (/proc/PID/mem), not a vmcore",
    "ptdrgn.py": "an interactive ptpython shell (ptpython is not a dependency of either debugger)",
    "negdentdelete.py": "deletes negative dentries of a live system through the filesystem; never on a dump",
    "dm_crypt_key.py": "needs a dm-crypt device; the guests have none",
    "btrfs_orphan_subvolumes.py": "needs a mounted btrfs filesystem; the guests have none",
    "btrfs_print_fs_uuids_cache.py": "needs btrfs loaded and a btrfs filesystem; the guests have none",
    "btrfs_tree.py": "a btrfs helper library for interactive use; needs a btrfs filesystem",
    "btrfs_tree_mod_log.py": "needs a btrfs filesystem with a tree mod log; the guests have none",
    "dump_btrfs_bgs.py": "needs a mounted btrfs filesystem; the guests have none",
    "pp_leak/guess_leaky_skbs.py": "takes the bytes of a leaked page_pool page that ls_pp_leaks.py finds; "
    "the guests leak none",
}


def test_every_contrib_script_is_accounted_for() -> None:
    """drgn's contrib directory is exactly RUNS + CANNOT: a script added or renamed in
    drgn's release shows here, not as silently untested."""
    root = contrib_scripts()
    present = {str(p.relative_to(root)) for p in root.rglob("*.py")}
    assert not set(RUNS) & set(CANNOT)
    assert present == set(RUNS) | set(CANNOT), (
        f"not listed: {sorted(present - set(RUNS) - set(CANNOT))}; "
        f"listed but absent: {sorted((set(RUNS) | set(CANNOT)) - present)}"
    )


def _facts(suite: str, truth: Path) -> Facts:
    core = resolve_dump(suite, "elf-paging", "qemu").path
    answers = ask_drgn(suite, core, [Query(k, text) for k, text in FACT_QUERIES.items()])
    facts: Facts = {"release": (truth / "uname").read_text().strip()}
    for key in FACT_QUERIES:
        rec = answers.records[key]
        assert rec["kind"] == "object", f"{suite}: drgn could not evaluate {FACT_QUERIES[key]}: {rec}"
        facts[key] = hex(rec["value"])
    return facts


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
    facts = _facts(suite, dump.truth)
    path = contrib_scripts() / script
    problems: List[str] = []
    for template in RUNS[script]:
        args = [a.format(out="{out}", **facts) for a in template]
        drgn_run = run_under_drgn(dump.path, path, args, suite=suite)
        kdbg_run = run_under_kdbg(dump.path, path, args)
        what = f"{script} {' '.join(args)}"
        if drgn_run.returncode != kdbg_run.returncode:
            problems.append(f"{what}: exit status drgn {drgn_run.returncode} ({drgn_run.last_error}), "
                            f"kdbg {kdbg_run.returncode} ({kdbg_run.last_error})")
        elif drgn_run.returncode != 0 and not _same_failure(drgn_run, kdbg_run):
            problems.append(f"{what}: drgn failed with {drgn_run.last_error!r}, kdbg with {kdbg_run.last_error!r}")
        if drgn_run.stdout != kdbg_run.stdout:
            problems.append(f"{what}: output differs\n{_diff(drgn_run.stdout, kdbg_run.stdout)}")
        if drgn_run.out_sha256 != kdbg_run.out_sha256:
            problems.append(f"{what}: the file it wrote differs (sha256 drgn {drgn_run.out_sha256}, "
                            f"kdbg {kdbg_run.out_sha256})")
    assert not problems, f"{suite} {form}:\n" + "\n".join(problems)


