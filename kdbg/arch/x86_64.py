"""x86-64 kernel virtual -> physical translation.

* Kernel image (``__START_KERNEL_map`` = ``0xffffffff80000000`` up to ``KERNEL_IMAGE_SIZE``):
  ``pa = va - __START_KERNEL_map + phys_base``. Symbol addresses already include the KASLR
  ``KERNELOFFSET``; ``phys_base`` (``NUMBER(phys_base)`` or the dump's own record) carries
  the physical relocation.
* Direct map at ``page_offset_base``: ``pa = va - page_offset_base`` for ``pa`` inside the
  dumped RAM. ``page_offset_base`` is read from memory when VMCOREINFO has
  ``SYMBOL(page_offset_base)``; otherwise it is found in the page tables (the direct map is
  the first mapping at or above ``0xffff888000000000``, or ``0xff11000000000000`` with 5
  levels, wherever KASLR memory randomization moved it) and checked by a page walk.
* Everything else (vmalloc, modules, vmemmap, fixmap): a 4- or 5-level walk of
  ``SYMBOL(swapper_pg_dir)`` / ``SYMBOL(init_top_pgt)`` with 1 GiB and 2 MiB pages.

Translations are cached per 4 KiB page.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

from kdbg.errors import CoreError, FaultError
from kdbg.memory.vmcoreinfo import VMCoreInfo

__all__ = ["X86_64Translator", "START_KERNEL_MAP"]

START_KERNEL_MAP = 0xFFFFFFFF80000000
PAGE_OFFSET_BASE_L4 = 0xFFFF888000000000
PAGE_OFFSET_BASE_L5 = 0xFF11000000000000
DEFAULT_KERNEL_IMAGE_SIZE = 1 << 30
PTE_PRESENT = 0x1
PTE_PSE = 0x80
PHYS_MASK = 0x000FFFFFFFFFF000
PUD_SIZE = 1 << 30
#: Translations cached before the cache is reset.
TCACHE_LIMIT = 1 << 20


class X86_64Translator:
    """Translate x86-64 kernel virtual addresses using a dump's VMCOREINFO and page tables."""

    def __init__(
        self,
        read_phys: Callable[[int, int], bytes],
        vmcoreinfo: VMCoreInfo,
        phys_base_hint: Optional[int] = None,
        max_physical_address: Optional[int] = None,
    ) -> None:
        self._read_phys = read_phys
        self.vmcoreinfo = vmcoreinfo
        #: Page number -> physical page base address.
        self.tcache: Dict[int, int] = {}
        pb = vmcoreinfo.phys_base
        if pb is None:
            pb = phys_base_hint
        if pb is None:
            raise CoreError(
                "cannot translate kernel addresses: VMCOREINFO has no NUMBER(phys_base) and "
                "the dump does not record phys_base"
            )
        #: Physical address the kernel image was loaded at, minus its link address.
        self.phys_base: int = pb if pb < 1 << 63 else pb - (1 << 64)
        self.l5 = vmcoreinfo.pgtable_l5_enabled
        self.levels = 5 if self.l5 else 4
        self._shifts: List[int] = [48, 39, 30, 21, 12] if self.l5 else [39, 30, 21, 12]
        self.va_bits = 57 if self.l5 else 48
        size = DEFAULT_KERNEL_IMAGE_SIZE
        if vmcoreinfo.has_number("KERNEL_IMAGE_SIZE"):
            n = vmcoreinfo.number("KERNEL_IMAGE_SIZE")
            if 0 < n <= 1 << 31:
                size = n
        self.kernel_image_size = size
        sme = vmcoreinfo.number("sme_mask") if vmcoreinfo.has_number("sme_mask") else 0
        self.pte_mask = PHYS_MASK & ~sme
        for name in ("init_top_pgt", "swapper_pg_dir"):
            if vmcoreinfo.has_symbol(name):
                pgd_va = vmcoreinfo.symbol(name)
                break
        else:
            raise CoreError(
                "cannot walk page tables: VMCOREINFO has neither SYMBOL(swapper_pg_dir) nor "
                "SYMBOL(init_top_pgt)"
            )
        if not START_KERNEL_MAP <= pgd_va < START_KERNEL_MAP + self.kernel_image_size:
            raise CoreError(f"page table root {pgd_va:#x} is not a kernel image address")
        #: Physical address of the kernel's top-level page table.
        self.pgd: int = pgd_va - START_KERNEL_MAP + self.phys_base
        #: Exclusive upper bound of dumped RAM (bounds the direct-map fast path).
        self.max_physical_address = max_physical_address or 0
        self._pob: Optional[int] = None
        self._pob_done = False

    # -- public -------------------------------------------------------------------------

    @property
    def page_offset_base(self) -> Optional[int]:
        """Start of the direct map, or ``None`` when it could not be determined."""
        if not self._pob_done:
            self._pob_done = True
            self._pob = self._find_page_offset_base()
        return self._pob

    def set_page_offset_base(self, value: int) -> None:
        """Tell the translator where the direct map is (e.g. from a symbol's value)."""
        self._pob = value
        self._pob_done = True
        self.tcache.clear()

    def translate(self, va: int) -> int:
        """Physical address of ``va``; ``FaultError`` when not mapped."""
        pa = self.tcache.get(va >> 12)
        if pa is None:
            pa = self.translate_page(va)
        return pa | (va & 0xFFF)

    def translate_page(self, va: int) -> int:
        """Physical base of the 4 KiB page holding ``va`` (cached)."""
        if START_KERNEL_MAP <= va < START_KERNEL_MAP + self.kernel_image_size:
            pa = va - START_KERNEL_MAP + self.phys_base
        else:
            pob = self._pob if self._pob_done else self.page_offset_base
            if pob is not None and 0 <= va - pob < self.max_physical_address:
                pa = va - pob
            else:
                pa = self.walk(va)
        pa &= ~0xFFF
        tc = self.tcache
        if len(tc) >= TCACHE_LIMIT:
            tc.clear()
        tc[va >> 12] = pa
        return pa

    def translate_run(self, va: int, size: int) -> Tuple[int, int]:
        """``(pa, n)``: ``va`` maps to ``pa`` and the next ``n`` bytes (``n <= size``) are
        physically contiguous (the kernel image and the direct map in one step, other
        regions up to the end of the page)."""
        if START_KERNEL_MAP <= va < START_KERNEL_MAP + self.kernel_image_size:
            n = START_KERNEL_MAP + self.kernel_image_size - va
            return va - START_KERNEL_MAP + self.phys_base, min(n, size)
        pob = self._pob if self._pob_done else self.page_offset_base
        if pob is not None and 0 <= va - pob < self.max_physical_address:
            return va - pob, min(size, self.max_physical_address - (va - pob))
        return self.translate(va), min(size, 0x1000 - (va & 0xFFF))

    def walk(self, va: int) -> int:
        """Translate ``va`` by walking the kernel page tables (no caches)."""
        if not 0 <= va < 1 << 64:
            raise FaultError("address out of range", va & ((1 << 64) - 1))
        top = va >> (self.va_bits - 1)
        if top != 0 and top != (1 << (65 - self.va_bits)) - 1:
            raise FaultError("non-canonical address", va)
        table = self.pgd
        mask = self.pte_mask
        for shift in self._shifts:
            entry = self._entry(table, (va >> shift) & 0x1FF, va)
            if not entry & PTE_PRESENT:
                raise FaultError("address not mapped (page table entry not present)", va)
            if shift == 12:
                return (entry & mask) | (va & 0xFFF)
            if (shift == 30 or shift == 21) and entry & PTE_PSE:
                size = 1 << shift
                return (entry & mask & ~(size - 1)) | (va & (size - 1))
            table = entry & mask
        raise AssertionError("unreachable")  # pragma: no cover

    # -- internals ----------------------------------------------------------------------

    def _entry(self, table: int, index: int, va: int) -> int:
        try:
            raw = self._read_phys(table + index * 8, 8)
        except FaultError as e:
            raise FaultError(
                f"page table page {table:#x} is not readable ({e.args[0]})", va
            ) from None
        return int.from_bytes(raw, "little")

    def _find_page_offset_base(self) -> Optional[int]:
        vmci = self.vmcoreinfo
        if vmci.has_symbol("page_offset_base"):
            sym = vmci.symbol("page_offset_base")
            try:
                val = int.from_bytes(self._read_phys(self._text_to_phys(sym), 8), "little")
            except (FaultError, CoreError):
                val = 0
            if self._plausible_pob(val):
                return val
        if not self.max_physical_address:
            return None
        try:
            start = PAGE_OFFSET_BASE_L5 if self.l5 else PAGE_OFFSET_BASE_L4
            va = self._first_mapped(start)
            if va is None:
                return None
            pob = va - self.walk(va)
        except (FaultError, CoreError):
            return None
        if not self._plausible_pob(pob):
            return None
        return pob

    def _plausible_pob(self, val: int) -> bool:
        lo = PAGE_OFFSET_BASE_L5 if self.l5 else PAGE_OFFSET_BASE_L4
        return lo <= val < START_KERNEL_MAP and val % PUD_SIZE == 0

    def _text_to_phys(self, va: int) -> int:
        return va - START_KERNEL_MAP + self.phys_base

    def _first_mapped(self, start: int) -> Optional[int]:
        """First 1 GiB-aligned kernel address at or above ``start`` with a present PUD entry."""
        shifts = [s for s in self._shifts if s >= 30]
        sign = ((1 << 64) - 1) ^ ((1 << self.va_bits) - 1)
        budget = [4096]  # tables visited at most

        def rec(table: int, depth: int, prefix: int, bounded: bool) -> Optional[int]:
            shift = shifts[depth]
            first = (start >> shift) & 0x1FF if bounded else 0
            budget[0] -= 1
            if budget[0] < 0:
                return None
            try:
                raw = self._read_phys(table, 4096)
            except FaultError:
                return None
            for idx in range(first, 512):
                entry = int.from_bytes(raw[idx * 8 : idx * 8 + 8], "little")
                if not entry & PTE_PRESENT:
                    continue
                va = prefix | (idx << shift)
                if shift == 30 or entry & PTE_PSE:
                    return sign | va
                found = rec(entry & self.pte_mask, depth + 1, va, bounded and idx == first)
                if found is not None:
                    return found
            return None

        return rec(self.pgd, 0, 0, True)
