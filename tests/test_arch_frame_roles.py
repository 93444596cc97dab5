"""Each machine's frame roles (:func:`kdbg.arch.is_syscall_frame`,
:func:`kdbg.arch.is_entry_frame`, :func:`kdbg.arch.is_fault_plumbing`), which crash
signatures use to find a crash's meaningful frames, checked on what the guests' kernels
printed: every task of a sysrq-t dump sleeps in ``schedule()`` under its system call or
its kthread's start, so its outermost frame is the machine's system-call entry or first
frame and none of its frames is an exception entry. An oops's signature keeps the
faulting function and none of the plumbing.
The x86-64 guests are the crash scenarios' (5.10, 6.1, 6.12), the arm64 ones the
``cloud-arm64`` reference kernels (6.1, 6.12).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kdbg.arch import AARCH64, X86_64, is_entry_frame, is_fault_plumbing, is_syscall_frame
from kdbg.fleet.signature import GENERIC, signature
from tests.conftest import CRASH_IDS, resolve_crash_dump
from tests.stack_truth import parse_panic, parse_sysrq_t
from vmcores.arm64 import KERNELS, PAGE_SIZE_KERNELS, arm64_dumps
from vmcores.crash import CRASH_FORMS


def _check_sysrq_t(console: Path, machine: str) -> int:
    tasks = parse_sysrq_t(console.read_text(errors="replace"))
    assert tasks, f"{console}: no sysrq-t dump"
    for pid, task in tasks.items():
        frames = [f.function for f in task.reliable_frames]
        assert frames, f"{console}: pid {pid} has no frame"
        assert is_syscall_frame(machine, frames[-1]), (pid, frames)
        assert not [f for f in frames if is_entry_frame(machine, f)], (pid, frames)
        if not task.running:  # the task writing sysrq-trigger prints its own trace
            assert not [f for f in frames if is_fault_plumbing(machine, f)], (pid, frames)
    return len(tasks)


@pytest.mark.parametrize("crash_id", CRASH_IDS, ids="-".join)
def test_x86_64_sleepers_end_in_the_syscall_entry(crash_id: tuple) -> None:
    truth = resolve_crash_dump(*crash_id, CRASH_FORMS[0]).truth
    _check_sysrq_t(truth / "console.log", X86_64)


@pytest.mark.parametrize("kernel", KERNELS + PAGE_SIZE_KERNELS)
def test_arm64_sleepers_end_in_the_syscall_entry(kernel: str) -> None:
    (dump,) = [d for d in arm64_dumps([kernel]) if d.form == "elf"]
    _check_sysrq_t(dump.truth / "console.log", AARCH64)


@pytest.mark.parametrize("suite", sorted({suite for suite, _scenario in CRASH_IDS}))
def test_x86_64_oops_signature_keeps_the_faulting_function(suite: str) -> None:
    """The oops module's NULL write: the signature of the kernel's own Call Trace (from
    the faulting RIP down to the system call) starts at the oops module's function."""
    oops = parse_panic((resolve_crash_dump(suite, "oops", CRASH_FORMS[0]).truth / "console.log").read_text())
    frames = [f.function for f in oops.frames if f.reliable]
    assert is_syscall_frame(X86_64, frames[-1]), frames
    sig = signature("null-deref", [(f, None) for f in frames], X86_64)
    assert sig.frames and sig.frames[0].startswith("kdbg_oops"), (sig, frames)
    assert not [f for f in sig.frames if f in GENERIC or is_fault_plumbing(X86_64, f)], sig


def test_an_interrupt_above_panic_cuts_nothing() -> None:
    """A CPU caught in an interrupt taken in panic()'s delay loop (the trace kdbg gives
    bookworm's arm64 sysrq panic: its pc in ``vectors``): the frames above ``panic`` go
    (:data:`kdbg.fleet.signature.PANIC_CALLS`), the signature is the panic's caller and
    below; a panic raised in a handler still keeps only what is above the entry."""
    frames = ["vectors", "__delay_cycles", "__delay", "__const_udelay", "panic", "sysrq_handle_crash",
              "__handle_sysrq", "write_sysrq_trigger", "proc_reg_write", "vfs_write", "el0t_64_sync"]
    sig = signature("sysrq", [(f, None) for f in frames], AARCH64)
    assert sig.frames == ("sysrq_handle_crash", "__handle_sysrq", "write_sysrq_trigger", "proc_reg_write",
                          "vfs_write"), sig.frames
    nmi = ["panic", "ipi_handler", "el1_interrupt", "default_idle_call", "do_idle"]
    assert signature("sysrq", [(f, None) for f in nmi], AARCH64).frames == ()
