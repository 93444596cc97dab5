"""HugeTLB pages: drgn's ``drgn.helpers.linux.hugetlb``.

Each huge page size is a ``struct hstate`` in ``hstates[0 .. hugetlb_max_hstate)``; its
``order`` is in base pages. Totals are in base pages, as ``/proc/meminfo``'s ``Hugetlb``
counts them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from kdbg.core.default import takes_program_or_default
from kdbg.core.object import Object
from kdbg.errors import NotFoundError, ValidationError
from kdbg.helpers.mm import PageUsage, memory_map

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["for_each_hstate", "huge_page_size", "hugetlb_total_pages", "hugetlb_total_usage"]

#: More huge page sizes than any kernel has: one per page order of a 64-bit address.
_MOST_HSTATES = 64


@takes_program_or_default
def for_each_hstate(prog: Program) -> Iterator[Object]:
    """Every HugeTLB page size (``struct hstate *``); none without ``CONFIG_HUGETLBFS``."""
    try:
        hstates = prog["hstates"]
    except NotFoundError:
        return iter(())
    n = int(prog["hugetlb_max_hstate"])
    # hstates[HUGE_MAX_HSTATE] is as long as the architecture makes it (x86-64: 2, arm64: 4),
    # and a declaration's length may be another architecture's; the kernel's own count
    # never passes its array's end (hugetlb_add_hstate), so it is the bound, within one
    # size per page order of a 64-bit address space against a corrupt dump
    if not 0 <= n <= _MOST_HSTATES:
        raise ValidationError(f"hugetlb_max_hstate {n} is beyond any hstates[] (at most {_MOST_HSTATES})")
    first = hstates[0].address_of_()
    return (first + i for i in range(n))


def huge_page_size(hstate: Object) -> Object:
    """The size in bytes of the hstate's pages (``unsigned long``)."""
    prog = hstate.prog_
    return Object(prog, "unsigned long", 1 << (memory_map(prog).page_shift + int(hstate.order)))


@takes_program_or_default
def hugetlb_total_pages(prog: Program) -> int:
    """HugeTLB pages in all, in base pages."""
    return sum(int(h.nr_huge_pages) << int(h.order) for h in for_each_hstate(prog))


@takes_program_or_default
def hugetlb_total_usage(prog: Program) -> PageUsage:
    """HugeTLB pages in all and free, in base pages."""
    pages = free = 0
    for h in for_each_hstate(prog):
        order = int(h.order)
        pages += int(h.nr_huge_pages) << order
        free += int(h.free_huge_pages) << order
    return PageUsage(pages=pages, free_pages=free)
