"""``bt``: stack traces, like crash's ``bt``, from the kernel's own ORC tables (x86-64)
or frame records (arm64) (:mod:`kdbg.unwind`).

``bt`` shows the current context (``set``; at first the task that crashed the kernel of a
vmcore, ``prog.crashed_thread()``), ``bt PID`` or ``bt TASK_ADDRESS`` the ones named,
``bt -a`` crash's meaning: the active task of every CPU (a CPU's idle task where it was
idle), ``bt -c CPU`` that of the CPUs listed (``1``, ``1,3``, ``0-2``, ``a``), ``bt -p`` the
task that crashed the kernel; ``bt -r`` prints each task's whole kernel stack as crash does
(two words a line, symbols as ``symbol+offset``); ``bt -l`` (source lines) needs DWARF and
is refused in one line. Every task is ``foreach bt`` (:mod:`kdbg.ui.commands.foreach`).
Each task starts with crash's header line
(``PID: 92       TASK: ffff888003a1c000  CPU: 0    COMMAND: "sh"``), then one frame a line
as the kernel prints its own traces: `` #0 [STACK POINTER] function+0xoff/0xsize``
(`` [module]`` after module text). An interrupt, exception or dump frame is followed by
the registers it saved, as the kernel's ``__show_regs`` lays them out (x86-64's ``RIP``
rows, arm64's ``pc``/``lr``/``sp`` and ``x29``..``x0``); a trace that
reaches user mode ends with the user registers. No locals or arguments: without DWARF
nothing records them.

``--json`` gives a list of objects: ``pid``, ``task``, ``cpu``, ``comm``, ``frames`` (each
``index``, ``pc``, ``sp``, ``function``, ``offset``, ``size``, ``module``, ``interrupted``,
``user``, ``registers`` for interrupted and user frames) and ``stop_reason`` (why the
unwinding ended early, ``null`` at a normal end); a task that cannot be unwound has
``error`` instead of ``frames``.
"""

from __future__ import annotations

import argparse
import json
from typing import IO, TYPE_CHECKING, Any, Dict, List

from kdbg.arch.arm64 import strip_pac
from kdbg.arch.arm64.unwind import show_regs_lines
from kdbg.errors import ExpressionError, KdbgError, ObjectNotFoundError, ObjectTypeError
from kdbg.helpers import task_cpu
from kdbg.helpers.common import deref_if_pointer
from kdbg.helpers.cpumask import for_each_present_cpu
from kdbg.helpers.pid import resolve_task
from kdbg.helpers.sched import cpu_curr, thread_size
from kdbg.ui.commands import CommandContext, argument, command
from kdbg.ui.commands.context import current_task, panic_task_object
from kdbg.ui.commands.memory import symbol_lines
from kdbg.unwind import stack_trace
from kdbg.unwind.frame_records import pac_mask

if TYPE_CHECKING:
    from kdbg.unwind import StackFrame, StackTrace

# kdbg.helpers and kdbg.unwind load when bt runs, not with the built-in commands: a
# broken helpers package then fails bt alone, in one line, as it fails the plugins.

#: ``__show_regs`` rows (arch/x86/kernel/process_64.c), after ``RIP`` and ``RSP``.
_REG_ROWS = (("rax", "rbx", "rcx"), ("rdx", "rsi", "rdi"), ("rbp", "r8", "r9"),
             ("r10", "r11", "r12"), ("r13", "r14", "r15"))


def header(task: Any) -> str:
    """crash's task line: ``PID: 1        TASK: ffff...  CPU: 0    COMMAND: "init"``."""

    comm = task.comm.string_().decode("utf-8", "replace")
    return f'PID: {int(task.pid):<7}  TASK: {int(task.address_of_()):x}  CPU: {task_cpu(task):<3}  COMMAND: "{comm}"'


def _reg_label(name: str) -> str:
    """``__show_regs``' spelling of a register: ``RAX``, ``R08``, ``R15``."""
    if name[0] == "r" and name[1:].isdigit():
        return f"R{int(name[1:]):02d}"
    return name.upper()


def _arm64_lr(frame: StackFrame, lr: int) -> str:
    """``lr`` as arm64's ``__show_regs`` prints it: ``%pS`` of the address stripped of its
    pointer-authentication code."""
    prog = frame.prog
    address = strip_pac(lr, pac_mask(prog))
    try:
        sym = prog.symbol(address)
    except (KdbgError, LookupError):
        return f"0x{address:x}"
    size = f"/{sym.size:#x}" if sym.size is not None else ""
    return f"{sym.name}+{address - sym.address:#x}{size}" + (f" [{sym.module}]" if getattr(sym, "module", None) else "")


def _show_regs(frame: StackFrame, out: IO[str]) -> None:
    """The saved registers of an interrupted or user frame, as ``__show_regs`` prints them."""
    regs = frame.registers()
    if "pstate" in regs and "pc" in regs:  # arm64
        user = frame.user
        pc = f"{regs['pc']:016x}" if user else frame.format()
        lr = f"{regs['x30']:016x}" if user else _arm64_lr(frame, regs["x30"])
        for line in show_regs_lines(regs, pc, lr):
            out.write(f"    {line}\n")
        return
    if "rip" not in regs:
        return
    cs = regs.get("cs", 0x33 if frame.user else 0x10)
    where = f"{frame.pc:#x}" if frame.user else frame.format()
    out.write(f"    RIP: {cs:04x}:{where}\n")
    if "rsp" in regs:
        ss = regs.get("ss", 0x2B if frame.user else 0x18)
        flags = f" EFLAGS: {regs['rflags']:08x}" if "rflags" in regs else ""
        out.write(f"    RSP: {ss:04x}:{regs['rsp']:016x}{flags}\n")
    for row in _REG_ROWS:
        known = [(r, regs[r]) for r in row if r in regs]
        if known:
            out.write("    " + " ".join(f"{_reg_label(r)}: {v:016x}" for r, v in known) + "\n")


def write_trace(trace: StackTrace, out: IO[str]) -> None:
    """One frame a line, registers after interrupted frames, the stop reason last."""
    for frame in trace:
        if frame.user:
            out.write("    --- user mode ---\n")
            _show_regs(frame, out)
            continue
        out.write(f"{'#' + str(frame.index):>3} [{frame.sp:016x}] {frame.format()}\n")
        if frame.interrupted and (frame.index > 0 or len(trace) == 1):
            _show_regs(frame, out)
    if trace.stop_reason:
        out.write(f"    (unwinding stopped: {trace.stop_reason})\n")


def trace_json(trace: StackTrace) -> Dict[str, Any]:
    """A trace as ``--json`` lists it (without the task fields)."""
    frames: List[Dict[str, Any]] = []
    for f in trace:
        hit = None if f.user else f.location
        name, off, size = hit[:3] if hit is not None else (None, None, None)
        entry: Dict[str, Any] = {
            "index": f.index, "pc": f.pc, "sp": f.sp, "function": name, "offset": off, "size": size,
            "module": f.module, "interrupted": f.interrupted, "user": f.user,
        }
        if f.interrupted or f.user:
            entry["registers"] = f.registers()
        frames.append(entry)
    return {"frames": frames, "stop_reason": trace.stop_reason}


def active_tasks(prog: Any) -> List[Any]:
    """The task running on each present CPU (its idle task where it was idle), in CPU
    order: crash's ``bt -a``, ``ps -A`` and ``foreach active``."""
    return [cpu_curr(prog, cpu) for cpu in for_each_present_cpu(prog)]


def _targets(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> List[Any]:
    """The tasks to show, as ``struct task_struct *`` Objects; a word that names no task
    of the kernel (:func:`kdbg.helpers.pid.resolve_task`) is one error line."""

    picked = sum(map(bool, (args.all, args.cpus is not None, args.panic)))
    if picked > 1 or ((args.cpus is not None or args.panic) and args.targets):
        raise ExpressionError("bt: give one of -a, -c CPU, -p and PIDs/task addresses")
    if args.panic:
        try:
            return [panic_task_object(prog)]
        except KdbgError as e:
            raise ExpressionError(f"bt -p: {e}") from None
    if args.cpus is not None:
        active = active_tasks(prog)
        return [active[cpu] for cpu in _cpu_list(args.cpus, len(active))]
    if args.all:
        if args.targets:
            raise ExpressionError("bt: -a shows the active task of every CPU; give either -a or PIDs/task addresses")
        return active_tasks(prog)
    if not args.targets:
        try:
            return [current_task(prog, ctx)]
        except KdbgError as e:
            raise ExpressionError(f"bt: {e}; name a PID or task address, or use bt -a or foreach bt") from None
    tasks = []
    for word in args.targets:
        try:
            tasks.append(resolve_task(prog, word))
        except (ObjectNotFoundError, ObjectTypeError) as e:
            raise ExpressionError(f"bt: {e}") from None
    return tasks


def _cpu_list(spec: str, ncpus: int) -> List[int]:
    """crash's CPU list: ``1``, ``1,3``, ``0-2``, ``a``/``all``."""
    if spec in ("a", "all"):
        return list(range(ncpus))
    cpus: List[int] = []
    try:
        for part in spec.split(","):
            lo, _, hi = part.partition("-")
            cpus += range(int(lo), int(hi or lo) + 1)
    except ValueError:
        raise ExpressionError(f"bt -c: bad CPU list {spec!r} (1, 1,3, 0-2 or a)") from None
    bad = [c for c in cpus if not 0 <= c < ncpus]
    if bad or not cpus:
        raise ExpressionError(f"bt -c: no CPU {bad[0] if bad else spec} (CPUs 0-{ncpus - 1})")
    return cpus


def raw_stack_lines(prog: Any, task: Any) -> List[str]:
    """crash's ``bt -r``: the task's whole kernel stack, two words a line, words that are
    symbols as ``symbol+offset`` (``rd -s``'s cells)."""
    base = int(task.stack)
    return symbol_lines(prog, prog.read(base, thread_size(prog)), base)


def print_traces(prog: Any, tasks: List[Any], ctx: CommandContext, as_json: bool, every: bool) -> None:
    """The traces of *tasks*, as ``bt`` prints them (``every``: a task without a trace is
    a line in the output, not an error: ``bt -a`` and ``foreach bt``)."""
    rows: List[Dict[str, Any]] = []
    failed: List[str] = []
    for i, task in enumerate(tasks):
        t = deref_if_pointer(task)
        try:
            trace = stack_trace(prog, t)
            err = None
        except KdbgError as e:
            trace, err = None, str(e)
            if not every:
                failed.append(err)
        if as_json:
            row: Dict[str, Any] = {"pid": int(t.pid), "task": int(t.address_of_()), "cpu": task_cpu(t),
                                   "comm": t.comm.string_().decode("utf-8", "replace")}
            row.update(trace_json(trace) if trace is not None else {"error": err})
            rows.append(row)
            continue
        if len(tasks) == 1 and trace is None and not every:
            break  # the one task named has no trace: the error line says so, once
        if i:
            ctx.out.write("\n")
        ctx.out.write(header(t) + "\n")
        if trace is not None:
            write_trace(trace, ctx.out)
        else:
            ctx.out.write(f"    (no trace: {err})\n")
    if as_json:
        ctx.out.write(json.dumps(rows) + "\n")
    if len(tasks) == 1 and failed:
        raise ExpressionError(f"bt: {failed[0]}")
    if failed:
        raise ExpressionError(f"bt: {len(failed)} of the {len(tasks)} tasks named have no trace (see above)")


@command("bt", "stack traces from the kernel's ORC tables: the current task, PIDs, task addresses, -a each CPU's",
         arguments=[
             argument("targets", metavar="PID|TASK", nargs="*",
                      help="PIDs or task_struct addresses (default: the current context, see set)"),
             argument("-a", "--all", action="store_true",
                      help="the active task of every CPU (every task: foreach bt)"),
             argument("-c", dest="cpus", metavar="CPU", help="the active task of these CPUs (1, 1,3, 0-2, a)"),
             argument("-p", dest="panic", action="store_true", help="the task that crashed the kernel"),
             argument("-r", dest="raw", action="store_true", help="the raw stack, words as symbols where they are"),
             argument("-l", dest="lines", action="store_true", help="source lines (needs DWARF: refused)"),
             argument("--json", action="store_true", help="a list of JSON objects"),
         ])
def bt(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print stack traces."""
    if args.lines:
        raise ExpressionError("bt -l: source lines need DWARF, which kdbg does not use")
    tasks = _targets(prog, args, ctx)
    if args.raw:
        for i, task in enumerate(tasks):
            t = deref_if_pointer(task)
            try:
                lines = raw_stack_lines(prog, t)
            except KdbgError as e:
                raise ExpressionError(f"bt -r: {e}") from None
            ctx.out.write(("\n" if i else "") + header(t) + "\n" + "\n".join(lines) + "\n")
        return
    print_traces(prog, tasks, ctx, ctx.json or args.json, every=args.all or args.cpus is not None)
