"""``help [COMMAND]``."""

from __future__ import annotations

from kdbg.core.program import Program
from kdbg.errors import ExpressionError
from kdbg.ui.commands import CommandContext, command, commands


@command("help", "list commands, or show one command's usage", "help [COMMAND]")
def help_cmd(prog: Program, args: str, ctx: CommandContext) -> None:
    """Print the command list or one command's usage."""
    table = commands()
    name = args.strip()
    if name:
        cmd = table.get(name)
        if cmd is None:
            raise ExpressionError(f"unknown command {name!r}")
        ctx.out.write(cmd.help_text())
        return
    width = max([8] + [len(k) for k, c in table.items() if k == c.name])
    for key in sorted(table):
        cmd = table[key]
        if key != cmd.name:
            continue  # an alias: listed with its command
        aliases = [a for a in cmd.aliases if table.get(a) is cmd]
        also = f" (also: {', '.join(aliases)})" if aliases else ""
        ctx.out.write(f"{cmd.name:<{width}} {cmd.summary}{also}\n")
    ctx.out.write("Anything else is evaluated as Python with `prog` in scope.\n")
