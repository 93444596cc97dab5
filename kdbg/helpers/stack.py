"""A kernel stack trace split into the contexts it crosses (drgn's
``drgn.helpers.linux.stack``): the task's own stack, an IRQ stack, an exception or NMI
stack, user space. ``kernel_stack_trace(pid)`` unwinds a task and groups its frames into
:class:`StackSegment` s at each interrupted frame, each segment's kind told by which of the
CPU's stacks its first frame's stack pointer lies in: user addresses
(:func:`kdbg.arch.is_user_address`), the task stack, or one of the CPU's own
(:func:`kdbg.helpers.cpu_stacks.cpu_stacks`: x86-64's hardirq, exception, NMI and entry
stacks; arm64's IRQ and overflow stacks)."""

from __future__ import annotations

import dataclasses
import itertools
from typing import TYPE_CHECKING, Any, Iterator, List, Sequence, Tuple, Union

from kdbg.arch import is_user_address
from kdbg.arch.stacks import StackKind
from kdbg.btf.kinds import TypeKind
from kdbg.core.default import takes_program_or_default
from kdbg.core.integer import integer_value
from kdbg.core.object import Object
from kdbg.core.platform import machine_of
from kdbg.helpers.cpu_stacks import cpu_stacks
from kdbg.helpers.pid import find_task
from kdbg.helpers.sched import task_cpu, thread_size

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["StackKind", "StackSegment", "LinuxKernelStack", "kernel_stack_trace"]


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


def task_stack_ranges(task: Object, cpu: int) -> List[Tuple[int, int, StackKind]]:
    """``(start, end, kind)`` of every stack CPU ``cpu`` runs ``task`` on: the task's own
    and the CPU's IRQ, exception and NMI stacks (:func:`kdbg.helpers.cpu_stacks.cpu_stacks`)."""
    prog = task.prog_
    base = int(task.stack)
    return [(base, base + thread_size(prog), StackKind.TASK),
            *((s.begin, s.end, s.kind) for s in cpu_stacks(prog, cpu))]


def _segment(task: Object, cpu: int, frames: List[Any]) -> StackSegment:
    sp = frames[0].sp
    if is_user_address(machine_of(task.prog_), sp):
        return StackSegment(StackKind.USER, frames)
    kind = next((k for start, end, k in task_stack_ranges(task, cpu) if start <= sp < end), StackKind.UNKNOWN)
    return StackSegment(kind, frames)


@takes_program_or_default
def kernel_stack_trace(prog: Program, task_arg: Union[Object, Any]) -> LinuxKernelStack:
    """The stack trace of ``task_arg`` (a ``struct task_struct *`` or a PID) in segments,
    a new one at each interrupted frame (best effort, as drgn's)."""
    if isinstance(task_arg, Object):
        kind = task_arg.type_.unaliased_kind()
        if kind is TypeKind.INT:
            task = find_task(prog, integer_value(task_arg))
        elif kind is TypeKind.POINTER:
            task = task_arg
        else:
            raise TypeError("expected struct task_struct *, or int (pid)")
    else:
        task = find_task(prog, integer_value(task_arg))
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
