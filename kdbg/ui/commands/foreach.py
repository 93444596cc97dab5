"""``foreach``: run a command for every task, or for the tasks named, as crash's ``foreach``.

``foreach [PID|TASK|COMM|'pattern'|kernel|user|active|RU|IN|UN|...]... bt [--json]``: with
no selector every task (each CPU's idle task first, then by PID, as ``ps`` lists them),
else the tasks any selector names (:func:`kdbg.ui.commands.tasks.select_tasks`). ``foreach
bt`` is what ``bt -a`` was before ``bt -a`` took crash's meaning (the active task of each
CPU). A task without a trace is a line of the output, not an error.
"""

from __future__ import annotations

import shlex
from typing import Any, List

from kdbg.errors import ExpressionError
from kdbg.helpers import for_each_task
from kdbg.ui.commands import CommandContext, command, commands
from kdbg.ui.commands.stack import print_traces
from kdbg.ui.commands.tasks import select_tasks

#: The commands ``foreach`` runs per task so far.
_SUBCOMMANDS = ("bt",)
_USAGE = "foreach [PID|TASK|COMM|'pattern'|kernel|user|active|STATE]... bt [--json]"


def _split(line: str) -> List[str]:
    """Words as crash reads them: quotes of a ``'pattern'`` are kept."""
    try:
        return shlex.split(line, posix=False)
    except ValueError as e:
        raise ExpressionError(f"foreach: cannot parse {line!r}: {e}") from None


@command("foreach", "run a command (bt) for every task or the tasks selected (crash's foreach)", _USAGE)
def foreach(prog: Any, args: str, ctx: CommandContext) -> None:
    """Run ``bt`` for each selected task."""
    words = _split(args)
    at = next((i for i, w in enumerate(words) if w in _SUBCOMMANDS or w in commands()), None)
    if at is None:
        raise ExpressionError(f"foreach: no command given (usage: {_USAGE})")
    if words[at] not in _SUBCOMMANDS:
        raise ExpressionError(f"foreach: {words[at]!r} is not supported per task (supported: "
                              f"{', '.join(_SUBCOMMANDS)})")
    selectors, sub = words[:at], words[at + 1:]
    as_json = ctx.json
    for w in sub:
        if w == "--json":
            as_json = True
        else:
            raise ExpressionError(f"foreach bt: unknown argument {w!r} (usage: {_USAGE})")
    tasks = select_tasks(prog, list(for_each_task(prog, idle=True)), selectors, "foreach")
    if not tasks:
        raise ExpressionError(f"foreach: no task matches {' '.join(selectors)}")
    print_traces(prog, tasks, ctx, as_json, every=True)
