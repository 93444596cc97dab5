"""kdbg's stack traces of crashed kernels (:mod:`vmcores.crash`: sysrq ``c`` panics, a
NULL write in the ``kdbg_oops`` module and an NMI panic) against drgn + DWARF on the same
dumps.

Every task kdbg lists (the PID IDR's, and each possible CPU's idle task) equals drgn's
trace of it (pc, sp, interrupted, and the registers of the first and of every interrupted
frame) on the ELF and kdump forms: a task on a CPU at the dump from that CPU's PRSTATUS
note (drgn decides by ``task->on_cpu``), every other one from its saved ``thread.sp``.
The set compared is drgn's, not kdbg's choice. ``crashed_thread()`` names the task drgn
names, the one the guest crashed from; ``threads()`` lists drgn's ``prog.threads()``.

The crashed task's trace contains the guest console's own ``Call Trace`` of the crash
(its reliable frames, without ``?``, function, offset and size, module names), from the
crashing function down to the syscall entry; for the oops, the frame before them is the
page fault's ``pt_regs`` frame at the console's ``RIP: 0010:`` and ``RSP:``; the last
frame is user mode at the console's ``RIP: 0033:`` and ``RSP: 002b:``.

The other CPU of a ``panic``/``oops``: ``panic()`` stops it with the reboot IPI and
``stop_this_cpu()`` marks it offline. What it was running then is not up to the test:
its idle task when idle, but a kthread or any task when busy (both happen from one build
to the next). drgn + DWARF says which (``runqueues.curr`` of that CPU, on the same
dump), and kdbg's trace of that task, from the CPU's PRSTATUS note, is checked on its
own terms for each case: ``stop_this_cpu`` in the reboot interrupt, then its ``pt_regs``
and the interrupted context. Kernel code interrupted (the idle loop, a kthread, a system
call): the handler on the IRQ stack, the interrupted code on the task's own stack, down
to ``startup_64`` for the idle loop or to the end of a kernel stack for any other task.
User mode interrupted: the handler on the task's own stack (the kernel uses the IRQ stack
only to interrupt kernel code), then the user frame. And equal to drgn's. drgn 0.3.0
unwinds it from the same note; its ``for_each_task(idle=True)`` only leaves an offline
CPU's idle task out, so the idle tasks are asked for one by one
(:func:`tests.dump_moment.drgn_view`).

The ``nmi`` scenario (an NMI injected into the idle guest, ``unknown_nmi_panic``,
``apic_extnmi=all``: both CPUs take it) panics from NMI context: no CPU goes offline (the
reboot IPI and the NMI ``panic()`` sends cannot reach a CPU that is inside an NMI
handler), and kdbg equals drgn on both CPUs' idle tasks. The crashed task is the idle
task (``swapper/N``, PID 0) of the console's ``CPU: N`` and of drgn's ``panic_cpu``; its
trace holds the console's ``<NMI>`` Call Trace (from the caller of ``panic`` down
through ``end_repeat_nmi``, every frame on that CPU's NMI exception stack as drgn's
``cea_exception_stacks`` places it), then the NMI's ``pt_regs`` frame at the console's
``RIP:``/``RSP:`` with every register the console printed, then exactly the console's
task part, on the idle task's stack, down to ``startup_64``. The other CPU printed only
its ``Uhhuh. NMI received ... on CPU M.`` line: its trace is ``nmi_panic_self_stop`` (its
PRSTATUS note) in the same NMI handler, on its own NMI stack, the same kind of
``pt_regs`` frame in the idle loop, and its own idle task's stack down to
``startup_64``, as drgn unwinds it.
"""

from __future__ import annotations

import json
import re
from typing import Dict, List, Optional, Tuple

import pytest

import kdbg
from kdbg.helpers import cpu_curr, cpu_online_mask, cpu_possible_mask, for_each_cpu, for_each_task
from kdbg.unwind import UnwindError
from tests import dump_moment, stack_truth
from vmcores.crash import CrashDump, crash_dumps
from vmcores.oracle import ORACLE_FORM, DrgnStacks, drgn_stack_traces

SCENARIOS = tuple((suite, scenario) for suite in ("bookworm", "trixie", "bullseye")
                  for scenario in ("panic", "oops", "nmi"))
FORMS = ("elf", "kdump-zlib")
CASES = [(s, sc, f) for s, sc in SCENARIOS for f in FORMS]

_DRGN: Dict[Tuple[str, str], DrgnStacks] = {}

#: x86-64 THREAD_SIZE of Debian's kernels (no KASAN): an idle task's stack is
#: ``[task->stack, task->stack + THREAD_SIZE)``.
THREAD_SIZE = 16384
NMI_CASES = [c for c in CASES if c[1] == "nmi"]
#: what the boot CPU's idle task runs between ``cpu_startup_entry`` and ``startup_64``
BOOT_CPU_START = frozenset({"rest_init", "arch_call_rest_init", "start_kernel", "x86_64_start_reservations",
                            "x86_64_start_kernel"})
#: the crashes in a system call (sysrq ``c``, the oops): the other CPU stopped by the
#: reboot IPI, the crashed task's trace ends in user mode
SYSCALL_CASES = [c for c in CASES if c[1] != "nmi"]


def crash_dump(suite: str, scenario: str, form: str) -> CrashDump:
    dumps = crash_dumps(suites=[suite], scenarios=[scenario], forms=[form])
    assert dumps, f"no {suite} {scenario} {form} crash dump was built"
    return dumps[0]


def drgn_for(suite: str, scenario: str) -> DrgnStacks:
    key = (suite, scenario)
    if key not in _DRGN:
        _DRGN[key] = drgn_stack_traces(suite, crash_dump(suite, scenario, ORACLE_FORM).path)
    return _DRGN[key]


def drgn_cpus(suite: str, scenario: str) -> Tuple[int, Dict[int, dump_moment.DumpCpu]]:
    """``(panic_cpu, {cpu: DumpCpu})`` as drgn + DWARF read them (:func:`tests.dump_moment.drgn_view`)."""
    view = dump_moment.drgn_view(suite, crash_dump(suite, scenario, ORACLE_FORM).path)
    return view.panic_cpu, view.cpus


def report_of(dump: CrashDump) -> stack_truth.Oops:
    """The console's crash report (:func:`tests.stack_truth.parse_panic`)."""
    return stack_truth.parse_panic((dump.truth / "console.log").read_text(errors="replace"))


def frames(trace: object) -> List[List[object]]:
    return [[f.pc, f.sp, f.interrupted] for f in trace]  # type: ignore[attr-defined]


def case_id(case: Tuple[str, str, str]) -> str:
    return "-".join(case)


def on(stack: Tuple[int, int], sp: int) -> bool:
    """Whether ``sp`` (a frame's: at most the stack's top) lies on ``(begin, size)``."""
    return stack[0] < sp <= stack[0] + stack[1]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_crashed_kernel_equals_drgn(case: Tuple[str, str, str]) -> None:
    """Every task kdbg lists is a task drgn lists (``for_each_task``, plus each possible
    CPU's idle task) and the other way round; each equals drgn's trace, but the exited
    ones (the guest's zombie: drgn faults on the freed stack or unwinds garbage, kdbg
    says so in one line). The crashed thread is drgn's, the console report's ``CPU: N PID: P Comm: X``
    and drgn's ``panic_cpu``'s current task; ``threads()`` is drgn's list."""
    suite, scenario, form = case
    truth = drgn_for(suite, scenario)
    panic_cpu, cpus = drgn_cpus(suite, scenario)
    dump = crash_dump(suite, scenario, form)
    prog = kdbg.open_core(str(dump.path))
    refs = {addr: ref for addr, ref in truth.tasks.items() if ref["pid"]}
    for c in cpus.values():  # drgn's for_each_task(idle=True) lists the online CPUs' only
        if c.idle in truth.tasks:
            assert truth.tasks[c.idle]["frames"] == c.idle_frames
        refs[c.idle] = {"pid": 0, "comm": f"swapper/{c.cpu}", "frames": c.idle_frames}
    # the guest's zombie (ps.json, state Z; its parent never reaps it): its stack is freed,
    # drgn faults on it or unwinds garbage
    zombies = {p["pid"] for p in json.loads((dump.truth / "ps.json").read_text()) if p["state"] == "Z"}
    exited = {addr for addr, ref in refs.items() if ref["pid"] in zombies}
    assert zombies and len(exited) == len(zombies)
    assert not [ref for addr, ref in refs.items() if "error" in ref and addr not in exited]
    listed = [int(task) for task in for_each_task(prog, idle=True)]
    assert sorted(listed) == sorted(refs)
    compared = set()
    for task in for_each_task(prog, idle=True):
        addr = int(task)
        ref = refs[addr]
        if addr in exited:
            with pytest.raises(UnwindError, match="exited"):
                prog.stack_trace(task)
            continue
        trace = prog.stack_trace(task)
        assert trace.stop_reason is None, f"pid {ref['pid']}: {trace}"
        assert frames(trace) == [fr[:3] for fr in ref["frames"]], f"pid {ref['pid']} ({ref['comm']}):\n{trace}"
        for frame, fr in zip(trace, ref["frames"], strict=True):  # the first frame's and interrupted ones'
            if len(fr) > 4:
                assert frame.registers() == fr[4], f"pid {ref['pid']} frame #{frame.index}"
        compared.add(addr)
    assert compared == set(refs) - exited
    online = set(for_each_cpu(cpu_online_mask(prog)))
    assert online == {c.cpu for c in cpus.values() if c.online}
    if scenario == "nmi":  # both CPUs stay online inside the NMI
        assert online == set(cpus)
    assert [t.tid for t in prog.threads()] == truth.threads

    report = report_of(dump)
    crashed = prog.crashed_thread()
    assert int(crashed.object) == truth.crashed["address"] and crashed.tid == truth.crashed["tid"]
    assert panic_cpu == report.cpu and cpus[report.cpu].curr == int(crashed.object)
    assert truth.tasks[int(crashed.object)]["cpu"] == report.cpu
    assert (crashed.tid, crashed.name) == (report.pid, report.comm)
    crash_pid = json.loads((dump.truth / "crash.json").read_text())["crash_pid"]
    if scenario == "nmi":  # the NMI interrupted whatever ran: the idle task of the CPU
        assert crash_pid is None and (report.pid, report.comm) == (0, f"swapper/{report.cpu}")
    else:
        assert crashed.tid == crash_pid


@pytest.mark.parametrize("case", SYSCALL_CASES, ids=case_id)
def test_stopped_cpu(case: Tuple[str, str, str]) -> None:
    """The CPUs ``panic()`` stopped with the reboot IPI (every CPU but the console's ``CPU:
    N``; not for ``nmi``: a CPU inside an NMI handler takes no interrupt, see
    :func:`test_nmi_other_cpu`), whether each was idle or busy at the dump (drgn's
    ``runqueues.curr``): see the module's docstring."""
    suite, scenario, form = case
    dump = crash_dump(suite, scenario, form)
    report = report_of(dump)
    _panic_cpu, cpus = drgn_cpus(suite, scenario)
    truth = drgn_for(suite, scenario)
    prog = kdbg.open_core(str(dump.path))
    stopped = sorted(c for c in cpus if c != report.cpu)
    assert stopped and sorted(c for c in cpus if not cpus[c].online) == stopped, "panic() left no CPU stopped"
    online = set(for_each_cpu(cpu_online_mask(prog)))
    assert sorted(set(for_each_cpu(cpu_possible_mask(prog))) - online) == stopped
    for cpu in stopped:
        c = cpus[cpu]
        task = cpu_curr(prog, cpu)
        assert int(task) == c.curr and int(task.pid) == c.curr_pid
        trace = prog.stack_trace(task)
        want = truth.tasks[c.curr]["frames"] if c.busy else c.idle_frames
        assert frames(trace) == [fr[:3] for fr in want], f"CPU {cpu} (pid {c.curr_pid}):\n{trace}"
        names = [f.name for f in trace]
        assert names[0] == "stop_this_cpu" and trace[0].interrupted
        assert "asm_sysvec_reboot" in names
        assert trace.stop_reason is None
        # the reboot interrupt's pt_regs: its ip and sp the interrupted frame's
        irq = next(f for f in trace[1:] if f.interrupted)
        assert irq.regs is not None
        regs = irq.regs
        assert int(regs.ip) == irq.pc and int(regs.sp) == irq.sp
        task_stack = (c.stack, THREAD_SIZE)
        if int(regs.cs) & 3:
            # a task interrupted in user mode: the kernel entered on the task's own (empty)
            # stack and handled the interrupt there (the IRQ stack is for interrupting
            # kernel code); the user frame ends the trace
            assert c.busy and irq.user and irq.index == len(trace) - 1
            assert all(on(task_stack, f.sp) for f in trace[:irq.index])
            assert regs.address_ is not None and on(task_stack, regs.address_)
            continue
        # kernel code interrupted: the interrupt ran on the IRQ stack, the interrupted
        # code on the task's. The reboot IPI may also have found the CPU already on its
        # IRQ stack, serving another interrupt (a fresh trixie build stopped the idle CPU
        # in handle_softirqs on the way out of a function-call IPI that woke its halt):
        # then the trace stays on the IRQ stack up to that interrupt's entry, leaves it
        # once for the task's, and the last interrupted frame is the task's own code.
        assert not on(task_stack, trace[0].sp)
        kernel = [f for f in trace[irq.index:] if not f.user]
        first = next(i for i, f in enumerate(kernel) if on(task_stack, f.sp))
        assert all(on(task_stack, f.sp) for f in kernel[first:])
        nested = [f for f in trace[1:] if f.interrupted and not f.user]
        assert all(not on(task_stack, f.sp) for f in nested[:-1])
        if not c.busy:  # the idle loop, down to the CPU's start
            assert "idle" in (nested[-1].name or "") or "halt" in (nested[-1].name or "")
            assert (trace[-1].name or "").endswith(("startup_64", "startup_64_no_verify"))
        elif trace[-1].user:  # a task in a system call
            assert trace[-2].name in stack_truth.KERNEL_STACK_ENDS
        else:  # a kthread
            assert trace[-1].name in stack_truth.KERNEL_STACK_ENDS


def _startup(name: Optional[str]) -> bool:
    return bool(name) and re.match(r"(secondary|common)_startup_64", name or "") is not None


@pytest.mark.parametrize("case", NMI_CASES, ids=case_id)
def test_nmi_other_cpu(case: Tuple[str, str, str]) -> None:
    """The CPU that lost the race for ``panic_cpu``: it took the same NMI (its ``Uhhuh.
    NMI received for unknown reason NN on CPU M.`` line is all it printed), found
    ``panic_cpu`` taken and parks in ``nmi_panic_self_stop`` inside the handler, online
    (neither the reboot IPI nor ``panic()``'s NMI reaches it: ``Shutting down cpus with
    NMI`` on the console). Its trace equals drgn's (which unwinds it from its PRSTATUS
    note, the CPU being online): ``nmi_panic_self_stop`` (6.12: then ``nmi_panic``, no
    tail call there), then the NMI handler's frames as the console printed them for the
    panicking CPU from ``unknown_nmi_error`` through ``end_repeat_nmi``, all on this
    CPU's own NMI stack (drgn's ``cea_exception_stacks``); the NMI's ``pt_regs`` frame at
    the halt the console shows the panicking CPU interrupted in; then on this CPU's idle
    task's stack the console's idle loop down to ``cpu_startup_entry``, then ``rest_init``
    .. ``start_kernel`` (CPU 0) or ``start_secondary`` (5.10 tail-calls
    ``cpu_startup_entry`` from ``rest_init`` and from ``start_secondary``: no frame), ending at ``startup_64``."""
    suite, scenario, form = case
    dump = crash_dump(suite, scenario, form)
    console = (dump.truth / "console.log").read_text(errors="replace")
    report = report_of(dump)
    assert report.nmi and report.rip is not None and report.rip_index is not None
    reliable = [f for f in report.frames if f.reliable]
    nmi_part = [str(f) for f in reliable if f.context == "NMI"]
    handler = nmi_part[next(i for i, f in enumerate(nmi_part) if f.startswith("unknown_nmi_error")):]
    assert handler[-1].startswith("end_repeat_nmi+") and len(handler) == 3, handler
    task_part = [str(f) for f in reliable if f.context == "TASK"]
    idle_loop = task_part[:next(i for i, f in enumerate(task_part) if f.startswith("cpu_startup_entry+")) + 1]
    assert "Shutting down cpus with NMI" in console
    prog = kdbg.open_core(str(dump.path))
    truth = drgn_for(suite, scenario)
    _panic_cpu, cpus = drgn_cpus(suite, scenario)
    online = set(for_each_cpu(cpu_online_mask(prog)))
    others = [c for c in cpus if c != report.cpu]
    assert others
    for cpu in others:
        assert cpu in online
        # Its "Uhhuh. NMI received ... on CPU M." line is printed with pr_emerg_ratelimited(),
        # whose trylock in NMI context may drop it (a 6.12 boot printed none): that it took
        # the NMI shows in its trace, which starts in nmi_panic_self_stop (below, and drgn's).
        task = cpu_curr(prog, cpu)
        assert int(task) == cpus[cpu].curr and int(task.pid) == 0
        trace = prog.stack_trace(task)
        assert trace.stop_reason is None
        assert frames(trace) == [fr[:3] for fr in truth.tasks[int(task)]["frames"]], trace
        mine = [f.format() for f in trace]
        names = [f.name for f in trace]
        assert names[0] == "nmi_panic_self_stop" and trace[0].interrupted and trace[0].regs is not None
        interrupted = [f for f in trace[1:] if f.interrupted]
        assert len(interrupted) == 1, trace
        halt = interrupted[0]
        at = halt.index
        assert mine[at - len(handler):at] == handler, (handler, mine)
        assert set(names[1:at - len(handler)]) <= {"nmi_panic"}
        nmi_stack = cpus[cpu].nmi_stack
        assert all(on(nmi_stack, f.sp) for f in trace[:at])
        # the NMI's hardware frame + pt_regs at the top of the NMI stack: the idle loop's
        regs = halt.regs
        assert regs is not None and regs.address_ is not None and on(nmi_stack, regs.address_)
        assert int(regs.ip) == halt.pc and int(regs.sp) == halt.sp and int(regs.cs) & 3 == 0
        assert halt.format() == str(report.rip)
        idle = (cpus[cpu].stack, THREAD_SIZE)
        assert all(on(idle, f.sp) for f in trace[at:])
        assert mine[at + 1:at + 1 + len(idle_loop)] == idle_loop, (idle_loop, mine)
        start = names[at + 1 + len(idle_loop):-1]
        if cpu == 0:  # the boot CPU's idle task: rest_init (5.10 tail-calls from it) .. start_kernel
            assert start and set(start) <= BOOT_CPU_START and "start_kernel" in start, start
            assert "rest_init" in start or suite == "bullseye", start
        else:  # 5.10's start_secondary tail-calls cpu_startup_entry: no frame of its own
            assert start in (["start_secondary"], []) and (start or suite == "bullseye"), start
        assert _startup(names[-1])


def console_crash(dump: CrashDump) -> Tuple[List[str], Optional[Tuple[str, int]], Tuple[int, int]]:
    """From the console's crash report (:func:`report_of`): its Call Trace's reliable
    frames, the kernel ``(RIP, RSP)`` of an oops and the user ``(RIP, RSP)`` printed
    after the frames."""
    report = report_of(dump)
    frames = [str(f) for f in report.frames if f.reliable]
    kernel_rip = None
    if report.kind == "oops" and report.rip is not None:
        kernel_rip = (str(report.rip), report.regs["rsp"])
    return frames, kernel_rip, (report.user_regs["rip"], report.user_regs["rsp"])


@pytest.mark.parametrize("case", SYSCALL_CASES, ids=case_id)
def test_crashed_thread_contains_the_console_call_trace(case: Tuple[str, str, str]) -> None:
    suite, scenario, form = case
    dump = crash_dump(suite, scenario, form)
    console, kernel_rip, (user_ip, user_sp) = console_crash(dump)
    if "panic+" in " ".join(console):  # panic()'s own dump_stack: its printer's frames go
        console = console[next(i for i, f in enumerate(console) if f.startswith("panic+")) + 1:]
    assert console[-1].startswith("entry_SYSCALL_64"), console
    prog = kdbg.open_core(str(dump.path))
    trace = prog.crashed_thread().stack_trace()
    mine = [f.format() for f in trace]
    at = next((i for i in range(len(mine)) if mine[i:i + len(console)] == console), None)
    assert at is not None, f"console {console}\nkdbg:\n{trace}"
    if scenario == "oops":
        assert kernel_rip is not None
        fault = trace[at - 1]
        assert fault.interrupted and fault.format() == kernel_rip[0] and fault.sp == kernel_rip[1]
        assert fault.module == "kdbg_oops" and fault.regs is not None and int(fault.regs.ip) == fault.pc
        assert trace[at - 2].name == "asm_exc_page_fault"
        assert any(f.module == "kdbg_oops" for f in trace[at:])
    last = trace[-1]
    assert last.user and (last.pc, last.sp) == (user_ip, user_sp)
    assert trace.stop_reason is None


#: the console's register names -> drgn's
_CONSOLE_REGS = {"eflags": "rflags", **{f"r{n:02d}": f"r{n}" for n in (8, 9)}}


@pytest.mark.parametrize("case", NMI_CASES, ids=case_id)
def test_nmi_crashed_thread_as_the_console(case: Tuple[str, str, str]) -> None:
    """The panicking CPU's idle task, as the console printed it: from the caller of
    ``panic`` (``panic`` itself has moved on to its delay loop) the ``<NMI>`` part's
    reliable frames through ``end_repeat_nmi`` in a row, every frame up to there on this
    CPU's NMI stack (drgn's ``cea_exception_stacks``); then the interrupted frame: a
    ``pt_regs`` on the NMI stack, at the console's ``RIP: 0010:`` and ``RSP:`` with every
    register of the console's block (``RAX`` .. ``R15``, ``EFLAGS``, ``CS``/``SS``); then
    exactly the console's task part (``<TASK>``, unmarked on 5.10) on the idle task's
    stack, down to ``startup_64``, where the stack ends (no user frame, no stop reason)."""
    suite, scenario, form = case
    dump = crash_dump(suite, scenario, form)
    report = report_of(dump)
    assert report.nmi and report.rip is not None and report.rip_index is not None
    nmi_part = [str(f) for f in report.frames[:report.rip_index] if f.reliable]
    nmi_part = nmi_part[[f.split("+")[0] for f in nmi_part].index("panic") + 1:]
    task_part = [str(f) for f in report.frames[report.rip_index:] if f.reliable]
    assert nmi_part[-1].startswith("end_repeat_nmi+") and _startup(task_part[-1].split("+")[0])
    assert {f.context for f in report.frames[report.rip_index:] if f.reliable} == {"TASK"}
    _panic_cpu, cpus = drgn_cpus(suite, scenario)
    prog = kdbg.open_core(str(dump.path))
    trace = prog.crashed_thread().stack_trace()
    mine = [f.format() for f in trace]
    at = next((i for i in range(len(mine)) if mine[i:i + len(nmi_part)] == nmi_part), None)
    assert at is not None and trace[at - 1].name == "panic", f"console {nmi_part}\nkdbg:\n{trace}"
    halt = trace[at + len(nmi_part)]
    assert halt.interrupted and halt.format() == str(report.rip) and halt.sp == report.regs["rsp"]
    printed = {_CONSOLE_REGS.get(k, k): v for k, v in report.regs.items()}
    assert len(printed) == 19 and {k: halt.register(k) for k in printed} == printed
    assert mine[at + len(nmi_part) + 1:] == task_part, f"console {task_part}\nkdbg:\n{trace}"
    assert trace.stop_reason is None and not trace[-1].user
    nmi_stack = cpus[report.cpu].nmi_stack
    assert all(on(nmi_stack, f.sp) for f in trace[:halt.index])
    assert halt.regs is not None and halt.regs.address_ is not None
    assert on(nmi_stack, halt.regs.address_) and int(halt.regs.ip) == halt.pc
    idle = (cpus[report.cpu].stack, THREAD_SIZE)
    assert cpus[report.cpu].curr == trace.task
    assert all(on(idle, f.sp) for f in trace[halt.index:])
