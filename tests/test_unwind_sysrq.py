"""kdbg's stack traces against the guest kernel's own: the sysrq-t dump each crash guest
printed to its console before crashing (:mod:`tests.stack_truth`), and its crash report.

For every task that did not run between the sysrq-t and the dump, kdbg's frames are the
console's reliable frames (no ``?``), function, offset, size and module, in order (the
user-mode frame, which the console shows as registers, aside: its ``rip``/``rsp`` are the
console's). Which tasks those are comes from independent records of the guest only
(:func:`tests.dump_moment.asleep_until_dump`: the guest's switch counts around the
sysrq-t, drgn's reading of them and of each CPU's current task in the dump), never from
kdbg, and kdbg compares exactly that set. The crashed task's trace contains the report's Call Trace and, for
an oops, the faulting ``RIP`` frame; for the ``nmi`` scenario (a panic from an NMI that
interrupted the idle task) the ``<NMI>`` part, the interrupted ``RIP`` frame, then the idle
task's part to the end of its stack. The sysrq-t tasks of the ``nmi`` dumps stayed
asleep through the NMI: they equal the console as those of the other crashes do.
"""

from __future__ import annotations

from typing import List, Tuple

import pytest

import kdbg
from kdbg.helpers import find_task
from tests import dump_moment, stack_truth
from vmcores.crash import CrashDump, crash_dumps
from vmcores.oracle import ORACLE_FORM

SCENARIOS = tuple((suite, scenario) for suite in ("bookworm", "trixie", "bullseye")
                  for scenario in ("panic", "oops", "nmi"))
CASES = [(s, sc, f) for s, sc in SCENARIOS for f in ("elf", "kdump-zlib")]


def crash_dump(suite: str, scenario: str, form: str) -> CrashDump:
    dumps = crash_dumps(suites=[suite], scenarios=[scenario], forms=[form])
    assert dumps, f"no {suite} {scenario} {form} crash dump was built"
    return dumps[0]


def case_id(case: Tuple[str, ...]) -> str:
    return "-".join(case)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_asleep_tasks_equal_sysrq_t(case: Tuple[str, str, str]) -> None:
    suite, scenario, form = case
    dump = crash_dump(suite, scenario, form)
    oracle = crash_dump(suite, scenario, ORACLE_FORM)  # the same guest's memory as every form
    printed, expected = dump_moment.sysrq_t_still_true(oracle.truth, dump_moment.drgn_view(suite, oracle.path))
    # the init script's sleepers (sleep 1000, kdbg-sleeper and its sleep 2000, cat on a
    # fifo) cannot have woken: they are always among them
    assert {"sleep", "kdbg-sleeper", "cat"} <= {printed[tid].comm for tid in expected}, expected
    prog = kdbg.open_core(str(dump.path))
    for tid in sorted(expected):  # every one of them, none left out
        task = find_task(prog, tid)
        assert int(task), f"pid {tid} ({printed[tid].comm}) is not a task of the dump"
        want = [str(f) for f in printed[tid].reliable_frames]
        trace = prog.stack_trace(task)
        got: List[str] = [f.format() for f in trace if not f.user]
        assert got == want, f"pid {tid} ({printed[tid].comm}):\nkdbg:\n{trace}\nconsole:\n{printed[tid].text}"
        assert trace.stop_reason is None
        user = printed[tid].user_regs
        if user:
            last = trace[-1]
            assert last.user and (last.pc, last.sp) == (user["rip"], user["rsp"])


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_crashed_task_contains_the_report(case: Tuple[str, str, str]) -> None:
    """The report's task (``CPU: N PID: P Comm: X``; for ``nmi`` the idle task
    ``swapper/N``, PID 0) and its Call Trace in a row, the faulting (oops) or interrupted
    (NMI: between the ``<NMI>`` part and the task part) ``RIP`` frame where the console
    printed its registers, with their ``RSP`` and ``RBP``; a syscall's trace ends in user
    mode at the console's user registers, the NMI's idle task at ``startup_64``."""
    suite, scenario, form = case
    dump = crash_dump(suite, scenario, form)
    oops = stack_truth.parse_panic((dump.truth / "console.log").read_text(errors="replace"))
    prog = kdbg.open_core(str(dump.path))
    crashed = prog.crashed_thread()
    assert crashed.tid == oops.pid and crashed.name == oops.comm
    trace = crashed.stack_trace()
    mine = [f.format() for f in trace]
    frames = list(oops.frames)
    rip_at = None
    if oops.rip is not None:  # printed as registers before the trace (oops) or inside it (NMI)
        frames.insert(oops.rip_index or 0, oops.rip)
        rip_at = [f for f in frames if f.reliable].index(oops.rip)
    want = [str(f) for f in frames if f.reliable]
    if oops.kind == "panic":  # the report is panic()'s dump_stack: from panic's caller on
        cut = [f.split("+")[0] for f in want].index("panic") + 1
        want = want[cut:]
        rip_at = None if rip_at is None else rip_at - cut
    at = next((i for i in range(len(mine)) if mine[i:i + len(want)] == want), None)
    assert want and at is not None, f"report {want}\nkdbg:\n{trace}"
    assert oops.nmi == (scenario == "nmi")
    if rip_at is not None:
        fault = trace[at + rip_at]
        assert fault.interrupted and fault.format() == str(oops.rip)
        assert fault.sp == oops.regs["rsp"] and fault.register("rbp") == oops.regs["rbp"]
    if oops.nmi:  # the interrupted idle task's stack ends where the console's trace does
        assert oops.pid == 0 and at + len(want) == len(trace) and not trace[-1].user
        assert mine[at + rip_at - 1].startswith("end_repeat_nmi+")  # type: ignore[operator]
        assert trace.stop_reason is None
    if oops.user_regs:
        assert trace[-1].user and (trace[-1].pc, trace[-1].sp) == (oops.user_regs["rip"], oops.user_regs["rsp"])
    assert bool(oops.user_regs) == (scenario != "nmi")


@pytest.mark.parametrize("suite", ("bookworm", "trixie", "bullseye"))
def test_trace_from_the_oops_pt_regs(suite: str) -> None:
    """``stack_trace(pt_regs)`` (drgn's third kind of argument): from the page fault's
    saved registers, the console's oops report exactly: its RIP, then its Call Trace,
    then the user frame at its user RIP/RSP."""
    dump = crash_dump(suite, "oops", "elf")
    oops = stack_truth.parse_panic((dump.truth / "console.log").read_text(errors="replace"))
    assert oops.rip is not None
    prog = kdbg.open_core(str(dump.path))
    fault = next(f for f in prog.crashed_thread().stack_trace() if f.format() == str(oops.rip))
    assert fault.regs is not None and fault.regs.address_ is not None
    for regs in (fault.regs, fault.regs.address_of_()):
        trace = prog.stack_trace(regs)
        assert [f.format() for f in trace if not f.user] == [str(oops.rip)] + [str(f) for f in oops.frames
                                                                                if f.reliable]
        assert trace[0].interrupted and trace[0].sp == oops.regs["rsp"] and trace.task is None
        assert trace[-1].user and (trace[-1].pc, trace[-1].sp) == (oops.user_regs["rip"], oops.user_regs["rsp"])
        assert trace.stop_reason is None


@pytest.mark.parametrize("suite", ("bookworm", "trixie", "bullseye"))
def test_trace_from_the_nmi_pt_regs(suite: str) -> None:
    """``stack_trace(pt_regs)`` from the NMI's saved registers (at the top of the
    panicking CPU's NMI stack): the interrupted idle task exactly as the console printed
    it after its ``<NMI>`` part: its ``RIP``, then the task part down to ``startup_64``,
    where the stack ends."""
    dump = crash_dump(suite, "nmi", "kdump-zlib")
    report = stack_truth.parse_panic((dump.truth / "console.log").read_text(errors="replace"))
    assert report.nmi and report.rip is not None and report.rip_index is not None
    want = [str(report.rip)] + [str(f) for f in report.frames[report.rip_index:] if f.reliable]
    prog = kdbg.open_core(str(dump.path))
    halt = next(f for f in prog.crashed_thread().stack_trace() if f.interrupted and f.format() == str(report.rip))
    assert halt.regs is not None and halt.regs.address_ is not None
    for regs in (halt.regs, halt.regs.address_of_()):
        trace = prog.stack_trace(regs)
        assert [f.format() for f in trace] == want, f"console {want}\nkdbg:\n{trace}"
        assert trace[0].interrupted and trace[0].sp == report.regs["rsp"] and trace.task is None
        assert trace[0].register("rbp") == report.regs["rbp"] and not trace[-1].user
        assert trace.stop_reason is None
