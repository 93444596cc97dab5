"""Memory management: drgn's ``drgn.helpers.linux.mm`` names and signatures for the memory
map (``struct page``), address conversions and page flags.

Where things are comes from the target, never from kdbg: the direct map
(``page_offset_base``) and the memory map (``vmemmap_base``) from the memory layer
(:mod:`kdbg.arch`, the one home of each machine's layout), the kernel image's
``__pa_symbol`` from the machine's translator, ``max_pfn`` (else the exported ``high_memory``) and
``_totalram_pages`` from the kernel's variables, the page-flag bits from BTF's
``enum pageflags``, page types from BTF's ``enum pagetype`` (Linux 6.12 and later) or
VMCOREINFO's ``NUMBER(PAGE_<TYPE>_MAPCOUNT_VALUE)`` (before), ``sizeof(struct page)`` and
its member offsets from BTF.

Differences from drgn, each where drgn returns arithmetic on an address it does not
check:

* :func:`virt_to_phys` (and :func:`virt_to_pfn`, :func:`virt_to_page`) accept what the
  kernel's ``__pa()`` accepts: a direct-map address, or a kernel-image address (``_text``
  to ``_end``: the machine's ``__pa_symbol``, :meth:`kdbg.arch.Translator.pa_symbol`;
  x86-64's ``va - __START_KERNEL_map + phys_base`` as ``arch/x86/mm/physaddr.c``
  computes it, arm64's ``va - kimage_voffset``). Any other address (vmalloc, vmemmap, modules,
  user space) is an :class:`InvalidAddressError` naming it; :func:`vmalloc_to_page`
  translates those through the page tables.
* A pfn at or beyond ``max_pfn``, a physical address beyond it, or a ``struct page *``
  outside the memory map is an :class:`InvalidAddressError` too.

Which pages are slab or buddy pages changed representation: ``PG_slab`` in
``page->flags`` up to Linux 6.9; since 6.12 the top byte of ``page_type`` is a
``PGTY_*`` value (``enum pagetype``); ``PageBuddy`` (and ``PageSlab`` on 6.10 and 6.11)
before that is ``page_type`` equal to the kernel's ``PAGE_*_MAPCOUNT_VALUE``, which the
kernel writes into VMCOREINFO (as makedumpfile and drgn read it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

from kdbg.core.conversions import cast
from kdbg.core.default import takes_program_or_default
from kdbg.core.integer import IntegerLike, integer_value
from kdbg.core.object import Object, value_object
from kdbg.errors import (
    CoreError,
    InvalidAddressError,
    NotFoundError,
    ObjectNotFoundError,
    ObjectTypeError,
    ValidationError,
)
from kdbg.helpers.common import describe_address, global_object, has_member, program_cache

if TYPE_CHECKING:
    from kdbg.btf.types import Type
    from kdbg.core.program import Program

__all__ = [
    "InvalidAddressError",
    "PFN_PHYS",
    "PHYS_PFN",
    "PageBuddy",
    "PageCompound",
    "PageHead",
    "PageSlab",
    "PageTail",
    "PageUsage",
    "compound_head",
    "compound_nr",
    "compound_order",
    "decode_page_flags",
    "decode_page_flags_value",
    "folio_page",
    "for_each_page",
    "in_direct_map",
    "page_flags",
    "page_folio",
    "page_index",
    "page_size",
    "page_to_pfn",
    "page_to_phys",
    "page_to_virt",
    "pfn_to_page",
    "pfn_to_virt",
    "phys_to_page",
    "phys_to_virt",
    "totalram_pages",
    "virt_to_page",
    "virt_to_pfn",
    "virt_to_phys",
    "vmalloc_to_page",
    "vmalloc_to_pfn",
]

_MASK = (1 << 64) - 1


# ----------------------------------------------------------------------------- the layout
class _MemoryMap:
    """The target's direct map and memory map, read once per program."""

    def __init__(self, prog: Program) -> None:
        mem = prog.memory
        if mem is None:
            raise ObjectNotFoundError("the mm helpers need the target's memory (types and symbols only)")
        pob = mem.page_offset_base
        vmemmap = mem.vmemmap_base
        if pob is None or vmemmap is None:
            raise ObjectNotFoundError("the mm helpers need the memory map: page_offset_base and "
                                      "vmemmap_base of the target are unknown")
        self.page_offset_base: int = pob
        self.vmemmap: int = vmemmap
        page_size = mem.page_size
        self.page_shift = page_size.bit_length() - 1
        if page_size != 1 << self.page_shift:
            raise ValidationError(f"page size {page_size} is not a power of two")
        self.sizeof_page = prog.type("struct page").sizeof()
        self.max_pfn = _max_pfn(prog, pob, self.page_shift)
        if not 0 < self.max_pfn < 1 << (52 - self.page_shift):
            raise ValidationError(f"max_pfn {self.max_pfn:#x} is implausible")
        self.direct_end = pob + (self.max_pfn << self.page_shift)
        try:  # a dump's translator knows the machine's __pa_symbol; /proc/kcore's text segment records it
            self.pa_symbol: Callable[[int], int] = mem.arch.pa_symbol  # type: ignore[attr-defined]
        except (AttributeError, CoreError):
            self.pa_symbol = mem.translate
        end = prog.symbol_table.get("_end")
        text = prog.symbol_table.get("_text") or prog.symbol_table.get("_stext")
        self.image_start = text.address if text is not None else 0
        self.image_end = end.address if end is not None and text is not None else self.image_start

    def check_pfn(self, pfn: int, what: str) -> int:
        if not 0 <= pfn < self.max_pfn:
            raise InvalidAddressError(f"{what}: pfn {pfn:#x} is beyond max_pfn {self.max_pfn:#x}"
                                      if pfn >= 0 else f"{what}: negative pfn {pfn}")
        return pfn

    def page_address(self, pfn: int) -> int:
        return self.vmemmap + pfn * self.sizeof_page

    def pfn_of_page(self, address: int, what: str) -> int:
        off = address - self.vmemmap
        pfn, rest = divmod(off, self.sizeof_page)
        if off < 0 or rest or pfn >= self.max_pfn:
            raise InvalidAddressError(
                f"{what}: {address:#x} is not a struct page of the memory map "
                f"[{self.vmemmap:#x}, {self.page_address(self.max_pfn):#x})")
        return pfn

    def phys_of_virt(self, prog: Program, address: int, what: str) -> int:
        if self.page_offset_base <= address < self.direct_end:
            return address - self.page_offset_base
        if self.image_start <= address < self.image_end:
            return self.pa_symbol(address)
        raise InvalidAddressError(
            f"{what}: {describe_address(prog, address)} is not in the direct map "
            f"[{self.page_offset_base:#x}, {self.direct_end:#x}) nor the kernel image; "
            "vmalloc_to_page() translates other kernel addresses through the page tables")


def _max_pfn(prog: Program, page_offset_base: int, page_shift: int) -> int:
    """``max_pfn``; on a kernel whose kallsyms lacks it (no ``CONFIG_KALLSYMS_ALL``), the
    pfn of the exported ``high_memory``, the direct map's end, which the kernel sets from
    the same end of memory (arm64's ``bootmem_init``; x86-64's ``max_low_pfn``)."""
    if prog.symbol_table.get("max_pfn") is not None or prog.symbol_table.get("high_memory") is None:
        return _read_ulong(prog, "max_pfn")
    return (_read_ulong(prog, "high_memory") - page_offset_base) >> page_shift


def _read_ulong(prog: Program, name: str) -> int:
    sym = prog.symbol_table.get(name)
    if sym is None:
        raise ObjectNotFoundError(f"the mm helpers need the kernel variable {name!r}, which kallsyms lacks")
    return prog.read_u64(sym.address)


def memory_map(prog: Program) -> _MemoryMap:
    """The target's direct map and memory map (``page_offset_base``, ``vmemmap``,
    ``sizeof_page``, ``max_pfn``, ...), read once per program; for the other helper
    modules (the slab walker), not exported."""
    return program_cache(prog, "mm.map", lambda: _MemoryMap(prog))


_map = memory_map


def _page_address(page: Object, what: str) -> int:
    if not isinstance(page, Object):
        raise ObjectTypeError(f"{what}: expected a struct page *, not {type(page).__name__}")
    return int(page) & _MASK


def _prog(obj: Object, what: str) -> Program:
    """The program of a page or folio argument (a one-line error for anything else)."""
    if not isinstance(obj, Object):
        raise ObjectTypeError(f"{what}: expected a struct page * Object, not {type(obj).__name__}")
    return obj.prog_


# ----------------------------------------------------------------------- conversions
@takes_program_or_default
def PFN_PHYS(prog: Program, pfn: IntegerLike) -> Object:  # noqa: N802 - the kernel's name
    """The physical address of page frame ``pfn`` (``phys_addr_t``)."""
    return Object(prog, "phys_addr_t", integer_value(pfn) << _map(prog).page_shift)


@takes_program_or_default
def PHYS_PFN(prog: Program, addr: IntegerLike) -> Object:  # noqa: N802 - the kernel's name
    """The page frame number of physical address ``addr`` (``unsigned long``)."""
    return Object(prog, "unsigned long", integer_value(addr) >> _map(prog).page_shift)


@takes_program_or_default
def pfn_to_page(prog: Program, pfn: IntegerLike) -> Object:
    """The ``struct page *`` of page frame ``pfn`` (below ``max_pfn``)."""
    m = _map(prog)
    return Object(prog, "struct page *", m.page_address(m.check_pfn(integer_value(pfn), "pfn_to_page")))


def page_to_pfn(page: Object) -> Object:
    """The page frame number of ``page`` (``struct page *``), as ``unsigned long``."""
    prog = _prog(page, "page_to_pfn")
    return Object(prog, "unsigned long", _map(prog).pfn_of_page(_page_address(page, "page_to_pfn"), "page_to_pfn"))


def page_to_phys(page: Object) -> Object:
    """The physical address of ``page`` (``phys_addr_t``)."""
    return PFN_PHYS(_prog(page, "page_to_phys"), page_to_pfn(page))


def page_to_virt(page: Object) -> Object:
    """The direct-map address of ``page`` (``void *``)."""
    return pfn_to_virt(_prog(page, "page_to_virt"), page_to_pfn(page))


@takes_program_or_default
def pfn_to_virt(prog: Program, pfn: IntegerLike) -> Object:
    """The direct-map address of page frame ``pfn`` (``void *``)."""
    m = _map(prog)
    pfn = m.check_pfn(integer_value(pfn), "pfn_to_virt")
    return Object(prog, "void *", m.page_offset_base + (pfn << m.page_shift))


@takes_program_or_default
def phys_to_virt(prog: Program, addr: IntegerLike) -> Object:
    """The direct-map address of physical address ``addr`` (``void *``)."""
    m = _map(prog)
    pa = integer_value(addr)
    if not 0 <= pa < m.max_pfn << m.page_shift:
        raise InvalidAddressError(f"phys_to_virt: physical address {pa:#x} is beyond max_pfn "
                                  f"{m.max_pfn:#x} (memory ends at {m.max_pfn << m.page_shift:#x})")
    return Object(prog, "void *", m.page_offset_base + pa)


@takes_program_or_default
def phys_to_page(prog: Program, addr: IntegerLike) -> Object:
    """The ``struct page *`` holding physical address ``addr``."""
    m = _map(prog)
    pa = integer_value(addr)
    if pa < 0:
        raise InvalidAddressError(f"phys_to_page: negative physical address {pa}")
    return Object(prog, "struct page *", m.page_address(m.check_pfn(pa >> m.page_shift, "phys_to_page")))


@takes_program_or_default
def virt_to_phys(prog: Program, addr: IntegerLike) -> Object:
    """The physical address (``unsigned long``) of a direct-map or kernel-image address,
    as the kernel's ``__pa()`` (see the module documentation)."""
    return Object(prog, "unsigned long", _map(prog).phys_of_virt(prog, integer_value(addr) & _MASK, "virt_to_phys"))


@takes_program_or_default
def virt_to_pfn(prog: Program, addr: IntegerLike) -> Object:
    """The page frame number (``unsigned long``) of a direct-map or kernel-image address."""
    m = _map(prog)
    pa = m.phys_of_virt(prog, integer_value(addr) & _MASK, "virt_to_pfn")
    return Object(prog, "unsigned long", pa >> m.page_shift)


@takes_program_or_default
def virt_to_page(prog: Program, addr: IntegerLike) -> Object:
    """The ``struct page *`` of a direct-map or kernel-image address."""
    m = _map(prog)
    pfn = m.phys_of_virt(prog, integer_value(addr) & _MASK, "virt_to_page") >> m.page_shift
    return Object(prog, "struct page *", m.page_address(m.check_pfn(pfn, "virt_to_page")))


@takes_program_or_default
def vmalloc_to_pfn(prog: Program, addr: IntegerLike) -> Object:
    """The page frame number (``unsigned long``) that kernel address ``addr`` maps to in
    the kernel's page tables (vmalloc, vmap, modules, any mapped kernel address); a
    :class:`~kdbg.errors.FaultError` when it is not mapped."""
    m = _map(prog)
    mem = prog.memory
    assert mem is not None  # _map checked
    return Object(prog, "unsigned long", mem.translate(integer_value(addr) & _MASK) >> m.page_shift)


@takes_program_or_default
def vmalloc_to_page(prog: Program, addr: IntegerLike) -> Object:
    """The ``struct page *`` that kernel address ``addr`` maps to (see :func:`vmalloc_to_pfn`)."""
    return pfn_to_page(prog, vmalloc_to_pfn(prog, addr))


@takes_program_or_default
def in_direct_map(prog: Program, addr: IntegerLike) -> bool:
    """Whether ``addr`` is in the kernel's direct map of physical memory (pfns below ``max_pfn``)."""
    m = _map(prog)
    return m.page_offset_base <= (integer_value(addr) & _MASK) < m.direct_end


@takes_program_or_default
def totalram_pages(prog: Program) -> int:
    """The number of RAM pages the page allocator manages (``MemTotal`` in pages)."""
    try:
        return int(global_object(prog, "_totalram_pages", "atomic_long_t").counter)  # 5.0 and later
    except NotFoundError:
        return int(global_object(prog, "totalram_pages", "unsigned long"))


class PageUsage(NamedTuple):
    """A memory-usage statistic in pages (swap, HugeTLB)."""

    pages: int
    """Total pages."""
    free_pages: int
    """Free pages."""

    @property
    def used_pages(self) -> int:
        """Pages in use."""
        return self.pages - self.free_pages


@takes_program_or_default
def for_each_page(prog: Program) -> Iterator[Object]:
    """Every ``struct page *`` of the memory map, pfn 0 to ``max_pfn - 1`` (a
    machine with ``max_pfn`` pages has that many; holes below it have struct pages too)."""
    m = _map(prog)
    t = prog.type("struct page *")
    for pfn in range(m.max_pfn):
        yield value_object(prog, t, m.page_address(pfn))


# ---------------------------------------------------------------------- page flags
class _PageLayout:
    """Offsets in ``struct page`` and the flag bits, from BTF."""

    def __init__(self, prog: Program) -> None:
        page = prog.type("struct page").strip_typedefs()
        self.size = page.sizeof()
        self.flags = page.offsetof("flags")  # type: ignore[attr-defined]
        self.info_member: Optional[str] = None
        for name in ("compound_info", "compound_head"):  # renamed in 7.1
            if page.has_member(name):
                self.info_member = name
                self.info = page.offsetof(name)  # type: ignore[attr-defined]
                break
        self.page_type: Optional[int] = (page.offsetof("page_type")  # type: ignore[attr-defined]
                                         if page.has_member("page_type") else None)
        try:
            enum, nr = _enumerator(prog, "__NR_PAGEFLAGS")
        except NotFoundError:
            raise ObjectNotFoundError("BTF has no enum pageflags (__NR_PAGEFLAGS)") from None
        self.nr_pageflags = nr
        #: (name, bit) in enum order, aliases included, as drgn decodes them.
        self.flag_list: List[Tuple[str, int]] = [(e.name, e.value) for e in enum.enumerators]  # type: ignore[attr-defined]
        self.bits: Dict[str, int] = {}
        for name, bit in self.flag_list:
            self.bits.setdefault(name, bit)
        self.has_mask = False
        if self.info_member == "compound_info":
            # 7.1: compound_info is a mask with power-of-two struct page and vmemmap_tails.

            self.has_mask = self.size & (self.size - 1) == 0 and has_member(prog, "struct zone", "vmemmap_tails")


def _layout(prog: Program) -> _PageLayout:
    return program_cache(prog, "mm.page_layout", lambda: _PageLayout(prog))


def _raw(page: Object, what: str) -> Tuple[_PageLayout, bytes]:
    prog = _prog(page, what)
    lay = _layout(prog)
    return lay, prog.read(_page_address(page, what), lay.size)


def _u(buf: bytes, off: int, size: int = 8) -> int:
    return int.from_bytes(buf[off:off + size], "little")


def page_flags(page: Object) -> Object:
    """``page->flags`` as ``unsigned long`` (``page->flags.f`` since Linux 6.18's
    ``memdesc_flags_t``)."""
    lay, buf = _raw(page, "page_flags")
    return Object(_prog(page, "page_flags"), "unsigned long", _u(buf, lay.flags))


def page_index(page: Object) -> Object:
    """The page's offset in its mapping, in pages (``pgoff_t``): ``page->index``
    (``page->__folio_index`` since Linux 6.16)."""
    p = page[0] if isinstance(page, Object) and page.type_.unaliased_kind().name == "POINTER" else page
    if not isinstance(p, Object):
        raise ObjectTypeError(f"page_index: expected a struct page *, not {type(page).__name__}")
    return p.member_("__folio_index" if p.type_.unaliased().has_member("__folio_index") else "index")


@takes_program_or_default
def decode_page_flags_value(prog: Program, flags: IntegerLike) -> str:
    """``PG_uptodate|PG_lru|...`` for the flag bits of ``flags`` (below
    ``__NR_PAGEFLAGS``; every ``enum pageflags`` name of a set bit, aliases included,
    unknown bits in hex; ``0`` when none)."""
    lay = _layout(prog)
    value = integer_value(flags) & ((1 << lay.nr_pageflags) - 1)
    if not value:
        return "0"
    parts = []
    rest = value
    for name, bit in lay.flag_list:
        if 0 <= bit < 64 and value >> bit & 1:
            parts.append(name)
            rest &= ~(1 << bit)
    if rest:
        parts.append(hex(rest))
    return "|".join(parts)


def page_flag_names(prog: Program, flags: IntegerLike) -> List[str]:
    """Each set flag bit's first ``enum pageflags`` name (no aliases: crash's, ``%pGp``'s); others in hex."""
    lay = _layout(prog)
    value = integer_value(flags) & ((1 << lay.nr_pageflags) - 1)
    names = {bit: name for name, bit in reversed(lay.flag_list) if 0 <= bit < 64 and value >> bit & 1}
    rest = value & ~sum(1 << bit for bit in names)
    return [names[bit] for bit in sorted(names)] + ([hex(rest)] if rest else [])


def decode_page_flags(page: Object) -> str:
    """The flags of ``page`` (``struct page *``) by name (:func:`decode_page_flags_value`)."""
    return decode_page_flags_value(_prog(page, "decode_page_flags"), page_flags(page))


def _flag_getter(flag: str, func: str) -> Callable[[Object], bool]:
    def getter(page: Object) -> bool:
        lay, buf = _raw(page, func)
        bit = lay.bits.get(flag)
        return bit is not None and bool(_u(buf, lay.flags) >> bit & 1)

    getter.__name__ = getter.__qualname__ = func
    getter.__doc__ = (f"Whether ``{flag}`` is set in ``page->flags`` (``struct page *``); "
                      f"``False`` on a kernel whose ``enum pageflags`` has no ``{flag}``.")
    return getter



PageActive = _flag_getter("PG_active", "PageActive")
PageChecked = _flag_getter("PG_checked", "PageChecked")
PageDirty = _flag_getter("PG_dirty", "PageDirty")
PageDoubleMap = _flag_getter("PG_double_map", "PageDoubleMap")
PageError = _flag_getter("PG_error", "PageError")
PageForeign = _flag_getter("PG_foreign", "PageForeign")
PageHWPoison = _flag_getter("PG_hwpoison", "PageHWPoison")
PageHasHWPoisoned = _flag_getter("PG_has_hwpoisoned", "PageHasHWPoisoned")
PageIdle = _flag_getter("PG_idle", "PageIdle")
PageIsolated = _flag_getter("PG_isolated", "PageIsolated")
PageLRU = _flag_getter("PG_lru", "PageLRU")
PageLocked = _flag_getter("PG_locked", "PageLocked")
PageMappedToDisk = _flag_getter("PG_mappedtodisk", "PageMappedToDisk")
PageMlocked = _flag_getter("PG_mlocked", "PageMlocked")
PageOwnerPriv1 = _flag_getter("PG_owner_priv_1", "PageOwnerPriv1")
PagePinned = _flag_getter("PG_pinned", "PagePinned")
PagePrivate = _flag_getter("PG_private", "PagePrivate")
PagePrivate2 = _flag_getter("PG_private_2", "PagePrivate2")
PageReadahead = _flag_getter("PG_readahead", "PageReadahead")
PageReclaim = _flag_getter("PG_reclaim", "PageReclaim")
PageReferenced = _flag_getter("PG_referenced", "PageReferenced")
PageReported = _flag_getter("PG_reported", "PageReported")
PageReserved = _flag_getter("PG_reserved", "PageReserved")
PageSavePinned = _flag_getter("PG_savepinned", "PageSavePinned")
PageSkipKASanPoison = _flag_getter("PG_skip_kasan_poison", "PageSkipKASanPoison")
PageSlobFree = _flag_getter("PG_slob_free", "PageSlobFree")
PageSwapBacked = _flag_getter("PG_swapbacked", "PageSwapBacked")
PageUncached = _flag_getter("PG_uncached", "PageUncached")
PageUnevictable = _flag_getter("PG_unevictable", "PageUnevictable")
PageUptodate = _flag_getter("PG_uptodate", "PageUptodate")
PageVmemmapSelfHosted = _flag_getter("PG_vmemmap_self_hosted", "PageVmemmapSelfHosted")
PageWaiters = _flag_getter("PG_waiters", "PageWaiters")
PageWorkingset = _flag_getter("PG_workingset", "PageWorkingset")
PageWriteback = _flag_getter("PG_writeback", "PageWriteback")
PageXenRemapped = _flag_getter("PG_xen_remapped", "PageXenRemapped")
PageYoung = _flag_getter("PG_young", "PageYoung")

#: drgn's page-flag predicates, each a :func:`_flag_getter` above.
__all__ += [name for name, value in list(globals().items())
            if name.startswith("Page") and getattr(value, "__qualname__", None) == name and callable(value)
            and getattr(value, "__module__", None) == __name__ and value.__doc__.startswith("Whether ``PG_")]


# ----------------------------------------------------------------------- page types
def page_type_test(prog: Program, kind: str) -> Callable[[bytes], bool]:
    """Whether a ``struct page``'s bytes are a page of type ``kind`` (``"slab"``,
    ``"buddy"``): the one test :func:`PageSlab`, :func:`PageBuddy` and the slab walker
    use; for the other helper modules, not exported."""
    lay = _layout(prog)
    test = _page_type_test(prog, kind)
    return lambda buf: test(lay, buf)


def _page_type_test(prog: Program, kind: str) -> Callable[[_PageLayout, bytes], bool]:
    """How to tell a page of type ``kind`` (``"slab"``, ``"buddy"``) from its bytes."""

    def make() -> Callable[[_PageLayout, bytes], bool]:
        lay = _layout(prog)
        pt: int = lay.page_type if lay.page_type is not None else -1
        try:  # 6.12 and later: the top byte of page_type is a PGTY_ value
            enum, value = _enumerator(prog, f"PGTY_{kind}")
        except NotFoundError:
            pass
        else:
            if pt >= 0 and enum.name == "pagetype":
                return lambda _l, buf: _u(buf, pt, 4) >> 24 == value
        try:  # PG_slab up to 6.9
            enum, bit = _enumerator(prog, f"PG_{kind}")
        except NotFoundError:
            pass
        else:
            if enum.name == "pageflags":
                return lambda lay_, buf: bool(_u(buf, lay_.flags) >> bit & 1)
        vmci = prog.vmcoreinfo
        key = f"PAGE_{kind.upper()}_MAPCOUNT_VALUE"
        if vmci is not None and vmci.has_number(key) and pt >= 0:
            want = vmci.number(key) & 0xFFFFFFFF
            return lambda _l, buf: _u(buf, pt, 4) == want
        raise ObjectNotFoundError(f"cannot tell {kind} pages: BTF has neither PGTY_{kind} nor PG_{kind} "
                                  f"and VMCOREINFO has no NUMBER({key})")

    return program_cache(prog, f"mm.type.{kind}", make)


def PageSlab(page: Object) -> bool:  # noqa: N802 - drgn's name
    """Whether ``page`` (``struct page *``) belongs to the slab allocator."""
    lay, buf = _raw(page, "PageSlab")
    return _page_type_test(_prog(page, "PageSlab"), "slab")(lay, buf)


def PageBuddy(page: Object) -> bool:  # noqa: N802 - the kernel's name
    """Whether ``page`` (``struct page *``) heads a free block of the buddy allocator."""
    lay, buf = _raw(page, "PageBuddy")
    return _page_type_test(_prog(page, "PageBuddy"), "buddy")(lay, buf)


# ------------------------------------------------------------------- compound pages
def _need_info(lay: _PageLayout) -> int:
    if lay.info_member is None:
        raise ObjectTypeError("struct page has no compound_head (kernels before 4.4 are not supported)")
    return lay.info


def _is_fake_head(page: Object, lay: _PageLayout) -> bool:
    """A HugeTLB vmemmap-optimized "head" that is really a tail (5.18 to 7.0)."""
    nxt = page.prog_.read_u64(_page_address(page, "PageHead") + lay.size + _need_info(lay))
    return bool(nxt & 1) and nxt - 1 != _page_address(page, "PageHead")


def _head_bit(lay: _PageLayout, buf: bytes) -> bool:
    bit = lay.bits.get("PG_head")
    if bit is None:
        raise ObjectNotFoundError("enum pageflags has no PG_head")
    return bool(_u(buf, lay.flags) >> bit & 1)


def PageCompound(page: Object) -> bool:  # noqa: N802 - drgn's name
    """Whether ``page`` (``struct page *``) is part of a compound page."""
    lay, buf = _raw(page, "PageCompound")
    return _head_bit(lay, buf) or bool(_u(buf, _need_info(lay)) & 1)


def PageHead(page: Object) -> bool:  # noqa: N802 - drgn's name
    """Whether ``page`` (``struct page *``) is the head page of a compound page."""
    lay, buf = _raw(page, "PageHead")
    return _head_bit(lay, buf) and not (lay.info_member == "compound_head" and _is_fake_head(page, lay))


def PageTail(page: Object) -> bool:  # noqa: N802 - drgn's name
    """Whether ``page`` (``struct page *``) is a tail page of a compound page."""
    lay, buf = _raw(page, "PageTail")
    if _u(buf, _need_info(lay)) & 1:
        return True
    return lay.info_member == "compound_head" and _head_bit(lay, buf) and _is_fake_head(page, lay)


def compound_head(page: Object) -> Object:
    """The head page of the compound page holding ``page``, else ``page`` itself
    (``struct page *``)."""
    lay, buf = _raw(page, "compound_head")
    address = _page_address(page, "compound_head")
    info = _u(buf, _need_info(lay))
    prog = _prog(page, "compound_head")
    if info & 1:
        head = address & info if lay.has_mask else info - 1
        return Object(prog, "struct page *", head)
    if lay.info_member == "compound_head" and _head_bit(lay, buf):
        nxt = prog.read_u64(address + lay.size + lay.info)
        if nxt & 1:
            return Object(prog, "struct page *", nxt - 1)
    return Object(prog, "struct page *", address)


def compound_order(page: Object) -> Object:
    """The allocation order of the compound page ``page`` heads (``unsigned int``; 0 when
    it is not a head page)."""
    prog = _prog(page, "compound_order")
    if not PageHead(page):
        return Object(prog, "unsigned int", 0)

    folio = cast("struct folio *", page) if has_member(prog, "struct folio", "page") else None
    # 6.1 to 6.5: folio->_folio_order (6.1 has _flags_1 too); 6.6 and later: the low byte
    # of folio->_flags_1; before 6.1: the first tail page's compound_order.
    if folio is not None and has_member(prog, "struct folio", "_folio_order"):
        return Object(prog, "unsigned int", int(folio._folio_order))
    if folio is not None and has_member(prog, "struct folio", "_flags_1"):
        return Object(prog, "unsigned int", int(folio._flags_1) & 0xFF)
    second = Object(prog, "struct page *", _page_address(page, "compound_order") + _layout(prog).size)
    return Object(prog, "unsigned int", int(second.compound_order))


def compound_nr(page: Object) -> Object:
    """The number of pages in the compound page ``page`` heads (``unsigned long``)."""
    return Object(_prog(page, "compound_nr"), "unsigned long", 1 << int(compound_order(page)))


def page_size(page: Object) -> Object:
    """The size in bytes of the compound page ``page`` heads (``unsigned long``)."""
    prog = _prog(page, "page_size")
    return Object(prog, "unsigned long", 1 << (_map(prog).page_shift + int(compound_order(page))))


def page_folio(page: Object) -> Object:
    """The folio holding ``page``: its compound head as ``struct folio *`` (Linux 5.16
    and later, where the kernel has folios)."""
    head = compound_head(page)
    try:
        return cast("struct folio *", head)
    except NotFoundError:
        raise ObjectNotFoundError("this kernel has no folios (no struct folio in BTF)") from None


def folio_page(folio: Object, n: IntegerLike) -> Object:
    """Page ``n`` of ``folio`` (``struct folio *``) as ``struct page *`` (the memory map is
    virtually contiguous: ``&folio->page + n``)."""
    prog = _prog(folio, "folio_page")
    return Object(prog, "struct page *", (int(folio) + integer_value(n) * _layout(prog).size) & _MASK)


def _enumerator(prog: Program, name: str) -> Tuple[Type, int]:
    """The enum type and value of enumerator ``name``."""
    c = prog.constant(name)
    return c.type_, c.value_()
