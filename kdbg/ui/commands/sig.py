"""``sig``: a task's signal handlers and pending signals, as crash's ``sig`` prints them.

``sig [PID|TASK ...]`` (default: the current context's task) prints, per task, crash's
header line, the ``signal_struct`` and its thread count, one line per signal of
``sighand->action[]`` (``SIGACTION`` address, ``HANDLER``: ``SIG_DFL``, ``SIG_IGN`` or the
address, ``MASK``, ``FLAGS`` with their names), ``SIGPENDING`` (the kernel's
``TIF_SIGPENDING`` bit of the dump's kernel, :func:`kdbg.helpers.signal.task_sigpending`, as crash
reads it: a stopped task's signals wait without it), the task's ``BLOCKED`` set, its
private pending set with its queue (``SIGQUEUE``: signal number and ``siginfo``
address), then the thread group's shared pending set and queue.
``-g``: the shared set after the handlers, then each thread of the task's group with its
own sets, as crash's ``help sig`` shows. ``-l``: the signal numbers and names (aliases
after a ``/``). ``-s SIGSET``: the names of the signals in a hexadecimal set. ``--json``:
the same as data.

Sets print as ``/proc/PID/status`` prints them (:func:`kdbg.helpers.signal.sigset_to_hex`),
names as crash names them (:func:`kdbg.helpers.signal.signal_numbers`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List

from kdbg.errors import ExpressionError
from kdbg.helpers.common import deref_if_pointer
from kdbg.helpers.list import list_for_each_entry
from kdbg.helpers.pid import resolve_task
from kdbg.helpers.sched import task_cpu
from kdbg.helpers.signal import (
    decode_sigaction_flags_value,
    decode_sigset,
    signal_numbers,
    sigpending_for_each,
    sigset_to_hex,
    task_sigpending,
)
from kdbg.ui.commands import CommandContext, argument, command
from kdbg.ui.commands.context import current_task
from kdbg.ui.commands.stack import header

__all__ = ["sig_cmd"]

#: ``include/uapi/asm-generic/signal-defs.h``: the two handler values that are not code.
HANDLER_NAMES = {0: "SIG_DFL", 1: "SIG_IGN"}
#: The width of crash's ``HANDLER`` column on x86-64 (its user-address width, as crash 8.0.2
#: prints it on 5.10).
HANDLER_WIDTH = 10


def _set_value(sigset: Any) -> int:
    words = sigset.sig
    bits = sigset.prog_.type("unsigned long").sizeof() * 8
    return sum(int(words[i]) << (i * bits) for i in range(len(words)))


def _queue(pending: Any) -> List[Dict[str, int]]:
    return [{"sig": int(q.info.si_signo), "siginfo": int(q.info.address_of_())} for q in sigpending_for_each(pending)]


def _pending(pending: Any) -> Dict[str, Any]:
    return {"signal": sigset_to_hex(pending.signal), "value": _set_value(pending.signal), "queue": _queue(pending)}


def _thread(task: Any) -> Dict[str, Any]:
    return {"pid": int(task.pid), "task": int(task.address_of_()), "cpu": task_cpu(task),
            "comm": task.comm.string_().decode("utf-8", "replace"), "header": header(task),
            "sigpending": task_sigpending(task),
            "blocked": sigset_to_hex(task.blocked), "blocked_value": _set_value(task.blocked),
            "private_pending": _pending(task.pending)}


def _threads(task: Any) -> List[Any]:
    """Every thread of *task*'s group (``signal->thread_head``, linked by ``thread_node``)."""
    head = task.signal.thread_head.address_of_()
    return [deref_if_pointer(t) for t in list_for_each_entry("struct task_struct", head, "thread_node")]


def sig_data(prog: Any, task: Any, group: bool) -> Dict[str, Any]:
    """What ``sig`` shows of *task* (a ``struct task_struct``): its handlers, the shared
    pending set and queue, and per thread (the task alone, or with *group* every thread
    of its group) the blocked set and the private pending set and queue."""
    signal, sighand = task.signal, task.sighand
    actions = []
    for i, action in enumerate(sighand.action):
        sa = action.sa
        handler = int(sa.sa_handler)
        actions.append({"sig": i + 1, "sigaction": int(action.address_of_()), "handler": handler,
                        "mask": _set_value(sa.sa_mask), "flags": int(sa.sa_flags)})
    threads = _threads(task) if group else [task]
    return {**_thread(task), "signal_struct": int(signal), "nr_threads": int(signal.nr_threads),
            "actions": actions, "shared_pending": _pending(signal.shared_pending),
            "threads": [_thread(t) for t in threads]}


def _queue_lines(queue: List[Dict[str, int]], indent: str) -> List[str]:
    if not queue:
        return [f"{indent}  SIGQUEUE: (empty)"]
    return [f"{indent}  SIGQUEUE:  SIG  {'SIGINFO':^16}",
            *(f"{indent}             {q['sig']:3d}  {q['siginfo']:x}" for q in queue)]


def _thread_lines(t: Dict[str, Any], indent: str) -> List[str]:
    return [f"{indent}SIGPENDING: {'yes' if t['sigpending'] else 'no'}", f"{indent}   BLOCKED: {t['blocked']}",
            f"{indent}PRIVATE_PENDING", f"{indent}    SIGNAL: {t['private_pending']['signal']}",
            *_queue_lines(t["private_pending"]["queue"], indent)]


def sig_lines(prog: Any, data: Dict[str, Any], group: bool = False) -> List[str]:
    """crash's ``sig`` display of one :func:`sig_data` (with *group*, ``sig -g``'s: the
    shared pending set after the handlers, then each thread's own sets)."""
    width = 2 * prog.type("void *").sizeof()
    lines = [data["header"], f"SIGNAL_STRUCT: {data['signal_struct']:x}  NR_THREADS: {data['nr_threads']}",
             f" SIG {'SIGACTION':^{width}} {'HANDLER':>{HANDLER_WIDTH}} {'MASK':^16} FLAGS"]
    for a in data["actions"]:
        handler = HANDLER_NAMES.get(a["handler"], f"{a['handler']:x}")
        flags = f"{a['flags']:x}"
        if a["flags"]:
            flags += f" ({decode_sigaction_flags_value(prog, a['flags'])})"
        index = f"[{a['sig']}]"
        lines.append(f"{index:>4} {a['sigaction']:x} {handler:>{HANDLER_WIDTH}} {a['mask']:016x} {flags}")
    shared = data["shared_pending"]
    shared_lines = ["SHARED_PENDING", f"    SIGNAL: {shared['signal']}", *_queue_lines(shared["queue"], "")]
    if not group:
        return lines + _thread_lines(data["threads"][0], "") + shared_lines
    lines += shared_lines
    for t in data["threads"]:
        lines += ["", f"  {t['header']}", *_thread_lines(t, "  ")]
    return lines


#: Names crash's ``sig -l`` leaves out: ``SIGUNUSED`` left the kernel's uapi headers in 4.18.
UNLISTED = frozenset({"SIGUNUSED"})


def _without_header(data: Dict[str, Any]) -> Dict[str, Any]:
    out = {k: v for k, v in data.items() if k != "header"}
    out["threads"] = [{k: v for k, v in t.items() if k != "header"} for t in data["threads"]]
    return out


def _list_lines(prog: Any) -> List[str]:
    return [f"{'[' + str(n) + ']':>4} {'/'.join(x for x in names if x not in UNLISTED)}"
            for n, names in sorted(signal_numbers(prog).items())]


@command("sig", "a task's signal handlers and pending signals, as crash's sig", arguments=[
    argument("tasks", nargs="*", metavar="PID|TASK", help="tasks (default: the current context)"),
    argument("-g", dest="group", action="store_true", help="every thread of the task's thread group"),
    argument("-l", dest="list", action="store_true", help="the signal numbers and names"),
    argument("-s", dest="sigset", metavar="SIGSET", help="the signals of a hexadecimal sigset"),
    argument("--json", action="store_true", help="the signal state as JSON"),
])
def sig_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print the signal state of tasks (or the signal list, or a decoded set)."""
    if args.list:
        ctx.out.write("\n".join(_list_lines(prog)) + "\n")
        return
    if args.sigset is not None:
        try:
            value = int(args.sigset, 16)
            names = decode_sigset(prog, value)
        except ValueError as e:
            raise ExpressionError(f"sig: -s {args.sigset!r}: not a signal set ({e})") from None
        ctx.out.write(" ".join(names.strip("{}").split(",")) + "\n")
        return
    tasks = [deref_if_pointer(resolve_task(prog, w)) for w in args.tasks] or [current_task(prog, ctx)]
    data = [sig_data(prog, t, args.group) for t in tasks]
    if ctx.json or args.json:
        ctx.out.write(json.dumps([_without_header(d) for d in data]) + "\n")
        return
    ctx.out.write("\n\n".join("\n".join(sig_lines(prog, d, args.group)) for d in data) + "\n")
