"""Stack traces from the kernel's own ORC tables (x86-64) or frame records (arm64,
:mod:`kdbg.unwind.frame_records` over :mod:`kdbg.arch.arm64.unwind`), BTF and the dump's
registers (no DWARF).

``stack_trace(prog, task_or_pid)``, ``crashed_thread(prog)`` and ``threads(prog)`` are
drgn's functions (the Program has them as methods too); a trace is a :class:`StackTrace`
of :class:`StackFrame`. See :mod:`kdbg.unwind.trace` for where traces start,
:mod:`kdbg.unwind.unwinder` for the unwinding and :mod:`kdbg.unwind.orc` for the tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, List, Sequence

from kdbg.lazy import LazyNames

if TYPE_CHECKING:
    from kdbg.core.program import Program
    from kdbg.unwind.orc import UnwindError
    from kdbg.unwind.trace import (
        StackFrame,
        StackTrace,
        Thread,
        crashed_thread,
        stack_trace,
        stack_trace_from_pcs,
        threads,
    )

__all__ = ["StackFrame", "StackTrace", "Thread", "UnwindError", "crashed_thread", "stack_trace",
           "stack_trace_from_pcs", "threads", "UNWINDER"]

#: Public name -> the module that defines it, imported on first use: attaching the
#: unwinder to every program (:mod:`kdbg.target`) costs no unwinder import until a
#: stack is asked for.
_HOMES = LazyNames({
    "UnwindError": "kdbg.unwind.orc",
    **dict.fromkeys(("StackFrame", "StackTrace", "Thread", "crashed_thread", "stack_trace", "stack_trace_from_pcs",
                     "threads"), "kdbg.unwind.trace"),
})
assert sorted(set(__all__) - {"UNWINDER"}) == sorted(_HOMES)

_resolve = _HOMES.module_getattr(__name__, globals())


def __getattr__(name: str) -> Any:
    return _resolve(name)


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_HOMES))


class _OrcUnwinder:
    """The unwinder a program asks (:attr:`kdbg.core.program.Program.unwinder`)."""

    def stack_trace(self, prog: Program, thread: Any) -> StackTrace:
        """:func:`stack_trace`."""
        return _HOMES.resolve("stack_trace")(prog, thread)

    def stack_trace_from_pcs(self, prog: Program, pcs: Sequence[int]) -> StackTrace:
        """:func:`stack_trace_from_pcs`."""
        return _HOMES.resolve("stack_trace_from_pcs")(prog, pcs)

    def crashed_thread(self, prog: Program) -> Thread:
        """:func:`crashed_thread`."""
        return _HOMES.resolve("crashed_thread")(prog)

    def threads(self, prog: Program) -> Iterator[Thread]:
        """:func:`threads`."""
        return _HOMES.resolve("threads")(prog)


#: The x86-64 ORC unwinder, as :mod:`kdbg.target` attaches it to every program.
UNWINDER = _OrcUnwinder()
