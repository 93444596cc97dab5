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
import dataclasses
import json
import struct
from typing import IO, TYPE_CHECKING, Any, Dict, List, Optional

from kdbg.arch import frame_slot, show_regs_lines, switched_out_sp
from kdbg.core.object import Object
from kdbg.core.platform import machine_of
from kdbg.errors import ExpressionError, FaultError, KdbgError
from kdbg.helpers import task_cpu
from kdbg.helpers.common import deref_if_pointer
from kdbg.helpers.cpumask import for_each_present_cpu
from kdbg.helpers.pid import resolve_task
from kdbg.helpers.sched import cpu_curr, thread_size
from kdbg.ui.commands import CommandContext, argument, command
from kdbg.ui.commands.context import current_task, panic_task_object
from kdbg.ui.commands.memory import symbol_lines, symbolic
from kdbg.unwind import stack_trace
from kdbg.unwind.frame_records import pac_mask
from kdbg.unwind.trace import format_code_address

if TYPE_CHECKING:
    from kdbg.unwind import StackFrame, StackTrace

# kdbg.helpers and kdbg.unwind load when bt runs, not with the built-in commands: a
# broken helpers package then fails bt alone, in one line, as it fails the plugins.

def header(task: Any) -> str:
    """crash's task line: ``PID: 1        TASK: ffff...  CPU: 0    COMMAND: "init"``."""

    comm = task.comm.string_().decode("utf-8", "replace")
    return f'PID: {int(task.pid):<7}  TASK: {int(task.address_of_()):x}  CPU: {task_cpu(task):<3}  COMMAND: "{comm}"'


def _show_regs(frame: StackFrame, out: IO[str]) -> None:
    """The saved registers of an interrupted or user frame, as the machine's
    ``__show_regs`` prints them (:func:`kdbg.arch.show_regs_lines`)."""
    prog = frame.prog
    for line in show_regs_lines(machine_of(prog), frame.registers(), frame.user,
                                lambda address: format_code_address(prog, address), pac_mask(prog)):
        out.write(f"    {line}\n")


@dataclasses.dataclass(frozen=True)
class CrashLayout:
    """How ``bt`` prints frames when one of crash's frame options is given.

    ``full``: ``-f`` (1), ``-F`` (2), ``-FF`` (3): the stack words of each frame, plain
    or as :func:`kdbg.ui.commands.memory.symbolic` cells (``-F``: symbols and
    ``[slab cache]``; ``-FF``: ``[address:slab cache]``); ``offsets``: ``-s``; ``radix``
    16 with ``-x``, else 10 (crash's default output radix)."""

    full: int = 0
    offsets: bool = False
    radix: int = 10


def crash_text(prog: Any, value: int, layout: CrashLayout, back: int) -> str:
    """crash's name of a kernel or module text address: ``NAME at VALUE`` (``NAME+OFF``
    with ``-s``, decimal or hex by ``layout.radix``; `` [module]`` after module text), or
    ``""`` for a word that is no text. ``back`` 1 looks the symbol up at ``value - 1``
    (a return address: the call before it, crash's ``value_search(text-1)``)."""
    if not value >> 63:
        return ""
    try:
        sym = prog.symbol(value - back)
        if back:  # a function's own address (a pointer to it, no return address) is that function
            exact = prog.symbol(value)
            if exact.address == value and exact.type in ("t", "T"):
                sym = exact
    except (KdbgError, LookupError):
        return ""
    off = value - sym.address
    if sym.type not in ("t", "T") or (sym.size is not None and off - back >= sym.size):
        return ""
    name = sym.name
    if layout.offsets and off:
        name += f"+{off:#x}" if layout.radix == 16 else f"+{off}"
    mod = getattr(sym, "module", None)
    return f"{name} at {value:x}" + (f" [{mod}]" if mod else "")


def stack_word_lines(prog: Any, start: int, end: int, full: int) -> List[str]:
    """crash's ``bt -f`` block: the words from ``start`` to ``end`` inclusive, two a line
    as ``    ADDRESS: WORD WORD `` (``full`` 2 or 3: ``-F``/``-FF`` cells, as ``rd -S``/``rd
    -SS`` print them); one line saying so where the stack cannot be read."""
    try:
        data = prog.read(start, end + 8 - start)
    except FaultError as e:
        return [f"    (stack words unreadable: {e})"]
    words = struct.unpack(f"<{len(data) // 8}Q", data)
    lines = []
    for i in range(0, len(words), 2):
        cells = "".join(f"{(symbolic(prog, w, full - 1) if full > 1 else None) or format(w, '016x'):<16} "
                        for w in words[i:i + 2])
        lines.append(f"    {start + 8 * i:x}: {cells}")
    return lines


def _slot(trace: StackTrace, frame: StackFrame, machine: str) -> int:
    """The address ``bt`` shows for ``frame`` (:func:`kdbg.arch.frame_slot`); a switched-out
    task's first frame at the task's saved stack pointer, where crash starts it
    (:func:`kdbg.arch.switched_out_sp`)."""
    if frame.index == 0 and not frame.interrupted and trace.task is not None:
        saved = switched_out_sp(machine, Object(trace.prog, "struct task_struct", address=trace.task))
        if saved is not None:
            return saved
    return frame_slot(machine, frame.sp, frame.interrupted)


def write_trace(trace: StackTrace, out: IO[str], layout: Optional[CrashLayout] = None) -> None:
    """One frame a line, registers after interrupted frames, the stop reason last.

    The address in brackets is where crash puts a frame, not drgn's ``sp`` (the CFA, one
    word above): the stack slot the frame's return address was read from (x86-64), or
    the saved stack pointer of an interrupted frame (:func:`kdbg.arch.frame_slot`). So
    ``bt``'s addresses and ``bt -f``'s words are crash's on the same dump, while
    ``--json`` and the Python API keep drgn's ``sp``. With a :class:`CrashLayout`
    (``-f``, ``-F``, ``-s``) the frame text is crash's (``panic+745 at
    ffffffff9147ab7c``), and ``-f`` prints before each frame the words from the one above
    the previous frame's slot up to this frame's slot, as crash's
    ``x86_64_display_full_frame`` does (none before the first frame, none after the last,
    none across a change of stack)."""
    prog = trace.prog
    machine = machine_of(prog)
    size = thread_size(prog) if layout is not None and layout.full else 0
    frameptr: Optional[int] = None
    for frame in trace:
        if frame.user:
            out.write("    --- user mode ---\n")
            _show_regs(frame, out)
            continue
        slot = _slot(trace, frame, machine)
        if layout is None:
            text = frame.format()
        else:
            text = crash_text(prog, frame.pc, layout, 0 if frame.interrupted else 1) or f"{frame.pc:x} at {frame.pc:x}"
            if layout.full:
                if frameptr is not None and frameptr <= slot < frameptr + size:
                    for line in stack_word_lines(prog, frameptr, slot, layout.full):
                        out.write(line + "\n")
                frameptr = slot + 8
        out.write(f"{'#' + str(frame.index):>3} [{slot:016x}] {text}\n")
        if frame.interrupted and (frame.index > 0 or len(trace) == 1):
            _show_regs(frame, out)
    if trace.stop_reason:
        out.write(f"    (unwinding stopped: {trace.stop_reason})\n")


def text_symbol_lines(prog: Any, task: Any, trace: Optional[StackTrace], everything: bool,
                      layout: CrashLayout) -> List[str]:
    """crash's ``bt -t`` (``everything``: ``-T``): every word of the task's kernel stack
    that is kernel or module text (:func:`crash_text`), as ``  [ADDRESS] NAME at
    VALUE``, from the first frame's slot (``-t``, after crash's ``START:`` line naming
    the first frame) or from the stack's base (``-T``) to its top. Only the task's own
    stack is read: a first frame on an IRQ or exception stack starts the scan at the
    first frame on the task's stack."""
    base = int(task.stack)
    top = base + thread_size(prog)
    machine = machine_of(prog)
    lines: List[str] = []
    start = base
    if not everything:
        if trace is None or not len(trace):
            raise ExpressionError("bt -t: the task has no first frame to start from (try bt -T)")
        first = trace[0]
        lines.append(f"{'':14}START: {crash_text(prog, first.pc, layout, 0) or f'{first.pc:x} at {first.pc:x}'}")
        slots = [_slot(trace, f, machine) for f in trace if not f.user]
        on_stack = [a for a in slots if base <= a < top]
        if not on_stack:
            return lines
        start = on_stack[0]
    data = prog.read(start, top - start)
    for i, w in enumerate(struct.unpack(f"<{len(data) // 8}Q", data)):
        text = crash_text(prog, w, layout, 1)
        if text:
            lines.append(f"  [{start + 8 * i:016x}] {text}")
    return lines


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
    return [resolve_task(prog, word) for word in args.targets]


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


def print_traces(prog: Any, tasks: List[Any], ctx: CommandContext, as_json: bool, every: bool,
                 layout: Optional[CrashLayout] = None, text_symbols: int = 0) -> None:
    """The traces of *tasks*, as ``bt`` prints them (``every``: a task without a trace is
    a line in the output, not an error: ``bt -a`` and ``foreach bt``); ``layout``:
    crash's frame options (:class:`CrashLayout`); ``text_symbols`` 1 or 2: ``-t``/``-T``
    (:func:`text_symbol_lines`) instead of the frames, the user registers after them."""
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
        if text_symbols:
            try:
                lines = text_symbol_lines(prog, t, trace, text_symbols > 1, layout or CrashLayout())
            except KdbgError as e:
                raise ExpressionError(f"bt -{'tT'[text_symbols - 1]}: {e}") from None
            ctx.out.write("".join(line + "\n" for line in lines))
            if trace is not None and len(trace) and trace[-1].user:
                _show_regs(trace[-1], ctx.out)
            continue
        if trace is not None:
            write_trace(trace, ctx.out, layout)
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
             argument("-f", dest="full", action="store_true",
                      help="each frame's stack words (crash's frame text: NAME at ADDRESS)"),
             argument("-F", dest="symbolic", action="count", default=0,
                      help="as -f, words as symbols and [slab cache] (-FF: [address:slab cache])"),
             argument("-s", dest="offsets", action="store_true", help="symbol offsets (decimal; -x hex)"),
             argument("-x", dest="hex", action="store_true", help="with -s: offsets in hexadecimal"),
             argument("-d", dest="dec", action="store_true", help="with -s: offsets in decimal (the default)"),
             argument("-t", dest="text", action="store_true",
                      help="the text addresses on the stack from the first frame up"),
             argument("-T", dest="text_all", action="store_true",
                      help="the text addresses on the whole stack, from its base"),
             argument("--json", action="store_true", help="a list of JSON objects"),
         ])
def bt(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print stack traces."""
    if args.lines:
        raise ExpressionError("bt -l: source lines need DWARF, which kdbg does not use")
    tasks = _targets(prog, args, ctx)
    layout = _layout(args)
    text_symbols = 2 if args.text_all else 1 if args.text else 0
    if text_symbols and (args.raw or args.full or args.symbolic or args.json or ctx.json):
        raise ExpressionError("bt: -t/-T list the text addresses on the stack; they take no -r, -f, -F or --json")
    if args.raw and (layout is not None or args.json or ctx.json):
        raise ExpressionError("bt -r: the raw stack takes no -f, -F, -s or --json")
    if args.raw:
        for i, task in enumerate(tasks):
            t = deref_if_pointer(task)
            try:
                lines = raw_stack_lines(prog, t)
            except KdbgError as e:
                raise ExpressionError(f"bt -r: {e}") from None
            ctx.out.write(("\n" if i else "") + header(t) + "\n" + "\n".join(lines) + "\n")
        return
    if layout is not None and (args.json or ctx.json):
        raise ExpressionError("bt: -f, -F and -s shape the text; --json always has every frame's pc and sp")
    print_traces(prog, tasks, ctx, ctx.json or args.json, every=args.all or args.cpus is not None,
                 layout=layout, text_symbols=text_symbols)


def _layout(args: argparse.Namespace) -> Optional[CrashLayout]:
    """The :class:`CrashLayout` of ``-f``/``-F``/``-s``/``-x``/``-d``, ``None`` without them."""
    if args.hex and args.dec:
        raise ExpressionError("bt: give -x or -d, not both")
    if (args.hex or args.dec) and not args.offsets:
        raise ExpressionError("bt: -x and -d choose the radix of -s's offsets: give -s too")
    if args.full and args.symbolic:
        raise ExpressionError("bt: give -f or -F, not both")
    full = 1 + min(args.symbolic, 2) if args.symbolic else int(args.full)
    if not (full or args.offsets or args.text or args.text_all):
        return None
    return CrashLayout(full=full, offsets=args.offsets, radix=16 if args.hex else 10)
