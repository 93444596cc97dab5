"""``runq``: each CPU's run queue, as crash's ``runq`` prints it.

``runq``: for every CPU its ``struct rq``, the task running on it, the real-time tasks
queued by priority (``rt.active``) and the fair-class tasks in virtual-runtime order (the
``cfs.tasks_timeline`` red-black tree, descending into task groups' queues), each as
``[PRIO] PID: ... TASK: ... COMMAND: "..."``. ``runq -t``: each CPU's ``rq->clock`` and
the ``sched_info.last_arrival`` of the task on it, padded to the clock's digits, as crash.
``runq -m``: how long the task on each CPU has run (``rq->clock`` less its last arrival)
as crash's ``[days hh:mm:ss.mmm]``.  ``runq -g``: the queues by task group
(:mod:`kdbg.ui.commands.runq_groups`).
``--json`` gives the queues as data. CPUs are the possible ones (a CPU a panic stopped is
still listed, as crash lists it).
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, Iterator, List

from kdbg.core.conversions import container_of
from kdbg.errors import ExpressionError, KdbgError
from kdbg.helpers.cpumask import for_each_possible_cpu
from kdbg.helpers.list import list_for_each_entry
from kdbg.helpers.percpu import per_cpu
from kdbg.helpers.rbtree import rbtree_inorder_for_each_entry
from kdbg.ui.commands import CommandContext, argument, command
from kdbg.ui.commands.runq_groups import runq_group_lines

__all__ = ["runq_cmd"]


def _task_line(task: Any) -> str:
    comm = task.comm.string_().decode("utf-8", "replace")
    return f'PID: {int(task.pid):<5d}  TASK: {int(task.address_of_()):x}  COMMAND: "{comm}"'


def _rt_tasks(rq: Any) -> Iterator[Any]:
    """The RT tasks queued on ``rq``, highest priority first (task entities only)."""
    active = rq.rt.active
    for prio in range(len(active.queue)):
        for rt_se in list_for_each_entry("struct sched_rt_entity", active.queue[prio].address_of_(), "run_list"):
            yield container_of(rt_se, "struct task_struct", "rt")[0]


def _cfs_tasks(cfs_rq: Any) -> Iterator[Any]:
    """The fair-class tasks queued on ``cfs_rq`` in vruntime order, groups' tasks in place."""
    for se in rbtree_inorder_for_each_entry("struct sched_entity", cfs_rq.tasks_timeline.rb_root.address_of_(),
                                            "run_node"):
        if se.type_.type.has_member("my_q") and int(se.my_q):  # type: ignore[attr-defined]
            yield from _cfs_tasks(se.my_q)
        else:
            yield container_of(se, "struct task_struct", "se")[0]


def _elapsed(ns: int) -> str:
    """crash's ``translate_nanoseconds``: ``days hh:mm:ss.mmm`` (milliseconds cut)."""
    ms = max(ns, 0) // 1_000_000
    s, ms = divmod(ms, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    d, h = divmod(h, 24)
    return f"{d} {h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _queue_lines(tasks: List[Any]) -> List[str]:
    if not tasks:
        return ["     [no tasks queued]"]
    return [f"     [{int(t.prio):3d}] {_task_line(t)}" for t in tasks]


@command("runq", "each CPU's run queue, as crash's runq", arguments=[
    argument("-t", dest="timestamps", action="store_true",
             help="each CPU's clock and the last arrival of the task on it"),
    argument("-m", dest="milliseconds", action="store_true",
             help="how long the task on each CPU has run, [days hh:mm:ss.mmm]"),
    argument("-g", dest="groups", action="store_true", help="the queues by task group"),
    argument("--json", action="store_true", help="the queues as JSON"),
])
def runq_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print the run queues."""
    if sum((args.timestamps, args.milliseconds, args.groups)) > 1:
        raise ExpressionError("runq: -t, -m and -g exclude each other")
    if args.groups:
        try:
            groups = runq_group_lines(prog)
        except (KdbgError, ValueError) as e:
            raise ExpressionError(f"runq -g: {e}") from None
        if ctx.json or args.json:
            ctx.out.write(json.dumps([{"cpu": int(b[0].split()[1]), "lines": b} for b in groups]) + "\n")
        else:
            ctx.out.write("\n\n".join("\n".join(b) for b in groups) + "\n")
        return
    runqueues = prog["runqueues"]
    blocks: List[List[str]] = []
    rows: List[Dict[str, Any]] = []
    for cpu in for_each_possible_cpu(prog):
        rq = per_cpu(runqueues, cpu)
        curr = rq.curr[0]
        if args.milliseconds:
            ran = int(rq.clock) - int(curr.sched_info.last_arrival)
            blocks.append([f" CPU {cpu}: [{_elapsed(ran)}]  {_task_line(curr)}"])
            rows.append({"cpu": cpu, "pid": int(curr.pid), "task": int(curr.address_of_()), "ran_ns": ran})
            continue
        if args.timestamps:
            clock = str(int(rq.clock))
            last = int(curr.sched_info.last_arrival)
            blocks.append([f" CPU {cpu}: {clock}", f"        {last:0{len(clock)}d}  {_task_line(curr)}"])
            rows.append({"cpu": cpu, "clock": int(clock), "pid": int(curr.pid), "last_arrival": last})
            continue
        rt, cfs = list(_rt_tasks(rq)), list(_cfs_tasks(rq.cfs))
        rows.append({"cpu": cpu, "rq": int(rq.address_of_()), "current": int(curr.address_of_()),
                     "rt": [int(t.address_of_()) for t in rt], "cfs": [int(t.address_of_()) for t in cfs]})
        blocks.append([f"CPU {cpu} RUNQUEUE: {int(rq.address_of_()):x}", f"  CURRENT: {_task_line(curr)}",
                       f"  RT PRIO_ARRAY: {int(rq.rt.active.address_of_()):x}", *_queue_lines(rt),
                       f"  CFS RB_ROOT: {int(rq.cfs.tasks_timeline.address_of_()):x}", *_queue_lines(cfs)])
    if ctx.json or args.json:
        ctx.out.write(json.dumps(rows) + "\n")
        return
    sep = "\n" if args.timestamps or args.milliseconds else "\n\n"
    ctx.out.write(sep.join("\n".join(b) for b in blocks) + "\n")
