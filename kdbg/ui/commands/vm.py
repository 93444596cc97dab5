"""``vm``: a task's memory map, as crash's ``vm`` prints it.

``vm [PID|TASK ...]`` (default: the current context's task): crash's task line, the
``mm_struct``, its page directory, the resident set and the total size (``RSS``,
``TOTAL_VM``, KiB), then one line per VMA in address order
(:func:`kdbg.helpers.addrspace.for_each_vma`): its address, ``START``, ``END``, the
``vm_flags`` in hexadecimal and the mapped file's path.  A kernel thread has no ``mm``.
``--json``: the same as data, with each VMA's ``/proc/PID/maps`` name
(:func:`~kdbg.helpers.addrspace.vma_name`).  ``-m``: crash's task line, then the task's
whole ``mm_struct`` (drgn's format, as ``task`` prints a ``task_struct``; a kernel thread
has none).  ``-p``: after each VMA's line (under its own header, as crash), every page of
it translated as crash's ``vm -p``: the physical address it maps to (a huge page's frame
plus the offset), or its swap device and offset (a swap entry in the PTE), or the mapped
file and the offset in it (a file page not in the page tables), or ``(not mapped)``;
``-P VMA`` the same for one VMA (its ``vm_area_struct`` address).  The walk is the one of
``vtop`` (:func:`kdbg.helpers.addrspace.page_table_walk`), its last entry read by the
machine's rules (:func:`kdbg.helpers.addrspace.page_table_leaf`: x86-64's or arm64's
present, ``PROT_NONE`` and swap-entry bits, any granule and block size).
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, Iterator, List, Optional

from kdbg.errors import ExpressionError
from kdbg.helpers.addrspace import for_each_vma, page_table_leaf, page_table_walk, task_rss, vma_name
from kdbg.helpers.common import deref_if_pointer
from kdbg.helpers.fs import d_path
from kdbg.helpers.mm import memory_map
from kdbg.helpers.pid import resolve_task
from kdbg.helpers.swap import swap_file_path
from kdbg.ui.commands import CommandContext, argument, command
from kdbg.ui.commands.context import current_task
from kdbg.ui.commands.stack import header

__all__ = ["vm_cmd", "vm_data", "vma_pages"]

#: crash's ``UVADDR_PRLEN`` (the width of a user address column: 10 on x86-64 and arm64).
UVADDR_PRLEN = 10


def _swap_device(prog: Any, kind: int) -> str:
    """The path of swap device *kind* (``swap_info[kind]``), or crash's ``(unknown swap
    location)`` for a type beyond ``nr_swapfiles``."""
    if not 0 <= kind < int(prog["nr_swapfiles"]):
        return "(unknown swap location)"
    return swap_file_path(prog["swap_info"][kind]).decode("utf-8", "replace")


def vma_pages(prog: Any, mm: Any, vma: Dict[str, Any], vma_obj: Any) -> Iterator[Dict[str, Any]]:
    """What backs each page of one VMA (a :func:`vm_data` row and its ``struct
    vm_area_struct``), as crash's ``vm -p`` says: ``{"virtual", "physical"}`` for a page
    the page tables map (``PROTNONE`` too, as crash), ``{"virtual", "swap", "offset"}``
    for a swap entry, ``{"virtual", "file", "offset"}`` (bytes into the file) for a file
    page not in them, else ``{"virtual"}`` (not mapped).  A level that is not present
    answers for every page under it without another walk."""
    page = 1 << (int(prog["PAGE_SHIFT"]))
    start, end = vma["start"], vma["end"]
    pgoff = int(vma_obj.vm_pgoff) * page if vma["file"] else 0
    address = start
    while address < end:
        _pgd, entries = page_table_walk(prog, address, mm)
        shift, _at, entry = entries[-1]
        leaf = page_table_leaf(prog, shift, entry)
        stop = min(end, (address | (leaf.span - 1)) + 1)
        if leaf.physical is not None:
            for at in range(address, stop, page):
                yield {"virtual": at, "physical": leaf.physical + (at & (leaf.span - 1))}
            address = stop
            continue
        if leaf.swap is not None:
            kind, offset = leaf.swap
            yield {"virtual": address, "swap": _swap_device(prog, kind), "offset": offset}
            address += page
            continue
        for at in range(address, stop, page):
            if vma["file"]:
                yield {"virtual": at, "file": vma["file"], "offset": at - start + pgoff}
            else:
                yield {"virtual": at}
        address = stop


def _page_line(row: Dict[str, Any], width: int) -> str:
    """crash's line of one :func:`vma_pages` row."""
    where = f"{row['virtual']:<{UVADDR_PRLEN}x}  "
    if "physical" in row:
        return where + f"{row['physical']:>{width}x}"
    if "swap" in row:
        return where + f"SWAP: {row['swap']}  OFFSET: {row['offset']}"
    if "file" in row:
        return where + f"FILE: {row['file']}  OFFSET: {row['offset']:x}"
    return where + "(not mapped)"


def _paddr_width(prog: Any) -> int:
    """crash's ``PADDR_PRLEN`` (the digits of the top of physical memory: ``max_pfn``, or
    where a kernel neither lists nor exports it the exported ``high_memory``), at least
    ``PHYSICAL``'s eight."""
    mm = memory_map(prog)
    return max(len(f"{mm.max_pfn << mm.page_shift:x}"), len("PHYSICAL"))


def vm_data(prog: Any, task: Any, pages: bool = False, only: Optional[int] = None) -> Dict[str, Any]:
    """What ``vm`` shows of *task* (a ``struct task_struct``); ``pages``: each VMA's
    :func:`vma_pages` too; ``only``: just the VMA at that address."""
    kib = int(prog["PAGE_SIZE"]) // 1024
    mm = task.mm.read_()
    out: Dict[str, Any] = {"pid": int(task.pid), "task": int(task.address_of_()), "mm": int(mm)}
    if not int(mm):
        return {**out, "pgd": 0, "rss_kib": 0, "total_vm_kib": 0, "vmas": []}
    vmas = []
    for vma in for_each_vma(mm):
        if only is not None and int(vma) != only:
            continue
        f = vma.vm_file.read_()
        row = {"vma": int(vma), "start": int(vma.vm_start), "end": int(vma.vm_end),
               "flags": int(vma.vm_flags), "file": d_path(f.f_path).decode("utf-8", "replace") if int(f) else "",
               "name": vma_name(vma).decode("utf-8", "replace")}
        if pages:
            row["pages"] = list(vma_pages(prog, mm, row, vma))
        vmas.append(row)
    return {**out, "pgd": int(mm.pgd), "rss_kib": task_rss(prog, task).total * kib,
            "total_vm_kib": int(mm.total_vm) * kib, "vmas": vmas}


def vm_lines(prog: Any, task: Any, data: Dict[str, Any], pages: bool = False) -> List[str]:
    """crash's ``vm`` display of one :func:`vm_data` (``pages``: ``vm -p``'s, each VMA
    under its own header and followed by its pages, from the rows' ``pages``)."""
    w = 2 * prog.type("void *").sizeof()
    lines = [header(task), f"{'MM':^{w}}  {'PGD':^{w}}  {'RSS':^6}  {'TOTAL_VM':^8}",
             f"{data['mm']:{w}x}  {data['pgd']:{w}x}  {str(data['rss_kib']) + 'k':^6}  "
             f"{str(data['total_vm_kib']) + 'k':^8}"]
    if not data["mm"]:
        return lines
    vma_header = f"{'VMA':^{w}}    {'START':<12}{'END':<8}FLAGS FILE"
    if not pages:
        lines.append(vma_header)
    width = _paddr_width(prog) if pages else 0
    for v in data["vmas"]:
        if pages:
            lines.append(vma_header)
        lines.append(f"{v['vma']:{w}x} {v['start']:>10x} {v['end']:>10x} {v['flags']:x} {v['file']}")
        if pages:
            lines.append(f"{'VIRTUAL':<{UVADDR_PRLEN}}  {'PHYSICAL':<{width}}")
            lines += [_page_line(row, width) for row in v["pages"]]
    return lines


@command("vm", "a task's memory map, as crash's vm (-p: each page translated)", arguments=[
    argument("tasks", nargs="*", metavar="PID|TASK", help="tasks (default: the current context)"),
    argument("-m", dest="mm", action="store_true", help="the task's mm_struct"),
    argument("-p", dest="pages", action="store_true",
             help="translate each page: physical address, swap location, or file and offset"),
    argument("-P", dest="vma", metavar="VMA", help="as -p, for the one VMA at this vm_area_struct address"),
    argument("--json", action="store_true", help="the memory maps as JSON"),
])
def vm_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print tasks' memory maps (``-m``: their ``mm_struct``; ``-p``/``-P``: with pages)."""
    if sum((args.mm, args.pages, args.vma is not None)) > 1:
        raise ExpressionError("vm: -m, -p and -P exclude each other")
    only: Optional[int] = None
    if args.vma is not None:
        try:
            only = int(args.vma, 16)
        except ValueError:
            raise ExpressionError(f"vm -P: {args.vma!r} is not a hexadecimal vm_area_struct address") from None
    pages = args.pages or only is not None
    tasks = [deref_if_pointer(resolve_task(prog, w)) for w in args.tasks] or [current_task(prog, ctx)]
    if args.mm:
        blocks = []
        for t in tasks:
            mm = t.mm.read_()
            blocks.append(header(t) + ("\n" + deref_if_pointer(mm).format_() if int(mm) else ""))
        ctx.out.write("\n\n".join(blocks) + "\n")
        return
    data = [vm_data(prog, t, pages, only) for t in tasks]
    if only is not None and not any(d["vmas"] for d in data):
        raise ExpressionError(f"vm -P: {only:x} is no VMA of the task")
    if ctx.json or args.json:
        ctx.out.write(json.dumps(data) + "\n")
        return
    ctx.out.write("\n\n".join("\n".join(vm_lines(prog, t, d, pages)) for t, d in zip(tasks, data)) + "\n")
