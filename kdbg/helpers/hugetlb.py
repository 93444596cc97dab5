"""HugeTLB pages: drgn's ``drgn.helpers.linux.hugetlb``.

Each huge page size is a ``struct hstate`` in ``hstates[0 .. hugetlb_max_hstate)``; its
``order`` is in base pages. Totals are in base pages, as ``/proc/meminfo``'s ``Hugetlb``
counts them.

A kernel without HugeTLB (``CONFIG_HUGETLB_PAGE=n``: its BTF's ``struct hstate``, if any,
is the empty stand-in of ``<linux/hugetlb.h>``, and kallsyms has no ``hugetlb_total_pages``)
has no huge page sizes. A kernel with HugeTLB whose ``hstates`` or ``hugetlb_max_hstate``
cannot be found (a kallsyms without ``CONFIG_KALLSYMS_ALL`` whose code did not single them
out) cannot tell: an :class:`~kdbg.errors.ObjectNotFoundError` says which global and why,
never zero pages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from kdbg.core.default import takes_program_or_default
from kdbg.core.object import Object
from kdbg.errors import ValidationError
from kdbg.helpers.common import first_global, has_member
from kdbg.helpers.mm import PageUsage, memory_map

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["for_each_hstate", "huge_page_size", "hugetlb_total_pages", "hugetlb_total_usage"]

#: More huge page sizes than any kernel has: one per page order of a 64-bit address.
_MOST_HSTATES = 64


def has_hugetlb(prog: Program) -> bool:
    """Whether the kernel was built with HugeTLB: BTF's ``struct hstate`` has its members
    (without ``CONFIG_HUGETLB_PAGE`` it is ``struct hstate {}``), or kallsyms lists
    ``hugetlb_total_pages`` (mm/hugetlb.c's)."""
    return has_member(prog, "struct hstate", "order") or "hugetlb_total_pages" in prog.symbol_table


@takes_program_or_default
def for_each_hstate(prog: Program) -> Iterator[Object]:
    """Every HugeTLB page size (``struct hstate *``); none without HugeTLB
    (:func:`has_hugetlb`); an :class:`~kdbg.errors.ObjectNotFoundError` when the kernel
    has HugeTLB but ``hstates`` or ``hugetlb_max_hstate`` cannot be found."""
    if not has_hugetlb(prog):
        return iter(())
    _n, hstates = first_global(prog, ("hstates",), "the HugeTLB pages")
    n = int(first_global(prog, ("hugetlb_max_hstate",), "the HugeTLB pages")[1])
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
