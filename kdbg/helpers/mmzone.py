"""NUMA nodes, memory zones and SPARSEMEM sections: drgn's ``drgn.helpers.linux.mmzone``,
and the valid page ranges and memory-block helpers of ``drgn.helpers.linux.mm`` that
rest on sections.

Sections: physical memory is cut into sections of ``1 << SECTION_SIZE_BITS`` bytes, each a
``struct mem_section`` whose ``section_mem_map`` holds the section's flags in its low bits
and, above them, the encoded address of its memory map (the map minus the section's first
pfn, so that ``map[pfn]`` is the page). With ``SPARSEMEM_EXTREME`` (every x86-64
distribution kernel) ``mem_section`` points to ``NR_SECTION_ROOTS`` roots of
``SECTIONS_PER_ROOT = PAGE_SIZE / sizeof(struct mem_section)`` sections each.
``SECTION_SIZE_BITS`` and ``MAX_PHYSMEM_BITS`` come from VMCOREINFO (the kernel writes
both), else from the architecture; the flag bits from BTF's anonymous enum of
``SECTION_*_BIT`` (6.0 and later) or the values they had before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Iterator, Mapping, Optional, Tuple

from kdbg.arch import sparsemem_defaults
from kdbg.core.conversions import NULL, container_of
from kdbg.core.default import takes_program_or_default
from kdbg.core.integer import IntegerLike, integer_value
from kdbg.core.object import Object
from kdbg.core.platform import machine_of
from kdbg.core.typeinfo import K_PTR, type_info
from kdbg.errors import NotFoundError, ObjectNotFoundError, ValidationError
from kdbg.helpers.common import deref_if_pointer, global_object, program_cache
from kdbg.helpers.device import bus_for_each_dev
from kdbg.helpers.format import decode_flags
from kdbg.helpers.mm import memory_map
from kdbg.helpers.nodemask import for_each_online_node

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = [
    "NODE_DATA",
    "decode_memory_block_state",
    "decode_memory_block_state_value",
    "for_each_memory_block",
    "decode_section_flags",
    "early_section",
    "early_section_nr",
    "for_each_online_pgdat",
    "for_each_present_section",
    "for_each_valid_page_range",
    "for_each_valid_pfn_and_page",
    "high_wmark_pages",
    "low_wmark_pages",
    "memory_block_size_bytes",
    "min_wmark_pages",
    "nr_to_section",
    "online_section",
    "online_section_nr",
    "pfn_to_section",
    "pfn_to_section_nr",
    "present_section",
    "present_section_nr",
    "section_decode_mem_map",
    "section_mem_map_addr",
    "section_nr_to_pfn",
    "valid_section",
    "valid_section_nr",
    "wmark_pages",
]

Integer = IntegerLike
_MASK64 = (1 << 64) - 1
#: ``SUBSECTION_SHIFT``: sub-sections are 2 MiB on every architecture.
_SUBSECTION_SHIFT = 21


# ------------------------------------------------------------------------------- nodes
@takes_program_or_default
def NODE_DATA(prog: Program, nid: Integer) -> Object:  # noqa: N802 - the kernel's name
    """The memory layout of NUMA node ``nid`` (``struct pglist_data *``)."""
    try:
        node_data = prog["node_data"]
    except NotFoundError:  # CONFIG_NUMA=n
        return global_object(prog, "contig_page_data", "struct pglist_data").address_of_()
    return node_data[integer_value(nid)].read_()


@takes_program_or_default
def for_each_online_pgdat(prog: Program) -> Iterator[Object]:
    """The memory layout of each online NUMA node (``struct pglist_data *``)."""
    for nid in for_each_online_node(prog):
        yield NODE_DATA(prog, nid)


# ------------------------------------------------------------------------------- zones
def wmark_pages(zone: Object, i: Integer) -> int:
    """Watermark ``i`` (``enum zone_watermarks``: ``prog["WMARK_PROMO"]``) of ``zone``
    (``struct zone *``), boost included, in pages."""
    z = deref_if_pointer(zone)
    if z.type_.unaliased().has_member("_watermark"):  # 5.0 and later
        return int(z._watermark[integer_value(i)]) + int(z.watermark_boost)
    return int(z.watermark[integer_value(i)])


def min_wmark_pages(zone: Object) -> int:
    """The zone's minimum watermark (below it, allocations reclaim directly)."""
    return wmark_pages(zone, zone.prog_.constant("WMARK_MIN"))


def low_wmark_pages(zone: Object) -> int:
    """The zone's low watermark (below it, kswapd reclaims)."""
    return wmark_pages(zone, zone.prog_.constant("WMARK_LOW"))


def high_wmark_pages(zone: Object) -> int:
    """The zone's high watermark (above it, kswapd sleeps)."""
    return wmark_pages(zone, zone.prog_.constant("WMARK_HIGH"))


# ---------------------------------------------------------------------------- sections
class _Sections:
    """The SPARSEMEM geometry of a kernel (see the module documentation)."""

    def __init__(self, prog: Program) -> None:
        info = prog.vmcoreinfo

        machine = machine_of(prog)
        defaults = sparsemem_defaults(machine, _l5(prog))

        def number(name: str, which: int) -> int:
            if info is not None and info.has_number(name):
                return info.number(name)
            if defaults is None:
                raise ObjectNotFoundError(f"VMCOREINFO has no NUMBER({name}), and {machine}'s depends on the "
                                          "kernel's configuration")
            return defaults[which]

        self.page_shift = memory_map(prog).page_shift
        self.page_size = 1 << self.page_shift
        self.section_size_bits = number("SECTION_SIZE_BITS", 0)
        physmem = number("MAX_PHYSMEM_BITS", 1)
        self.pfn_section_shift = self.section_size_bits - self.page_shift
        self.pages_per_section = 1 << self.pfn_section_shift
        self.mem_section = global_object(prog, "mem_section", "struct mem_section **")
        t = self.mem_section.type_.unaliased()
        self.indirect = t.kind.name == "POINTER"
        self.extreme = type_info(t.type).kind == K_PTR  # type: ignore[attr-defined]
        section_size = prog.type("struct mem_section").sizeof()
        self.per_root = self.page_size // section_size if self.extreme else 1
        nr_sections = 1 << (physmem - self.section_size_bits)
        self.nr_roots = -(-nr_sections // self.per_root)
        self.flags = _section_flags(prog)
        self.section_t = prog.type("struct mem_section *")

    def highest_present(self, prog: Program) -> int:
        """``__highest_present_section_nr`` (4.13 and later), else the last section."""
        try:
            return int(prog["__highest_present_section_nr"])
        except NotFoundError:
            return self.nr_roots * self.per_root - 1

    def base(self) -> Optional[Object]:
        """What ``mem_section`` indexes by root (``None`` when not yet allocated)."""
        base = self.mem_section.read_() if self.indirect else self.mem_section
        if self.indirect and not int(base):
            return None
        return base

    def root(self, base: Object, nr: int) -> Optional[Object]:
        """Root ``nr`` as a pointer to its first ``struct mem_section`` (``None``: absent)."""
        if self.extreme:
            root = base[nr].read_()
            return root if int(root) else None
        return base[nr].address_of_()


def _l5(prog: Program) -> bool:
    info = prog.vmcoreinfo
    return info is not None and info.pgtable_l5_enabled


def _sections(prog: Program) -> _Sections:
    return program_cache(prog, "mmzone.sections", lambda: _Sections(prog))


#: The section flags before Linux 6.0 made them an enum (their values never changed).
_OLD_SECTION_FLAGS = (
    ("SECTION_MARKED_PRESENT", 0x1), ("SECTION_HAS_MEM_MAP", 0x2), ("SECTION_IS_ONLINE", 0x4),
    ("SECTION_IS_EARLY", 0x8), ("SECTION_TAINT_ZONE_DEVICE", 0x10), ("SECTION_MAP_MASK", _MASK64 & ~0x1F),
)


def _section_flags(prog: Program) -> Mapping[str, int]:
    """``{SECTION_MARKED_PRESENT: 1, ..., SECTION_MAP_MASK: ...}`` of this kernel."""
    try:
        enum = prog.constant("SECTION_MARKED_PRESENT_BIT").type_
    except NotFoundError:
        return dict(_OLD_SECTION_FLAGS)
    flags: Dict[str, int] = {}
    for e in enum.unaliased().enumerators:  # type: ignore[attr-defined]
        if e.name == "SECTION_MAP_LAST_BIT":
            flags["SECTION_MAP_MASK"] = _MASK64 & ~((1 << e.value) - 1)
        elif e.name.endswith("_BIT"):
            flags[e.name[:-4]] = 1 << e.value
    return flags


@takes_program_or_default
def pfn_to_section_nr(prog: Program, pfn: Integer) -> Object:
    """The number of the section holding page frame ``pfn`` (``unsigned long``)."""
    return Object(prog, "unsigned long", (integer_value(pfn) & _MASK64) >> _sections(prog).pfn_section_shift)


@takes_program_or_default
def section_nr_to_pfn(prog: Program, nr: Integer) -> Object:
    """The first page frame of section ``nr`` (``unsigned long``)."""
    return Object(prog, "unsigned long", (integer_value(nr) << _sections(prog).pfn_section_shift) & _MASK64)


@takes_program_or_default
def nr_to_section(prog: Program, nr: Integer) -> Object:
    """Section ``nr`` (``struct mem_section *``; ``NULL`` when its root does not exist)."""
    s = _sections(prog)
    n = integer_value(nr) & _MASK64
    root_nr, index = divmod(n, s.per_root)
    base = s.base() if root_nr < s.nr_roots else None
    root = s.root(base, root_nr) if base is not None else None
    if root is None:
        return NULL(prog, s.section_t)
    return Object(prog, s.section_t, int(root) + index * prog.type("struct mem_section").sizeof())


@takes_program_or_default
def pfn_to_section(prog: Program, pfn: Integer) -> Object:
    """The section holding page frame ``pfn`` (``struct mem_section *``)."""
    return nr_to_section(prog, pfn_to_section_nr(prog, pfn))


def _map_word(section: Object) -> Optional[int]:
    """``section->section_mem_map``, ``None`` for a NULL section."""
    if not int(section):
        return None
    return int(deref_if_pointer(section).section_mem_map)


def _has_flag(section: Object, flag: str) -> bool:
    word = _map_word(section)
    return word is not None and bool(word & _sections(section.prog_).flags.get(flag, 0))


def section_mem_map_addr(section: Object) -> Object:
    """The section's encoded memory map (``struct page *`` such that ``map[pfn]`` is the
    page of ``pfn``)."""
    prog = section.prog_
    word = int(deref_if_pointer(section).section_mem_map)
    return Object(prog, "struct page *", word & _sections(prog).flags["SECTION_MAP_MASK"])


def section_decode_mem_map(section: Object, nr: Integer) -> Object:
    """The memory map of section number ``nr`` (``section``): its first page's
    ``struct page *``."""
    prog = section.prog_
    start = int(section_mem_map_addr(section)) + int(section_nr_to_pfn(prog, nr)) * memory_map(prog).sizeof_page
    return Object(prog, "struct page *", start & _MASK64)


def present_section(section: Object) -> bool:
    """Whether the section (``struct mem_section *``) is present."""
    return _has_flag(section, "SECTION_MARKED_PRESENT")


def valid_section(section: Object) -> bool:
    """Whether the section has a memory map."""
    return _has_flag(section, "SECTION_HAS_MEM_MAP")


def online_section(section: Object) -> bool:
    """Whether the section is online (Linux 4.13 and later)."""
    return _has_flag(section, "SECTION_IS_ONLINE")


def early_section(section: Object) -> bool:
    """Whether the section was created during early boot (Linux 5.3 and later)."""
    return _has_flag(section, "SECTION_IS_EARLY")


@takes_program_or_default
def present_section_nr(prog: Program, nr: Integer) -> bool:
    """Whether section ``nr`` is present."""
    return present_section(nr_to_section(prog, nr))


@takes_program_or_default
def valid_section_nr(prog: Program, nr: Integer) -> bool:
    """Whether section ``nr`` has a memory map."""
    return valid_section(nr_to_section(prog, nr))


@takes_program_or_default
def online_section_nr(prog: Program, nr: Integer) -> bool:
    """Whether section ``nr`` is online."""
    return online_section(nr_to_section(prog, nr))


@takes_program_or_default
def early_section_nr(prog: Program, nr: Integer) -> bool:
    """Whether section ``nr`` was created during early boot."""
    return early_section(nr_to_section(prog, nr))


def decode_section_flags(section: Object) -> str:
    """The section's flags by name
    (``'SECTION_MARKED_PRESENT|SECTION_HAS_MEM_MAP|SECTION_IS_ONLINE|SECTION_IS_EARLY'``)."""
    flags = _sections(section.prog_).flags
    word = int(deref_if_pointer(section).section_mem_map)
    return decode_flags(word & ~flags["SECTION_MAP_MASK"] & _MASK64, flags.items(), False)


def _each_section(prog: Program) -> Iterator[Tuple[int, Optional[Object]]]:
    """``(nr, struct mem_section or None)`` up to the highest present section; ``None``
    for each section of an absent root."""
    s = _sections(prog)
    highest = s.highest_present(prog)
    base = s.base()
    if base is None:
        return
    roots = highest // s.per_root + 1
    if roots > s.nr_roots:
        raise ValidationError(f"__highest_present_section_nr {highest} is beyond the {s.nr_roots} section roots")
    for root_nr in range(roots):
        first = root_nr * s.per_root
        count = highest - first + 1 if root_nr == roots - 1 else s.per_root
        root = s.root(base, root_nr)
        if root is None:
            for i in range(count):
                yield first + i, None
            continue
        for i in range(count):
            yield first + i, root[i]


@takes_program_or_default
def section_root_table(prog: Program) -> Tuple[int, int]:
    """``(address, size)`` of SPARSEMEM_EXTREME's table of section roots (what
    ``mem_section`` points to: ``NR_SECTION_ROOTS`` pointers, each to a root of
    ``SECTIONS_PER_ROOT`` sections); ``(0, 0)`` for a kernel without one."""
    s = _sections(prog)
    base = s.base() if s.indirect and s.extreme else None
    if base is None:
        return 0, 0
    return int(base), s.nr_roots * (prog.type("struct mem_section *").size or 8)


@takes_program_or_default
def for_each_present_section(prog: Program) -> Iterator[Tuple[int, Object]]:
    """``(section number, struct mem_section *)`` of each present section."""
    present = _sections(prog).flags["SECTION_MARKED_PRESENT"]
    for nr, section in _each_section(prog):
        if section is not None and int(section.section_mem_map) & present:
            yield nr, section.address_of_()


@takes_program_or_default
def for_each_valid_page_range(prog: Program) -> Iterator[Tuple[int, int, Object]]:
    """``(start_pfn, end_pfn, mem_map)`` of each run of valid page frames (``end_pfn``
    exclusive; ``mem_map[pfn]`` is the ``struct page`` of ``pfn``, the virtually
    contiguous ``vmemmap``). Validity is the section's memory map, refined to 2 MiB
    sub-sections by ``usage->subsection_map`` for sections not made at boot (5.3 and
    later), as the kernel's ``pfn_valid()`` decides."""
    s = _sections(prog)
    mem_map = Object(prog, "struct page *", memory_map(prog).vmemmap)
    has_mem_map = s.flags["SECTION_HAS_MEM_MAP"]
    is_early = s.flags.get("SECTION_IS_EARLY", 0)
    sub_per_section = 1 << (s.section_size_bits - _SUBSECTION_SHIFT)
    pages_per_sub = 1 << (_SUBSECTION_SHIFT - s.page_shift)
    has_usage = prog.type("struct mem_section").unaliased().has_member("usage")
    start: Optional[int] = None
    for nr, section in _each_section(prog):
        pfn = nr * s.pages_per_section
        word = int(section.section_mem_map) if section is not None else 0
        if not word & has_mem_map:
            if start is not None:
                yield start, pfn, mem_map
                start = None
            continue
        subs = None
        if section is not None and has_usage and not word & is_early:
            usage = section.usage.read_()
            if int(usage) and usage.type_.unaliased().type.has_member("subsection_map"):  # type: ignore[attr-defined]
                subs = int.from_bytes(usage.subsection_map.to_bytes_(), "little") & ((1 << sub_per_section) - 1)
        if subs is None or subs == (1 << sub_per_section) - 1:
            if start is None:
                start = pfn
            continue
        for bit in range(sub_per_section):
            sub_pfn = pfn + bit * pages_per_sub
            if subs >> bit & 1:
                if start is None:
                    start = sub_pfn
            elif start is not None:
                yield start, sub_pfn, mem_map
                start = None
    if start is not None:
        yield start, (s.highest_present(prog) + 1) * s.pages_per_section, mem_map


@takes_program_or_default
def for_each_valid_pfn_and_page(prog: Program) -> Iterator[Tuple[int, Object]]:
    """``(pfn, struct page *)`` of every valid page frame."""
    size = memory_map(prog).sizeof_page
    t = prog.type("struct page *")
    for start, end, mem_map in for_each_valid_page_range(prog):
        base = int(mem_map)
        for pfn in range(start, end):
            yield pfn, Object(prog, t, base + pfn * size)


# ------------------------------------------------------------------------ memory blocks
@takes_program_or_default
def for_each_memory_block(prog: Program) -> Iterator[Object]:
    """Every memory hotplug block (``struct memory_block *``): the devices of the
    ``memory`` bus (``memory_subsys``)."""
    memory_block = prog.type("struct memory_block")
    for dev in bus_for_each_dev(global_object(prog, "memory_subsys", "struct bus_type").address_of_()):
        yield container_of(dev, memory_block, "dev")


@takes_program_or_default
def memory_block_size_bytes(prog: Program) -> Object:
    """The size of a memory hotplug block, the unit of hot(un)plug (``unsigned long``)."""
    per_block = int(prog["sections_per_block"])
    return Object(prog, "unsigned long", (per_block << _sections(prog).section_size_bits) & _MASK64)


#: The memory block states before Linux 6.19 made them an enum.
_OLD_BLOCK_STATES = {
    1 << 0: "MEM_ONLINE", 1 << 1: "MEM_GOING_OFFLINE", 1 << 2: "MEM_OFFLINE", 1 << 3: "MEM_GOING_ONLINE",
    1 << 4: "MEM_CANCEL_ONLINE", 1 << 5: "MEM_CANCEL_OFFLINE", 1 << 6: "MEM_PREPARE_ONLINE",
    1 << 7: "MEM_FINISH_OFFLINE",
}


def decode_memory_block_state(mem: Object) -> str:
    """The state of a memory hotplug block (``struct memory_block *``): ``'MEM_ONLINE'``."""
    return decode_memory_block_state_value(mem.prog_, deref_if_pointer(mem).state)


@takes_program_or_default
def decode_memory_block_state_value(prog: Program, state: Integer) -> str:
    """A memory block state value by name (``enum memory_block_state`` on 6.19 and later,
    the ``MEM_*`` bits before)."""
    value = integer_value(state)
    try:
        enum = prog.type("enum memory_block_state")
    except NotFoundError:
        if value not in _OLD_BLOCK_STATES:
            raise KeyError(value) from None
        return _OLD_BLOCK_STATES[value]
    return Object(prog, enum, value).format_(type_name=False)
