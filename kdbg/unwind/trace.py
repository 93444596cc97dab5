"""drgn's stack-trace API over the ORC unwinder (x86-64) and the frame-record one (arm64,
:mod:`kdbg.unwind.frame_records`, chosen by the program's platform): :class:`StackTrace`,
:class:`StackFrame`, :class:`Thread`, :func:`stack_trace`, :func:`crashed_thread`,
:func:`threads`. What follows describes the x86-64 start; arm64's is in its module.

Where a trace starts:

* a task sleeping (switched out): ``task->thread.sp`` points at its ``struct
  inactive_task_frame``; the first frame is its ``ret_addr`` (in ``__schedule``, as the
  kernel's own ``show_stack`` begins), with the callee-saved registers the frame holds;
* a task running on a CPU of a vmcore: that CPU's ``NT_PRSTATUS`` registers
  (:func:`kdbg.unwind.registers.prstatus_for_cpu`);
* a task running on the live kernel: nothing records its registers, so it cannot be
  unwound (:class:`~kdbg.unwind.orc.UnwindError`, one line).

Frames print as the kernel prints them, ``function+0xoff/0xsize`` (`` [module]`` for
module text), numbered like drgn's: ``#0  __schedule+0x34d/0x9db``. Without DWARF there
are no inline frames (``is_inline`` is always False), no source lines, no locals.
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union, overload

from kdbg.btf.kinds import TypeKind
from kdbg.core.object import Object
from kdbg.core.platform import Architecture, ProgramFlags
from kdbg.errors import (
    KdbgError,
    LiveKernelError,
    NoCrashedThreadError,
    NotFoundError,
    ObjectNotFoundError,
    ObjectTypeError,
    SymbolNotFoundError,
)
from kdbg.helpers.common import deref_if_pointer, is_struct, program_cache
from kdbg.helpers.cpu_stacks import cpu_stacks
from kdbg.helpers.cpumask import for_each_possible_cpu
from kdbg.helpers.list import list_for_each_entry
from kdbg.helpers.pid import for_each_task_in_group, resolve_task
from kdbg.helpers.printk import get_printk_records
from kdbg.helpers.sched import cpu_curr, task_cpu, thread_size
from kdbg.unwind.frame_records import pt_regs_frames, task_frames
from kdbg.unwind.orc import UnwindError, orc_info
from kdbg.unwind.registers import ordered, prstatus_for_cpu, pt_regs_layout
from kdbg.unwind.unwinder import RawFrame, Stack, StartState, fresh_fork_addresses, unwind

if TYPE_CHECKING:
    from kdbg.core.object import Object
    from kdbg.core.program import Program
    from kdbg.symbols.table import Symbol

__all__ = ["StackFrame", "StackTrace", "Thread", "stack_trace", "stack_trace_from_pcs", "crashed_thread", "threads",
           "UnwindError", "format_code_address"]

_NO_DWARF = "no DWARF: kdbg unwinds with ORC and BTF only, which record no {what}"


def _cache(prog: Program) -> Dict[str, Any]:
    return program_cache(prog, "unwind.state", dict)


def _symbolize(prog: Program, address: int) -> Optional[Tuple[str, int, Optional[int], Optional[str]]]:
    """``(name, offset, size, module)`` of the symbol holding ``address`` (cached)."""
    cache = _cache(prog).setdefault("symbols", {})
    if address in cache:
        return cache[address]
    hit: Optional[Tuple[str, int, Optional[int], Optional[str]]] = None
    if address >> 63:  # kernel space, on every 64-bit Linux machine kdbg reads
        try:
            sym = prog.symbol(address)  # the modules' symbols load on the first miss
            off = address - sym.address
        except (KdbgError, LookupError):
            sym = None
        if sym is not None:
            hit = (sym.name, off, sym.size, sym.module)
    cache[address] = hit
    return hit


def _format_location(hit: Optional[Tuple[str, int, Optional[int], Optional[str]]], address: int) -> str:
    """The one formatter of a code address, as the kernel's ``%pS``/``%pB`` print it:
    ``name+0xoff/0xsize`` and `` [module]`` after module text; bare hex without a symbol."""
    if hit is None:
        return f"{address:#x}"
    name, off, size, mod = hit
    text = f"{name}+{off:#x}" + (f"/{size:#x}" if size is not None else "")
    return text + (f" [{mod}]" if mod else "")


def format_code_address(prog: Program, address: int) -> str:
    """``address`` as the kernel's ``%pS`` prints it (``function+0xoff/0xsize [module]``,
    bare hex outside every symbol): what :meth:`StackFrame.format` prints for an
    interrupted frame's pc, for any address (a saved link register, a stack word)."""
    return _format_location(_symbolize(prog, address), address)


class StackFrame:
    """One frame of a :class:`StackTrace` (drgn's ``StackFrame``)."""

    __slots__ = ("trace", "index", "pc", "sp", "interrupted", "_registers", "_regs_address",
                 "_regs_image", "user", "stop_reason", "_sym")

    def __init__(self, trace: StackTrace, index: int, raw: RawFrame) -> None:
        #: the trace holding this frame
        self.trace = trace
        #: position in the trace (0 is the innermost)
        self.index = index
        #: the program counter (a return address unless :attr:`interrupted`)
        self.pc: int = raw.pc
        #: the stack pointer: the caller's after the return (the CFA), or the one saved
        #: with the registers of an interrupted frame
        self.sp: int = raw.sp
        #: whether this frame's registers were saved by an interrupt, exception or the
        #: dump (the pc is exact, not a return address)
        self.interrupted: bool = raw.interrupted
        self._registers = raw.registers
        self._regs_address = raw.regs_address
        self._regs_image = raw.regs_image
        #: whether the frame runs in user mode (the last of a task's trace)
        self.user: bool = raw.user
        #: why unwinding stopped after this frame, when not at a normal end
        self.stop_reason: Optional[str] = raw.stop_reason
        self._sym: Any = False

    @property
    def is_inline(self) -> bool:
        """Always False: without DWARF there are no inline frames."""
        return False

    @property
    def prog(self) -> Program:
        """The Program of the trace."""
        return self.trace.prog

    def _symbol_info(self) -> Optional[Tuple[str, int, Optional[int], Optional[str]]]:
        if self._sym is False:
            if self.user:
                self._sym = None
            elif self.interrupted:
                self._sym = _symbolize(self.prog, self.pc)
            else:  # a return address: the call is the byte before (the kernel's %pB)
                hit = _symbolize(self.prog, self.pc - 1)
                self._sym = None if hit is None else (hit[0], hit[1] + 1, hit[2], hit[3])
        return self._sym

    @property
    def name(self) -> str:
        """The function's symbol name, or (drgn's fallback) the pc in hexadecimal when no
        symbol holds it (a user-space frame, a return address into nowhere)."""
        hit = self._symbol_info()
        return f"{self.pc:#x}" if hit is None else hit[0]

    @property
    def function_name(self) -> Optional[str]:
        """drgn's name from debug info: ``None`` without DWARF (see :attr:`name`)."""
        return None

    @property
    def module(self) -> Optional[str]:
        """The module whose text holds the pc, ``None`` for vmlinux."""
        hit = self._symbol_info()
        return None if hit is None else hit[3]

    def symbol(self) -> Symbol:
        """The symbol holding the pc (for a return address, the call before it);
        ``LookupError`` when there is none."""
        hit = self._symbol_info()
        if hit is None:
            raise SymbolNotFoundError(f"no symbol contains the pc {self.pc:#x} of frame #{self.index}")
        back = 0 if (self.interrupted or self.user) else 1
        return self.prog.symbol(self.pc - back)

    def registers(self) -> Dict[str, int]:
        """Every register whose value is known in this frame, by drgn's names."""
        return ordered(self._registers)

    def register(self, name: str) -> int:
        """One register's value; ``LookupError`` when it is not known in this frame."""
        try:
            return self._registers[name]
        except KeyError:
            raise ObjectNotFoundError(f"register {name!r} is not known in frame #{self.index}") from None

    @property
    def regs(self) -> Optional[Object]:
        """The ``struct pt_regs`` this frame's registers came from (an interrupt or
        exception frame, a PRSTATUS note), else ``None``."""

        if self._regs_address is not None:
            return Object(self.prog, "struct pt_regs", address=self._regs_address)
        if self._regs_image is not None:  # a dump note: the registers head the struct
            size = self.prog.type("struct pt_regs").size or pt_regs_layout(self.prog).size
            return Object.from_bytes_(self.prog, "struct pt_regs", self._regs_image[:size].ljust(size, b"\0"))
        return None

    def locals(self) -> List[str]:
        """No locals without DWARF: raises :class:`~kdbg.unwind.orc.UnwindError`."""
        raise UnwindError(_NO_DWARF.format(what="local variables"))

    def __getitem__(self, name: str) -> Object:
        raise UnwindError(_NO_DWARF.format(what=f"variables (asked for {name!r})"))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(f"'StackFrame' has no attribute {name!r}; locals and arguments: "
                             + _NO_DWARF.format(what="local variables or arguments"))

    def source(self) -> Tuple[str, int, int]:
        """No source lines without DWARF: raises."""
        raise UnwindError(_NO_DWARF.format(what="source lines"))

    @property
    def location(self) -> Optional[Tuple[str, int, Optional[int], Optional[str]]]:
        """``(function, offset, size, module)`` as the kernel prints the frame (for a
        return address, the call before it), ``None`` when no symbol holds the pc."""
        return self._symbol_info()

    def format(self) -> str:
        """``__schedule+0x34d/0x9db``, `` [module]`` after module text; a bare hex pc
        when no symbol holds it."""
        return _format_location(self._symbol_info(), self.pc)

    def __str__(self) -> str:
        return f"#{self.index:<2} {self.format()}"

    def __repr__(self) -> str:
        return f"StackFrame(#{self.index}, pc={self.pc:#x}, sp={self.sp:#x})"


class StackTrace:
    """A task's stack trace: a sequence of :class:`StackFrame`, innermost first."""

    def __init__(self, prog: Program, raw: List[RawFrame], task: Optional[int] = None) -> None:
        self.prog = prog
        #: address of the ``task_struct`` unwound
        self.task = task
        self._frames = [StackFrame(self, i, r) for i, r in enumerate(raw)]

    @property
    def stop_reason(self) -> Optional[str]:
        """Why unwinding stopped early, ``None`` at a normal end of the stack."""
        return self._frames[-1].stop_reason if self._frames else None

    def __len__(self) -> int:
        return len(self._frames)

    def __iter__(self) -> Iterator[StackFrame]:
        return iter(self._frames)

    @overload
    def __getitem__(self, i: int) -> StackFrame: ...

    @overload
    def __getitem__(self, i: slice) -> List[StackFrame]: ...

    def __getitem__(self, i: Union[int, slice]) -> Union[StackFrame, List[StackFrame]]:
        return self._frames[i]

    def __str__(self) -> str:
        lines = [str(f) for f in self._frames]
        reason = self.stop_reason
        if reason:
            lines.append(f"    (unwinding stopped: {reason})")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<StackTrace of {len(self)} frames>"


class Thread:
    """A kernel thread (task), drgn's ``Thread``."""

    def __init__(self, task: Object) -> None:
        t = deref_if_pointer(task)
        #: the ``struct task_struct *``
        self.object: Object = t.address_of_()
        self.prog = t.prog_
        #: the thread ID (PID)
        self.tid: int = int(t.pid)
        #: the task's command name
        self.name: str = t.comm.string_().decode("utf-8", "replace")

    def stack_trace(self) -> StackTrace:
        """The thread's stack trace (:func:`stack_trace`)."""
        return stack_trace(self.prog, self.object)

    def __repr__(self) -> str:
        return f"Thread(tid={self.tid}, name={self.name!r})"


# ------------------------------------------------------------------------- start state

def _cpu_stacks(prog: Program, cpu: int) -> List[Stack]:
    """The IRQ, exception and entry stacks of ``cpu`` (:func:`kdbg.helpers.cpu_stacks.cpu_stacks`)."""
    return [Stack(s.name, s.begin, s.end) for s in cpu_stacks(prog, cpu)]


def _running_cpus(prog: Program) -> Dict[int, int]:
    """``{task address: cpu}`` of each CPU's current task (cached for a dump; read
    afresh on a live kernel). Every possible CPU
    counts, not only the online ones: a panic takes the other CPUs offline in
    ``stop_this_cpu()``, where the dump's note still holds their registers."""
    cache = _cache(prog)
    running = cache.get("running")
    if running is None or _is_live(prog):  # live, who runs changes all the time

        running = {}
        for cpu in for_each_possible_cpu(prog):
            try:
                running[int(cpu_curr(prog, cpu))] = cpu
            except KdbgError:
                continue
        cache["running"] = running
    return running


def _is_live(prog: Program) -> bool:
    return bool(prog.flags & ProgramFlags.IS_LIVE)


def _running_cpu(prog: Program, t: Object) -> Optional[int]:
    """The CPU ``t`` runs on (``None`` when it sleeps), after the checks every
    architecture shares: an exited task has no stack, a task running on the live kernel
    saved no registers."""
    addr = t.address_
    assert addr is not None
    comm = t.comm.string_().decode("utf-8", "replace")
    if not int(t.stack):  # put_task_stack() freed it: an exited task (zombie), as show_stack skips
        raise UnwindError(f"task {int(t.pid)} ({comm}) has no stack: it exited and the kernel freed "
                          "its stack (task->stack is NULL)")
    try:
        cpu = _running_cpus(prog).get(addr)
    except KdbgError:  # no runqueues (a kernel whose kallsyms lacks data symbols): ask the task
        cpu = task_cpu(t) if int(t.on_cpu) else None
    if cpu is not None and _is_live(prog):
        who = " (this process, reading /proc/kcore)" if int(t.tgid) == os.getpid() else ""
        raise UnwindError(f"task {int(t.pid)} ({comm}){who} is running on CPU {cpu} of the live kernel: "
                          "nothing saved its registers, so its stack cannot be unwound")
    return cpu


def _start_state(prog: Program, task: Object, cpu: Optional[int]) -> StartState:
    """Where the ORC unwind of ``task`` (running on ``cpu``, or sleeping) starts."""
    t = task
    stack_base = int(t.stack)
    size = thread_size(prog)
    stacks = [Stack("task", stack_base, stack_base + size)]
    comm = t.comm.string_().decode("utf-8", "replace")
    if cpu is not None:
        note = prstatus_for_cpu(prog, cpu, int(t.pid))
        if note is None:
            raise UnwindError(f"task {int(t.pid)} ({comm}) was running on CPU {cpu}, but the dump has "
                              "no NT_PRSTATUS note for that CPU")
        regs = note.registers
        known = {k: v for k, v in regs.items()}
        return StartState(regs["rip"], regs["rsp"], regs["rbp"], True, True, known,
                          full_regs=dict(regs), regs_image=note.raw_regs, stacks=stacks + _cpu_stacks(prog, cpu))
    sp = int(t.thread.sp)
    layout = _frame_layout(prog)
    fsize, offsets = layout
    try:
        data = prog.read(sp, fsize)
    except KdbgError as e:
        raise UnwindError(f"cannot read the saved frame of task {int(t.pid)} ({comm}) at {sp:#x}: {e}") from None
    words = {name: struct.unpack_from("<Q", data, off)[0] for name, off in offsets.items()}
    ip = words["ret_addr"]
    registers = {{"bp": "rbp", "bx": "rbx"}.get(k, k): v for k, v in words.items() if k != "ret_addr"}
    registers["rip"] = ip
    registers["rsp"] = sp + fsize
    return StartState(ip, sp + fsize, words.get("bp", 0), ip in fresh_fork_addresses(prog), False,
                      registers, stacks=stacks)


def _frame_layout(prog: Program) -> Tuple[int, Dict[str, int]]:
    """``(size, {member: offset})`` of ``struct inactive_task_frame`` (BTF)."""
    cache = _cache(prog)
    layout = cache.get("inactive_task_frame")
    if layout is None:
        try:
            t = prog.type("struct inactive_task_frame").strip_typedefs()
            offsets = {m.name: m.bit_offset // 8 for m in t.members  # type: ignore[attr-defined]
                       if m.name in ("r15", "r14", "r13", "r12", "bx", "bp", "ret_addr")}
            size = t.size
        except (KdbgError, LookupError) as e:
            raise UnwindError(f"BTF has no struct inactive_task_frame: {e}") from None
        if "ret_addr" not in offsets or not size:
            raise UnwindError("BTF's struct inactive_task_frame has no ret_addr")
        layout = cache["inactive_task_frame"] = (size, offsets)
    return layout


# ------------------------------------------------------------------------- public API

def _task_object(prog: Program, thread: Any) -> Object:
    """The ``struct task_struct`` (a reference) named by a task Object, a Thread, a PID
    or a task address (:func:`kdbg.helpers.pid.resolve_task` checks it is a task)."""
    if isinstance(thread, Thread):
        thread = thread.object
    if isinstance(thread, bool) or not isinstance(thread, (int, Object)):
        raise UnwindError(f"stack_trace() wants a task, a PID or a task address, not {type(thread).__name__}")
    try:
        return resolve_task(prog, thread)[0]
    except (NotFoundError, ObjectTypeError) as e:  # no such task, not a task
        raise UnwindError(str(e)) from None


def _pt_regs_start(prog: Program, regs: Object) -> StartState:
    """Where a trace from a ``struct pt_regs`` starts: its registers, interrupted. The
    stack it runs on is the THREAD_SIZE-aligned block holding its ``sp`` (task and IRQ
    stacks are aligned so), or any CPU's IRQ, exception or entry stack."""

    layout = pt_regs_layout(prog)
    image = regs.to_bytes_() if regs.address_ is None else prog.read(regs.address_, layout.size)
    values = layout.decode(image)
    size = thread_size(prog)
    sp = values["rsp"]
    stacks = [Stack("task", sp & ~(size - 1), (sp & ~(size - 1)) + size)]
    for cpu in for_each_possible_cpu(prog):
        stacks += [Stack(f"{s.kind}.{cpu}", s.begin, s.end) for s in _cpu_stacks(prog, cpu)
                   if not (s.begin <= sp < s.end)]
    return StartState(values["rip"], sp, values.get("rbp", 0), True, True, dict(values),
                      full_regs=dict(values), regs_image=image, stacks=stacks)


def _is_pt_regs(obj: Any) -> bool:
    if not isinstance(obj, Object):
        return False
    try:
        return is_struct(deref_if_pointer(obj).type_, "struct pt_regs")
    except KdbgError:
        return False


def stack_trace_from_pcs(prog: Program, pcs: Sequence[int]) -> StackTrace:
    """A trace of the given program counters, innermost first (drgn's
    ``prog.stack_trace_from_pcs``): each a return address (named by the call before it),
    no register known (``registers()`` is empty, ``sp`` 0)."""
    return StackTrace(prog, [RawFrame(pc, 0, False, {}) for pc in pcs])


def stack_trace(prog: Program, thread: Any) -> StackTrace:
    """The stack trace of ``thread``: a ``struct task_struct *`` (or the struct), a
    :class:`Thread`, a PID, a task address, or a ``struct pt_regs`` (or a pointer to
    one: the trace of the code those registers interrupted), as drgn's
    ``prog.stack_trace``."""
    if prog.platform.arch == Architecture.AARCH64:
        return _frame_record_trace(prog, thread)
    orc = orc_info(prog)
    if _is_pt_regs(thread):

        start = _pt_regs_start(prog, deref_if_pointer(thread))
        return StackTrace(prog, unwind(prog, orc, pt_regs_layout(prog), start))
    task = _task_object(prog, thread)
    start = _start_state(prog, task, _running_cpu(prog, task))
    raw = unwind(prog, orc, pt_regs_layout(prog), start)
    return StackTrace(prog, raw, task.address_)


def _frame_record_trace(prog: Program, thread: Any) -> StackTrace:
    """:func:`stack_trace` on arm64: frame records (:mod:`kdbg.unwind.frame_records`)."""
    if _is_pt_regs(thread):
        regs = deref_if_pointer(thread)
        size = regs.type_.size or 0
        image = regs.to_bytes_() if regs.address_ is None else prog.read(regs.address_, size)
        return StackTrace(prog, pt_regs_frames(prog, regs, image)[0])
    task = _task_object(prog, thread)
    cpu = _running_cpu(prog, task)
    note = None
    if cpu is not None:
        found = prstatus_for_cpu(prog, cpu, int(task.pid))
        if found is None:
            comm = task.comm.string_().decode("utf-8", "replace")
            raise UnwindError(f"task {int(task.pid)} ({comm}) was running on CPU {cpu}, but the dump has "
                              "no NT_PRSTATUS note for that CPU")
        note = prog.memory.prstatus[found.index]  # type: ignore[union-attr]
    return StackTrace(prog, task_frames(prog, task, cpu, note), task.address_)


def crashed_thread(prog: Program) -> Thread:
    """The thread that panicked: the task running on ``panic_cpu`` (drgn's rule; where
    ``panic_cpu``'s address is unknown, the one the kernel's log says printed the panic
    line, :func:`_panic_logger`; raises
    :class:`~kdbg.errors.NoCrashedThreadError`, a ``LookupError`` as drgn's, when the kernel
    did not panic, and :class:`~kdbg.errors.LiveKernelError`, drgn's
    ``UnsupportedOperation``, when it is live)."""

    if _is_live(prog):
        raise LiveKernelError("a live kernel has no crashed thread")
    try:
        panic_cpu = prog.variable("panic_cpu")
        cpu = int(panic_cpu.counter) if panic_cpu.type_.unaliased_kind() == TypeKind.STRUCT else int(panic_cpu)
    except (KdbgError, LookupError, AttributeError):
        sym = prog.symbol_table.get("panic_cpu")
        if sym is None:
            return _panic_logger(prog)
        cpu = struct.unpack("<i", prog.read(sym.address, 4))[0]
    if cpu < 0:
        raise NoCrashedThreadError("panic_cpu is not set: the kernel did not panic before this dump")
    return Thread(cpu_curr(prog, cpu))


#: How ``panic()`` starts its message (``pr_emerg``), in every kernel since 2.6.
PANIC_LINE = b"Kernel panic - not syncing"


def _panic_logger(prog: Program) -> Thread:
    """The crashed thread of a kernel whose ``panic_cpu`` has no known address (built
    without ``CONFIG_KALLSYMS_ALL``: neither exported nor in VMCOREINFO): the context the
    kernel's log says printed the last ``Kernel panic - not syncing`` line (its printk
    record's caller id: a task's PID, or in interrupt context a CPU, whose current task
    is taken)."""
    try:
        records = get_printk_records(prog)
    except KdbgError as e:
        raise UnwindError(f"panic_cpu has no known address and the kernel log cannot be read ({e}): "
                          "cannot tell the crashed thread") from None
    panics = [r for r in records if r.text.startswith(PANIC_LINE)]
    if not panics:
        raise NoCrashedThreadError("the kernel log has no panic (and panic_cpu has no known address): "
                                   "the kernel did not panic before this dump")
    last = panics[-1]
    if last.caller_cpu is not None:
        return Thread(cpu_curr(prog, last.caller_cpu))
    if last.caller_tid is None:
        raise UnwindError("panic_cpu has no known address and the kernel log names no caller of its panic line: "
                          "cannot tell the crashed thread")
    try:
        task = resolve_task(prog, last.caller_tid)
    except ObjectNotFoundError:
        raise UnwindError(f"the kernel log's panic line was printed by PID {last.caller_tid}, "
                          "which names no task") from None
    return Thread(task)


def threads(prog: Program) -> Iterator[Thread]:
    """Every thread of the kernel, in drgn's ``prog.threads()`` order: each process on
    ``init_task.tasks`` (the kernel's process list, in fork order), then that process's
    threads on its ``signal->thread_head`` list (libdrgn's ``linux_helper_task_iterator``).
    The idle tasks, PID 0, are not threads of it. (``for_each_task`` walks the PID IDR
    instead, by PID number: another order.)"""

    head = prog.variable("init_task").tasks.address_of_()
    for leader in list_for_each_entry("struct task_struct", head, "tasks"):
        for task in for_each_task_in_group(leader, include_self=True):
            yield Thread(task)
