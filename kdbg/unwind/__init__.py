"""Stack traces from the kernel's own ORC tables, BTF and the dump's registers (no DWARF).

``stack_trace(prog, task_or_pid)``, ``crashed_thread(prog)`` and ``threads(prog)`` are
drgn's functions (the Program has them as methods too); a trace is a :class:`StackTrace`
of :class:`StackFrame`. See :mod:`kdbg.unwind.trace` for where traces start,
:mod:`kdbg.unwind.unwinder` for the unwinding and :mod:`kdbg.unwind.orc` for the tables.
"""

from kdbg.unwind.orc import UnwindError
from kdbg.unwind.trace import StackFrame, StackTrace, Thread, crashed_thread, stack_trace, threads

__all__ = ["StackFrame", "StackTrace", "Thread", "UnwindError", "crashed_thread", "stack_trace", "threads"]
