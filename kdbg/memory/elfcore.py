"""ELF vmcores (QEMU ``dump-guest-memory``, ``/proc/vmcore`` copies, makedumpfile -E).

Headers are read with :mod:`struct`; memory is found through the physical addresses
(``p_paddr``) of the ``PT_LOAD`` segments, kept in a sorted table searched with ``bisect``.
Bytes come from an ``mmap`` of the file (never read whole). A segment's bytes between
``p_filesz`` and ``p_memsz`` are pages a dump filter dropped (``makedumpfile -E -d N``
writes excluded pages that way): reading them raises ``FaultError`` saying the page was
excluded, as crash does without ``--zero_excluded``, rather than inventing zeros.

Only the machines :mod:`kdbg.arch` supports (x86-64, arm64; 64-bit little-endian) are
read: ``EI_CLASS``, ``EI_DATA`` and ``e_machine`` are checked first and any other machine is
refused by name. A core cut short (disk full, an interrupted copy)
opens with one line in :attr:`ElfPhysicalMemory.warnings` saying how much is missing;
pages past the cut raise :class:`~kdbg.errors.FaultError` ("page missing from the
truncated dump"), worded as the kdump reader words it.
"""

from __future__ import annotations

import bisect
import struct
from typing import List, Optional, Tuple

from kdbg.arch import image_phys_base
from kdbg.errors import CoreError, FaultError
from kdbg.memory.fileview import PAGE_MISSING, RawFile, truncation_warning
from kdbg.memory.machine import dump_machine, elf_machine_name, require_supported
from kdbg.memory.physical import PhysicalMemory, merge_ranges, notes_to_info, parse_elf_notes

__all__ = ["ElfSegment", "ElfHeaders", "read_elf_headers", "ElfPhysicalMemory"]

PT_LOAD = 1
PT_NOTE = 4
ET_CORE = 4
ELF64_PHDR_SIZE = 56
#: Elf64_Phdr: p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align.
_PHDR = struct.Struct("<IIQQQQQQ")
_U16 = struct.Struct("<H")
_U16X2 = struct.Struct("<HH")
_U64 = struct.Struct("<Q")
#: ``e_type`` names, as error messages give them.
_E_TYPES = {0: "ET_NONE", 1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE"}
#: Notes larger than this are not read (real vmcores have a few hundred KiB at most).
MAX_NOTES_SIZE = 64 << 20
#: Most segments accepted (QEMU writes one per RAM block; real dumps have < 10,000).
MAX_SEGMENTS = 1 << 20


class ElfSegment:
    """One ``PT_LOAD``: ``[start, start + memsz)`` of some address space."""

    __slots__ = ("start", "end", "offset", "filesz", "vaddr", "paddr")

    def __init__(
        self, start: int, memsz: int, offset: int, filesz: int, vaddr: int, paddr: int
    ) -> None:
        self.start = start
        self.end = start + memsz
        self.offset = offset
        self.filesz = filesz
        self.vaddr = vaddr
        self.paddr = paddr

    def __repr__(self) -> str:
        return f"ElfSegment({self.start:#x}-{self.end:#x} @ {self.offset:#x})"


class ElfHeaders:
    """What the ELF headers of a core say: load segments and notes."""

    def __init__(self) -> None:
        self.loads: List[Tuple[int, int, int, int, int]] = []  # vaddr, paddr, off, filesz, memsz
        self.notes: List[tuple] = []
        self.machine: str = ""


def _check_ident(head: bytes, path: str) -> None:
    if len(head) < 20 or head[:4] != b"\x7fELF":
        raise CoreError(f"{path}: not an ELF file")
    require_supported(path, elf_machine_name(head))
    if head[4] != 2 or head[5] != 1:
        raise CoreError(f"{path}: ELF header has an invalid EI_CLASS/EI_DATA ({head[4]}/{head[5]})")


def read_elf_headers(f: RawFile) -> ElfHeaders:
    """Parse program headers and notes of an ELF core with bounds checks; ``CoreError``.

    The 64-byte header and the program header table are decoded with :mod:`struct`
    (importing pyelftools would cost more than the rest of opening a dump).
    """
    path = f.path
    size = f.size
    head = f.pread(0, min(size, 64))
    _check_ident(head, path)
    if size < 64:
        raise CoreError(f"{path}: file too short for an ELF header ({size} bytes)")
    e_type = _U16.unpack_from(head, 16)[0]
    e_phoff = _U64.unpack_from(head, 32)[0]
    e_phentsize, e_phnum = _U16X2.unpack_from(head, 54)
    if e_phnum == 0xFFFF:  # PN_XNUM: real count in section header 0's sh_info
        e_shoff = _U64.unpack_from(head, 40)[0]
        if e_shoff == 0 or e_shoff + 64 > size:
            raise CoreError(f"{path}: PN_XNUM set but no section header 0")
        e_phnum = int.from_bytes(f.pread(e_shoff + 44, 4), "little")
    if e_phnum == 0:
        raise CoreError(f"{path}: ELF file has no program headers")
    if e_phentsize != ELF64_PHDR_SIZE:
        raise CoreError(f"{path}: bad program header size {e_phentsize}")
    if e_phnum > MAX_SEGMENTS or e_phoff + e_phnum * ELF64_PHDR_SIZE > size:
        raise CoreError(
            f"{path}: program header table ({e_phnum} entries at {e_phoff:#x}) lies past the "
            "end of the file (truncated or corrupt)"
        )
    if e_type != ET_CORE:
        name = _E_TYPES.get(e_type)
        raise CoreError(f"{path}: ELF file is {name}, not a core dump" if name else
                        f"{path}: ELF file type {e_type} is not ET_CORE")
    hdrs = ElfHeaders()
    hdrs.machine = elf_machine_name(head)  # checked by _check_ident
    table = f.pread(e_phoff, e_phnum * ELF64_PHDR_SIZE)
    for p_type, _flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, _align in \
            _PHDR.iter_unpack(table):
        if p_type == PT_LOAD:
            hdrs.loads.append((p_vaddr, p_paddr, p_offset, p_filesz, p_memsz))
        elif p_type == PT_NOTE:
            _add_notes(f, hdrs, p_offset, p_filesz)
    return hdrs


def _add_notes(f: RawFile, hdrs: ElfHeaders, offset: int, filesz: int) -> None:
    if filesz == 0:
        return
    if filesz > MAX_NOTES_SIZE or offset + filesz > f.size:
        raise CoreError(
            f"{f.path}: PT_NOTE ({filesz} bytes at {offset:#x}) lies past the end of the file"
        )
    hdrs.notes.extend(parse_elf_notes(f.pread(offset, filesz)))


def build_segment_table(
    loads: List[Tuple[int, int, int, int, int]], file_size: int, physical: bool
) -> List[ElfSegment]:
    """Sorted, validated segments keyed by physical (or virtual) address."""
    segs: List[ElfSegment] = []
    for vaddr, paddr, off, filesz, memsz in loads:
        start = paddr if physical else vaddr
        if physical and paddr == (1 << 64) - 1:
            continue  # kcore: no physical address for this segment
        if memsz == 0 or start + memsz > 1 << 64:
            continue
        if filesz > memsz:
            filesz = memsz
        segs.append(ElfSegment(start, memsz, off, filesz, vaddr, paddr))
    segs.sort(key=lambda s: (s.start, -s.end))
    # Overlapping segments (e.g. QEMU -p maps the same RAM at several virtual addresses)
    # hold the same bytes: keep each address once, trimming later segments.
    out: List[ElfSegment] = []
    covered = -1
    for s in segs:
        if s.end <= covered:
            continue
        if s.start < covered:
            delta = covered - s.start
            s = ElfSegment(
                covered,
                s.end - covered,
                s.offset + delta,
                max(0, s.filesz - delta),
                s.vaddr + delta,
                s.paddr + delta,
            )
        out.append(s)
        covered = s.end
    return out


class ElfPhysicalMemory(PhysicalMemory):
    """Physical memory of an ELF vmcore."""

    def __init__(self, path: str) -> None:
        self.file = RawFile(path)
        try:
            self._init(path)
        except BaseException:
            self.file.close()
            raise

    def _init(self, path: str) -> None:
        self.path = path
        self.format_name = f"ELF vmcore {path}"
        hdrs = read_elf_headers(self.file)
        self.notes = list(hdrs.notes)
        self.vmcoreinfo, self.prstatus = notes_to_info(hdrs.notes)
        if self.vmcoreinfo is not None and "PAGESIZE" in self.vmcoreinfo:
            ps = self.vmcoreinfo.page_size
            if ps in (4096, 8192, 16384, 65536):
                self.page_size = ps
        self.segments = build_segment_table(hdrs.loads, self.file.size, physical=True)
        if not self.segments:
            raise CoreError(f"{path}: ELF core has no PT_LOAD segments with memory")
        self._starts = [s.start for s in self.segments]
        self.max_physical_address = max(s.end for s in self.segments)
        self._map = self.file.mapping
        #: One line per problem the dump has as a whole (today: cut short).
        self.warnings: List[str] = []
        expected = max((off + filesz for _v, _p, off, filesz, _m in hdrs.loads), default=0)
        if expected > self.file.size:
            self.warnings.append(
                truncation_warning(path, expected - self.file.size, expected)
            )
        self.machine = dump_machine(path, hdrs.machine, self.vmcoreinfo)
        # A kernel-text segment (kexec's /proc/vmcore) gives phys_base directly.
        self.phys_base_hint = image_phys_base(self.machine, [(v, p) for v, p, _o, _f, _m in hdrs.loads])

    def _segment(self, address: int) -> Optional[ElfSegment]:
        i = bisect.bisect_right(self._starts, address) - 1
        if i < 0:
            return None
        s = self.segments[i]
        if address < s.end:
            return s
        return None

    def ranges(self) -> List[Tuple[int, int]]:
        """The ``PT_LOAD`` ranges' file data (``p_filesz``, as far as the file goes)."""
        fsize = self.file.size
        return merge_ranges((s.start, s.start + max(0, min(s.filesz, fsize - s.offset))) for s in self.segments)

    def is_present(self, pfn: int) -> bool:
        """Whether a ``PT_LOAD`` covers page ``pfn`` (its file data or, for pages a filter
        dropped, only its ``p_memsz``)."""
        return self._segment(pfn * self.page_size) is not None

    def read(self, address: int, size: int) -> bytes:
        """Exactly ``size`` bytes of physical memory at ``address``."""
        # Fast path: the whole read inside the file part of one segment.
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0:
            s = self.segments[i]
            rel = address - s.start
            if rel + size <= s.filesz:
                fo = s.offset + rel
                m = self._map
                if m is not None and fo + size <= len(m):
                    return m[fo : fo + size]
        return self._read_slow(address, size)

    def _read_slow(self, address: int, size: int) -> bytes:
        parts: List[bytes] = []
        pos = address
        end = address + size
        fsize = self.file.size
        while pos < end:
            s = self._segment(pos)
            if s is None:
                raise FaultError(self.not_held(pos // self.page_size, "physical address not in the dump"), pos,
                                 physical=True)
            chunk_end = min(end, s.end)
            rel = pos - s.start
            if rel < s.filesz:
                n = min(chunk_end - pos, s.filesz - rel)
                fo = s.offset + rel
                if fo + n > fsize:
                    bad = pos + max(0, fsize - fo)
                    raise FaultError(
                        f"{PAGE_MISSING} (its data is past the end of the file)", bad, True
                    )
                parts.append(self.file.pread(fo, n))
                pos += n
            else:
                raise FaultError(
                    "page excluded from the dump (past the ELF segment's file data)", pos, physical=True
                )
        return b"".join(parts)

    def close(self) -> None:
        """Close the file."""
        self.file.close()
        self._map = None
