"""arm64 (AArch64) kernel virtual -> physical translation, from VMCOREINFO and
``swapper_pg_dir``.

What the kernel tells a dump reader (``arch/arm64/kernel/crash_core.c``):
``NUMBER(VA_BITS)`` (the configured VA size), ``NUMBER(TCR_EL1_T1SZ)`` (``64 -`` the VA
size the CPU runs with: 48-bit on a 52-bit kernel without LVA/LPA2 hardware),
``NUMBER(kimage_voffset)`` (kernel image virtual minus physical), ``NUMBER(PHYS_OFFSET)``
(``memstart_addr``, the physical address the linear map starts at; may be "negative" on a
52-bit kernel running with 48 bits), ``NUMBER(KERNELPACMASK)`` (the pointer-authentication
bits of a kernel return address), ``KERNELOFFSET`` (KASLR), ``PAGESIZE`` and
``NUMBER(MAX_PHYSMEM_BITS)``, and (>= 5.x) the region bounds ``NUMBER(VMALLOC_START)``,
``NUMBER(VMEMMAP_START)``, ``NUMBER(MODULES_VADDR)``.

Translation:

* The linear map: ``PAGE_OFFSET = -(1 << VA_BITS)`` on >= 5.4 (the kernel image lives in
  the upper half then), ``-(1 << (VA_BITS - 1))`` before (the image in the lower half);
  ``pa = va - PAGE_OFFSET + PHYS_OFFSET`` for ``pa`` inside dumped RAM (a fast path with no
  walk, the kernel's own ``__lm_to_phys``).
* Everything else (the kernel image, vmalloc, modules, vmemmap, fixmap) is walked through
  ``swapper_pg_dir`` (its physical address is ``__pa_symbol``: ``va - kimage_voffset``):
  4K, 16K and 64K granules (page size from ``PAGESIZE``, never from a kdump header),
  ``ARM64_HW_PGTABLE_LEVELS(VA_BITS)`` levels, table/block/page descriptors, and the
  52-bit output address encodings: FEAT_LPA with 64K pages (PA[51:48] in descriptor bits
  [15:12]) and FEAT_LPA2 with 4K/16K pages (PA[51:50] in bits [9:8]), chosen by
  ``MAX_PHYSMEM_BITS == 52``. Tag bits (TBI/MTE: bits 56-63 of a pointer) are not part of
  a kernel address: an address whose top byte is not all ones has them replaced before
  translation (:func:`untag`).

``layout`` gives the same three names the x86-64 translator gives, in the meaning the
helpers use them: ``page_offset_base`` is the virtual address of physical 0 in the linear
map (``PAGE_OFFSET - PHYS_OFFSET``, so ``va = pa + page_offset_base`` as on x86-64),
``vmalloc_base`` is ``VMALLOC_START`` and ``vmemmap_base`` the kernel's ``vmemmap``
(``struct page`` of pfn 0: ``VMEMMAP_START - (PHYS_OFFSET >> PAGE_SHIFT) *
sizeof(struct page)``).

Not done yet (issue 16): LPA2 kernels with a runtime-folded top level (6.9+ on hardware
without LPA2), ``TCR_EL1_T1SZ`` narrower than ``VA_BITS`` beyond the canonical check.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple

from kdbg.arch.layout import LayoutBase, PageTableLeaf, PageTableUnreadable
from kdbg.arch.translator import TCACHE_LIMIT, CachedTranslator
from kdbg.errors import CoreError, FaultError

if TYPE_CHECKING:  # pragma: no cover  (kdbg.memory imports this module: no cycle at run time)
    from kdbg.memory.vmcoreinfo import VMCoreInfo

__all__ = ["Arm64Translator", "arm64_parameters", "Arm64Parameters", "untag", "PAGE_SIZES", "text_link_address",
           "kernel_pac_mask", "vmcoreinfo_layout", "kernel_version", "PTE_PRESENT_INVALID", "PTE_PROT_NONE_OLD"]

#: The granules arm64 Linux supports.
PAGE_SIZES = (4096, 16384, 65536)
#: Descriptor bits.
DESC_VALID = 0x1
DESC_TABLE = 0x2
#: ``PTE_PRESENT_INVALID`` (6.10+: ``PTE_NG``, bit 11, "only when !PTE_VALID"): a
#: ``PROT_NONE`` entry, present to the kernel (``pte_present``), invalid to the MMU.
PTE_PRESENT_INVALID = 1 << 11
#: Before 6.10: ``PTE_PROT_NONE`` (bit 58) and, in a block entry, ``PMD_PRESENT_INVALID``
#: (bit 59), each "only when !PTE_VALID".
PTE_PROT_NONE_OLD = 1 << 58
PMD_PRESENT_INVALID_OLD = 1 << 59
#: The swap-entry layout of ``arch/arm64/include/asm/pgtable.h`` by kernel version:
#: ``(since (major, minor), type shift, type bits, offset shift)``; the offset is 50 bits.
SWAP_LAYOUTS = (((6, 10), 6, 5, 12), ((5, 19), 3, 5, 8), ((0, 0), 2, 6, 8))
#: ``sizeof(struct page)`` when VMCOREINFO does not say.
DEFAULT_PAGE_STRUCT_SIZE = 64
_U64 = (1 << 64) - 1


def kernel_version(vmci: VMCoreInfo) -> Tuple[int, int]:
    """``(major, minor)`` of the dumped kernel from VMCOREINFO's ``OSRELEASE`` (the layouts
    of swap and ``PROT_NONE`` entries follow it); the newest layout without one."""
    m = re.match(r"(\d+)\.(\d+)", vmci.get("OSRELEASE") or "")
    return (int(m.group(1)), int(m.group(2))) if m else (1 << 16, 0)


def untag(va: int) -> int:
    """``va`` with its top byte (TBI/MTE tag bits 56-63) set as a kernel address has it:
    all ones when bit 55 is set (the TTBR1 half), else all zeros."""
    if va >> 55 & 1:
        return va | 0xFF00000000000000
    return va & 0x00FFFFFFFFFFFFFF


def text_link_address(vmci: VMCoreInfo) -> Optional[int]:
    """Where ``_text`` is linked (``KIMAGE_VADDR``, which KASLR moves by ``KERNELOFFSET``):
    ``MODULES_END`` (VMCOREINFO's ``NUMBER(MODULES_END)``, >= 5.x), else, for a >= 5.4
    kernel without it, ``-(1 << (VA_BITS - 1)) + 128 MiB``; ``None`` without ``VA_BITS``."""
    if vmci.has_number("MODULES_END"):
        return vmci.number("MODULES_END") & _U64
    if vmci.has_number("VA_BITS"):
        return (_U64 - (1 << (min(vmci.number("VA_BITS"), 48) - 1)) + 1 + (128 << 20)) & _U64
    return None


@dataclasses.dataclass(frozen=True)
class Arm64Parameters:
    """What VMCOREINFO says about an arm64 kernel's address space, checked."""

    page_size: int
    va_bits: int
    va_bits_actual: int
    kimage_voffset: int
    phys_offset: int
    page_offset: int
    max_physmem_bits: int
    pac_mask: int
    kernel_offset: int
    pgd_va: int


def _signed(n: int) -> int:
    n &= _U64
    return n - (1 << 64) if n >> 63 else n


def kernel_pac_mask(vmci: VMCoreInfo) -> int:
    """The kernel's pointer-authentication mask, VMCOREINFO's ``NUMBER(KERNELPACMASK)`` (a
    dump's, or the note in a live ``/proc/kcore``); 0 without pointer authentication."""
    return vmci.number("KERNELPACMASK") & _U64 if vmci.has_number("KERNELPACMASK") else 0


def arm64_parameters(vmci: VMCoreInfo) -> Arm64Parameters:
    """Read and check the arm64 VMCOREINFO entries; ``CoreError`` naming the entry that is
    missing or contradicts another (``VA_BITS`` against ``TCR_EL1_T1SZ``)."""

    def number(name: str) -> int:
        if not vmci.has_number(name):
            raise CoreError(f"arm64 dump: VMCOREINFO has no NUMBER({name}); cannot translate addresses")
        return vmci.number(name)

    page_size = vmci.page_size if "PAGESIZE" in vmci else 0
    if page_size not in PAGE_SIZES:
        raise CoreError(f"arm64 dump: VMCOREINFO PAGESIZE={page_size} is not an arm64 granule (4K, 16K, 64K)")
    va_bits = number("VA_BITS")
    if va_bits not in (36, 39, 42, 47, 48, 52):
        raise CoreError(f"arm64 dump: VMCOREINFO NUMBER(VA_BITS)={va_bits} is not an arm64 VA size")
    va_actual = va_bits
    if vmci.has_number("TCR_EL1_T1SZ"):
        t1sz = vmci.number("TCR_EL1_T1SZ")
        va_actual = 64 - t1sz
        if not (va_actual == va_bits or (va_bits == 52 and va_actual == 48)):
            raise CoreError(
                f"arm64 dump: VMCOREINFO contradicts itself: NUMBER(VA_BITS)={va_bits} but "
                f"NUMBER(TCR_EL1_T1SZ)={t1sz} means {va_actual}-bit kernel addresses"
            )
    kimage_voffset = number("kimage_voffset") & _U64
    phys_offset = _signed(number("PHYS_OFFSET"))
    pmb = vmci.number("MAX_PHYSMEM_BITS") if vmci.has_number("MAX_PHYSMEM_BITS") else 48
    if pmb not in (48, 52):
        raise CoreError(f"arm64 dump: VMCOREINFO NUMBER(MAX_PHYSMEM_BITS)={pmb} is not 48 or 52")
    pac = kernel_pac_mask(vmci)
    koff = vmci.kerneloffset if "KERNELOFFSET" in vmci else 0
    if not vmci.has_symbol("swapper_pg_dir"):
        raise CoreError("arm64 dump: VMCOREINFO has no SYMBOL(swapper_pg_dir); cannot walk page tables")
    pgd_va = vmci.symbol("swapper_pg_dir")
    # >= 5.4 (52-bit VA rework) puts the linear map in the lower half of the kernel's
    # address space and the image in the upper one; before, the other way round.
    upper_half = _U64 - (1 << (va_bits - 1)) + 1
    if pgd_va >= upper_half:
        page_offset = (_U64 - (1 << va_bits) + 1) & _U64
    else:
        page_offset = upper_half
    return Arm64Parameters(page_size, va_bits, va_actual, kimage_voffset, phys_offset, page_offset, pmb, pac,
                           koff, pgd_va)


def vmcoreinfo_layout(vmci: VMCoreInfo, params: Optional[Arm64Parameters] = None,
                      lm_base: Optional[int] = None) -> Dict[str, LayoutBase]:
    """``{name: LayoutBase}`` of an arm64 kernel from its VMCOREINFO (a dump's, or the note
    of a live ``/proc/kcore``): ``page_offset_base`` (*lm_base*, by default ``PAGE_OFFSET -
    PHYS_OFFSET``), ``vmalloc_base`` (``VMALLOC_START``) and ``vmemmap_base`` (the ``struct
    page`` of pfn 0). ``CoreError`` as :func:`arm64_parameters` for entries missing or
    contradicting each other."""
    p = params if params is not None else arm64_parameters(vmci)
    src = "VMCOREINFO"
    base = (p.page_offset - p.phys_offset) & _U64 if lm_base is None else lm_base
    lay = {"page_offset_base": LayoutBase("page_offset_base", base, src)}
    vm = vmci.number("VMALLOC_START") & _U64 if vmci.has_number("VMALLOC_START") else None
    lay["vmalloc_base"] = LayoutBase("vmalloc_base", vm, src if vm is not None else "unknown")
    vmemmap: Optional[int] = None
    if vmci.has_number("VMEMMAP_START"):
        start = vmci.number("VMEMMAP_START") & _U64
        size = vmci.size("page") if "SIZE(page)" in vmci else DEFAULT_PAGE_STRUCT_SIZE
        vmemmap = (start - (p.phys_offset >> (p.page_size.bit_length() - 1)) * size) & _U64
    lay["vmemmap_base"] = LayoutBase("vmemmap_base", vmemmap, src if vmemmap is not None else "unknown")
    return lay


class Arm64Translator(CachedTranslator):
    """Translate arm64 kernel virtual addresses with a dump's VMCOREINFO and page tables
    (the interface of :class:`kdbg.arch.x86_64.X86_64Translator`)."""

    def __init__(
        self,
        read_phys: Callable[[int, int], bytes],
        vmcoreinfo: VMCoreInfo,
        phys_base_hint: Optional[int] = None,
        max_physical_address: Optional[int] = None,
    ) -> None:
        self._read_phys = read_phys
        self.vmcoreinfo = vmcoreinfo
        p = self.params = arm64_parameters(vmcoreinfo)
        self.page_size = p.page_size
        self.page_shift = p.page_size.bit_length() - 1
        self.va_bits = p.va_bits
        self.levels = (p.va_bits - 4) // (self.page_shift - 3)
        bits = self.page_shift - 3
        #: Shift of each level's index, top level first.
        self._shifts: List[int] = [self.page_shift + bits * i for i in range(self.levels - 1, -1, -1)]
        self._index_mask = [(1 << bits) - 1] * self.levels
        self._index_mask[0] = (1 << (p.va_bits - self._shifts[0])) - 1
        oa_mask = ((1 << 48) - 1) & ~(p.page_size - 1)
        self._lpa = p.max_physmem_bits == 52 and p.page_size == 65536
        self._lpa2 = p.max_physmem_bits == 52 and p.page_size != 65536
        if self._lpa2:
            oa_mask = ((1 << 50) - 1) & ~(p.page_size - 1)
        self._oa_mask = oa_mask
        #: Physical address the kernel image was loaded at, minus its link address (the
        #: x86-64 name; here ``-kimage_voffset`` relative to the KASLR-moved image).
        self.phys_base = (-p.kimage_voffset) & _U64
        self.tcache: Dict[int, int] = {}
        self._large: Dict[int, Tuple[int, int]] = {}
        self.max_physical_address = max_physical_address or 0
        self.pgd: int = self.pa_symbol(p.pgd_va)
        self._address_of: Optional[Callable[[str], Optional[int]]] = None
        self._layout: Optional[Dict[str, LayoutBase]] = None
        #: ``va = pa + lm_base`` in the linear map.
        self._lm_base = (p.page_offset - p.phys_offset) & _U64
        #: Kernel addresses are at or above this (the TTBR1 half the CPU translates).
        self._kernel_lo = (_U64 - (1 << p.va_bits_actual) + 1) & _U64
        self._version = kernel_version(vmcoreinfo)

    @property
    def pgd_va(self) -> int:
        """The virtual address of ``swapper_pg_dir`` (VMCOREINFO's)."""
        return self.params.pgd_va

    # -- the layout (the x86-64 translator's names) ------------------------------------------

    def attach_symbols(self, address_of: Callable[[str], Optional[int]]) -> None:
        """Keep the symbol lookup (arm64's bases come from VMCOREINFO: nothing changes)."""
        self._address_of = address_of

    @property
    def layout(self) -> Dict[str, LayoutBase]:
        """``{name: LayoutBase}`` for ``page_offset_base`` (virtual address of physical 0 in
        the linear map), ``vmalloc_base`` and ``vmemmap_base``, all from VMCOREINFO."""
        if self._layout is None:
            self._layout = vmcoreinfo_layout(self.vmcoreinfo, self.params, self._lm_base)
        return self._layout

    @property
    def layout_notes(self) -> List[str]:
        """Disagreements found while choosing the layout (none: VMCOREINFO is the source)."""
        return []

    @property
    def page_offset_base(self) -> Optional[int]:
        """Virtual address of physical address 0 in the linear map."""
        return self._lm_base

    def set_page_offset_base(self, value: int) -> None:
        """Tell the translator where physical 0 is in the linear map."""
        self._lm_base = value & _U64
        self._layout = None
        self.layout["page_offset_base"] = LayoutBase("page_offset_base", self._lm_base, "set by caller")
        self.tcache.clear()

    # -- translation ---------------------------------------------------------------------------

    def _linear(self, va: int) -> Optional[int]:
        pa = (va - self._lm_base) & _U64
        if self.params.phys_offset <= pa < self.max_physical_address and va >= self.params.page_offset:
            return pa
        return None

    def translate_page(self, va: int) -> int:
        """Physical base of the 4 KiB-aligned piece holding ``va`` (cached)."""
        va = untag(va)
        pa = self._linear(va)
        if pa is not None:
            pa &= ~0xFFF
        else:
            big = self._large.get(va >> 21)
            if big is not None:
                pa = big[0] | (va & 0x1FF000)
            else:
                pa = self._walk_and_cache(va)
        return self._cache_page(va, pa)

    def translate_run(self, va: int, size: int) -> Tuple[int, int]:
        """``(pa, n)``: ``va`` maps to ``pa`` and the next ``n`` bytes (``n <= size``) are
        physically contiguous."""
        va = untag(va)
        pa = self._linear(va)
        if pa is not None:
            return pa, min(size, self.max_physical_address - pa)
        pa, leaf = self._walk_leaf(va)
        return pa, min(size, leaf - (va & (leaf - 1)))

    def walk(self, va: int) -> int:
        """Translate ``va`` by walking ``swapper_pg_dir`` (no caches)."""
        return self._walk_leaf(untag(va))[0]

    def walk_root(self, root: int, va: int) -> Tuple[int, int]:
        """``(pa, page size)`` of ``va`` in the address space whose top-level table is at
        physical ``root`` (a process's ``mm->pgd``: user addresses through TTBR0)."""
        return self._walk_leaf(va, root)

    def walk_entries(self, va: int, root: Optional[int] = None) -> List[Tuple[int, int, int]]:
        """The walk of ``va`` level by level (in ``swapper_pg_dir``, or the tables at
        physical ``root``): ``(shift, physical address of the descriptor, descriptor)`` for
        each level read, top first (shift: the lowest address bit the level's index
        translates, ``PAGE_SHIFT`` for the last), up to the leaf or the first invalid
        descriptor. Not cached."""
        entries: List[Tuple[int, int, int]] = []
        try:
            self._walk_leaf(untag(va) if root is None else va, root, entries)
        except FaultError:
            if not entries:
                raise
        return entries

    def leaf(self, shift: int, entry: int) -> PageTableLeaf:
        """What the last descriptor of :meth:`walk_entries` maps (:class:`PageTableLeaf`):
        a valid page or block descriptor its output address; a ``PROT_NONE`` one
        (``pte_present`` but not valid: ``PTE_PRESENT_INVALID`` on 6.10+, ``PTE_PROT_NONE``
        or a block's ``PMD_PRESENT_INVALID`` before) too; a non-zero last-level one
        otherwise a swap entry (the layout of the dumped kernel's version,
        :data:`SWAP_LAYOUTS`); a table descriptor (the walk cut short) nothing."""
        span = 1 << shift
        last = shift == self.page_shift
        if entry & DESC_VALID:
            if last == bool(entry & DESC_TABLE):  # a page, or a block
                return PageTableLeaf(span, self._output(entry) & ~(span - 1), None)
            return PageTableLeaf(span, None, None)
        if self._version >= (6, 10):
            present = bool(entry & PTE_PRESENT_INVALID)
        else:
            present = bool(entry & (PTE_PROT_NONE_OLD if last else PTE_PROT_NONE_OLD | PMD_PRESENT_INVALID_OLD))
        if present:
            return PageTableLeaf(span, self._output(entry) & ~(span - 1), None)
        if last and entry:
            _since, type_shift, type_bits, offset_shift = next(x for x in SWAP_LAYOUTS if self._version >= x[0])
            swap = (entry >> type_shift & ((1 << type_bits) - 1), entry >> offset_shift & ((1 << 50) - 1))
            return PageTableLeaf(span, None, swap)
        return PageTableLeaf(span, None, None)

    # -- internals ----------------------------------------------------------------------------

    def _walk_and_cache(self, va: int) -> int:
        pa, leaf = self._walk_leaf(va)
        if leaf >= 1 << 21:
            large = self._large
            if len(large) >= TCACHE_LIMIT:
                large.clear()
            large[va >> 21] = (pa & ~((1 << 21) - 1), leaf)
        return pa & ~0xFFF

    def _output(self, desc: int) -> int:
        pa = desc & self._oa_mask
        if self._lpa:
            pa |= (desc >> 12 & 0xF) << 48
        elif self._lpa2:
            pa |= (desc >> 8 & 0x3) << 50
        return pa

    def _walk_leaf(self, va: int, root: Optional[int] = None,
                   trace: Optional[List[Tuple[int, int, int]]] = None) -> Tuple[int, int]:
        """``(pa, leaf size)`` of ``va`` from a page-table walk; ``FaultError`` if unmapped.
        ``trace`` collects each level's ``(shift, descriptor address, descriptor)``."""
        if not 0 <= va <= _U64:
            raise FaultError("address out of range", va & _U64)
        if root is None:
            if va < self._kernel_lo:
                raise FaultError("not a kernel address (below the TTBR1 range)", va)
            table = self.pgd
        else:
            if va >> self.params.va_bits_actual:
                raise FaultError("not a user address (above the TTBR0 range)", va)
            table = root
        last = self.levels - 1
        for level, shift in enumerate(self._shifts):
            index = (va >> shift) & self._index_mask[level]
            desc = self._entry(table, index, va)
            if trace is not None:
                trace.append((shift, table + index * 8, desc))
            if not desc & DESC_VALID:
                raise FaultError("address is not mapped", va)  # drgn's words
            if level == last:
                if not desc & DESC_TABLE:
                    raise FaultError("address not mapped (reserved page descriptor)", va)
                return self._output(desc) | (va & (self.page_size - 1)), self.page_size
            if not desc & DESC_TABLE:  # a block
                size = 1 << shift
                return (self._output(desc) & ~(size - 1)) | (va & (size - 1)), size
            table = self._output(desc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _entry(self, table: int, index: int, va: int) -> int:
        try:
            raw = self._read_phys(table + index * 8, 8)
        except FaultError as e:
            raise PageTableUnreadable(f"page table page {table:#x} is not readable ({e.args[0]})", va) from None
        return int.from_bytes(raw, "little")

    def pa_symbol(self, va: int) -> int:
        """``__pa_symbol``: a kernel-image address's physical address (``va -
        kimage_voffset``), only for symbols the kernel itself names."""
        return (va - self.params.kimage_voffset) & _U64
