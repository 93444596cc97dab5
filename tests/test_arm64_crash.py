"""kdbg on crashed arm64 kernels (:mod:`vmcores.arm64_crash`): Debian's bookworm 6.1 and
trixie 6.12 ``cloud-arm64`` guests under ``qemu-system-aarch64 -cpu max`` (pointer
authentication on) that crashed with sysrq ``c`` (``panic``: ``panic()`` called from
``sysrq_handle_crash``) and with a NULL write in the ``kdbg_oops`` module cross-compiled
for arm64 (``oops``: an EL1 data abort, so the crashed stack crosses an exception frame).
Trixie's ``arm64-16k`` kernel (16K pages, :data:`vmcores.arm64.PAGE_SIZE_KERNELS`) crashes
the same ways. Forky's 7.2 (built when these tests run) too; there the exception
frames are marked by ``FRAME_META_TYPE_PT_REGS`` metadata records, which the console's
trace shows as a frame marked `` (P)``, and each stack ends in a ``FINAL`` one.

Ground truth, from outside kdbg:

* the guest's serial console: the kernel's own ``Call trace:`` of the crash, and for the
  oops the register block ``__show_regs`` printed (``pstate``, ``pc``, ``lr``, ``sp``,
  ``x29`` ... ``x0``), the ``CPU: N PID: P`` line and ``crash.json``'s crashing PID;
* drgn 0.3.0 with Debian's arm64 ``-dbg`` vmlinux (DWARF CFI) on the ``elf-paging`` dump:
  every task's frames (pc, sp, interrupted), the crashed thread, and each CPU's current
  task (``cpu_curr``) with its trace (the CPU ``panic()`` stopped with ``IPI_CPU_STOP`` is
  offline, so drgn's ``for_each_task(idle=True)`` leaves its idle task out: it is asked
  for by CPU).

The dumps are QEMU's, taken after the panic: each CPU's ``NT_PRSTATUS`` is where it spun
then (the panicking CPU in ``panic()``'s loop, the other parked by the stop IPI), not the
fault; the fault's registers are the exception frame's ``pt_regs`` on the crashed stack.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple

import pytest

from kdbg import open_core as open_program
from kdbg.compat.drgn import Object
from kdbg.errors import UnwindError
from kdbg.helpers import cpu_curr
from tests.arm64_support import drgn_answers
from tests.cli_support import run_kdbg
from tests.stack_truth import CPU_LINE, console_lines
from vmcores.arm64 import EXTRA_KERNELS, KERNELS, PAGE_SIZE_KERNELS, arm64_dbg_vmlinux, arm64_dumps, kernel_parts
from vmcores.arm64_crash import ARM64_SCENARIOS, arm64_crash_dumps
from vmcores.crash import CRASHING, TRIGGERS, CrashDump
from vmcores.oracle import ORACLE_FORM, DrgnStacks, Query, drgn_stack_traces

pytestmark = pytest.mark.timeout(3600)

#: The reference kernels' scenarios (4K and 16K pages), and forky's 7.2
#: (:data:`vmcores.arm64.EXTRA_KERNELS`, built when these tests run), whose exception
#: boundaries are metadata frame records.
CASES = [(k, s) for k in KERNELS + PAGE_SIZE_KERNELS + EXTRA_KERNELS for s in ARM64_SCENARIOS]
FORMS = ("elf", "kdump-zlib")
_TS = r"^\[\s*\d+\.\d+\] "
#: A console ``Call trace:`` frame: `` sysrq_handle_crash+0x24/0x40`` (`` [module]``); on
#: 6.13+ with where the unwinder took it from (`` (P)``: a ``pt_regs``; `` (T)``, `` (C)``).
FRAME = re.compile(_TS + r" (\S+\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[\w+\])?)(?: \([CTPU]?[FK]*\))?$")
#: The register block of an oops (``__show_regs``), from ``pstate:`` to the ``x0`` line.
REGS = re.compile(_TS + r"((?:pstate|pc |lr |sp ): .*|x\d.*)$")
EXPECTED_KIND = {"panic": "sysrq", "oops": "null-deref"}


def case_id(case: Tuple[str, str]) -> str:
    return "-".join(case)


def dump_of(kernel: str, scenario: str, form: str) -> CrashDump:
    found = [d for d in arm64_crash_dumps([kernel], [scenario]) if d.form == form]
    assert found, f"vmcores.arm64_crash made no {form} dump of {kernel}-{scenario}"
    return found[0]


def drgn_of(kernel: str, scenario: str) -> DrgnStacks:
    suite, flavour = kernel_parts(kernel)
    dump = dump_of(kernel, scenario, ORACLE_FORM)
    return drgn_stack_traces(f"arm64-{kernel}-{scenario}", dump.path, arm64_dbg_vmlinux(suite, flavour))


class Report:
    """The console's crash report after ``KDBG-CRASHING``: ``CPU: N PID: P``, the first
    ``Call trace:``'s frames and (for an oops) the register block before it."""

    def __init__(self, console: str) -> None:
        tail = console[console.index(CRASHING):].splitlines()
        # 6.12 prints "CPU: 0 UID: 0 PID: 1 Comm: ...": the one header pattern of stack_truth
        cpu = next(m for m in map(CPU_LINE.match, console_lines("\n".join(tail))) if m)
        self.cpu, self.pid = int(cpu["cpu"]), int(cpu["pid"])
        start = next(i for i, ln in enumerate(tail) if re.search(_TS + r"Call trace:$", ln))
        self.frames: List[str] = []
        for ln in tail[start + 1:]:
            m = FRAME.match(ln)
            if not m:
                break
            self.frames.append(m.group(1))
        self.regs = [m.group(1).rstrip() for m in map(REGS.match, tail[:start]) if m]
        self.panic = next(ln for ln in tail if "Kernel panic - not syncing" in ln)


def _kallsyms_address(truth: Path, frame: str) -> Set[int]:
    """The addresses the console frame ``name+0xoff/0xsize`` can mean, by the guest's
    ``/proc/kallsyms`` (a static name may be defined more than once)."""
    name, _, rest = frame.partition("+")
    off = int(rest.split("/")[0], 16)
    return {int(line.split()[0], 16) + off for line in (truth / "kallsyms").read_text().splitlines()
            if line.split()[2] == name}


def report_of(dump: CrashDump) -> Report:
    return Report((dump.truth / "console.log").read_text(errors="replace"))


def names(trace: Any) -> List[str]:
    return [f.name for f in trace]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_console_reports_are_as_expected(case: Tuple[str, str]) -> None:
    """The premise: each scenario crashed as intended, in PID 1, and printed a Call trace
    that runs from the crash down to the system call's entry from user mode; the oops
    printed the exception's registers (``pc`` in the module's ``kdbg_oops_crash``)."""
    for kernel, scenario in [case]:
        dump = dump_of(kernel, scenario, "elf")
        rep = report_of(dump)
        crash = json.loads((dump.truth / "crash.json").read_text())
        assert rep.pid == crash["crash_pid"] == 1
        assert rep.frames[-1].startswith("el0t_64_sync+"), rep.frames
        if scenario == "panic":
            assert "sysrq triggered crash" in rep.panic
            called = [f.split("+")[0] for f in rep.frames]
            # 7.x's panic() hands its va_list to vpanic(), which prints the trace
            before = called[:called.index("panic")]
            assert all(n.startswith(("dump_", "show_stack")) or n == "vpanic" for n in before), rep.frames
        else:
            assert rep.frames[0].startswith("kdbg_oops_crash+") and rep.frames[0].endswith(" [kdbg_oops]")
            assert rep.regs[1] == f"pc : {rep.frames[0]}" and rep.regs[-1].startswith("x2 : ")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_crashed_thread_is_the_consoles_and_drgns(case: Tuple[str, str]) -> None:
    """``prog.crashed_thread()`` is the task the console names (``CPU: N PID: 1``) and
    drgn's; its trace holds the console's ``Call trace`` exactly (function, offset, size,
    module): for ``panic`` every frame after ``panic`` (the console printed from inside
    ``panic()``, the dump holds it looping there later); for ``oops`` the whole trace, from
    the exception frame's ``pt_regs`` (an interrupted frame: its ``pc``, ``sp`` and ``x29``
    the console's) down to ``el0t_64_sync``, after the exception's entry (``el1h_64_sync``)
    and the fault plumbing that called ``die``/``panic``. (bookworm's cloud kernel lists
    neither ``panic_cpu`` nor ``modules`` in kallsyms, exports or VMCOREINFO: kdbg finds
    both in the code that uses them, :mod:`kdbg.symbols.coderefs`.)"""
    kernel, scenario = case
    rep = report_of(dump_of(kernel, scenario, "elf"))
    drgn = drgn_of(kernel, scenario)
    assert "error" not in drgn.crashed, drgn.crashed
    for form in FORMS:
        dump = dump_of(kernel, scenario, form)
        with open_program(str(dump.path)) as prog:
            thread = prog.crashed_thread()
            assert thread.tid == rep.pid == drgn.crashed["tid"]
            assert int(thread.object.value_()) == drgn.crashed["address"]
            trace = thread.stack_trace()
            text = [f.format() for f in trace]
            assert trace.stop_reason is None, str(trace)
            assert "panic" in names(trace), text
            if scenario == "panic":
                # by address: the console prints the return address after
                # sysrq_handle_crash's noreturn panic() call as the next function (+0x0),
                # kdbg names the calling function (sysrq_handle_crash+size)
                at = names(trace).index("panic")
                cut = [f.split("+")[0] for f in rep.frames].index("panic")
                want = [_kallsyms_address(dump.truth, f) for f in rep.frames[cut + 1:]]
                rest = list(trace)[at + 1:]
                assert len(rest) == len(want) and all(f.pc in w for f, w in zip(rest, want, strict=True)), \
                    (text, rep.frames)
            else:
                first = len(text) - len(rep.frames)
                assert first > 0 and text[first:] == rep.frames, (text, rep.frames)
                fault = trace[first]
                # above panic() the CPU may be in an interrupt taken in panic's delay loop
                # (panic enables interrupts before it loops): from panic down, only the fault
                at = names(trace).index("panic")
                assert fault.interrupted and not any(f.interrupted for f in list(trace)[at:first]), text
                assert names(trace)[first - 1].startswith(("el1h_64_sync", "el1_sync")), text
                regs = fault.registers()
                console = dict(r.split(": ", 1) for r in rep.regs[3:4])  # "sp : <hex>"
                assert f"{regs['sp']:016x}" == console["sp "]
                assert rep.regs[4].startswith(f"x29: {regs['x29']:016x} ")
        rec = drgn.tasks[drgn.crashed["address"]]
        if "error" in rec:
            # drgn 0.3.0 names the crashed thread but cannot unwind it on bookworm's panic
            # and trixie's oops dumps (as for a CPU QEMU stopped in a leaf,
            # test_arm64_stacks): the console's own Call trace, checked above frame for
            # frame, is the truth there.
            assert rec["error"] == "LookupError: stack pointer is not known", rec
            continue
        assert [f.pc for f in trace] == [f[0] for f in rec["frames"]], (text, rec["frames"])
        assert [f.interrupted for f in trace] == [f[2] for f in rec["frames"]]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_task_equals_drgn(case: Tuple[str, str]) -> None:
    """Every task drgn 0.3.0 unwinds (``for_each_task(idle=True)``) has kdbg's trace with
    drgn's pcs and interrupted flags, on the ELF and kdump forms (drgn's ``sp`` is the
    DWARF CFA, kdbg's the frame record's: not compared); the exited zombie's
    stack is gone (one line); a task drgn cannot unwind is one on a CPU at the dump."""
    kernel, scenario = case
    drgn = drgn_of(kernel, scenario)
    for form in FORMS:
        dump = dump_of(kernel, scenario, form)
        with open_program(str(dump.path)) as prog:
            task_t = prog.type("struct task_struct")
            compared = 0
            for address, rec in drgn.tasks.items():
                task = Object(prog, task_t, address=address)
                if int(task.stack) == 0:
                    with pytest.raises(UnwindError, match="has no stack: it exited"):
                        prog.stack_trace(task)
                    continue
                trace = prog.stack_trace(task)
                if "error" in rec:
                    assert int(task.on_cpu), rec
                    continue
                got = [[f.pc, f.interrupted] for f in trace]
                assert got == [[f[0], f[2]] for f in rec["frames"]], (form, rec["pid"], rec["comm"], str(trace))
                compared += 1
            assert compared >= len(drgn.tasks) - 3


_SCHED = "__import__('drgn.helpers.linux.sched', fromlist=['x'])"
_POSSIBLE = "list(__import__('drgn.helpers.linux.cpumask', fromlist=['x']).for_each_possible_cpu(prog))"
#: The exception vectors whose frame record is the ``stackframe`` of the ``struct pt_regs``
#: they saved (arch/arm64/kernel/entry.S: ``kernel_entry`` sets x29 to ``&regs->stackframe``).
_VECTORS = ("el1h_64_sync", "el1h_64_irq", "el1h_64_fiq", "el1h_64_error")
#: One CPU's current task: ``(address, [[pc, interrupted, pt_regs], ...], __irq_regs)``,
#: inline frames left out (kdbg's frames are the functions kallsyms knows). ``pt_regs`` is
#: ``[address, saved pc]`` of the registers an exception vector's frame saved, read by drgn
#: at ``x29 - offsetof(struct pt_regs, stackframe)`` (``None`` for other frames, or x29 unknown);
#: ``__irq_regs`` is the CPU's (drgn's only way to find a ``pt_regs`` before Linux 6.13).
_CURR = ("(lambda t, off: [t.value_(), [[f.pc, f.interrupted, "
         "(lambda x: None if x is None else [x - off, Object(prog, 'struct pt_regs', address=x - off).pc.value_()])"
         "(f.registers().get('x29')) if f.name in {v!r} else None] for f in prog.stack_trace(t) if not f.is_inline], "
         "__import__('drgn.helpers.linux.percpu', fromlist=['x']).per_cpu(prog['__irq_regs'], {c}).value_()])"
         "({s}.cpu_curr(prog, {c}), offsetof(prog.type('struct pt_regs'), 'stackframe'))")


def _drgn_cpus(kernel: str, scenario: str) -> Dict[int, Any]:
    """``{cpu: (task address, frames) or drgn's error record}`` for every possible CPU."""
    dump = dump_of(kernel, scenario, ORACLE_FORM)
    cpus = drgn_answers(dump, [Query("possible", _POSSIBLE)])["possible"]["value"]
    recs = drgn_answers(dump, [Query(f"cpu{c}", _CURR.format(s=_SCHED, c=c, v=_VECTORS)) for c in cpus],
                        errors=True)
    return {c: recs[f"cpu{c}"] if recs[f"cpu{c}"]["kind"] == "error" else recs[f"cpu{c}"]["value"] for c in cpus}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_other_cpu_was_stopped_by_the_panic(case: Tuple[str, str]) -> None:
    """The CPU that did not panic was stopped by ``panic()``'s ``IPI_CPU_STOP``: its
    current task's trace (from its ``NT_PRSTATUS`` note) starts in ``local_cpu_stop``
    called by the IPI handler (``ipi_handler`` on 6.1, ``do_handle_IPI`` on 6.12) and,
    after the interrupt's ``pt_regs`` frame, runs into what it interrupted down to a
    normal end; drgn, asked by CPU (the stopped CPU is offline, so
    ``for_each_task(idle=True)`` omits its idle task), gives the same pcs and interrupted
    frames where it can unwind that CPU (drgn 0.3.0 fails on some stopped CPUs: "stack
    pointer is not known")."""
    kernel, scenario = case
    rep = report_of(dump_of(kernel, scenario, "elf"))
    cpus = _drgn_cpus(kernel, scenario)
    assert rep.cpu in cpus and len(cpus) >= 2
    for form in FORMS:
        dump = dump_of(kernel, scenario, form)
        with open_program(str(dump.path)) as prog:
            for cpu, rec in cpus.items():
                if cpu == rep.cpu:
                    continue
                task = Object(prog, "struct task_struct *", value=_cpu_curr(prog, cpu))
                trace = prog.stack_trace(task)
                text = [f.format() for f in trace]
                assert trace[0].name == "local_cpu_stop", text
                assert trace[1].name in ("ipi_handler", "do_handle_IPI"), text
                assert any(f.interrupted for f in list(trace)[1:]) and trace.stop_reason is None, text
                if isinstance(rec, dict):
                    assert rec["message"] == "stack pointer is not known", rec
                    continue
                assert rec[0] == int(task.value_())
                assert [[f.pc, f.interrupted] for f in trace] == _interrupted_as_saved(rec[1], rec[2]), (text, rec)


def _interrupted_as_saved(frames: List[Any], irq_regs: int) -> List[List[Any]]:
    """drgn's ``[[pc, interrupted], ...]`` of one CPU, with the frames drgn does not call
    interrupted although the kernel's own record says so: the frame right after an
    exception vector's, whose pc is the one the vector saved in its ``struct pt_regs``
    (read by drgn). drgn finds such a ``pt_regs`` before Linux 6.13 only when it is the
    CPU's ``__irq_regs`` (libdrgn/arch_aarch64.c says it may miss others), so it misses
    the outer one of nested interrupts: run M's trixie CPU 0 was idle in
    ``default_idle_call``, interrupted by an IRQ whose softirq was interrupted by the
    panic's IPI. Every frame changed here is such an outer ``pt_regs``, never the CPU's
    ``__irq_regs``."""
    out = []
    for i, (pc, interrupted, _) in enumerate(frames):
        saved = frames[i - 1][2] if i else None
        if not interrupted and saved is not None and saved[1] == pc:
            assert saved[0] != irq_regs, (i, frames)
            interrupted = True
        out.append([pc, interrupted])
    return out


def _cpu_curr(prog: Any, cpu: int) -> int:
    """The address of ``cpu``'s current task (kdbg's ``cpu_curr``)."""
    return int(cpu_curr(prog, cpu).value_())


BT_FRAME = re.compile(r"^\s*#\d+ \[[0-9a-f]{16}\] (\S+(?: \[\w+\])?)$")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bt_of_the_crash(case: Tuple[str, str]) -> None:
    """``bt`` with no argument shows the crashed task (crash's panic task): its frames are
    ``crashed_thread()``'s; for the oops the exception frame's registers follow it in the
    layout of arm64's ``__show_regs``, the very lines the console printed."""
    kernel, scenario = case
    dump = dump_of(kernel, scenario, "kdump-zlib")
    rep = report_of(dump)
    r = run_kdbg("-q", "--core", str(dump.path), "-x", "bt", timeout=900)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"PID: {rep.pid} "), lines[0]
    with open_program(str(dump.path)) as prog:
        want = [f.format() for f in prog.crashed_thread().stack_trace()]
    assert [m.group(1) for m in map(BT_FRAME.match, lines) if m] == want
    if scenario == "oops":
        at = next(i for i, ln in enumerate(lines) if ln.endswith(" " + rep.frames[0]))
        block = [ln.strip() for ln in lines[at + 1: at + 1 + len(rep.regs)]]
        assert block == rep.regs, (block, rep.regs)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_report_classifies_the_crash(case: Tuple[str, str]) -> None:
    """``kdbg report``: the kind the console's words give (``sysrq`` for the sysrq panic,
    ``null-deref`` for arm64's ``Unable to handle kernel NULL pointer dereference``), the
    crashed task PID 1 on the console's CPU, and a signature; a sysrq panic's begins with
    the trigger's handler, the caller of ``panic`` (whether or not the dump caught the CPU in an interrupt
    taken in panic's delay loop: such an interrupt's entry once emptied the signature)."""
    kernel, scenario = case
    dump = dump_of(kernel, scenario, ORACLE_FORM)
    rep = report_of(dump)
    r = run_kdbg("report", str(dump.path), "--format", "json", timeout=900)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)["summary"]
    assert s["kind"]["kind"] == EXPECTED_KIND[scenario], s["kind"]
    assert (s["crashed"]["pid"], s["crashed"]["cpu"]) == (rep.pid, rep.cpu)
    assert s["signature"]["frames"], s["signature"]
    if scenario == "panic":  # the function that called panic(), which the trigger's sysrq handler is
        assert s["signature"]["frames"][0] == TRIGGERS["panic"][1], (s["signature"], rep.frames)


@pytest.mark.parametrize("kernel", KERNELS + PAGE_SIZE_KERNELS)
def test_dumps_json_records_the_module(kernel: str) -> None:
    """The oops dumps record the module they were made with (its source hash and recipe:
    a cache made with another ``kdbg_oops.c`` rebuilds), built by the cross compiler, and
    the guest listed it as loaded, out of tree and unsigned."""
    for dump in [dump_of(kernel, "oops", "elf")]:
        info: Dict[str, Any] = json.loads((dump.path.parent / "dumps.json").read_text())
        module = info["module"]
        assert module["release"] == dump.release and module["source"] and module["recipe"]
        assert "ARCH=arm64" in module["command"] and "aarch64-linux-gnu" in module["gcc"]
        modules = (dump.truth / "modules").read_text()
        assert re.search(r"^kdbg_oops \d+ 0 - Live 0x[0-9a-f]+ \(OE\)$", modules, re.M), modules


def test_uncrashed_dump_has_no_crashed_thread() -> None:
    """On a dump of a guest that did not panic (the arm64 reference dump of bookworm's
    cloud kernel, whose ``panic_cpu`` kdbg finds in the code that uses it: kallsyms lacks
    it), ``crashed_thread()`` says so (drgn's ``LookupError``), never a guess."""
    dump = next(d for d in arm64_dumps(["bookworm-cloud"]) if d.form == "kdump-zlib")
    console = (dump.truth / "console.log").read_text(errors="replace")
    assert "Kernel panic - not syncing" not in console
    with open_program(str(dump.path)) as prog:
        assert prog.symbol_table.get("panic_cpu") is not None
        with pytest.raises(LookupError, match="the kernel did not panic"):
            prog.crashed_thread()
