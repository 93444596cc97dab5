"""``ps``: the process list, like crash's ``ps`` (a shipped plugin).

Columns as crash lays them out: ``>`` marks a task running on a CPU, then ``PID``, ``PPID``
(the real parent's thread-group id), ``CPU`` (the CPU it last ran on), ``TASK`` (the
``struct task_struct`` address), ``ST`` (crash's two-letter state: ``RU`` running, ``IN``
sleeping, ``UN`` uninterruptible, ``ID`` idle, ``ST`` stopped, ``TR`` traced, ``ZO``
zombie, ``DE`` dead, ``PA`` parked), ``%MEM`` (the resident pages as a share of
``totalram_pages``), ``VSZ`` and ``RSS`` (in KiB, as ``/proc/PID/stat``'s vsize and rss
count them: ``mm->total_vm`` and the file, anon and shmem counters of ``mm->rss_stat``;
0 for a task without ``mm``) and ``COMM`` (in brackets for kernel threads: tasks
with ``PF_KTHREAD`` in their flags, not merely without an ``mm`` as a zombie is). Each
CPU's idle task (PID 0) comes first, as in crash.

``ps PID...`` lists only those PIDs; ``--json`` gives a list of objects with ``pid``,
``ppid``, ``cpu``, ``task``, ``state`` (the letter ``/proc`` shows: ``R``, ``S``, ``D``,
``I``, ``T``, ``t``, ``Z``, ``X``, ``P``), ``mem`` (percent), ``vsz``, ``rss`` (KiB),
``comm``, ``kthread`` and ``active``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List

from kdbg.errors import MemberNotFoundError
from kdbg.helpers import for_each_task, task_cpu, task_on_cpu, task_state_to_char
from kdbg.ui.commands import CommandContext, argument, command

#: crash's state names for ``/proc``'s letters.
CRASH_STATES = {"R": "RU", "S": "IN", "D": "UN", "I": "ID", "T": "ST", "t": "TR", "Z": "ZO", "X": "DE",
                "P": "PA"}
#: ``include/linux/sched.h``: the task is a kernel thread (the same bit since Linux 2.6.x).
PF_KTHREAD = 0x00200000


def _rss_pages(mm: Any, counters: List[int]) -> int:
    """``get_mm_rss()``: the file, anon and shmem page counters (each read as the kernel's
    ``get_mm_counter`` does: an atomic before 6.2, a percpu_counter's total since)."""
    try:
        values = [int(mm.rss_stat.count[i].counter) for i in counters]
    except MemberNotFoundError:
        values = [int(mm.rss_stat[i].count) for i in counters]
    return sum(max(v, 0) for v in values)


def ps_rows(prog: Any) -> List[Dict[str, Any]]:
    """One dict per task (idle tasks first), the ``--json`` rows."""
    counters = [int(prog.constant(n)) for n in ("MM_FILEPAGES", "MM_ANONPAGES", "MM_SHMEMPAGES")]
    page_kib = 4  # x86-64: 4 KiB pages
    totalram = int(prog["_totalram_pages"].counter)
    rows = []
    for t in for_each_task(prog, idle=True):
        mm = t.mm.read_()
        vsz = int(mm.total_vm) * page_kib if int(mm) else 0
        rss = _rss_pages(mm, counters) * page_kib if int(mm) else 0
        rows.append({
            "pid": int(t.pid),
            "ppid": int(t.real_parent.tgid),
            "cpu": task_cpu(t),
            "task": int(t),
            "state": task_state_to_char(t),
            "mem": round(rss * 100 / (totalram * page_kib), 1) if totalram else 0.0,
            "vsz": vsz,
            "rss": rss,
            "comm": t.comm.string_().decode(errors="replace"),
            "kthread": bool(int(t.flags) & PF_KTHREAD),
            "active": task_on_cpu(t),
        })
    return rows


@command("ps", "list the tasks: pid, ppid, cpu, task address, state, comm (crash's ps)", arguments=[
    argument("pids", metavar="PID", type=int, nargs="*", help="only these PIDs"),
    argument("--json", action="store_true", help="a list of JSON objects"),
])
def ps(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print the process list."""
    rows = ps_rows(prog)
    if args.pids:
        wanted = set(args.pids)
        rows = [r for r in rows if r["pid"] in wanted]
    if ctx.json or args.json:
        ctx.out.write(json.dumps(rows) + "\n")
        return
    ctx.out.write("   PID    PPID  CPU       TASK        ST  %MEM      VSZ      RSS  COMM\n")
    for r in rows:
        comm = f"[{r['comm']}]" if r["kthread"] else r["comm"]
        mark = ">" if r["active"] else " "
        st = CRASH_STATES.get(r["state"], r["state"])
        ctx.out.write(f"{mark}{r['pid']:>6}  {r['ppid']:>6}  {r['cpu']:>3}  {r['task']:016x}  {st:<2}  "
                      f"{r['mem']:>4.1f}  {r['vsz']:>7}  {r['rss']:>7}  {comm}\n")
