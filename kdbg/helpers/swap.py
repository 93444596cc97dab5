"""Swap devices: drgn's ``drgn.helpers.linux.swap``.

Swap areas are ``swap_info[0 .. nr_swapfiles)`` with ``SWP_USED`` set; the totals are
``total_swap_pages`` and ``nr_swap_pages`` plus what a device being switched off
(``SWP_USED`` without ``SWP_WRITEOK``) still holds, as ``si_swapinfo()`` counts for
``/proc/meminfo``'s ``SwapTotal`` and ``SwapFree``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from kdbg.core.default import takes_program_or_default
from kdbg.core.object import Object
from kdbg.core.typeinfo import K_INT, type_info
from kdbg.errors import NotFoundError, ValidationError
from kdbg.helpers.common import first_global
from kdbg.helpers.fs import d_path
from kdbg.helpers.mm import PageUsage
from kdbg.helpers.vmstat import global_node_page_state

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = [
    "for_each_swap_info",
    "swap_file_path",
    "swap_is_file",
    "swap_total_usage",
    "swap_usage_in_pages",
    "total_swapcache_pages",
]

#: ``swap_usage_counter``'s bits that are not the count (6.12 and later: SWAP_USAGE_OFFLIST_BIT).
_SWAP_USAGE_COUNTER_MASK = 0xBFFFFFFFFFFFFFFF


@takes_program_or_default
def for_each_swap_info(prog: Program) -> Iterator[Object]:
    """Every swap device in use (``struct swap_info_struct *``)."""
    swap_info = prog["swap_info"]
    used = int(prog.constant("SWP_USED"))
    n = int(prog["nr_swapfiles"])
    if not 0 <= n <= len(swap_info):
        raise ValidationError(f"nr_swapfiles {n} is beyond swap_info[{len(swap_info)}]")
    for i in range(n):
        si = swap_info[i].read_()
        if int(si) and int(si.flags) & used:
            yield si


def swap_file_path(si: Object) -> bytes:
    """The path of the swap partition or file (``b'/dev/sda3'``)."""
    return d_path(si.swap_file.f_path)


def swap_is_file(si: Object) -> bool:
    """Whether the swap device is a regular file (not a block device)."""
    return not int(si.flags) & int(si.prog_.constant("SWP_BLKDEV"))


def swap_usage_in_pages(si: Object) -> int:
    """Pages in use on the swap device."""
    inuse = si.inuse_pages
    if type_info(inuse.type_).kind != K_INT:  # a kernel with an atomic_long_t counter
        return int(inuse.counter) & _SWAP_USAGE_COUNTER_MASK
    return int(inuse)


@takes_program_or_default
def swap_total_usage(prog: Program) -> PageUsage:
    """Swap pages in all, and free, over every device (``SwapTotal`` and ``SwapFree``)."""
    used = int(prog.constant("SWP_USED"))
    mask = used | int(prog.constant("SWP_WRITEOK"))
    going = sum(swap_usage_in_pages(si) for si in for_each_swap_info(prog) if int(si.flags) & mask == used)
    return PageUsage(pages=int(prog["total_swap_pages"]) + going,
                     free_pages=int(first_global(prog, ("nr_swap_pages",), "the free swap")[1].counter) + going)


@takes_program_or_default
def total_swapcache_pages(prog: Program) -> int:
    """Pages in the swap cache (swapped in, still on a swap device)."""
    try:
        item = prog.constant("NR_SWAPCACHE")  # 5.12 and later: a node statistic
    except NotFoundError:
        pass
    else:
        return global_node_page_state(prog, item)
    try:
        counts = prog["nr_swapper_spaces"]
    except NotFoundError:  # before 4.11: one address space per swap file
        return sum(int(space.nrpages) for space in prog["swapper_spaces"])
    spaces = prog["swapper_spaces"]
    total = 0
    for i in range(len(counts)):
        n = int(counts[i])
        if n:
            base = spaces[i].read_()
            total += sum(int(base[j].nrpages) for j in range(n))
    return total
