"""arm64 page-table entries as crash shows them (``vtop``, ``pte``): crash's names of the
levels and of an entry's bits, and the walk's lines of ``arm64_vtop_*level_*k``.

The bits are the kernel's (``arch/arm64/include/asm/pgtable-hwdef.h`` and
``pgtable-prot.h``, the same in Debian's 6.1, 6.12 and 7.2 headers, except where said),
the names crash's ``arm64_translate_pte`` prints, in its order, with ``CONT`` (not named
by crash) where its bit falls. ``PROT_NONE``: ``PTE_PROT_NONE`` (bit 58) before 6.10,
``PTE_PRESENT_INVALID`` (``PTE_NG``, bit 11) from 6.10, each only in an entry that is not
``PTE_VALID`` (:mod:`kdbg.arch.arm64.translate` reads such an entry's frame and a swap
entry's type and offset by the dumped kernel's version). With FEAT_LPA2 bits 8-9 hold
PA[51:50] (the kernel's ``PTE_MAYBE_SHARED`` is 0 then): no ``SHARED``.
"""

from __future__ import annotations

from typing import Callable, List, Sequence, Tuple

from kdbg.arch.arm64.translate import PTE_PRESENT_INVALID, PTE_PROT_NONE_OLD, Arm64Parameters
from kdbg.arch.layout import PageTableLeaf, PteFields

__all__ = ["PTE_FLAG_NAMES", "pte_fields", "level_names", "vtop_walk_lines"]

PTE_VALID = 1 << 0
PTE_USER = 1 << 6
PTE_RDONLY = 1 << 7
PTE_SHARED = 3 << 8
PTE_AF = 1 << 10
PTE_NG = 1 << 11
PTE_CONT = 1 << 52
PTE_PXN = 1 << 53
PTE_UXN = 1 << 54
PTE_DIRTY = 1 << 55
PTE_SPECIAL = 1 << 56
#: crash's names of the bits after ``VALID`` and ``PROT_NONE``, in its order.
PTE_FLAG_NAMES = ((PTE_USER, "USER"), (PTE_RDONLY, "RDONLY"), (PTE_SHARED, "SHARED"), (PTE_AF, "AF"),
                  (PTE_NG, "NG"), (PTE_CONT, "CONT"), (PTE_PXN, "PXN"), (PTE_UXN, "UXN"), (PTE_DIRTY, "DIRTY"),
                  (PTE_SPECIAL, "SPECIAL"))
#: The kernel's names of the levels below the top one (``PGD``), from the bottom.
LEVEL_NAMES = ("PTE", "PMD", "PUD", "P4D")


def _prot_none(entry: int, version: Tuple[int, int]) -> bool:
    if entry & PTE_VALID:
        return False
    return bool(entry & (PTE_PRESENT_INVALID if version >= (6, 10) else PTE_PROT_NONE_OLD))


def pte_fields(p: Arm64Parameters, version: Tuple[int, int], entry: int, leaf: PageTableLeaf) -> PteFields:
    """``entry`` (the last entry of a walk; ``leaf`` what the translator reads in it) as
    crash shows it, on the kernel of parameters ``p`` and ``version``."""
    prot_none = _prot_none(entry, version)
    present = bool(entry & PTE_VALID) or prot_none
    names: List[str] = []
    if entry & PTE_VALID:
        names.append("VALID")
    if prot_none:
        names.append("PROT_NONE")
    lpa2 = p.max_physmem_bits == 52 and p.page_size != 65536
    for bit, name in PTE_FLAG_NAMES:
        if not entry & bit or (name == "SHARED" and lpa2) or (name == "NG" and prot_none and version >= (6, 10)):
            continue
        names.append(name)
    physical = leaf.physical if present else None
    return PteFields(present, physical, None if present else leaf.swap, names)


def level_names(page_shift: int, shifts: Sequence[int]) -> List[str]:
    """The names of the levels of a walk whose entries translate address bits from
    ``shifts`` (top first): ``PGD`` for the top, then ``P4D``, ``PUD``, ``PMD``, ``PTE``
    counted from the bottom, as the kernel folds them (crash's 2- to 4-level names)."""
    return ["PGD" if i == 0 else LEVEL_NAMES[(s - page_shift) // (page_shift - 3)] for i, s in enumerate(shifts)]


def _size(span: int) -> str:
    return f"{span >> 30}GB" if span >= 1 << 30 else f"{span >> 20}MB"


def vtop_walk_lines(p: Arm64Parameters, pgd_va: int, entries: Sequence[Tuple[int, int, int]], frame: int,
                    span: int, ptov: Callable[[int], int]) -> List[str]:
    """crash's ``arm64_vtop_*`` lines of a walk ``[(shift, entry's physical address,
    entry)]`` of the tables at ``pgd_va`` that maps ``span`` bytes at ``frame``: the
    directory, each level's entry at its virtual address (the top one in the table at
    ``pgd_va``, ``PGD_SIZE`` aligned, the others in the linear map, ``ptov``), the page (a
    block's size)."""
    page_shift = p.page_size.bit_length() - 1
    names = level_names(page_shift, [s for s, _a, _e in entries])
    out = [f"PAGE DIRECTORY: {pgd_va:x}"]
    pgd_size = 8 << (p.va_bits - entries[0][0]) if entries else 0
    for i, (_s, at, entry) in enumerate(entries):
        name = names[i]
        va = pgd_va + (at & (pgd_size - 1)) if i == 0 else ptov(at)
        out.append(f"   {name}: {va:x} => {entry:x}")
    out.append(f"  PAGE: {frame:x}  " + ("" if span == 1 << page_shift else f"({_size(span)})"))
    return out

