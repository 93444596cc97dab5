"""x86-64 kernel virtual -> physical translation, and where the kernel put its regions.

* Every virtual address is translated through the kernel's page tables (a 4- or 5-level
  walk of ``SYMBOL(init_top_pgt)`` / ``SYMBOL(swapper_pg_dir)`` with 1 GiB and 2 MiB
  pages), the kernel image included: a read past ``_end`` faults as the CPU would, it
  never returns whatever physical memory follows the image. Each walk that ends in a
  large page caches its 2 MiB region, so the image (mapped with 2 MiB pages) costs one walk
  per region; other translations are cached per 4 KiB page.
* Direct map at ``page_offset_base``: ``pa = va - page_offset_base`` for ``pa`` inside the
  dumped RAM, a fast path with no walk. The only other linear formula is ``__pa_symbol``
  (``pa = va - __START_KERNEL_map + phys_base``), used, as the kernel itself does, for
  the page-table root and the variables named below, never for arbitrary reads.
* The KASLR-randomized bases (``page_offset_base``, ``vmalloc_base``, ``vmemmap_base``)
  are read from the kernel's own variables once symbols are attached
  (:meth:`X86_64Translator.attach_symbols`), and otherwise found in the page tables (the
  direct map is the first 1 GiB slot mapped at or above ``0xffff888000000000``, vmalloc the
  next one above the direct map's RAM, vmemmap the first one above the vmalloc area). Both
  are kept; :attr:`X86_64Translator.layout` says which was used and why they differ.

Frames (entry, system-call and fault plumbing, ``__show_regs``, crash's frame slot) are
:mod:`kdbg.arch.x86_64.frames`. This package is the one home of the x86-64 layout constants (``START_KERNEL_MAP``,
``START_KERNEL``, the default region bases).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple

from kdbg.arch.layout import LayoutBase, PageTableLeaf, PageTableUnreadable, choose_base, layout_variable
from kdbg.arch.translator import TCACHE_LIMIT, CachedTranslator
from kdbg.arch.x86_64.frames import (
    FAULT_PLUMBING,
    frame_slot,
    is_entry_frame,
    is_fault_plumbing,
    is_syscall_frame,
    show_regs_lines,
)
from kdbg.errors import CoreError, FaultError

if TYPE_CHECKING:  # pragma: no cover  (kdbg.memory imports this module: no cycle at run time)
    from kdbg.memory.vmcoreinfo import VMCoreInfo

__all__ = [
    "X86_64Translator",
    "kcore_layout",
    "LayoutBase",
    "START_KERNEL_MAP",
    "layout_variable",
    "PHYSICAL_START",
    "START_KERNEL",
    "DEFAULT_KERNEL_IMAGE_SIZE",
    "PAGE_OFFSET_BASE_L4",
    "PAGE_OFFSET_BASE_L5",
    "VMALLOC_BASE_L4",
    "VMALLOC_BASE_L5",
    "VMEMMAP_BASE_L4",
    "VMEMMAP_BASE_L5",
    "VMALLOC_SIZE_L4",
    "VMALLOC_SIZE_L5",
    "CPU_ENTRY_AREA_BASE",
    "PT_LEVEL_NAMES",
    "LAYOUT_BASES",
    "base_problem",
    "image_phys_base",
    "choose_base",
    "SIGNALS",
    "SIGACTION_FLAGS",
    "TIF_SIGPENDING",
    "SECTION_SIZE_BITS",
    "MAX_PHYSMEM_BITS_L4",
    "MAX_PHYSMEM_BITS_L5",
    "cpu_note_page_table_roots",
    "is_entry_frame",
    "is_syscall_frame",
    "show_regs_lines",
    "frame_slot",
    "FAULT_PLUMBING",
    "is_fault_plumbing",
]

#: ``__START_KERNEL_map``: virtual address of physical 0 in the kernel-image mapping.
START_KERNEL_MAP = 0xFFFFFFFF80000000
#: ``CONFIG_PHYSICAL_START`` of every distribution kernel (16 MiB).
PHYSICAL_START = 0x1000000
#: ``__START_KERNEL``: where ``_text`` is linked (KASLR adds ``KERNELOFFSET`` to it).
START_KERNEL = START_KERNEL_MAP + PHYSICAL_START
#: ``KERNEL_IMAGE_SIZE`` with KASLR (VMCOREINFO's ``NUMBER(KERNEL_IMAGE_SIZE)`` wins).
DEFAULT_KERNEL_IMAGE_SIZE = 1 << 30
#: Direct-map base without KASLR memory randomization (4 and 5 levels); the lowest possible.
PAGE_OFFSET_BASE_L4 = 0xFFFF888000000000
PAGE_OFFSET_BASE_L5 = 0xFF11000000000000
#: ``VMALLOC_START`` without randomization.
VMALLOC_BASE_L4 = 0xFFFFC90000000000
VMALLOC_BASE_L5 = 0xFFA0000000000000
#: ``VMEMMAP_START`` without randomization.
VMEMMAP_BASE_L4 = 0xFFFFEA0000000000
VMEMMAP_BASE_L5 = 0xFFD4000000000000
#: Size of the vmalloc area (``VMALLOC_SIZE_TB``: 32 TiB, 12800 TiB with 5 levels).
VMALLOC_SIZE_L4 = 32 << 40
VMALLOC_SIZE_L5 = 12800 << 40
#: ``CPU_ENTRY_AREA_BASE``: no randomized region reaches it.
CPU_ENTRY_AREA_BASE = 0xFFFFFE0000000000
#: SPARSEMEM section size (``arch/x86/include/asm/sparsemem.h``; VMCOREINFO's wins).
SECTION_SIZE_BITS = 27
#: ``MAX_PHYSMEM_BITS`` with 4- and 5-level paging (VMCOREINFO's wins).
MAX_PHYSMEM_BITS_L4 = 46
MAX_PHYSMEM_BITS_L5 = 52
#: Signal numbers (``arch/x86/include/uapi/asm/signal.h``), preferred name before its
#: aliases; real-time signals are ``SIGRTMIN`` to ``SIGRTMAX`` (the kernel's ``_NSIG``).
SIGNALS = (
    ("SIGHUP", 1), ("SIGINT", 2), ("SIGQUIT", 3), ("SIGILL", 4), ("SIGTRAP", 5), ("SIGABRT", 6), ("SIGIOT", 6),
    ("SIGBUS", 7), ("SIGFPE", 8), ("SIGKILL", 9), ("SIGUSR1", 10), ("SIGSEGV", 11), ("SIGUSR2", 12),
    ("SIGPIPE", 13), ("SIGALRM", 14), ("SIGTERM", 15), ("SIGSTKFLT", 16), ("SIGCHLD", 17), ("SIGCLD", 17),
    ("SIGCONT", 18), ("SIGSTOP", 19), ("SIGTSTP", 20), ("SIGTTIN", 21), ("SIGTTOU", 22), ("SIGURG", 23),
    ("SIGXCPU", 24), ("SIGXFSZ", 25), ("SIGVTALRM", 26), ("SIGPROF", 27), ("SIGWINCH", 28), ("SIGIO", 29),
    ("SIGPOLL", 29), ("SIGPWR", 30), ("SIGSYS", 31), ("SIGUNUSED", 31), ("SIGRTMIN", 32), ("SIGRTMAX", 64),
)
#: ``arch/x86/include/asm/thread_info.h`` before x86 took the generic TIF bits: the bit of
#: ``thread_info.flags`` that says a signal is pending for the task (the kernel's
#: ``signal_pending()``); the generic bits make it 1 (:func:`kdbg.arch.tif_sigpending`).
TIF_SIGPENDING = 2
#: ``sigaction(2)`` ``sa_flags`` bits (the generic ``include/uapi/asm-generic/signal-defs.h``
#: and x86's), preferred name before its aliases, by value.
SIGACTION_FLAGS = (
    ("SA_NOCLDSTOP", 0x1), ("SA_NOCLDWAIT", 0x2), ("SA_SIGINFO", 0x4), ("SA_UNSUPPORTED", 0x400),
    ("SA_EXPOSE_TAGBITS", 0x800), ("SA_IMMUTABLE", 0x800000), ("SA_X32_ABI", 0x1000000),
    ("SA_IA32_ABI", 0x2000000), ("SA_RESTORER", 0x4000000), ("SA_ONSTACK", 0x8000000), ("SA_STACK", 0x8000000),
    ("SA_RESTART", 0x10000000), ("SA_NODEFER", 0x40000000), ("SA_NOMASK", 0x40000000),
    ("SA_RESETHAND", 0x80000000), ("SA_ONESHOT", 0x80000000),
)
#: The randomized region bases, in address order.
LAYOUT_BASES = ("page_offset_base", "vmalloc_base", "vmemmap_base")

PTE_PRESENT = 0x1
PTE_PSE = 0x80
PHYS_MASK = 0x000FFFFFFFFFF000
PUD_SIZE = 1 << 30
PMD_SIZE = 1 << 21
#: Page-table entry bits as crash's ``x86_64_translate_pte`` names them, in its order
#: (``PSE`` only in a present entry, ``PROTNONE`` (the ``GLOBAL`` bit) only in one that is not).
PTE_FLAG_NAMES = ((0x1, "PRESENT"), (0x2, "RW"), (0x4, "USER"), (0x8, "PWT"), (0x10, "PCD"), (0x20, "ACCESSED"),
                  (0x40, "DIRTY"), (0x80, "PSE"), (0x100, "PROTNONE"), (0x100, "GLOBAL"), (1 << 63, "NX"))
#: ``_PAGE_PROTNONE``: a ``PROT_NONE`` mapping (present to the kernel, not to the MMU).
PTE_PROTNONE = 0x100
#: ``arch/x86/include/asm/pgtable_64.h`` swap entries (inverted offsets, Linux 4.18+):
#: the type in the top ``SWP_TYPE_BITS``, the offset below, shifted by ``SWP_OFFSET_SHIFT``.
SWP_TYPE_BITS = 5
SWP_OFFSET_SHIFT = 9 + SWP_TYPE_BITS


#: crash's names of the page-table levels below the top one, by the shift of the address
#: bits an entry of that level translates (``vtop``).
PT_LEVEL_NAMES = {30: "PUD", 21: "PMD", 12: "PTE"}


def pte_flag_names(entry: int, shift: Optional[int] = None) -> List[str]:
    """The names crash prints for a page-table entry's bits (:data:`PTE_FLAG_NAMES`).
    ``shift``: the level the entry is a leaf of, when known (``vtop``); in a 4 KiB PTE
    (shift 12) bit 7 is PAT, not PSE."""
    present = bool(entry & PTE_PRESENT)
    return [name for bit, name in PTE_FLAG_NAMES if entry & bit
            and not (name == "PSE" and (not present or shift == 12)) and not (name == "PROTNONE" and present)]


def pte_swap_entry(entry: int) -> Tuple[int, int]:
    """``(swap type, page offset)`` of a non-present, non-zero entry (``__swp_type``,
    ``__swp_offset`` of the kernel's ``__pte_to_swp_entry``)."""
    return entry >> (64 - SWP_TYPE_BITS), ((~entry << SWP_TYPE_BITS) & ((1 << 64) - 1)) >> SWP_OFFSET_SHIFT


#: ``sizeof(struct page)`` when VMCOREINFO does not say.
DEFAULT_PAGE_STRUCT_SIZE = 64


def image_phys_base(loads: Sequence[Tuple[int, int]]) -> Optional[int]:
    """``phys_base`` from the first kernel-text segment among ``(vaddr, paddr)`` ELF
    segments (kexec's /proc/vmcore has one), or ``None``."""
    for vaddr, paddr in loads:
        if START_KERNEL_MAP <= vaddr < START_KERNEL_MAP + (1 << 30):
            return paddr - (vaddr - START_KERNEL_MAP)
    return None


def base_problem(value: int, l5: bool) -> Optional[str]:
    """Why ``value`` cannot be a randomized region base (``None`` when it can): every base is
    1 GiB aligned, at or above the lowest direct-map base, below the CPU entry area."""
    lo = PAGE_OFFSET_BASE_L5 if l5 else PAGE_OFFSET_BASE_L4
    if not lo <= value < CPU_ENTRY_AREA_BASE:
        return f"outside the kernel's randomized regions [{lo:#x}, {CPU_ENTRY_AREA_BASE:#x})"
    if value % PUD_SIZE:
        return "not 1 GiB aligned"
    return None


def kcore_layout(segments: Sequence[Tuple[int, int, int]], l5: bool,
                 variable: Callable[[str], Tuple[Optional[int], str]]) -> Dict[str, LayoutBase]:
    """``{name: LayoutBase}`` of :data:`LAYOUT_BASES` on a live kernel: the kernel's
    variables (``variable(name)``: value or ``None`` and why) when sane, else what the
    ``/proc/kcore`` segments ``(start, end, paddr)`` show (``paddr`` all ones when the
    segment has none): RAM at its direct-map address (``start - paddr`` =
    ``page_offset_base``), the whole vmalloc area as one segment starting at
    ``VMALLOC_START``, and the vmemmap pages of each RAM range (the lowest starts at
    ``vmemmap_base``, RAM starting at pfn 0 or 1)."""
    none = (1 << 64) - 1
    lo = PAGE_OFFSET_BASE_L5 if l5 else PAGE_OFFSET_BASE_L4
    region = [(start, end, paddr) for start, end, paddr in segments if lo <= start < CPU_ENTRY_AREA_BASE]
    ram = [start - paddr for start, _end, paddr in region if paddr != none]
    pob_guess = min(ram) if ram else None
    big = [(start, end) for start, end, paddr in region if paddr == none and end - start >= 1 << 40]
    vm_seg = min(big) if big else None
    vm_guess = vm_seg[0] if vm_seg is not None else None
    vmemmap_guess: Optional[int] = None
    if vm_seg is not None:
        after = [start for start, _end, paddr in region if paddr == none and start >= vm_seg[1]]
        if after:
            vmemmap_guess = min(after) & ~(PUD_SIZE - 1)
    out: Dict[str, LayoutBase] = {}
    prev: List[Optional[int]] = [None]

    def above_previous(v: int) -> Optional[str]:
        bad = base_problem(v, l5)
        if bad is None and prev[0] is not None and v <= prev[0]:
            bad = "below the previous region"
        return bad

    for name, guess in (("page_offset_base", pob_guess), ("vmalloc_base", vm_guess),
                        ("vmemmap_base", vmemmap_guess)):
        var, why = variable(name)
        b = choose_base(name, var, guess, above_previous, why, "kcore segments")
        out[name] = b
        if b.value is not None:
            prev[0] = b.value
    return out


class X86_64Translator(CachedTranslator):
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
        #: 2 MiB region number -> physical base, for regions a walk found in a large page.
        self._large: Dict[int, int] = {}
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
        if not self._in_image(pgd_va):
            raise CoreError(f"page table root {pgd_va:#x} is not a kernel image address")
        #: Physical address of the kernel's top-level page table.
        self.pgd: int = self.pa_symbol(pgd_va)
        #: Its virtual address (the kernel image's ``init_top_pgt``).
        self.pgd_va: int = pgd_va
        #: Exclusive upper bound of dumped RAM (bounds the direct-map fast path).
        self.max_physical_address = max_physical_address or 0
        self._address_of: Optional[Callable[[str], Optional[int]]] = None
        self._layout: Optional[Dict[str, LayoutBase]] = None
        self._pob: Optional[int] = None
        self._pob_done = False

    # -- the randomized layout -------------------------------------------------------------

    def attach_symbols(self, address_of: Callable[[str], Optional[int]]) -> None:
        """Give the translator a symbol lookup (name -> address or ``None``).

        From then on the region bases are the kernel's own variables; the page-table
        guesses stay as the fallback and are compared with them (see :attr:`layout`).
        """
        self._address_of = address_of
        if self._layout is not None:
            self._layout = None
            self._pob_done = False

    @property
    def layout(self) -> Dict[str, LayoutBase]:
        """``{name: LayoutBase}`` for ``page_offset_base``, ``vmalloc_base``, ``vmemmap_base``."""
        lay = self._layout
        if lay is None:
            lay = self._layout = self._resolve_layout()
            pob = lay["page_offset_base"].value
            if pob != self._pob:
                self.tcache.clear()
            self._pob = pob
            self._pob_done = True
        return lay

    @property
    def layout_notes(self) -> List[str]:
        """Disagreements between the kernel's variables and the page tables, one line each."""
        return [f"{b.name}: {b.note}" for b in self.layout.values() if b.note]

    @property
    def page_offset_base(self) -> Optional[int]:
        """Start of the direct map, or ``None`` when it could not be determined."""
        if not self._pob_done:
            return self.layout["page_offset_base"].value
        return self._pob

    def set_page_offset_base(self, value: int) -> None:
        """Tell the translator where the direct map is (overrides variable and guess)."""
        lay = dict(self.layout)
        old = lay["page_offset_base"]
        lay["page_offset_base"] = dataclasses.replace(old, value=value, source="set by caller")
        self._layout = lay
        self._pob = value
        self._pob_done = True
        self.tcache.clear()

    # -- translation ------------------------------------------------------------------------

    def translate_page(self, va: int) -> int:
        """Physical base of the 4 KiB page holding ``va`` (cached); ``FaultError`` if unmapped."""
        pa: Optional[int] = None
        if va < START_KERNEL_MAP:
            pob = self._pob if self._pob_done else self.page_offset_base
            if pob is not None and 0 <= va - pob < self.max_physical_address:
                pa = (va - pob) & ~0xFFF
        if pa is None:
            big = self._large.get(va >> 21)
            if big is not None:
                pa = big | (va & 0x1FF000)
            else:
                pa = self._walk_and_cache(va)
        return self._cache_page(va, pa)

    def translate_run(self, va: int, size: int) -> Tuple[int, int]:
        """``(pa, n)``: ``va`` maps to ``pa`` and the next ``n`` bytes (``n <= size``) are
        physically contiguous (the direct map in one step, large pages to their end, other
        regions up to the end of the page)."""
        if va < START_KERNEL_MAP:
            pob = self._pob if self._pob_done else self.page_offset_base
            if pob is not None and 0 <= va - pob < self.max_physical_address:
                return va - pob, min(size, self.max_physical_address - (va - pob))
        big = self._large.get(va >> 21)
        if big is None:
            pa = self.translate(va)
            big = self._large.get(va >> 21)
            if big is None:
                return pa, min(size, 0x1000 - (va & 0xFFF))
        off = va & (PMD_SIZE - 1)
        return big | off, min(size, PMD_SIZE - off)

    def walk(self, va: int) -> int:
        """Translate ``va`` by walking the kernel page tables (no caches)."""
        return self._walk_leaf(va)[0]

    # -- internals ----------------------------------------------------------------------

    def _walk_and_cache(self, va: int) -> int:
        pa, leaf = self._walk_leaf(va)
        if leaf >= PMD_SIZE:
            large = self._large
            if len(large) >= TCACHE_LIMIT:
                large.clear()
            large[va >> 21] = pa & ~(PMD_SIZE - 1)
        return pa & ~0xFFF

    def walk_root(self, root: int, va: int) -> Tuple[int, int]:
        """``(pa, page size)`` of ``va`` in the address space whose top-level page table
        is at physical address ``root`` (a process's ``mm->pgd``); ``FaultError`` if
        unmapped. Not cached: a process's mappings are not the kernel's."""
        return self._walk_leaf(va, root)

    def walk_entries(self, va: int, root: Optional[int] = None) -> List[Tuple[int, int, int]]:
        """The walk of ``va`` level by level, as ``crash``'s ``vtop`` shows it: ``(shift,
        physical address of the entry, entry)`` for each level read (shift 39 for the PGD
        of 4-level paging, 48 for 5-level's, 30 PUD, 21 PMD, 12 PTE), up to the leaf or the
        first entry that is not present. Not cached."""
        entries: List[Tuple[int, int, int]] = []
        try:
            self._walk_leaf(va, root, entries)
        except FaultError:
            if not entries:
                raise
        return entries

    def leaf(self, shift: int, entry: int) -> PageTableLeaf:
        """What the last entry of :meth:`walk_entries` maps (:class:`PageTableLeaf`): a
        present 4 KiB PTE or 2 MiB/1 GiB ``PSE`` entry its frame; a ``PROT_NONE`` PTE too,
        whose frame bits the kernel stores inverted (L1TF, 4.19+: ``pte_pfn`` undoes
        ``protnone_mask``); a non-zero PTE otherwise a swap entry (:func:`pte_swap_entry`);
        a present table entry (the walk cut short) nothing."""
        span = 1 << shift
        present = bool(entry & PTE_PRESENT)
        if present and (shift == 12 or entry & PTE_PSE):
            return PageTableLeaf(span, entry & self.pte_mask & ~(span - 1), None)
        if shift == 12 and not present and entry & PTE_PROTNONE:
            return PageTableLeaf(span, ~entry & self.pte_mask, None)
        if shift == 12 and entry and not present:
            return PageTableLeaf(span, None, pte_swap_entry(entry))
        return PageTableLeaf(span, None, None)

    def _walk_leaf(self, va: int, root: Optional[int] = None,
                   trace: Optional[List[Tuple[int, int, int]]] = None) -> Tuple[int, int]:
        """``(pa, page size)`` of ``va`` from a page-table walk; ``FaultError`` if unmapped.
        ``trace`` collects each level's ``(shift, entry address, entry)``."""
        if not 0 <= va < 1 << 64:
            raise FaultError("address out of range", va & ((1 << 64) - 1))
        top = va >> (self.va_bits - 1)
        if top != 0 and top != (1 << (65 - self.va_bits)) - 1:
            raise FaultError("non-canonical address", va)
        table = self.pgd if root is None else root
        mask = self.pte_mask
        for shift in self._shifts:
            entry = self._entry(table, (va >> shift) & 0x1FF, va)
            if trace is not None:
                trace.append((shift, table + ((va >> shift) & 0x1FF) * 8, entry))
            if not entry & PTE_PRESENT:
                raise FaultError("address is not mapped", va)  # drgn's words
            if shift == 12:
                return (entry & mask) | (va & 0xFFF), 0x1000
            if (shift == 30 or shift == 21) and entry & PTE_PSE:
                size = 1 << shift
                return (entry & mask & ~(size - 1)) | (va & (size - 1)), size
            table = entry & mask
        raise AssertionError("unreachable")  # pragma: no cover

    def _entry(self, table: int, index: int, va: int) -> int:
        try:
            raw = self._read_phys(table + index * 8, 8)
        except FaultError as e:
            raise PageTableUnreadable(
                f"page table page {table:#x} is not readable ({e.args[0]})", va
            ) from None
        return int.from_bytes(raw, "little")

    def _in_image(self, va: int) -> bool:
        return START_KERNEL_MAP <= va < START_KERNEL_MAP + self.kernel_image_size

    def pa_symbol(self, va: int) -> int:
        """``__pa_symbol``: physical address of a kernel-image symbol (linear, as the kernel
        computes it); only for symbols the kernel itself names, never for arbitrary reads."""
        return va - START_KERNEL_MAP + self.phys_base

    def _read_symbol_u64(self, va: int) -> int:
        """The 8-byte value of the kernel variable at ``va`` (FaultError/CoreError)."""
        if not self._in_image(va):
            raise FaultError("not a kernel-image address", va)
        return int.from_bytes(self._read_phys(self.pa_symbol(va), 8), "little")

    def _variable(self, name: str) -> Tuple[Optional[int], str]:
        """``(value, why-not)`` of the kernel variable ``name`` (symbols, then VMCOREINFO)."""
        return layout_variable(name, self._address_of, self._read_symbol_u64, self.vmcoreinfo)


    def _maps(self, va: int, pa: Optional[int] = None) -> Optional[bool]:
        """Whether the page tables map ``va`` (to ``pa`` when given); ``None`` when that
        cannot be known because a page-table page is missing from the dump (filtered or cut
        short), so a kernel variable is not doubted for the dump's gaps."""
        try:
            got = self.walk(va)
        except PageTableUnreadable:
            return None
        except (FaultError, CoreError):
            return False
        return pa is None or got == pa

    def _page_struct_size(self) -> int:
        vmci = self.vmcoreinfo
        if "SIZE(page)" in vmci:
            try:
                n = vmci.size("page")
            except CoreError:
                n = 0
            if 0 < n <= 4096:
                return n
        return DEFAULT_PAGE_STRUCT_SIZE

    def _resolve_layout(self) -> Dict[str, LayoutBase]:
        """Choose each base: the kernel's variable when sane, else the page-table guess."""
        out: Dict[str, LayoutBase] = {}
        probe = self.pgd  # a RAM page certainly in the direct map and in vmemmap

        def pick(name: str, guess: Optional[int], ok: Callable[[int], Optional[str]]) -> LayoutBase:
            var, why = self._variable(name)
            return choose_base(name, var, guess, lambda v: base_problem(v, self.l5) or ok(v), why)

        def pob_ok(v: int) -> Optional[str]:
            if self._maps(v + probe, probe) is not False:
                return None
            return "not where the page tables map RAM"

        pob_guess = self._guess_page_offset_base()
        out["page_offset_base"] = pob = pick("page_offset_base", pob_guess, pob_ok)

        vmalloc_guess: Optional[int] = None
        if pob.value is not None and self.max_physical_address:
            ram_end = -(-self.max_physical_address // PUD_SIZE) * PUD_SIZE
            vmalloc_guess = self._guess_region(pob.value + ram_end)

        def vmalloc_ok(v: int) -> Optional[str]:
            if pob.value is not None and v <= pob.value:
                return "below the direct map"
            return None

        out["vmalloc_base"] = vm = pick("vmalloc_base", vmalloc_guess, vmalloc_ok)

        vmemmap_guess: Optional[int] = None
        if vm.value is not None:
            vmemmap_guess = self._guess_region(vm.value + (VMALLOC_SIZE_L5 if self.l5 else VMALLOC_SIZE_L4))
        page_sz = self._page_struct_size()

        def vmemmap_ok(v: int) -> Optional[str]:
            if vm.value is not None and v <= vm.value:
                return "below the vmalloc area"
            if self._maps(v + (probe >> 12) * page_sz) is not False:
                return None
            return "not where the page tables map struct pages"

        out["vmemmap_base"] = pick("vmemmap_base", vmemmap_guess, vmemmap_ok)
        return out

    def _guess_page_offset_base(self) -> Optional[int]:
        """The direct map in the page tables: the first 1 GiB slot mapped at its lowest
        possible base, checked to map the page-table root's own page."""
        try:
            va = self._first_mapped(PAGE_OFFSET_BASE_L5 if self.l5 else PAGE_OFFSET_BASE_L4)
            if va is None:
                return None
            pob = va - self.walk(va)
        except (FaultError, CoreError):
            return None
        if base_problem(pob, self.l5) is not None:
            return None
        return pob

    def _guess_region(self, start: int) -> Optional[int]:
        """The first 1 GiB slot mapped at or above ``start`` (below the CPU entry area)."""
        if not start < CPU_ENTRY_AREA_BASE:
            return None
        try:
            va = self._first_mapped(start)
        except (FaultError, CoreError):
            return None
        if va is None or base_problem(va, self.l5) is not None:
            return None
        return va

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


#: Offset of ``cr[3]`` in QEMU's per-CPU ``QEMUCPUState`` note (``"QEMU"``, type 0):
#: version and size (8), 16 general registers (128), rip and rflags (16), 10 segment
#: descriptors of 24 bytes (240), then ``cr[0..4]``.
_QEMU_CR3 = 8 + 128 + 16 + 240 + 3 * 8
#: CR3's page-table address bits (without the PCID and no-flush bits).
_CR3_ADDRESS = 0x000FFFFFFFFFF000


def cpu_note_page_table_roots(notes: Sequence[Tuple[str, int, bytes]]) -> List[int]:
    """The physical addresses of the top-level page tables each CPU was using, from the
    CR3 in QEMU's per-CPU notes (libkdumpfile walks kernel addresses from there, where a
    task's page tables, with page-table isolation, are not the kernel's own); empty for
    dumps without such notes."""
    roots: List[int] = []
    for name, ntype, desc in notes:
        if name == "QEMU" and ntype == 0 and len(desc) >= _QEMU_CR3 + 8:
            root = int.from_bytes(desc[_QEMU_CR3:_QEMU_CR3 + 8], "little") & _CR3_ADDRESS
            if root and root not in roots:
                roots.append(root)
    return roots
