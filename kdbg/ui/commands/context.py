"""The current context, as crash keeps one: the task that ``bt``, ``task`` and the other
commands that default to a task show when none is named.

At first it is the task that crashed the kernel of a vmcore (the task running on
``panic_cpu``, :func:`kdbg.unwind.crashed_thread`); ``set PID|TASK`` changes it for the
rest of the session and ``set -p`` returns to the panic task. The session's
:class:`~kdbg.ui.commands.Settings` holds the task's address.
"""

from __future__ import annotations

from typing import Any

from kdbg.helpers.common import deref_if_pointer
from kdbg.helpers.pid import resolve_task
from kdbg.ui.commands import CommandContext
from kdbg.unwind import crashed_thread

__all__ = ["current_task", "panic_task_object"]


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
