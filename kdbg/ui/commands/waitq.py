"""``waitq``: the tasks waiting on a wait queue, as crash's ``waitq``.

``waitq ADDRESS`` (a ``wait_queue_head_t``), ``waitq SYMBOL`` (a global wait queue head)
or ``waitq STRUCT.MEMBER ADDRESS`` (the head inside a structure at an address) lists each
entry's task in crash's task line (``PID: 1  TASK: ...  CPU: 0  COMMAND: "init"``), in the
queue's order, stopping, as crash does, at the first entry whose ``private`` is no task
(an epoll or poll entry); an empty queue is ``wait queue ADDR is empty`` (``wait queue
"NAME" (ADDR) is empty`` for a symbol). The entries come from
:func:`kdbg.helpers.wait.waitqueue_for_each_entry`.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any, Dict, List, Optional, Tuple

from kdbg.core.conversions import offsetof
from kdbg.core.object import Object
from kdbg.errors import ExpressionError, KdbgError
from kdbg.helpers.cpumask import for_each_online_cpu
from kdbg.helpers.pid import for_each_task
from kdbg.helpers.sched import idle_task
from kdbg.helpers.wait import waitqueue_for_each_entry
from kdbg.ui.commands import CommandContext, argument, command
from kdbg.ui.commands.memory import address_arg
from kdbg.ui.commands.stack import header

__all__ = ["waitq_cmd", "waitq_tasks"]

_HEX = re.compile(r"(0x)?[0-9a-fA-F]+")


def waitq_tasks(prog: Any, head: int) -> List[Any]:
    """The tasks waiting on the ``wait_queue_head_t`` at *head*, in queue order, up to the
    first entry whose ``private`` is not a task (``struct task_struct``, dereferenced)."""
    tasks: Dict[int, Any] = {int(t): t for t in for_each_task(prog)}
    for cpu in for_each_online_cpu(prog):
        t = idle_task(prog, cpu)
        tasks.setdefault(int(t), t)
    out = []
    for entry in waitqueue_for_each_entry(Object(prog, "wait_queue_head_t *", head)):
        task = tasks.get(int(entry.private))
        if task is None:
            break
        out.append(task[0])
    return out


def _head(prog: Any, words: List[str]) -> Tuple[int, Optional[str]]:
    """The wait queue head's address and, for a symbol, its name."""
    first = words[0]
    if _HEX.fullmatch(first):
        if len(words) > 1:
            raise ExpressionError(f"waitq: one address, not {' '.join(words)}")
        return int(first, 16), None
    if "." in first:
        struct, _, member = first.partition(".")
        if len(words) != 2:
            raise ExpressionError(f"waitq: must supply an address for {struct}")
        try:
            off = offsetof(prog.type(f"struct {struct}"), member)
        except (KdbgError, LookupError) as e:
            raise ExpressionError(f"waitq: {member} is not a member of {struct}: {e}") from None
        return address_arg(prog, words[1]) + off, None
    if len(words) > 1:
        raise ExpressionError(f"waitq: one symbol, not {' '.join(words)}")
    return address_arg(prog, first), first


@command("waitq", "the tasks waiting on a wait queue, as crash's waitq", arguments=[
    argument("words", metavar="ADDRESS|SYMBOL|STRUCT.MEMBER", nargs="+",
             help="a wait_queue_head_t's address, a global one's name, or STRUCT.MEMBER ADDRESS"),
    argument("--json", action="store_true", help="the waiters as JSON"),
])
def waitq_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """List a wait queue's waiters."""
    head, name = _head(prog, args.words)
    try:
        tasks = waitq_tasks(prog, head)
    except KdbgError as e:
        raise ExpressionError(f"waitq: {head:x}: {e}") from None
    if ctx.json or args.json:
        ctx.out.write(json.dumps([{"pid": int(t.pid), "task": int(t.address_of_()),
                                   "comm": t.comm.string_().decode("utf-8", "replace")} for t in tasks]) + "\n")
    elif not tasks:
        ctx.out.write(f'wait queue "{name}" ({head:x}) is empty\n' if name else f"wait queue {head:x} is empty\n")
    else:
        ctx.out.write("\n".join(header(t) for t in tasks) + "\n")
