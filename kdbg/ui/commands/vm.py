"""``vm``: a task's memory map, as crash's ``vm`` prints it.

``vm [PID|TASK ...]`` (default: the current context's task): crash's task line, the
``mm_struct``, its page directory, the resident set and the total size (``RSS``,
``TOTAL_VM``, KiB), then one line per VMA in address order
(:func:`kdbg.helpers.addrspace.for_each_vma`): its address, ``START``, ``END``, the
``vm_flags`` in hexadecimal and the mapped file's path.  A kernel thread has no ``mm``.
``--json``: the same as data, with each VMA's ``/proc/PID/maps`` name
(:func:`~kdbg.helpers.addrspace.vma_name`).  ``-m``: crash's task line, then the task's
whole ``mm_struct`` (drgn's format, as ``task`` prints a ``task_struct``; a kernel thread
has none).  ``-p`` (page translations) is not here yet.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List

from kdbg.errors import ExpressionError, KdbgError
from kdbg.helpers.addrspace import for_each_vma, task_rss, vma_name
from kdbg.helpers.common import deref_if_pointer
from kdbg.helpers.fs import d_path
from kdbg.helpers.pid import resolve_task
from kdbg.ui.commands import CommandContext, argument, command
from kdbg.ui.commands.context import current_task
from kdbg.ui.commands.stack import header

__all__ = ["vm_cmd", "vm_data"]


def vm_data(prog: Any, task: Any) -> Dict[str, Any]:
    """What ``vm`` shows of *task* (a ``struct task_struct``)."""
    kib = int(prog["PAGE_SIZE"]) // 1024
    mm = task.mm.read_()
    out: Dict[str, Any] = {"pid": int(task.pid), "task": int(task.address_of_()), "mm": int(mm)}
    if not int(mm):
        return {**out, "pgd": 0, "rss_kib": 0, "total_vm_kib": 0, "vmas": []}
    vmas = []
    for vma in for_each_vma(mm):
        f = vma.vm_file.read_()
        vmas.append({"vma": int(vma), "start": int(vma.vm_start), "end": int(vma.vm_end),
                     "flags": int(vma.vm_flags), "file": d_path(f.f_path).decode("utf-8", "replace") if int(f) else "",
                     "name": vma_name(vma).decode("utf-8", "replace")})
    return {**out, "pgd": int(mm.pgd), "rss_kib": task_rss(prog, task).total * kib,
            "total_vm_kib": int(mm.total_vm) * kib, "vmas": vmas}


def vm_lines(prog: Any, task: Any, data: Dict[str, Any]) -> List[str]:
    """crash's ``vm`` display of one :func:`vm_data`."""
    w = 2 * prog.type("void *").sizeof()
    lines = [header(task), f"{'MM':^{w}}  {'PGD':^{w}}  {'RSS':^6}  {'TOTAL_VM':^8}",
             f"{data['mm']:{w}x}  {data['pgd']:{w}x}  {str(data['rss_kib']) + 'k':^6}  "
             f"{str(data['total_vm_kib']) + 'k':^8}"]
    if not data["mm"]:
        return lines
    lines.append(f"{'VMA':^{w}}    {'START':<12}{'END':<8}FLAGS FILE")
    lines += [f"{v['vma']:{w}x} {v['start']:>10x} {v['end']:>10x} {v['flags']:x} {v['file']}" for v in data["vmas"]]
    return lines


@command("vm", "a task's memory map, as crash's vm", arguments=[
    argument("tasks", nargs="*", metavar="PID|TASK", help="tasks (default: the current context)"),
    argument("-m", dest="mm", action="store_true", help="the task's mm_struct"),
    argument("--json", action="store_true", help="the memory maps as JSON"),
])
def vm_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print tasks' memory maps (``-m``: their ``mm_struct``)."""
    try:
        tasks = [deref_if_pointer(resolve_task(prog, w)) for w in args.tasks] or [current_task(prog, ctx)]
        if args.mm:
            blocks = []
            for t in tasks:
                mm = t.mm.read_()
                blocks.append(header(t) + ("\n" + deref_if_pointer(mm).format_() if int(mm) else ""))
            ctx.out.write("\n\n".join(blocks) + "\n")
            return
        data = [vm_data(prog, t) for t in tasks]
    except KdbgError as e:
        raise ExpressionError(f"vm: {e}") from None
    if ctx.json or args.json:
        ctx.out.write(json.dumps(data) + "\n")
        return
    ctx.out.write("\n\n".join("\n".join(vm_lines(prog, t, d)) for t, d in zip(tasks, data, strict=True)) + "\n")
