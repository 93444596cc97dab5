"""``kmem -v``: crash's list of the vmalloc area's mappings.

Each busy ``struct vmap_area`` that has a ``vm_struct`` (the ones ``/proc/vmallocinfo``
lists without ``vm_map_ram``), by start address, as crash's ``dump_vmap_area`` prints
them: ``VMAP_AREA  VM_STRUCT  ADDRESS RANGE  SIZE``, the size being ``va_end - va_start``
(the guard page included, as ``/proc/vmallocinfo`` counts it). ``kmem -v ADDR`` keeps the
area that holds a kernel virtual address. The areas come from
:func:`kdbg.helpers.vmalloc.for_each_vmap_area`.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from kdbg.errors import KdbgError
from kdbg.helpers.vmalloc import for_each_vmap_area
from kdbg.ui.commands import centred

__all__ = ["VMALLOC_HEADER", "vmalloc_area_line", "vmalloc_rows"]

#: crash's header of ``kmem -v`` (64-bit addresses).
VMALLOC_HEADER = f"{centred('VMAP_AREA', 16, False)}  {centred('VM_STRUCT', 16, False)}  " \
                 f"{centred('ADDRESS RANGE', 35, False)}     SIZE"


def _caller(prog: Any, address: int) -> str:
    """The allocating function as ``/proc/vmallocinfo`` prints it (``%pS``:
    ``func+0xoff/0xsize``), the address in hex where no symbol holds it."""
    try:
        sym = prog.symbol(address)
    except (KdbgError, LookupError):
        return f"0x{address:x}"
    return f"{sym.name}+{address - sym.address:#x}/{sym.size or 0:#x}"


def vmalloc_rows(prog: Any, address: Optional[int] = None) -> List[Dict[str, Any]]:
    """Each busy vmap area with a ``vm_struct``, by start address: ``vmap_area``,
    ``vm_struct``, ``start``, ``end``, ``size`` and ``caller`` (``/proc/vmallocinfo``'s
    ``func+0xoff/0xsize``); with ``address`` only the one holding it."""
    rows: List[Dict[str, Any]] = []
    for va in for_each_vmap_area(prog):
        vm = int(va.vm)
        if not vm:
            continue
        start, end = int(va.va_start), int(va.va_end)
        if address is not None and not start <= address < end:
            continue
        rows.append({"vmap_area": int(va), "vm_struct": vm, "start": start, "end": end, "size": end - start,
                     "caller": _caller(prog, int(va.vm.caller))})
    rows.sort(key=lambda r: r["start"])
    return rows


def vmalloc_area_line(row: Dict[str, Any]) -> str:
    """One row of ``kmem -v`` as crash prints it."""
    return (f"{row['vmap_area']:016x}  {row['vm_struct']:016x}  {row['start']:016x} - {row['end']:016x}  "
            f"{row['size']:7d}")
