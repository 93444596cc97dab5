"""drgn's signal helpers against drgn with Debian's DWARF on the three reference kernels:
the name tables, every task's signal sets decoded and in hex, every ``sigaction``'s flags,
the pending queues; and against the guest's ``/proc/<pid>/stat``: a task's ``blocked``
set in hex is field 32 in hexadecimal, its pending sets together are field 31 (PID 1 was
running the snapshot and is left out: see ``tests/proc_stat_truth.py``)."""

from __future__ import annotations

import re
import subprocess

import pytest

from kdbg.arch import tif_sigpending
from kdbg.helpers.pid import find_task
from kdbg.helpers.signal import sigset_to_hex, task_sigpending
from tests.cli_support import clean_env
from tests.helpers_compare import drgn_answers, mismatches, oracle_program
from tests.oracle_exprs import oracle_dump
from tests.proc_stat_truth import proc_stat
from vmcores.debian import EXTRA_SUITES, SUITES, debian_dbg_vmlinux

SETS = ["t.blocked", "t.real_blocked", "t.pending.signal", "t.signal.shared_pending.signal",
        "t.sighand.action[13].sa.sa_mask", "t.blocked.address_of_()"]
TASKS = "H.for_each_task(prog)"
CASES = {
    "signal_names": "dict(H.signal_names(prog))",
    "signal_numbers": "{k: list(v) for k, v in H.signal_numbers(prog).items()}",
    "sigaction_flags": "dict(H.sigaction_flags(prog))",
    **{f"decode_sigset.{s}": f"[H.decode_sigset(prog, {s}) for t in {TASKS}]" for s in SETS},
    **{f"sigset_to_hex.{s}": f"[H.sigset_to_hex({s}) for t in {TASKS}]" for s in SETS},
    "decode_sigset.ints": "[H.decode_sigset(prog, n) for n in (0, 1, 0x14003, 2**31, 2**32 - 1, 2**63, 2**64 - 1)]",
    "decode_sigset.negative": "H.decode_sigset(prog, -1)",
    "decode_sigset.default_object": "H.decode_sigset(prog['init_task'].blocked)",
    "sigaction_flags.each": f"[[H.decode_sigaction_flags(t.sighand.action[i].sa) for i in range(64)] for t in {TASKS}]",
    "sigaction_flags.values": "[H.decode_sigaction_flags_value(prog, v) for v in "
                              "(0, 1, 0x14000000, 0x4000004, 0xdc000007, 0x800400, 0x20000, 2**32 - 1)]",
    "sigpending": f"[[q.value_() for q in H.sigpending_for_each(t.pending.address_of_())] + "
                  f"[q.value_() for q in H.sigpending_for_each(t.signal.shared_pending.address_of_())] "
                  f"for t in {TASKS}]",
}


@pytest.mark.parametrize("suite", SUITES)
def test_signal_as_drgn_and_proc_stat(suite: str) -> None:
    assert mismatches(suite, CASES) == {}
    prog = oracle_program(suite)
    in_dump = set(drgn_answers(suite, {"pids": "[t.pid.value_() for t in H.for_each_task(prog)]"})["pids"]["value"])
    checked = 0
    for pid, fields in proc_stat(oracle_dump(suite).truth).items():
        if pid == 1 or pid not in in_dump:
            continue
        t = find_task(prog, pid)
        assert int(sigset_to_hex(t.blocked), 16) == int(fields[32]), pid
        pending = int(sigset_to_hex(t.pending.signal), 16) | int(sigset_to_hex(t.signal.shared_pending.signal), 16)
        assert pending == int(fields[31]), pid
        checked += 1
    assert checked >= 20


def _objdump_sigpending_bit(suite: str) -> int:
    """The bit ``signal_wake_up_state``'s ``set_tsk_thread_flag(t, TIF_SIGPENDING)`` sets,
    as binutils' objdump disassembles it in Debian's ``-dbg`` vmlinux (``thread_info`` is
    the first member of x86-64's ``task_struct``, its ``flags`` the first of it):
    ``lock orb $0x4,(%rdi)`` before the generic TIF bits (x86's ``thread_info.h``: 2),
    ``lock orb $0x2,(%rdi)`` with them (``asm-generic/thread_info_tif.h``: 1)."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "--disassemble=signal_wake_up_state",
                          str(debian_dbg_vmlinux(suite))], capture_output=True, text=True, check=True,
                         timeout=120, env=clean_env()).stdout
    ors = re.findall(r"\slock orb\s+\$0x([0-9a-f]+),\(%rdi\)", out)
    assert len(ors) == 1, out
    value = int(ors[0], 16)
    assert value in (2, 4), out
    return value.bit_length() - 1


@pytest.mark.parametrize("suite", SUITES + EXTRA_SUITES)
def test_task_sigpending_is_the_kernels_bit(suite: str) -> None:
    """``sig``'s SIGPENDING: every task's ``TIF_SIGPENDING`` at the bit the kernel's own code
    sets (read by objdump from the -dbg vmlinux, not by kdbg), ``thread_info.flags`` as drgn
    reads them with DWARF. Few tasks have either bit set (bookworm: 8 with bit 1, forky:
    none), so the bit kdbg decodes from the dump's code is compared as well."""
    bit = _objdump_sigpending_bit(suite)
    prog = oracle_program(suite)
    sym = prog.symbol("signal_wake_up_state")
    assert tif_sigpending("x86_64", (prog.read(sym.address, sym.size), sym.address)) == bit
    text = "[[t.pid.value_(), t.thread_info.flags.value_()] for t in H.for_each_task(prog)]"
    flags = drgn_answers(suite, {"flags": text})["flags"]["value"]
    got = [[pid, task_sigpending(find_task(prog, pid))] for pid, _ in flags]
    assert got == [[pid, bool(f >> bit & 1)] for pid, f in flags]
    assert len(got) >= 20
