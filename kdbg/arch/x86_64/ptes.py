"""x86-64 page-table entries as crash shows them (``vtop``, ``pte``): what its
``x86_64_translate_pte`` prints of an entry and the walk's lines of its ``x86_64_kvtop``,
from the bits of :mod:`kdbg.arch.x86_64` (``PTE_PRESENT``, ``PHYS_MASK``,
:data:`~kdbg.arch.x86_64.PT_LEVEL_NAMES`, :func:`~kdbg.arch.x86_64.pte_flag_names`)."""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from kdbg.arch.layout import PteFields
from kdbg.arch.x86_64 import PHYS_MASK, PT_LEVEL_NAMES, PTE_PRESENT, PTE_PROTNONE, pte_flag_names, pte_swap_entry

__all__ = ["pte_fields", "level_names", "vtop_walk_lines"]


def pte_fields(entry: int, shift: Optional[int]) -> PteFields:
    """``entry`` as crash shows it: present (or ``PROT_NONE``) with its frame (the leaf's
    ``1 << shift`` bytes when ``shift`` is known, from ``vtop``), else a swap entry."""
    present = bool(entry & (PTE_PRESENT | PTE_PROTNONE))
    if not present and entry:
        return PteFields(False, None, pte_swap_entry(entry), pte_flag_names(entry, shift))
    span = 1 << shift if shift is not None else 1
    return PteFields(present, entry & PHYS_MASK & ~(span - 1), None, pte_flag_names(entry, shift))


def level_names(shifts: Sequence[int]) -> List[str]:
    """crash's names of a walk's levels: ``PUD``, ``PMD``, ``PTE`` by shift, the top (and
    a 5-level walk's ``P4D``) ``PGD``."""
    return [PT_LEVEL_NAMES.get(s, "PGD") for s in shifts]


def vtop_walk_lines(pgd_va: int, entries: Sequence[Tuple[int, int, int]], frame: int, span: int) -> List[str]:
    """crash's ``x86_64_kvtop`` lines of a walk ``[(shift, entry's physical address,
    entry)]`` of the tables at ``pgd_va`` that maps ``span`` bytes at ``frame``."""
    out = [f"PGD DIRECTORY: {pgd_va:x}"]
    for sh, at, entry in entries:
        if sh in PT_LEVEL_NAMES:
            out.append(f"   {PT_LEVEL_NAMES[sh]}: {at:x} => {entry:x}")
        else:
            out.append(f"PAGE DIRECTORY: {entry:x}")
    out.append(f"  PAGE: {frame:x}" + {1 << 21: "  (2MB)", 1 << 30: "  (1GB)"}.get(span, ""))
    return out
