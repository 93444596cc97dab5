"""``kmem ADDR``: what an address is, as crash's ``kmem_search`` prints it.

In crash's order, each part followed by an empty line:

* the symbol holding it (``ffffffff82613940 (D) init_task+16``, ``[MODULE]`` for a
  module's; crash adds the source line from DWARF, which kdbg has not);
* in the vmalloc area: the task whose (vmap'ed) kernel stack holds it (crash's context
  lines, as ``set`` prints them), then its ``kmem -v`` row, then the page it maps to;
* in a slab: the cache's ``kmem -s`` row, the slab (``SLAB MEMORY NODE TOTAL ALLOCATED
  FREE``) and the object holding the address, ``[ADDR]`` when allocated, `` ADDR `` when
  free (``(cpu N cache)`` on a CPU's lockless freelist);
* in a free buddy block: the zone, free list and block holding the page
  (:func:`kdbg.ui.commands.kmem_free.free_block`);
* the task whose ``task_struct`` or kernel stack holds it;
* the page: its ``kmem -p`` row (the page itself when the address is a ``struct page`` of
  the memory map), or crash's ``ADDR: kernel virtual address not found in mem map``.

The parts come from :mod:`kdbg.helpers.identify` (tasks and stacks),
:func:`kdbg.helpers.slab.slab_state` and the other ``kmem`` modules' rows.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from kdbg.core.object import Object
from kdbg.errors import KdbgError
from kdbg.helpers.identify import IdentifiedTaskStack, IdentifiedTaskStruct, identify_address_all
from kdbg.helpers.mm import in_direct_map, memory_map
from kdbg.helpers.slab import slab_object_info, slab_state
from kdbg.ui.commands import CommandContext
from kdbg.ui.commands.kmem_free import free_block, free_block_lines
from kdbg.ui.commands.kmem_pages import page_header, page_line, page_of_address, page_rows
from kdbg.ui.commands.kmem_slabs import SLAB_CACHE_HEADER, slab_cache_line, slab_cache_row
from kdbg.ui.commands.kmem_vmalloc import VMALLOC_HEADER, vmalloc_area_line, vmalloc_rows
from kdbg.ui.commands.settings import task_context_lines

__all__ = ["kmem_search", "search_address"]

#: Below it an address is no kernel virtual address: crash takes it as physical.
_KERNEL_START = 0xFFFF800000000000
_SLAB_HEADER = "  SLAB              MEMORY            NODE  TOTAL  ALLOCATED  FREE"


def _symbol(prog: Any, address: int) -> Optional[Dict[str, Any]]:
    try:
        sym = prog.symbol(address)
    except (KdbgError, LookupError):
        return None
    return {"address": address, "type": sym.type, "name": sym.name, "offset": address - sym.address,
            "module": sym.module}


def _physical(prog: Any, address: int) -> Optional[int]:
    """The physical address of a kernel virtual address (``None``: not mapped)."""
    try:
        return int(prog.memory.translate(address))
    except (KdbgError, LookupError, ValueError):
        return None


def _task(prog: Any, address: int, stack_only: bool) -> Optional[Any]:
    """The task whose ``task_struct`` (unless *stack_only*) or stack holds *address*."""
    try:
        for found in identify_address_all(prog, address):
            if isinstance(found, IdentifiedTaskStack) or (isinstance(found, IdentifiedTaskStruct) and not stack_only):
                return found.task[0]
    except (KdbgError, LookupError):
        return None
    return None


def _slab(prog: Any, address: int, whole: bool = False) -> Optional[Dict[str, Any]]:
    """The slab object holding a direct-map *address* (``whole``: every object of the
    slab whose ``struct page`` it is, crash's answer for a slab page)."""
    info = slab_object_info(prog, address)
    if info is None:
        return None
    state = slab_state(info.slab_cache, info.slab)
    start = state.first + (address - state.first) // state.size * state.size
    starts = [state.first + i * state.size for i in range(state.objects)] if whole else [start]
    objects = [{"address": a, "free": a in state.free, "cpu": state.cpu if a in state.free else None} for a in starts]
    return {"cache": slab_cache_row(prog, info.slab_cache), "slab": int(info.slab), "memory": state.memory,
            "node": 0, "total": state.objects, "allocated": state.inuse, "free": state.objects - state.inuse,
            "objects": objects}


def _is_slab_page(prog: Any, page: int) -> Optional[Dict[str, Any]]:
    """The whole slab whose head ``struct page`` is *page*, if it is one."""
    mm = memory_map(prog)
    pfn = (page - mm.vmemmap) // mm.sizeof_page
    slab = _slab(prog, mm.page_offset_base + (pfn << mm.page_shift), whole=True)
    return slab if slab is not None and slab["slab"] == page else None


def search_address(prog: Any, address: int) -> Dict[str, Any]:
    """What ``kmem ADDR`` finds: ``symbol``, ``vmalloc`` (its ``kmem -v`` row), ``slab``,
    ``free`` (the free buddy block holding its page, :func:`free_block`), ``task`` (the
    ``task_struct`` address whose structure or stack holds it) and ``page``
    (its ``kmem -p`` row), each ``None`` when not found; ``physical`` when the address is
    no kernel virtual address (crash then takes it as a physical one)."""
    mm = memory_map(prog)
    physical = address < _KERNEL_START
    found: Dict[str, Any] = {"address": address, "physical": physical, "symbol": None, "vmalloc": None,
                             "slab": None, "free": None, "task": None, "page": None}
    pfn: Optional[int]
    vaddr = mm.page_offset_base + address if physical else address
    task = None
    if physical and not in_direct_map(prog, vaddr):
        pfn = None
    elif in_direct_map(prog, vaddr):
        found["slab"] = _slab(prog, vaddr)
        task = _task(prog, vaddr, stack_only=False)
        pfn = page_of_address(prog, vaddr)
    elif mm.vmemmap <= address < mm.page_address(mm.max_pfn) and not (address - mm.vmemmap) % mm.sizeof_page:
        found["slab"] = _is_slab_page(prog, address)
        pfn = page_of_address(prog, address)
    else:
        found["symbol"] = _symbol(prog, address)
        areas = vmalloc_rows(prog, address)
        found["vmalloc"] = areas[0] if areas else None
        # a vmap'ed stack, or init_task and init_stack in the kernel image
        task = _task(prog, address, stack_only=bool(areas)) if areas or found["symbol"] else None
        phys = _physical(prog, address)
        pfn = page_of_address(prog, phys) if phys is not None else None
    found["task"] = int(task.address_of_()) if task is not None else None
    if pfn is not None:
        found["page"] = next(iter(page_rows(prog, pfn)))
        if found["vmalloc"] is None:  # crash goes from a vmalloc area straight to the page
            found["free"] = free_block(prog, pfn)
    return found


def _lines(prog: Any, found: Dict[str, Any]) -> List[str]:
    out: List[str] = []
    sym = found["symbol"]
    if sym is not None:
        off = f"+{sym['offset']}" if sym["offset"] else ""
        mod = f" [{sym['module']}]" if sym["module"] else ""
        out += [f"{sym['address']:x} ({sym['type']}) {sym['name']}{off}{mod}", ""]
    task = Object(prog, "struct task_struct", address=found["task"]) if found["task"] is not None else None
    if found["vmalloc"] is not None:
        if task is not None:
            out += [*task_context_lines(prog, task), ""]
        out += [VMALLOC_HEADER, vmalloc_area_line(found["vmalloc"]), ""]
    slab = found["slab"]
    if slab is not None:
        out += [SLAB_CACHE_HEADER, slab_cache_line(slab["cache"]), _SLAB_HEADER,
                f"  {slab['slab']:<16x}  {slab['memory']:<16x}  {slab['node']:4d}  {slab['total']:5d}  "
                f"{slab['allocated']:9d}  {slab['free']:4d}", "  FREE / [ALLOCATED]"]
        for o in slab["objects"]:
            line = f"   {o['address']:x}  " if o["free"] else f"  [{o['address']:x}]"
            out.append(line + (f"(cpu {o['cpu']} cache)" if o["cpu"] is not None else ""))
        out.append("")
    if found["free"] is not None:
        out += [*free_block_lines(prog, found["free"], found["address"], found["physical"]), ""]
    if task is not None and found["vmalloc"] is None:
        out += [*task_context_lines(prog, task), ""]
    if found["page"] is not None:
        out += [page_header(prog), page_line(prog, found["page"])]
    else:
        kind = "physical" if found["physical"] else "kernel virtual"
        out.append(f"{found['address']:x}: {kind} address not found in mem map")
    return out


def kmem_search(prog: Any, ctx: CommandContext, addresses: List[int], as_json: bool) -> None:
    """crash's ``kmem ADDR...`` (``--json``: :func:`search_address`'s findings)."""
    found = [search_address(prog, a) for a in addresses]
    if as_json:
        ctx.out.write(json.dumps(found) + "\n")
        return
    ctx.out.write("\n\n".join("\n".join(_lines(prog, f)) for f in found) + "\n")
