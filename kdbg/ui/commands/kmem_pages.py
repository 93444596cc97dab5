"""``kmem -g`` and ``kmem -p``: crash's page flags and page structs.

``kmem -g [FLAGS]`` is crash's ``dump_page_flags``: every ``PG_`` enumerator of the
kernel's ``enum pageflags`` (aliases such as ``PG_checked`` included, in the enum's order)
with its bit and value, or, given a flags word, the ones set in it under ``FLAGS: <hex>``.
The names are padded to the longest enumerator of the enum (``__NR_PAGEFLAGS`` too) and the
values to crash's width, ``(largest bit + 1) / 4 + 1`` hex digits.

``kmem -p [ADDR]`` is crash's ``dump_mem_map``: ``PAGE PHYSICAL MAPPING INDEX CNT FLAGS``
for every page of every present memory section, or for the page an address names (a
``struct page`` address, a kernel virtual address of the direct map, or a physical
address), the flags word in hex followed by the lower-case names of its flags as crash
writes them (``uptodate,lru,reserved``).
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Tuple

from kdbg.core.conversions import offsetof
from kdbg.errors import ExpressionError, KdbgError
from kdbg.helpers.common import program_cache
from kdbg.helpers.mm import in_direct_map, memory_map
from kdbg.helpers.mmzone import for_each_present_section, pfn_to_section_nr, section_nr_to_pfn
from kdbg.ui.commands import centred

__all__ = ["page_flag_rows", "page_flags_lines", "page_header", "page_line", "page_of_address", "page_rows"]


def _pageflags(prog: Any) -> List[Tuple[str, int]]:
    try:
        return [(e.name, e.value) for e in prog.type("enum pageflags").enumerators]
    except LookupError:
        raise ExpressionError("kmem -g: enum pageflags does not exist in this kernel") from None


def page_flag_rows(prog: Any, flags: int = 0) -> List[Tuple[str, int]]:
    """``(PG_name, bit)`` of each ``PG_`` enumerator of ``enum pageflags``, in the enum's
    order; with ``flags``, only the bits set in it."""
    return [(n, v) for n, v in _pageflags(prog) if "PG_" in n and (not flags or flags >> v & 1)]


def page_flags_lines(prog: Any, flags: int = 0) -> List[str]:
    """crash's ``kmem -g [FLAGS]``."""
    every = _pageflags(prog)
    longest = max(len(n) for n, _v in every)
    largest = max(v for n, v in every if "PG_" in n)
    digits = (largest + 1) // 4 + 1
    indent = "  " if flags else ""
    out = [f"FLAGS: {flags:x}"] if flags else []
    out.append(f"{indent}{'PAGE-FLAG':<{longest}} BIT  VALUE")
    rows = page_flag_rows(prog, flags)
    out += [f"{indent}{n:<{longest}}  {v:2d}  {1 << v:0{digits}x}" for n, v in rows]
    if flags and not rows:
        out.append("  (none found)")
    return out


def page_of_address(prog: Any, address: int) -> Optional[int]:
    """The page frame number an address names for ``kmem -p ADDR``, as crash takes it: a
    ``struct page`` of the memory map, else a kernel virtual address of the direct map,
    else a physical address; ``None`` when the frame is in no present memory section."""
    mm = memory_map(prog)
    if mm.vmemmap <= address < mm.page_address(mm.max_pfn):
        pfn = (address - mm.vmemmap) // mm.sizeof_page
    elif in_direct_map(prog, address):
        pfn = (address - mm.page_offset_base) >> mm.page_shift
    elif address < 1 << 52:
        pfn = address >> mm.page_shift
    else:
        return None
    return pfn if _present(prog, pfn) else None


def _present(prog: Any, pfn: int) -> bool:
    s = pfn_to_section_nr(prog, pfn)
    return any(nr == int(s) for nr, _section in for_each_present_section(prog))


def _flag_names(prog: Any) -> List[Tuple[int, str]]:
    """``(mask, name)`` crash's ``kmem -p`` writes for the flags: the kernel's own
    ``pageflag_names`` (``%pGp``'s), where kallsyms has it; else each bit's first ``enum
    pageflags`` name below ``__NR_PAGEFLAGS``, lower case, without ``PG_``."""
    def load() -> List[Tuple[int, str]]:
        try:
            table = prog["pageflag_names"]
            out = []
            for entry in table:
                if not int(entry.name):
                    break
                out.append((int(entry.mask), entry.name.string_().decode("ascii", "replace")))
            return out
        except (KdbgError, LookupError):
            pass
        limit = None
        names: Dict[int, str] = {}
        for n, v in _pageflags(prog):
            if n == "__NR_PAGEFLAGS":
                limit = v
            elif n.startswith("PG_") and v not in names:
                names[v] = n[3:].lower()
        return sorted((1 << v, n) for v, n in names.items() if limit is None or v < limit)
    return program_cache(prog, "kmem.pageflag_names", load)


class _PageReader:
    """Reads ``struct page`` fields of runs of the memory map in bulk."""

    def __init__(self, prog: Any) -> None:
        t = prog.type("struct page")
        self.prog = prog
        self.size = memory_map(prog).sizeof_page
        self.mapping = offsetof(t, "mapping")
        self.index = offsetof(t, "index")
        self.count = offsetof(t, "_refcount")
        self.shift = memory_map(prog).page_shift
        self.names = _flag_names(prog)

    def rows(self, first_pfn: int, n: int) -> Iterator[Dict[str, Any]]:
        mm = memory_map(self.prog)
        base = mm.page_address(first_pfn)
        data = self.prog.read(base, n * self.size)
        for i in range(n):
            off = i * self.size
            flags = int.from_bytes(data[off:off + 8], "little")
            yield {"page": base + off, "physical": (first_pfn + i) << self.shift,
                   "mapping": int.from_bytes(data[off + self.mapping:off + self.mapping + 8], "little"),
                   "index": int.from_bytes(data[off + self.index:off + self.index + 8], "little"),
                   "count": int.from_bytes(data[off + self.count:off + self.count + 4], "little", signed=True),
                   "flags": flags, "names": [name for mask, name in self.names if flags & mask] if flags else []}


def page_rows(prog: Any, pfn: Optional[int] = None) -> Iterator[Dict[str, Any]]:
    """``kmem -p``'s rows: ``page``, ``physical``, ``mapping``, ``index``, ``count``
    (``_refcount``), ``flags`` and the ``names`` of its flags; of every page of every
    present memory section, as crash walks them, or of frame ``pfn`` only."""
    reader = _PageReader(prog)
    if pfn is not None:
        yield from reader.rows(pfn, 1)
        return
    per_section = int(section_nr_to_pfn(prog, 1))
    chunk = 4096
    for nr, _section in for_each_present_section(prog):
        first = nr * per_section
        for start in range(first, first + per_section, chunk):
            yield from reader.rows(start, min(chunk, first + per_section - start))


def page_header(prog: Any) -> str:
    """crash's header of ``kmem -p`` (64-bit addresses; the physical column as wide as the
    highest physical address)."""
    return f"{centred('PAGE', 16, False)} {'PHYSICAL':>{_phys_width(prog)}} {centred('MAPPING', 16, True)} " \
           f"{centred('INDEX', 8, True)}CNT FLAGS"


def _phys_width(prog: Any) -> int:
    mm = memory_map(prog)
    return max(len(f"{mm.max_pfn << mm.page_shift:x}"), len("PHYSICAL"))


def page_line(prog: Any, r: Dict[str, Any]) -> str:
    """One ``kmem -p`` row as crash prints it."""
    names = (" " + ",".join(r["names"])) if r["names"] else ""
    return (f"{r['page']:<16x} {r['physical']:{_phys_width(prog)}x} {r['mapping']:16x} {r['index']:8x} "
            f"{r['count']:2d} {r['flags']:x}{names}")
