"""arm64 frame records with pointer authentication (:func:`kdbg.arch.arm64.walk_frame_records`),
from a blocked task's ``thread.cpu_context`` and a CPU's ``NT_PRSTATUS``, and the stack
traces built on them (``prog.stack_trace``, ``bt``: :mod:`kdbg.unwind.frame_records`).

Ground truth: drgn 0.3.0 with Debian's arm64 DWARF (its CFI unwinder) on the same dump,
for every blocked task, and the guest's own sysrq-t for the sleepers its ``/init`` started
(asleep from before the sysrq-t until the dump). ``-cpu max`` signs return addresses, so
the records hold PAC-signed ``x30`` values that must be stripped with ``KERNELPACMASK``.
"""

from __future__ import annotations

import bisect
import json
import re
from typing import Dict, List, Optional, Tuple

import pytest

from kdbg import open_core as open_program
from kdbg.arch.arm64 import (
    FINAL_FRAME,
    Arm64Translator,
    FrameRecords,
    prstatus_registers,
    strip_pac,
    thread_size,
    walk_frame_records,
    walk_interrupted,
)
from kdbg.compat.drgn import Object
from kdbg.errors import UnwindError
from kdbg.helpers.stack import kernel_stack_trace
from tests.arm64_support import drgn_answers
from tests.cli_support import run_kdbg
from vmcores.arm64 import EXTRA_KERNELS, KERNELS, PAGE_SIZE_KERNELS, arm64_dbg_vmlinux, arm64_dumps, kernel_parts
from vmcores.dump_index import Dump
from vmcores.oracle import ORACLE_FORM, Query, drgn_stack_traces

pytestmark = pytest.mark.timeout(2400)

#: A sysrq-t frame line: `` __switch_to+0xf4/0x168``; 6.13+ add where the unwinder took
#: the pc from (``dump_backtrace_entry``): `` (T)`` the task's saved context, `` (P)`` a
#: ``pt_regs``, `` (C)`` the caller, with ``F``/``K`` for an ftrace or kretprobe return.
FRAME = re.compile(r"^\[\s*[\d.]+\]\s+(\S+)\+0x([0-9a-f]+)/0x([0-9a-f]+)(?: \([CTPU]?[FK]*\))?$")
#: The kernels checked: the reference ones (16K pages too) and forky's 7.2, whose stacks
#: end in a ``FRAME_META_TYPE_FINAL`` metadata record (built when these tests run).
STACK_KERNELS = KERNELS + PAGE_SIZE_KERNELS + EXTRA_KERNELS
TASK = re.compile(r"^\[\s*[\d.]+\] task:(.{15}) state:(\S).* pid:(\d+) ")


@pytest.fixture(scope="module", params=STACK_KERNELS)
def oracle_dump(request: pytest.FixtureRequest) -> Dump:
    return next(d for d in arm64_dumps([request.param]) if d.form == ORACLE_FORM)


def sysrq_t(console: str) -> Dict[int, List[str]]:
    """``{pid: [frame, ...]}`` of the sysrq-t between the guest's markers (arm64's
    ``Call trace:`` format: one ``function+0xoff/0xsize`` per line)."""
    block = console[console.index("KDBG-SYSRQ-T-BEGIN") : console.index("KDBG-SYSRQ-T-END")]
    out: Dict[int, List[str]] = {}
    pid = None
    for line in block.splitlines():
        m = TASK.match(line)
        if m:
            pid = int(m.group(3))
            out[pid] = []
            continue
        f = FRAME.match(line)
        if f and pid is not None:
            out[pid].append(f"{f.group(1)}+0x{f.group(2)}/0x{f.group(3)}")
    return out


def test_blocked_tasks_unwind_as_drgn_and_the_guest(oracle_dump: Dump) -> None:
    suite, flavour = kernel_parts(oracle_dump.suite)
    drgn = drgn_stack_traces(f"arm64-{oracle_dump.suite}", oracle_dump.path, arm64_dbg_vmlinux(suite, flavour))
    console = sysrq_t((oracle_dump.truth / "console.log").read_text(errors="replace"))
    started = {p["pid"] for p in json.loads((oracle_dump.truth / "ps.json").read_text())
               if p["comm"] in ("sleep", "kdbg-sleeper", "cat") and p["state"] == "S"}
    sleepers = {p for p in started if console.get(p)}  # (the zombie has no stack to print)
    assert len(sleepers) >= 4 and all(console[p][-1].startswith("el0t_64_sync+") for p in sleepers), console
    with open_program(str(oracle_dump.path)) as prog:
        arch = prog.memory.arch  # type: ignore[union-attr]
        assert isinstance(arch, Arm64Translator) and arch.params.pac_mask

        def read_u64(address: int) -> int:
            return int.from_bytes(prog.read(address, 8), "little")

        task_t = prog.type("struct task_struct")
        blocked = 0
        running = []
        gone = []
        signed = 0
        on_cpu = _tasks_on_cpus(prog, list(drgn.tasks))
        for address, rec in drgn.tasks.items():
            task = Object(prog, task_t, address=address)
            if "error" in rec:
                # drgn 0.3.0 fails on some CPUs QEMU stopped outside the idle instruction
                # (trixie's CPU 1 in the leaf arch_counter_read: "stack pointer is not
                # known"); only a task on a CPU may have no trace from it
                assert address in on_cpu, rec
                running.append(int(task.pid))
                continue
            cc = task.thread.cpu_context
            want = [f[0] for f in rec["frames"]]
            if want[0] != int(cc.pc):  # drgn started from the CPU's NT_PRSTATUS: running
                assert address in on_cpu, rec
                running.append(int(task.pid))
                continue
            stack = int(task.stack)
            walk = walk_frame_records(read_u64, int(cc.pc), int(cc.fp), (stack, stack + thread_size(arch.page_size)),
                                      arch.params.pac_mask)
            if stack == 0:  # a zombie: its stack is freed; the kernel prints no trace (drgn reads stale memory)
                assert not console.get(int(task.pid)) and "outside the task's stack [0x0, " in walk.end
                gone.append(int(task.pid))
                continue
            blocked += 1
            assert (walk.pcs, walk.end) == (want, FINAL_FRAME), (rec["pid"], rec["comm"])
            raw = [read_u64(fp + 8) for fp in walk.fps[:-1]]
            assert [strip_pac(r, arch.params.pac_mask) for r in raw] == walk.pcs[1:]
            signed += sum(r != pc for r, pc in zip(raw, walk.pcs[1:], strict=True))
            if int(task.pid) in sleepers and int(task.tgid) == int(task.pid):
                names = []
                for pc in walk.pcs:
                    sym = prog.symbol(pc)
                    names.append(f"{sym.name}+{pc - sym.address:#x}/{sym.size:#x}")
                assert names == console[int(task.pid)], task.pid
                sleepers.discard(int(task.pid))
        # what each CPU ran when QEMU stopped the guest (its idle task, on an idle guest)
        assert sorted(running) == sorted(int(Object(prog, task_t, address=a).pid) for a in on_cpu)
        assert len(gone) <= 1 and blocked == len(drgn.tasks) - 2 - len(gone) and not sleepers
        assert signed > blocked  # pointer authentication was on: most return addresses signed


def _kallsyms_text(dump: Dump) -> List[Tuple[int, int]]:
    """``(start, end)`` of each text symbol of the guest's ``/proc/kallsyms`` (its end the
    next symbol's address), sorted."""
    addrs = []
    for line in (dump.truth / "kallsyms").read_text().splitlines():
        address, kind = line.split()[:2]
        addrs.append((int(address, 16), kind in "tT"))
    addrs.sort()
    return [(addrs[i][0], addrs[i + 1][0]) for i in range(len(addrs) - 1) if addrs[i][1]]


def _in_text(text: List[Tuple[int, int]], pc: int) -> bool:
    i = bisect.bisect_right(text, (pc, 1 << 64)) - 1
    return i >= 0 and text[i][0] <= pc < text[i][1]


def _tasks_on_cpus(prog: object, tasks: List[int]) -> Dict[int, int]:
    """task address -> CPU, for those of ``tasks`` (drgn's every task, the idle ones
    included) that each CPU's ``NT_PRSTATUS`` (QEMU's record of the stopped CPU) shows running:
    the task whose stack holds the note's ``sp``, or, for a CPU QEMU stopped while it served an
    interrupt on its IRQ stack, the first task stack the chain of frame records from ``x29``
    reaches (``call_on_irq_stack`` links the IRQ stack's records to the interrupted task's)."""
    arch = prog.memory.arch  # type: ignore[attr-defined]
    size = thread_size(arch.page_size)
    notes = prog.memory.prstatus  # type: ignore[attr-defined]
    regs = {cpu: prstatus_registers(desc)[1] for cpu, desc in enumerate(notes)}
    task_t = prog.type("struct task_struct")  # type: ignore[attr-defined]
    stacks = {}
    for address in tasks:
        stack = int(Object(prog, task_t, address=address).stack)
        if stack:
            stacks[address] = stack

    def holder(pointer: int) -> Optional[int]:
        return next((a for a, stack in stacks.items() if stack <= pointer < stack + size), None)

    out: Dict[int, int] = {}
    for cpu, r in regs.items():
        task, fp = holder(r["sp"]), r["x29"]
        for _ in range(64):  # an IRQ stack holds a few dozen records at most
            if task is not None or not fp:
                break
            task = holder(fp)
            fp = int.from_bytes(prog.read(fp, 8), "little")  # type: ignore[attr-defined]
        assert task is not None, f"CPU {cpu}: neither sp {r['sp']:#x} nor its frame records are on a task's stack"
        out[task] = cpu
    assert sorted(out.values()) == sorted(regs), (out, regs)
    return out


def _walk_cpu(prog: object, regs: Dict[str, int], task_stack: Tuple[int, int]) -> FrameRecords:
    """:func:`walk_interrupted` from a CPU's note on the task's stack; for a CPU that was
    serving an interrupt (``sp`` off the task's stack: on its IRQ stack, THREAD_SIZE-sized and
    -aligned, arch/arm64/kernel/irq.c), the walk over the IRQ stack, then on from the frame
    record its last record links to on the task's stack."""
    arch = prog.memory.arch  # type: ignore[attr-defined]
    size = thread_size(arch.page_size)

    def read_u64(address: int) -> int:
        return int.from_bytes(prog.read(address, 8), "little")  # type: ignore[attr-defined]

    def same(a: int, b: int) -> bool:
        return bool(prog.symbol(a).address == prog.symbol(b).address)  # type: ignore[attr-defined]

    sp = regs["sp"]
    if task_stack[0] <= sp < task_stack[1]:
        return walk_interrupted(read_u64, regs, task_stack, arch.params.pac_mask, same)
    irq = (sp & ~(size - 1), (sp & ~(size - 1)) + size)
    first = walk_interrupted(read_u64, regs, irq, arch.params.pac_mask, same)
    assert "outside the task's stack" in first.end and first.fps, first
    rest = walk_frame_records(read_u64, first.pcs[-1], read_u64(first.fps[-1]), task_stack, arch.params.pac_mask)
    return FrameRecords(first.pcs[:-1] + rest.pcs, first.fps + rest.fps, rest.end)


def test_running_cpus_unwind_from_their_prstatus_notes(oracle_dump: Dump) -> None:
    """Each CPU's ``NT_PRSTATUS`` note gives the registers drgn reads for the task running
    there (the idle task on an idle guest, but QEMU may stop a CPU anywhere in its idle
    loop or in an interrupt it serves, on its IRQ stack, where drgn 0.3.0 sometimes cannot
    unwind), and ``pc``, ``x30``
    where the stopped function had not saved it (bookworm's leaf ``cpu_do_idle``; trixie's
    has its frame record), and the frame records from ``x29`` give drgn's pcs (DWARF CFI)
    down to the final frame record."""
    suite, flavour = kernel_parts(oracle_dump.suite)
    drgn = drgn_stack_traces(f"arm64-{oracle_dump.suite}", oracle_dump.path, arm64_dbg_vmlinux(suite, flavour))
    with open_program(str(oracle_dump.path)) as prog:
        arch = prog.memory.arch  # type: ignore[union-attr]
        assert isinstance(arch, Arm64Translator)
        notes = prog.memory.prstatus  # type: ignore[union-attr]
        running = {cpu: address for address, cpu in _tasks_on_cpus(prog, list(drgn.tasks)).items()}
        assert len(notes) == len(running) == 2
        text = _kallsyms_text(oracle_dump)
        compared = 0
        task_t = prog.type("struct task_struct")
        for cpu, desc in enumerate(notes):
            pid, regs = prstatus_registers(desc)
            assert pid == cpu + 1
            address = running[cpu]
            rec = drgn.tasks[address]
            stack = int(Object(prog, task_t, address=address).stack)
            walk = _walk_cpu(prog, regs, (stack, stack + thread_size(arch.page_size)))
            if "error" in rec:
                # drgn 0.3.0 could not unwind this CPU (see above): the walk must start at
                # QEMU's pc and reach a final frame record on the task's stack (its top, or
                # on 6.13+ the {0, 0} record of the pt_regs an interrupt saved), through
                # functions of the guest's own kallsyms
                assert walk.pcs[0] == regs["pc"] and walk.end == FINAL_FRAME, (cpu, rec["error"])
                assert all(_in_text(text, pc) for pc in walk.pcs), walk.pcs
                continue
            compared += 1
            first = rec["frames"][0]
            common = set(first[4]) & set(regs)
            assert {"sp", "x19", "x29", "x30", "pstate"} <= common  # drgn's frame gives pc apart
            assert {r: regs[r] for r in common} == {r: first[4][r] for r in common}
            assert regs["pc"] == first[0]
            assert (walk.pcs, walk.end) == ([f[0] for f in rec["frames"]], FINAL_FRAME), cpu
        assert compared, "drgn unwound no CPU of this dump"


#: A ``bt`` frame line: `` #3 [ffff800080e3bd90] do_wait+0x68/0x108``.
BT_FRAME = re.compile(r"^\s*#\d+ \[[0-9a-f]{16}\] (\S+)$")


@pytest.mark.parametrize("kernel", STACK_KERNELS)
def test_stack_trace_and_bt_of_every_task(kernel: str) -> None:
    """``prog.stack_trace(task)`` (the generic trace code with the arm64 frame source) for
    every task drgn 0.3.0 unwinds with DWARF CFI on the same dump: the same pcs, the same
    interrupted frames (each CPU's, from its ``NT_PRSTATUS`` note, with the note's
    registers; a CPU drgn cannot unwind ends at the kernel's final frame record through the
    guest's kallsyms), a normal end; the sleepers' frames as the guest's sysrq-t printed them; and
    ``bt PID`` prints those frames. (On bookworm's cloud kernel, whose kallsyms has no data
    symbols, the tasks are found through the exported ``init_task`` and ``init_pid_ns``,
    and the CPUs' stacks through the exported ``__per_cpu_offset``.)"""
    dump = next(d for d in arm64_dumps([kernel]) if d.form == ORACLE_FORM)
    suite, flavour = kernel_parts(dump.suite)
    drgn = drgn_stack_traces(f"arm64-{dump.suite}", dump.path, arm64_dbg_vmlinux(suite, flavour))
    console = sysrq_t((dump.truth / "console.log").read_text(errors="replace"))
    sleepers = {p["pid"] for p in json.loads((dump.truth / "ps.json").read_text())
                if p["comm"] in ("sleep", "kdbg-sleeper", "cat") and p["state"] == "S" and console.get(p["pid"])}
    assert len(sleepers) >= 4
    checked = set()
    interrupted = 0
    text = _kallsyms_text(dump)
    with open_program(str(dump.path)) as prog:
        task_t = prog.type("struct task_struct")
        for address, rec in drgn.tasks.items():
            task = Object(prog, task_t, address=address)
            if int(task.stack) == 0:  # a zombie: the kernel prints no trace, kdbg says why in one line
                with pytest.raises(UnwindError, match="has no stack: it exited"):
                    prog.stack_trace(task)
                continue
            trace = prog.stack_trace(task)
            if "error" in rec:  # drgn 0.3.0 could not unwind this CPU (see above): the kernel's own
                # final frame record ends the trace, through functions of the guest's kallsyms
                assert trace[0].interrupted and trace.stop_reason is None, (rec, str(trace))
                assert all(_in_text(text, f.pc) for f in trace), str(trace)
                interrupted += 1
                continue
            want = rec["frames"]
            assert [f.pc for f in trace] == [f[0] for f in want], (rec["pid"], rec["comm"], str(trace))
            assert [f.interrupted for f in trace] == [f[2] for f in want], rec["pid"]
            assert trace.stop_reason is None
            if want[0][2]:
                interrupted += 1
                regs = trace[0].registers()
                assert {r: regs[r] for r in want[0][4]} == want[0][4]  # every register drgn knows
                assert int(trace[0].regs.pc) == trace[0].pc  # the note's user_pt_regs as a struct pt_regs
            pid = int(task.pid)
            if pid in sleepers and int(task.tgid) == pid:
                assert [f.format() for f in trace] == console[pid], pid
                checked.add(pid)
    assert checked == sleepers
    assert interrupted == 2  # each CPU's idle task, from its note
    for pid in sorted(checked)[:3]:
        bt = run_kdbg("-q", "--core", str(dump.path), "-x", f"bt {pid}", timeout=600)
        assert bt.returncode == 0, bt.stderr
        lines = bt.stdout.splitlines()
        assert lines[0].startswith(f"PID: {pid} ")
        assert [m.group(1) for m in map(BT_FRAME.match, lines[1:]) if m] == console[pid], bt.stdout
        assert len(lines) == 1 + len(console[pid]), bt.stdout


@pytest.mark.parametrize("kernel", STACK_KERNELS)
def test_kernel_stack_trace_segments_as_drgn(kernel: str) -> None:
    """``kernel_stack_trace`` (drgn's ``drgn.helpers.linux.stack``) on arm64: each task's
    segments, their kinds (the task, IRQ and overflow stacks; user by bit 55) and lengths,
    as drgn 0.3.0 gives them (its frames less the inline ones DWARF adds), for every task
    drgn can unwind."""
    dump = next(d for d in arm64_dumps([kernel]) if d.form == ORACLE_FORM)
    suite, flavour = kernel_parts(dump.suite)
    drgn = drgn_stack_traces(f"arm64-{dump.suite}", dump.path, arm64_dbg_vmlinux(suite, flavour))
    with open_program(str(dump.path)) as prog:
        task_t = prog.type("struct task_struct")
        tasks = [a for a, rec in drgn.tasks.items()
                 if "error" not in rec and int(Object(prog, task_t, address=a).stack)]
        assert len(tasks) > 40
        stack = "__import__('drgn.helpers.linux.stack', fromlist=['x'])"
        segments = (f"[[(s.kind.name, sum(not f.is_inline for f in s)) for s in {stack}.kernel_stack_trace("
                    f"prog, drgn.Object(prog, 'struct task_struct *', a)).segments] for a in {tasks}]")
        recs = drgn_answers(dump, [Query("segments", segments)])
        ours = [[(s.kind.name, len(s)) for s in kernel_stack_trace(prog, Object(prog, "struct task_struct *",
                                                                                 value=a)).segments]
                for a in tasks]
        assert [[tuple(x) for x in t] for t in recs["segments"]["value"]] == ours
