"""Which stacks CPU ``n`` has beyond its tasks' own, with their bounds: the one place a
program's per-CPU data is read for them (:func:`cpu_stacks`), for both unwinders
(:mod:`kdbg.unwind.trace`, :mod:`kdbg.unwind.frame_records`) and
:mod:`kdbg.helpers.stack`. Which variables hold which stack is each architecture's fact
(``kdbg.arch.<arch>.stacks``); this module only reads them. Internal: not one of drgn's
helpers."""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple

from kdbg.arch import cpu_stacks as arch_cpu_stacks
from kdbg.arch.stacks import CpuStack
from kdbg.core.platform import machine_of
from kdbg.errors import KdbgError
from kdbg.helpers.common import program_cache
from kdbg.helpers.percpu import per_cpu
from kdbg.helpers.sched import thread_size

if TYPE_CHECKING:
    from kdbg.core.object import Object
    from kdbg.core.program import Program

__all__: List[str] = []

#: What an unreadable variable, type or member raises.
_MISSING = (KdbgError, LookupError, AttributeError)


class _CpuData:
    """:class:`kdbg.arch.stacks.PerCpuData` of CPU ``cpu`` of ``prog``."""

    def __init__(self, prog: Program, cpu: int) -> None:
        self.prog = prog
        self.cpu = cpu

    @property
    def thread_size(self) -> int:
        return thread_size(self.prog)

    def _copy(self, var: str) -> Object:
        return per_cpu(self.prog.variable(var), self.cpu)

    def word(self, var: str, member: Optional[str] = None) -> Optional[int]:
        try:
            obj = self._copy(var)
            for name in member.split(".") if member else ():
                obj = obj.member_(name)
            return int(obj)
        except _MISSING:
            return None

    def extent(self, var: str) -> Optional[Tuple[int, int]]:
        try:
            obj = self._copy(var)
        except _MISSING:
            return None
        if obj.address_ is None:
            return None
        return obj.address_, obj.type_.size or 0

    def members(self, struct: str) -> Sequence[Tuple[str, int, int]]:
        try:
            t = self.prog.type(struct).strip_typedefs()
            return [(m.name, m.bit_offset // 8, m.type.strip_typedefs().size or 0)
                    for m in t.members if m.name]  # type: ignore[attr-defined]
        except _MISSING:
            return []

    def size_of(self, type_name: str) -> Optional[int]:
        try:
            return self.prog.type(type_name).size
        except _MISSING:
            return None


def cpu_stacks(prog: Program, cpu: int) -> List[CpuStack]:
    """CPU ``cpu``'s own stacks (IRQ, exception, NMI, entry, overflow: whatever its
    architecture has, :func:`kdbg.arch.cpu_stacks`), each with its bounds; one whose
    per-CPU variable cannot be read is left out (computed once per program and CPU)."""
    return program_cache(prog, f"cpu_stacks.{cpu}",
                         lambda: arch_cpu_stacks(machine_of(prog), _CpuData(prog, cpu)))
