"""kdbg's stack traces against drgn + Debian's DWARF vmlinux on the same dumps.

For every task of the three reference kernels (5.10, 6.1, 6.12) and forky's 7.2, idle
tasks included, kdbg's frames (pc, sp, interrupted; and ``registers()`` of the first
frame and of every interrupted one) equal drgn's ``prog.stack_trace(task)`` after
folding drgn's inline frames (:func:`vmcores.oracle.drgn_stack_traces`), on the ELF forms
and on kdump: the memory is the same, drgn on the ``elf-paging`` form is the truth. The
set compared is drgn's task list, which kdbg's must equal. The task each CPU was running
at the dump (drgn's ``runqueues.curr``: its idle task when the guest was idle, any task
otherwise) starts from the dump's PRSTATUS notes; the guest's zombie (its ``ps.json``),
whose stack the kernel freed, is a one-line error, where drgn unwinds garbage or fails.
``threads()`` and ``crashed_thread()`` answer as drgn's do.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

import kdbg
from kdbg.helpers import for_each_task
from kdbg.unwind import StackTrace, UnwindError, crashed_thread, stack_trace, threads
from tests.conftest import dump_id, resolve_dump
from tests.dump_moment import drgn_view
from vmcores.oracle import ORACLE_FORM, DrgnStacks, drgn_stack_traces

#: The three reference kernels and forky's Linux 7.2 (an extra suite, built on first use):
#: 7.x renumbered the ORC registers (kdbg.unwind.orc.OrcLayout.detect_numbering).
SUITES = ("bookworm", "trixie", "bullseye", "forky")
FORMS = (("elf", "qemu"), ("elf-paging", "qemu"), ("kdump-zlib", "qemu"), ("kdump-zlib", "makedumpfile"))
#: Plus makedumpfile's filtered kdump (``-d 31``: no user, cache or free pages; kernel
#: stacks stay). Trixie's is left out: its task list reaches an excluded page.
CASES = [(s, f, t) for s in SUITES for f, t in FORMS] + [
    ("bookworm", "kdump-d31", "makedumpfile"), ("bullseye", "kdump-d31", "makedumpfile")]
FRAME_LINE = re.compile(r"#(\d+) +(?:[A-Za-z_.$][\w.$]*\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[\w+\])?|0x[0-9a-f]+)$")

_DRGN: Dict[str, DrgnStacks] = {}


def drgn_for(suite: str) -> DrgnStacks:
    """drgn's traces of the suite's reference dump (its elf-paging form)."""
    if suite not in _DRGN:
        _DRGN[suite] = drgn_stack_traces(suite, resolve_dump(suite, ORACLE_FORM, "qemu").path)
    return _DRGN[suite]


def zombies(truth: Path) -> Set[int]:
    """The PIDs the guest listed as zombies (``ps.json``; the init script leaves one, whose
    parent never reaps it): their stacks are freed."""
    return {p["pid"] for p in json.loads((truth / "ps.json").read_text()) if p["state"] == "Z"}


def kdbg_frames(trace: StackTrace) -> List[List[object]]:
    return [[f.pc, f.sp, f.interrupted] for f in trace]


@pytest.mark.parametrize("case", CASES, ids=dump_id)
def test_every_task_equals_drgn(case: Tuple[str, str, str]) -> None:
    suite, form, tool = case
    truth = drgn_for(suite)
    dump = resolve_dump(suite, form, tool)
    prog = kdbg.open_core(str(dump.path))
    exited = zombies(dump.truth)
    assert exited and len([r for r in truth.tasks.values() if r["pid"] in exited]) == len(exited)
    assert sorted(int(task) for task in for_each_task(prog, idle=True)) == sorted(truth.tasks)
    for task in for_each_task(prog, idle=True):
        addr = int(task)
        ref = truth.tasks[addr]
        assert int(task.pid) == ref["pid"]
        if ref["pid"] in exited:  # an exited task whose stack the kernel freed
            with pytest.raises(UnwindError, match="exited"):
                prog.stack_trace(task)
            continue
        trace = prog.stack_trace(task)
        assert "error" not in ref, ref
        expected = [fr[:3] for fr in ref["frames"]]
        assert kdbg_frames(trace) == expected, f"pid {ref['pid']} ({ref['comm']}):\n{trace}"
        assert trace.stop_reason is None, f"pid {ref['pid']}: {trace.stop_reason}"
        for frame, fr in zip(trace, ref["frames"], strict=True):  # the first frame's and interrupted ones'
            if len(fr) > 4:
                assert frame.registers() == fr[4], f"pid {ref['pid']} frame #{frame.index}"


@pytest.mark.parametrize("suite", SUITES)
def test_trace_text_and_frames(suite: str) -> None:
    """Every frame prints as the kernel's ``function+0xoff/0xsize`` (user pcs as hex),
    numbered from 0; kernel frames are symbolized, the user frame ends a user task's
    trace; the first frame of the task on each CPU (drgn's ``runqueues.curr``) carries the
    PRSTATUS registers, every idle task ends at ``startup_64``."""
    truth = drgn_for(suite)
    dump = resolve_dump(suite, "elf", "qemu")
    prog = kdbg.open_core(str(dump.path))
    running = drgn_view(suite, resolve_dump(suite, ORACLE_FORM, "qemu").path).running
    exited = zombies(dump.truth)
    for task in for_each_task(prog, idle=True):
        if int(task.pid) in exited:
            continue
        trace = stack_trace(prog, task)
        lines = str(trace).splitlines()
        assert len(lines) == len(trace)
        for i, (line, frame) in enumerate(zip(lines, trace, strict=True)):
            m = FRAME_LINE.match(line)
            assert m and int(m.group(1)) == i, line
            assert frame.is_inline is False
            if frame.user:
                assert i == len(trace) - 1 and frame.pc < 1 << 63 and frame.name == hex(frame.pc)  # drgn's fallback
                assert frame.registers()["cs"] & 3 == 3 and frame.regs is not None
                assert int(frame.regs.ip) == frame.pc and int(frame.regs.sp) == frame.sp
            else:
                assert frame.name is not None, line
                sym = frame.symbol()
                assert sym.name == frame.name
                assert sym.address <= frame.pc - (0 if frame.interrupted else 1) < sym.address + (sym.size or 1 << 20)
            assert frame.register("rip") == frame.pc and frame.register("rsp") == frame.sp
        ref = truth.tasks[int(task)]
        if int(task) in running:  # on a CPU at the dump: registers from the dump's notes
            first = trace[0]
            regs = first.registers()
            assert first.interrupted and {"rax", "rbx", "r15", "rflags", "cs", "ss"} <= set(regs)
            assert first.regs is not None and int(first.regs.ip) == first.pc
            assert (regs["cs"] & 3 == 3) == first.user
        else:  # switched out: from its saved frame, not interrupted
            assert not trace[0].interrupted
        if ref["pid"] == 0:  # an idle task, running or not, ends where its CPU started
            assert trace[-1].name.endswith(("startup_64", "startup_64_no_verify"))


@pytest.mark.parametrize("suite", SUITES[:3])
def test_threads_and_crashed_thread_as_drgn(suite: str) -> None:
    """``threads()`` lists the threads drgn's ``prog.threads()`` lists, in its order. That
    order is defined, not arbitrary: libdrgn's ``linux_helper_task_iterator`` (drgn 0.3.0,
    ``libdrgn/linux_kernel_helpers.c``) walks ``init_task.tasks`` (the processes, in fork
    order) and each process's ``signal->thread_head`` (its threads), not the PID IDR
    that ``for_each_task`` walks by PID number. Two tasks whose PIDs were allocated in one
    order and linked into the process list in the other (concurrent forks on two CPUs, a
    thread created after a later process) come in list order: kdbg walks the same lists,
    so the lists are compared as they are."""
    truth = drgn_for(suite)
    prog = kdbg.open_core(str(resolve_dump(suite, "kdump-zlib", "qemu").path))
    ths = list(threads(prog))
    assert [t.tid for t in ths] == truth.threads
    by_addr = {a: r for a, r in truth.tasks.items()}
    for th in ths[:5]:
        rec = by_addr[int(th.object)]
        assert th.name == rec["comm"] and th.tid == rec["pid"]
        assert kdbg_frames(th.stack_trace()) == [fr[:3] for fr in rec["frames"]]
    # The guests did not panic: drgn says "panic_cpu is not set", kdbg too.
    assert "panic_cpu is not set" in truth.crashed["error"]
    with pytest.raises(UnwindError, match="panic_cpu is not set"):
        crashed_thread(prog)
    with pytest.raises(UnwindError, match="panic_cpu is not set"):
        prog.crashed_thread()


def test_pid_and_address_arguments() -> None:
    truth = drgn_for("bookworm")
    prog = kdbg.open_core(str(resolve_dump("bookworm", "elf", "qemu").path))
    init = next(a for a, r in truth.tasks.items() if r["pid"] == 1)
    want = [fr[:3] for fr in truth.tasks[init]["frames"]]
    assert kdbg_frames(prog.stack_trace(1)) == want
    assert kdbg_frames(prog.stack_trace(init)) == want
    with pytest.raises(UnwindError, match="no task with PID 99999"):
        prog.stack_trace(99999)
    with pytest.raises(UnwindError, match="wants a task"):
        prog.stack_trace("init")
    with pytest.raises(UnwindError, match="no DWARF"):
        prog.stack_trace(1)[0].locals()
    with pytest.raises(AttributeError, match="no DWARF"):
        prog.stack_trace(1)[0].argc  # noqa: B018
