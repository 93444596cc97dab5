"""A kernel stack trace split into the contexts it crosses (drgn's
``drgn.helpers.linux.stack``): the task's own stack, an IRQ stack, an exception or NMI
stack, user space. ``kernel_stack_trace(pid)`` unwinds a task and groups its frames into
:class:`StackSegment` s at each interrupted frame, each segment's kind told by which of the
CPU's stacks its first frame's stack pointer lies in (x86-64's ranges: the task stack,
``cpu_entry_area``'s exception stacks with the NMI stack first, the hardirq stack, user
addresses; arm64's: user addresses by bit 55, the task stack, the IRQ stack and the
overflow stack)."""

from __future__ import annotations

import dataclasses
import enum
import itertools
import operator
from typing import TYPE_CHECKING, Any, Iterator, List, Sequence, Tuple, Union

from kdbg.arch.x86_64 import CPU_ENTRY_AREA_BASE
from kdbg.btf.kinds import TypeKind
from kdbg.core.default import takes_program_or_default
from kdbg.core.object import Object
from kdbg.core.platform import Architecture
from kdbg.errors import KdbgError, NotFoundError
from kdbg.helpers.common import program_cache
from kdbg.helpers.percpu import per_cpu
from kdbg.helpers.pid import find_task
from kdbg.helpers.sched import task_cpu, thread_size

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["StackKind", "StackSegment", "LinuxKernelStack", "kernel_stack_trace", "arm64_cpu_stacks"]

class StackKind(enum.Enum):
    """The context a stack segment ran in (drgn's values)."""

    USER = 1
    TASK = 2
    IRQ = 3
    SOFTIRQ = 4
    NMI = 5
    EXCEPTION = 6
    UNKNOWN = 7


@dataclasses.dataclass(frozen=True)
class StackSegment:
    """The frames of a trace that ran in one context (``kind``)."""

    kind: StackKind
    frames: Sequence[Any]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.frames)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, key: int) -> Any:
        return self.frames[key]


@dataclasses.dataclass(frozen=True)
class LinuxKernelStack:
    """A stack trace in segments; iterated and indexed as its frames, in order."""

    prog: Program
    segments: Sequence[StackSegment]

    def __str__(self) -> str:
        """``#N name`` per frame, ``  --- end KIND stack ---`` after each segment (the
        source location drgn adds after a name is DWARF's line table: never here)."""
        lines: List[str] = []
        i = 0
        for seg in self.segments:
            for frame in seg.frames:
                lines.append(f"#{i:<2d} {frame.name}")
                i += 1
            lines.append(f"  --- end {seg.kind.name} stack ---")
        return "\n".join(lines)

    def __iter__(self) -> Iterator[Any]:
        return itertools.chain.from_iterable(self.segments)

    def __len__(self) -> int:
        return sum(len(seg) for seg in self.segments)

    def __getitem__(self, index: int) -> Any:
        frames = list(self)
        if not -len(frames) <= index < len(frames):
            raise IndexError("index out of range")
        return frames[index]


def _x86_64_ranges(task: Object, cpu: int) -> List[Tuple[int, int, StackKind]]:
    """``(start, end, kind)`` of the stacks CPU ``cpu`` runs ``task`` on."""
    prog = task.prog_
    page_size = int(prog["PAGE_SIZE"])
    thread_size = int(prog["THREAD_SIZE"])
    base = int(task.stack)
    ranges = [(base, base + thread_size, StackKind.TASK)]
    cea_type = prog.type("struct cpu_entry_area")
    try:  # randomized since Linux 6.2
        slot = int(per_cpu(prog["_cea_offset"], cpu))
    except NotFoundError:
        slot = cpu
    size = cea_type.size or 0
    cea = CPU_ENTRY_AREA_BASE + page_size + slot * size  # the first page is the read-only IDT
    try:  # struct exception_stacks (Linux 5.1 and later): the NMI stack is known
        nmi = Object(prog, cea_type, address=cea).estacks.NMI_stack
        start = int(nmi.address_of_())
        ranges.append((start, start + (nmi.type_.size or 0), StackKind.NMI))
    except AttributeError:
        pass
    ranges.append((cea, cea + size, StackKind.EXCEPTION))
    try:  # a per-CPU variable before 6.2 and since 6.15
        top = int(per_cpu(prog["hardirq_stack_ptr"], cpu))
    except NotFoundError:
        top = int(per_cpu(prog["pcpu_hot"], cpu).hardirq_stack_ptr)
    # hardirq_stack_ptr points at the top-most word, not past it (dumpstack_64.c in_irq_stack)
    ranges.append((top + 8 - thread_size, top + 8, StackKind.IRQ))
    ranges.append((page_size, 1 << 63, StackKind.USER))
    return ranges


def arm64_cpu_stacks(prog: Program, cpu: int) -> List[Tuple[int, int, StackKind]]:
    """``(start, end, kind)`` of arm64 CPU ``cpu``'s own stacks: its IRQ stack
    (``irq_stack_ptr``, ``IRQ_STACK_SIZE`` = ``THREAD_SIZE``) and its overflow stack
    (``overflow_stack``, taken on a stack overflow exception); one whose per-CPU variable
    cannot be read is left out (computed once per program)."""

    def find() -> List[Tuple[int, int, StackKind]]:
        out: List[Tuple[int, int, StackKind]] = []
        try:
            irq = int(per_cpu(prog.variable("irq_stack_ptr"), cpu))
            if irq:
                out.append((irq, irq + thread_size(prog), StackKind.IRQ))
        except (KdbgError, LookupError):
            pass
        try:
            ovf = per_cpu(prog.variable("overflow_stack"), cpu)
            if ovf.address_ is not None:
                out.append((ovf.address_, ovf.address_ + (ovf.type_.size or 0), StackKind.EXCEPTION))
        except (KdbgError, LookupError):
            pass
        return out

    return program_cache(prog, f"stack.arm64_cpu_stacks.{cpu}", find)


def _arm64_ranges(task: Object, cpu: int) -> List[Tuple[int, int, StackKind]]:
    """``(start, end, kind)`` of the stacks CPU ``cpu`` runs ``task`` on (arm64)."""
    base = int(task.stack)
    return [(base, base + thread_size(task.prog_), StackKind.TASK), *arm64_cpu_stacks(task.prog_, cpu)]


def task_stack_ranges(task: Object, cpu: int) -> List[Tuple[int, int, StackKind]]:
    """``(start, end, kind)`` of every stack CPU ``cpu`` runs ``task`` on: the task's own,
    the CPU's IRQ, exception and NMI stacks (x86-64 also lists user addresses); empty on an
    architecture kdbg knows no stacks of."""
    prog = task.prog_
    arch = prog.platform.arch if prog.platform is not None else None
    if arch is Architecture.X86_64:
        return _x86_64_ranges(task, cpu)
    if arch is Architecture.AARCH64:
        return _arm64_ranges(task, cpu)
    return []


def _segment(task: Object, cpu: int, frames: List[Any]) -> StackSegment:
    prog = task.prog_
    arch = prog.platform.arch if prog.platform is not None else None
    sp = frames[0].sp
    if arch is Architecture.AARCH64 and not sp >> 55 & 1:  # a user address (bits 56-63 may hold a memory tag)
        return StackSegment(StackKind.USER, frames)
    ranges = task_stack_ranges(task, cpu)
    if not ranges:
        return StackSegment(StackKind.UNKNOWN, frames)
    kind = next((k for start, end, k in ranges if start <= sp < end), StackKind.UNKNOWN)
    return StackSegment(kind, frames)


@takes_program_or_default
def kernel_stack_trace(prog: Program, task_arg: Union[Object, Any]) -> LinuxKernelStack:
    """The stack trace of ``task_arg`` (a ``struct task_struct *`` or a PID) in segments,
    a new one at each interrupted frame (best effort, as drgn's)."""
    if isinstance(task_arg, Object):
        kind = task_arg.type_.unaliased_kind()
        if kind is TypeKind.INT:
            task = find_task(prog, operator.index(task_arg))
        elif kind is TypeKind.POINTER:
            task = task_arg
        else:
            raise TypeError("expected struct task_struct *, or int (pid)")
    else:
        task = find_task(prog, operator.index(task_arg))
    cpu = task_cpu(task)
    segments: List[StackSegment] = []
    current: List[Any] = []
    for frame in task.prog_.stack_trace(task):
        if current and frame.interrupted:
            segments.append(_segment(task, cpu, current))
            current = []
        current.append(frame)
    if current:
        segments.append(_segment(task, cpu, current))
    return LinuxKernelStack(task.prog_, segments)
