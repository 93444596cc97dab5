"""kdbg's stack traces of crashed kernels (:mod:`vmcores.crash`: sysrq ``c`` panics and a
NULL write in the ``kdbg_oops`` module) against drgn + DWARF on the same dumps.

Every task drgn unwinds from a sound start equals kdbg's frames (pc, sp, interrupted, and
the registers of the first and of every interrupted frame) on
the ELF and kdump forms: the crashing CPU's task from its PRSTATUS note (through the
page fault's ``pt_regs`` and the module's frames for the oops), every sleeping task.
``crashed_thread()`` names the task drgn names, the one the guest crashed from.

The crashed task's trace contains the guest console's own ``Call Trace`` of the crash
(its reliable frames, without ``?``, function, offset and size, module names), from the
crashing function down to the syscall entry; for the oops, the frame before them is the
page fault's ``pt_regs`` frame at the console's ``RIP: 0010:`` and ``RSP:``; the last
frame is user mode at the console's ``RIP: 0033:`` and ``RSP: 002b:``.

The other CPU is where drgn 0.3.0 and kdbg part: ``panic()`` stops it with the reboot IPI
and ``stop_this_cpu()`` marks it offline, so drgn (looking at online CPUs only) unwinds
its idle task from a stale ``thread.sp`` into garbage. kdbg starts it from the CPU's
PRSTATUS note; its trace is checked on its own: ``stop_this_cpu`` on the IRQ stack, the
reboot interrupt's ``pt_regs``, then the idle loop on the task stack down to the
``startup_64`` entry, with no stop reason.
"""

from __future__ import annotations

import json
import re
from typing import Dict, List, Optional, Tuple

import pytest

import kdbg
from kdbg.helpers import cpu_curr, cpu_online_mask, cpu_possible_mask, for_each_cpu, for_each_task
from kdbg.unwind import UnwindError
from vmcores.crash import CrashDump, crash_dumps
from vmcores.oracle import DrgnStacks, drgn_stack_traces

SCENARIOS = tuple((suite, scenario) for suite in ("bookworm", "trixie", "bullseye") for scenario in ("panic", "oops"))
FORMS = ("elf", "kdump-zlib")
CASES = [(s, sc, f) for s, sc in SCENARIOS for f in FORMS]

_DRGN: Dict[Tuple[str, str], DrgnStacks] = {}


def crash_dump(suite: str, scenario: str, form: str) -> CrashDump:
    dumps = crash_dumps(suites=[suite], scenarios=[scenario], forms=[form])
    assert dumps, f"no {suite} {scenario} {form} crash dump was built"
    return dumps[0]


def drgn_for(suite: str, scenario: str) -> DrgnStacks:
    key = (suite, scenario)
    if key not in _DRGN:
        _DRGN[key] = drgn_stack_traces(suite, crash_dump(suite, scenario, "elf-paging").path)
    return _DRGN[key]


def frames(trace: object) -> List[List[object]]:
    return [[f.pc, f.sp, f.interrupted] for f in trace]  # type: ignore[attr-defined]


def case_id(case: Tuple[str, str, str]) -> str:
    return "-".join(case)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_crashed_kernel_equals_drgn(case: Tuple[str, str, str]) -> None:
    suite, scenario, form = case
    truth = drgn_for(suite, scenario)
    dump = crash_dump(suite, scenario, form)
    prog = kdbg.open_core(str(dump.path))
    offline = [c for c in for_each_cpu(cpu_possible_mask(prog)) if c not in set(for_each_cpu(cpu_online_mask(prog)))]
    stopped = {int(cpu_curr(prog, c)) for c in offline}
    compared = 0
    for task in for_each_task(prog, idle=True):
        addr = int(task)
        if addr in stopped:
            continue  # an offline CPU's idle task, which drgn does not list: test_stopped_cpu
        ref = truth.tasks[addr]
        if not int(task.stack):
            with pytest.raises(UnwindError, match="exited"):
                prog.stack_trace(task)
            continue
        trace = prog.stack_trace(task)
        assert trace.stop_reason is None, f"pid {ref['pid']}: {trace}"
        assert frames(trace) == [fr[:3] for fr in ref["frames"]], f"pid {ref['pid']} ({ref['comm']}):\n{trace}"
        for frame, fr in zip(trace, ref["frames"]):  # the first frame's and interrupted ones'
            if len(fr) > 4:
                assert frame.registers() == fr[4], f"pid {ref['pid']} frame #{frame.index}"
        compared += 1
    assert compared > 40

    crashed = prog.crashed_thread()
    assert int(crashed.object) == truth.crashed["address"] and crashed.tid == truth.crashed["tid"]
    assert crashed.tid == json.loads((dump.truth / "crash.json").read_text())["crash_pid"]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_stopped_cpu(case: Tuple[str, str, str]) -> None:
    suite, scenario, form = case
    prog = kdbg.open_core(str(crash_dump(suite, scenario, form).path))
    online = set(for_each_cpu(cpu_online_mask(prog)))
    offline = [c for c in for_each_cpu(cpu_possible_mask(prog)) if c not in online]
    assert offline, "panic() left no CPU stopped"
    for cpu in offline:
        trace = prog.stack_trace(cpu_curr(prog, cpu))
        names = [f.name for f in trace]
        assert names[0] == "stop_this_cpu" and trace[0].interrupted
        assert "asm_sysvec_reboot" in names
        assert trace[-1].name.endswith(("startup_64", "startup_64_no_verify"))
        assert trace.stop_reason is None
        # the reboot interrupt's pt_regs: the interrupted idle loop, kernel mode, its
        # ip and sp the next frame's
        irq = [f for f in trace[1:] if f.interrupted]
        assert len(irq) == 1 and irq[0].regs is not None
        regs = irq[0].regs
        assert int(regs.ip) == irq[0].pc and int(regs.sp) == irq[0].sp and int(regs.cs) & 3 == 0
        assert "idle" in (irq[0].name or "") or "halt" in (irq[0].name or "")
        # the interrupt ran on the IRQ stack, the idle loop on the task's stack
        task = cpu_curr(prog, cpu)
        base = int(task.stack)
        assert not base <= trace[0].sp < base + 16384
        assert all(base <= f.sp < base + 16384 for f in trace[irq[0].index:])


CONSOLE_FRAME = re.compile(r"^\[[ \d.]+\]  (\? )?(\S+\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[\w+\])?)$")
CONSOLE_RIP = re.compile(r"^\[[ \d.]+\] RIP: (00[13][03]):(\S+(?: \[\w+\])?)$")
CONSOLE_RSP = re.compile(r"^\[[ \d.]+\] RSP: (00[12][8b]):([0-9a-f]{16})")


def console_crash(truth_dir: object) -> Tuple[List[str], Optional[Tuple[str, int]], Tuple[int, int]]:
    """From the console after the guest said it crashes: the first Call Trace's reliable
    frames, the kernel ``(RIP, RSP)`` printed before it (an oops) and the user ``(RIP,
    RSP)`` printed after them."""
    from pathlib import Path

    from vmcores.crash import CRASHING

    lines = (Path(str(truth_dir)) / "console.log").read_text(errors="replace").replace("\r", "").splitlines()
    start = next(i for i, line in enumerate(lines) if CRASHING in line)
    rest = lines[start:]
    call = next(i for i, line in enumerate(rest) if line.endswith("Call Trace:"))
    kernel_rip: Optional[Tuple[str, int]] = None
    for i, line in enumerate(rest[:call]):
        m = CONSOLE_RIP.match(line)
        if m and m.group(1) == "0010":
            sp = CONSOLE_RSP.match(rest[i + 2]) or CONSOLE_RSP.match(rest[i + 1])
            assert sp, rest[i:i + 3]
            kernel_rip = (m.group(2), int(sp.group(2), 16))
    frames: List[str] = []
    user = (0, 0)
    for i, line in enumerate(rest[call + 1:], call + 1):
        m = CONSOLE_FRAME.match(line)
        if m:
            if not m.group(1):
                frames.append(m.group(2))
            continue
        r = CONSOLE_RIP.match(line)
        if r and r.group(1) == "0033":
            sp = next(CONSOLE_RSP.match(x) for x in rest[i + 1:i + 4] if CONSOLE_RSP.match(x))
            user = (int(r.group(2), 16), int(sp.group(2), 16))  # type: ignore[union-attr]
        if line.endswith("</TASK>"):
            break
    return frames, kernel_rip, user


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_crashed_thread_contains_the_console_call_trace(case: Tuple[str, str, str]) -> None:
    suite, scenario, form = case
    dump = crash_dump(suite, scenario, form)
    console, kernel_rip, (user_ip, user_sp) = console_crash(dump.truth)
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
