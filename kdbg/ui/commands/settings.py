"""``set``: the current context and session settings, as crash's ``set``.

``set`` shows the current context (crash's ``PID``/``COMMAND``/``TASK``/``CPU``/``STATE``
lines: :func:`kdbg.ui.commands.tasks.context_lines`); ``set PID`` or ``set TASK`` makes
that task the current context (the task ``bt`` and ``task`` show when none is named) and
shows it; ``set -p`` goes back to the task that crashed the kernel. ``set scroll off``
stops paging for the rest of the session (output longer than the screen is written
straight to the terminal), ``set scroll on`` pages again; ``set scroll`` shows the
setting as crash does (``scroll: on``).
"""

from __future__ import annotations

import re
from typing import Any, List

from kdbg.errors import ExpressionError, KdbgError, ObjectNotFoundError, ObjectTypeError
from kdbg.helpers.cpumask import for_each_present_cpu
from kdbg.helpers.pid import resolve_task
from kdbg.helpers.printk import get_dmesg
from kdbg.ui.commands import CommandContext, command, split_args
from kdbg.ui.commands.context import current_task, panic_task_object
from kdbg.ui.commands.tasks import context_lines

_SWITCH = {"on": True, "off": False}
_SYSRQ = re.compile(rb"^(?:sysrq: |SysRq : )Trigger a crash", re.M)
_USAGE = "set [PID | TASK | -p] | set scroll [on|off]"


def _panic_address(prog: Any) -> int:
    try:
        return int(panic_task_object(prog))
    except KdbgError:
        return 0


def sysrq_crash(prog: Any) -> bool:
    """Whether a sysrq ``c`` crashed the kernel: its log has the handler's ``Trigger a
    crash`` line (``sysrq: `` since 5.x, ``SysRq : `` before), as crash looks for it."""
    return bool(_SYSRQ.search(get_dmesg(prog, timestamps=False)))


def task_context_lines(prog: Any, task: Any) -> List[str]:
    """crash's context display of *task* (``set``, ``kmem ADDR``), its ``STATE`` marked as
    crash marks the task that crashed the kernel."""
    panic_address = _panic_address(prog)
    panic = int(task.address_of_()) == panic_address
    # crash's task table holds every CPU's idle task under PID 0
    same_pid = sum(1 for _ in for_each_present_cpu(prog)) if int(task.pid) == 0 else 1
    return context_lines(task, panic, bool(panic_address) and sysrq_crash(prog), same_pid)


def _show_context(prog: Any, ctx: CommandContext) -> None:
    try:
        task = current_task(prog, ctx)
    except KdbgError as e:
        raise ExpressionError(f"set: no current context: {e}; give a PID or task address") from None
    ctx.out.write("\n".join(task_context_lines(prog, task)) + "\n")


@command("set", "the current context (set PID|TASK, set -p the panic task) and settings (set scroll on|off)", _USAGE)
def set_cmd(prog: Any, args: str, ctx: CommandContext) -> None:
    """Show or change the current context or a session setting."""
    argv = split_args(args)
    if not argv:
        _show_context(prog, ctx)
        return
    if argv[0] == "scroll":
        if len(argv) > 2:
            raise ExpressionError(f"set: usage: {_USAGE}")
        if len(argv) == 2:
            value = _SWITCH.get(argv[1].lower())
            if value is None:
                raise ExpressionError(f"set scroll: {argv[1]!r} is neither on nor off")
            ctx.settings.scroll = value
        ctx.out.write(f"scroll: {'on' if ctx.settings.scroll else 'off'}\n")
        return
    if len(argv) > 1:
        raise ExpressionError(f"set: one PID or task address at a time (usage: {_USAGE})")
    if argv[0] == "-p":
        try:
            address = int(panic_task_object(prog))
        except KdbgError as e:
            raise ExpressionError(f"set -p: {e}") from None
    elif argv[0].startswith("-"):
        raise ExpressionError(f"set: unknown option {argv[0]!r} (usage: {_USAGE})")
    else:
        try:
            address = int(resolve_task(prog, argv[0]))
        except (ObjectNotFoundError, ObjectTypeError) as e:
            raise ExpressionError(f"set: {e} (usage: {_USAGE})") from None
    ctx.settings.task = address
    _show_context(prog, ctx)
