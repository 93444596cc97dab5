"""``set``: session settings, as crash's ``set`` (only ``scroll`` so far).

``set scroll off`` stops paging for the rest of the session (output longer than the
screen is written straight to the terminal), ``set scroll on`` pages again; ``set scroll``
and ``set`` alone show the setting as crash does (``scroll: on``).
"""

from __future__ import annotations

from kdbg.core.program import Program
from kdbg.errors import ExpressionError
from kdbg.ui.commands import CommandContext, command, split_args

_SWITCH = {"on": True, "off": False}


@command("set", "session settings: set scroll on|off pages long output or not (crash's set)",
         "set [scroll [on|off]]")
def set_cmd(prog: Program, args: str, ctx: CommandContext) -> None:
    """Show or change a session setting."""
    argv = split_args(args)
    if argv and argv[0] != "scroll":
        raise ExpressionError(f"set: unknown setting {argv[0]!r} (known: scroll)")
    if len(argv) > 2:
        raise ExpressionError("set: usage: set [scroll [on|off]]")
    if len(argv) == 2:
        value = _SWITCH.get(argv[1].lower())
        if value is None:
            raise ExpressionError(f"set scroll: {argv[1]!r} is neither on nor off")
        ctx.settings.scroll = value
    ctx.out.write(f"scroll: {'on' if ctx.settings.scroll else 'off'}\n")
