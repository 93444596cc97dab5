"""The stacks a CPU runs on, in words every architecture shares: :class:`StackKind`
(drgn's ``drgn.helpers.linux.stack.StackKind``), :class:`CpuStack` (one stack's name,
kind and bounds) and :class:`PerCpuData` (what an architecture's stack facts read of one
CPU's per-CPU data). Each architecture's facts, which per-CPU variables hold its IRQ,
exception, NMI, entry or overflow stacks and how big they are, are
``kdbg.arch.<arch>.stacks``; :func:`kdbg.arch.cpu_stacks` picks by machine, and
:func:`kdbg.helpers.percpu.cpu_stacks` reads them from a program (the one home both
unwinders and :mod:`kdbg.helpers.stack` use)."""

from __future__ import annotations

import dataclasses
import enum
from typing import Optional, Protocol, Sequence, Tuple

__all__ = ["StackKind", "CpuStack", "PerCpuData"]


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
class CpuStack:
    """One of a CPU's own stacks: ``[begin, end)``, its ``kind`` and its ``name`` (the
    kernel's: ``IRQ``, ``NMI``, ``DF``, ``entry``, ``overflow``...)."""

    name: str
    kind: StackKind
    begin: int
    end: int


class PerCpuData(Protocol):
    """One CPU's per-CPU data as the stack facts read it; every lookup gives ``None`` (or
    nothing) when the kernel has no such variable, type or member, or it cannot be read."""

    @property
    def thread_size(self) -> int:
        """``THREAD_SIZE``: the size of a task stack (and of an IRQ stack)."""

    def word(self, var: str, member: Optional[str] = None) -> Optional[int]:
        """This CPU's copy of per-CPU ``var``, or of its ``member`` (a dotted path)."""

    def extent(self, var: str) -> Optional[Tuple[int, int]]:
        """``(address, size)`` of this CPU's copy of per-CPU ``var``."""

    def members(self, struct: str) -> Sequence[Tuple[str, int, int]]:
        """``(name, byte offset, size)`` of each member of ``struct`` (a type name)."""

    def size_of(self, type_name: str) -> Optional[int]:
        """``sizeof`` the type named ``type_name``."""
