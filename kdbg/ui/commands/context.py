"""The current context, as crash keeps one: the task that ``bt``, ``task`` and the other
commands that default to a task show when none is named.

At first it is the task that crashed the kernel of a vmcore (the task running on
``panic_cpu``, :func:`kdbg.unwind.crashed_thread`); ``set PID|TASK`` changes it for the
rest of the session and ``set -p`` returns to the panic task. The session's
:class:`~kdbg.ui.commands.Settings` holds the task's address.
"""

from __future__ import annotations

from typing import Any

from kdbg.errors import ExpressionError, KdbgError
from kdbg.helpers.common import deref_if_pointer
from kdbg.helpers.pid import resolve_task
from kdbg.ui.commands import CommandContext
from kdbg.unwind import crashed_thread

__all__ = ["current_task", "current_mm", "panic_task_object"]


def panic_task_object(prog: Any) -> Any:
    """The ``struct task_struct *`` that crashed the kernel (raises :class:`KdbgError`
    saying why where there is none: a live kernel, a dump of a kernel that did not panic)."""
    return crashed_thread(prog).object


def current_task(prog: Any, ctx: CommandContext) -> Any:
    """The current context's ``struct task_struct`` (the one ``set`` chose, else the panic
    task)."""
    if ctx.settings.task is not None:
        return deref_if_pointer(resolve_task(prog, ctx.settings.task))
    return deref_if_pointer(panic_task_object(prog))


def current_mm(prog: Any, ctx: CommandContext, what: str) -> Any:
    """The current context's ``struct mm_struct *``, whose user memory ``rd -u``,
    ``search -u`` and ``dis -u`` read; :class:`ExpressionError` starting with *what* (the
    command and its option, and what was asked for) when there is no context or the task is
    a kernel thread."""
    try:
        task = current_task(prog, ctx)
        mm = task.mm.read_()
    except KdbgError as e:
        raise ExpressionError(f"{what}: no current context: {e} (set PID first)") from None
    if not int(mm):
        comm = task.comm.string_().decode("utf-8", "replace")
        raise ExpressionError(f"{what}: PID {int(task.pid)} ({comm}) is a kernel thread without user memory "
                              "(set PID first)")
    return mm
