"""``ps``: the process list, like crash's ``ps`` (a shipped plugin).

Columns as crash 8.0.2 lays them out: ``>`` marks a task running on a CPU, then ``PID``,
``PPID`` (the real parent's thread-group id), ``CPU`` (the CPU it last ran on), ``TASK``
(the ``struct task_struct`` address), ``ST`` (crash's two-letter state: ``RU`` running,
``IN`` sleeping, ``UN`` uninterruptible, ``ID`` idle, ``ST`` stopped, ``TR`` traced, ``ZO``
zombie, ``DE`` dead, ``PA`` parked), ``%MEM`` (the resident pages as a share of
``totalram_pages``), ``VSZ`` and ``RSS`` (in KiB, as ``/proc/PID/stat``'s vsize and rss
count them: ``mm->total_vm`` and the file, anon and shmem counters of ``mm->rss_stat``;
0 for a task without ``mm``) and ``COMM`` (in brackets for kernel threads: tasks
with ``PF_KTHREAD`` in their flags, not merely without an ``mm`` as a zombie is). Each
CPU's idle task (PID 0) comes first, as in crash.

Selection, as crash: ``ps PID|TASK|COMM|'pattern'...`` (a ``'pattern'`` in shell
wildcards), ``-k`` kernel threads, ``-u`` user tasks, ``-G`` thread-group leaders only,
``-A`` the active task of each CPU. Other views of the selected tasks: ``-S`` a count per
state, ``-p`` each task's parents from PID 0 down, ``-c`` its children, ``-t`` its run
time (``RUN TIME``, ``START TIME``, ``UTIME``, ``STIME``), ``-l`` the
``sched_info.last_arrival`` timestamp, newest first, ``-m`` the same as the time since then
on the task's runqueue clock (``[D HH:MM:SS.mmm]``).

``--json`` gives a list of objects with ``pid``, ``ppid``, ``cpu``, ``task``, ``state`` (the
letter ``/proc`` shows: ``R``, ``S``, ``D``, ``I``, ``T``, ``t``, ``Z``, ``X``, ``P``),
``mem`` (percent), ``vsz``, ``rss`` (KiB), ``comm``, ``kthread`` and ``active``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List, Optional

from kdbg.errors import ExpressionError, MemberNotFoundError
from kdbg.helpers import for_each_task, task_cpu, task_on_cpu, task_state_to_char
from kdbg.helpers.common import deref_if_pointer
from kdbg.helpers.sched import task_since_last_arrival_ns, thread_group_leader
from kdbg.helpers.timekeeping import ktime_get_boottime_seconds
from kdbg.ui.commands import CommandContext, argument, command
from kdbg.ui.commands.stack import active_tasks, header
from kdbg.ui.commands.system import crash_uptime
from kdbg.ui.commands.tasks import CRASH_STATES, is_kthread, select_tasks

#: crash 8.0.2's ``ps`` header.
HEADER = "      PID    PPID  CPU       TASK        ST  %MEM      VSZ      RSS  COMM"


def _rss_pages(mm: Any, counters: List[int]) -> int:
    """``get_mm_rss()``: the file, anon and shmem page counters (each read as the kernel's
    ``get_mm_counter`` does: an atomic before 6.2, a percpu_counter's total since)."""
    try:
        values = [int(mm.rss_stat.count[i].counter) for i in counters]
    except MemberNotFoundError:
        values = [int(mm.rss_stat[i].count) for i in counters]
    return sum(max(v, 0) for v in values)


def ps_rows(prog: Any, tasks: Optional[List[Any]] = None) -> List[Dict[str, Any]]:
    """One dict per task (default: every task, idle tasks first), the ``--json`` rows."""
    counters = [int(prog.constant(n)) for n in ("MM_FILEPAGES", "MM_ANONPAGES", "MM_SHMEMPAGES")]
    page_kib = 4  # x86-64: 4 KiB pages
    totalram = int(prog["_totalram_pages"].counter)
    rows = []
    for t in (tasks if tasks is not None else for_each_task(prog, idle=True)):
        t = deref_if_pointer(t).address_of_()
        mm = t.mm.read_()
        vsz = int(mm.total_vm) * page_kib if int(mm) else 0
        rss = _rss_pages(mm, counters) * page_kib if int(mm) else 0
        rows.append({
            "pid": int(t.pid),
            "ppid": int(t.real_parent.tgid) if int(t.pid) else 0,  # crash: an idle task's parent is 0
            "cpu": task_cpu(t),
            "task": int(t),
            "state": task_state_to_char(t),
            "mem": round(rss * 100 / (totalram * page_kib), 1) if totalram else 0.0,
            "vsz": vsz,
            "rss": rss,
            "comm": t.comm.string_().decode(errors="replace"),
            "kthread": is_kthread(t),
            "active": task_on_cpu(t),
        })
    return rows


def _comm(task: Any) -> str:
    return str(task.comm.string_().decode("utf-8", "replace"))


def _selected(prog: Any, args: argparse.Namespace) -> List[Any]:
    """The tasks the arguments select, in ``ps``'s order."""
    if args.active:  # in ps's order: by PID, the idle tasks by CPU
        tasks = sorted(active_tasks(prog), key=lambda t: (int(t.pid), task_cpu(t)))
    else:
        tasks = list(for_each_task(prog, idle=True))
    tasks = select_tasks(prog, tasks, args.targets, "ps")
    if args.kernel:
        tasks = [t for t in tasks if is_kthread(t)]
    if args.user:
        tasks = [t for t in tasks if not is_kthread(t)]
    if args.group:
        tasks = [t for t in tasks if int(t.pid) == 0 or thread_group_leader(t)]
    if args.targets and not tasks:
        raise ExpressionError(f"ps: no task matches {' '.join(args.targets)}")
    return tasks


def _parents(task: Any) -> List[Any]:
    """*task*'s ancestors from PID 0 down, and *task* last."""
    chain = [task]
    seen = {int(task)}
    while int(chain[-1].pid) != 0:
        parent = chain[-1].real_parent.read_()
        if int(parent) in seen:
            break
        seen.add(int(parent))
        chain.append(parent)
    return chain[::-1]


def _write_families(prog: Any, tasks: List[Any], ctx: CommandContext, parents: bool) -> None:
    if not parents:
        by_parent: Dict[int, List[Any]] = {}
        for t in for_each_task(prog, idle=True):
            if int(t.pid):
                by_parent.setdefault(int(t.real_parent), []).append(t)
    for t in tasks:
        if parents:
            for depth, a in enumerate(_parents(t)):
                ctx.out.write(" " * depth + header(a[0]) + "\n")
        else:
            ctx.out.write(header(t[0]) + "\n")
            kids = by_parent.get(int(t), [])
            for k in kids:
                ctx.out.write("  " + header(k[0]) + "\n")
            if not kids:
                ctx.out.write("  (no children)\n")
        ctx.out.write("\n")


def _write_times(prog: Any, tasks: List[Any], ctx: CommandContext) -> None:
    uptime = int(ktime_get_boottime_seconds(prog))
    for t in tasks:
        start = int(t.start_time)
        ctx.out.write(header(t[0]) + "\n")
        ctx.out.write(f"    RUN TIME: {crash_uptime(max(uptime - start // 1000000000, 0))}\n")
        ctx.out.write(f"  START TIME: {start}\n")
        ctx.out.write(f"       UTIME: {int(t.utime)}\n")
        ctx.out.write(f"       STIME: {int(t.stime)}\n\n")


def _since(ns: int) -> str:
    """crash's ``ps -m`` time: ``[D HH:MM:SS.mmm]``."""
    ms = max(ns, 0) // 1000000
    days, ms = divmod(ms, 86400000)
    hours, ms = divmod(ms, 3600000)
    minutes, ms = divmod(ms, 60000)
    return f"[{days} {hours:02d}:{minutes:02d}:{ms // 1000:02d}.{ms % 1000:03d}]"


def _write_last_run(tasks: List[Any], ctx: CommandContext, as_time: bool) -> None:
    rows = sorted(((int(t.sched_info.last_arrival), t) for t in tasks), key=lambda r: -r[0])
    width = max((len(str(a)) for a, _t in rows), default=1)  # crash right-aligns to the widest
    for arrival, t in rows:
        stamp = _since(task_since_last_arrival_ns(t)) if as_time else f"[{arrival:>{width}}]"
        ctx.out.write(f"{stamp} [{CRASH_STATES.get(task_state_to_char(t), '??')}]  {header(t[0])}\n")


def _write_summary(tasks: List[Any], ctx: CommandContext) -> None:
    counts: Dict[str, int] = {}
    for t in tasks:
        st = CRASH_STATES.get(task_state_to_char(t), task_state_to_char(t))
        counts[st] = counts.get(st, 0) + 1
    for st, n in counts.items():
        ctx.out.write(f"  {st}: {n}\n")


@command("ps", "list the tasks: pid, ppid, cpu, task address, state, comm (crash's ps)", arguments=[
    argument("targets", metavar="PID|TASK|COMM", nargs="*",
             help="only these tasks: PIDs, task addresses, command names or 'patterns'"),
    argument("-k", dest="kernel", action="store_true", help="kernel threads only"),
    argument("-u", dest="user", action="store_true", help="user tasks only"),
    argument("-G", dest="group", action="store_true", help="thread-group leaders only"),
    argument("-A", dest="active", action="store_true", help="the active task of each CPU"),
    argument("-S", dest="summary", action="store_true", help="the number of tasks in each state"),
    argument("-p", dest="parents", action="store_true", help="each task's parents, from PID 0 down"),
    argument("-c", dest="children", action="store_true", help="each task's children"),
    argument("-t", dest="times", action="store_true", help="run time, start time, user and system time"),
    argument("-l", dest="last", action="store_true", help="last run (sched_info.last_arrival), newest first"),
    argument("-m", dest="last_time", action="store_true", help="time since the last run, [D HH:MM:SS.mmm]"),
    argument("--json", action="store_true", help="a list of JSON objects"),
])
def ps(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print the process list."""
    if args.kernel and args.user:
        raise ExpressionError("ps: -k and -u exclude each other")
    views = [v for v in ("summary", "parents", "children", "times", "last", "last_time") if getattr(args, v)]
    if len(views) > 1:
        raise ExpressionError("ps: give one of -S, -p, -c, -t, -l, -m")
    tasks = _selected(prog, args)
    if args.summary:
        _write_summary(tasks, ctx)
    elif args.parents or args.children:
        _write_families(prog, tasks, ctx, args.parents)
    elif args.times:
        _write_times(prog, tasks, ctx)
    elif args.last or args.last_time:
        _write_last_run(tasks, ctx, args.last_time)
    else:
        rows = ps_rows(prog, tasks)
        if ctx.json or args.json:
            ctx.out.write(json.dumps(rows) + "\n")
            return
        ctx.out.write(HEADER + "\n")
        for r in rows:
            comm = f"[{r['comm']}]" if r["kthread"] else r["comm"]
            mark = ">" if r["active"] else " "
            st = CRASH_STATES.get(r["state"], r["state"])
            ctx.out.write(f"{mark}{r['pid']:>8}{r['ppid']:>8}{r['cpu']:>4}  {r['task']:016x}  {st:<2}  "
                          f"{r['mem']:>4.1f}{r['vsz']:>9}{r['rss']:>9}  {comm}\n")
