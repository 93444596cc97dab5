"""kdump-compressed dumps (makedumpfile ``-c/-l/-p/-z``, QEMU ``dump-guest-memory -z``).

Layout (makedumpfile ``diskdump_mod.h``; all little-endian on x86-64), in blocks of
``block_size`` (the page size):

* block 0: ``disk_dump_header`` (signature ``"KDUMP   "`` or ``"DISKDUMP"``,
  ``header_version``, utsname, ``block_size``, ``sub_hdr_size``, ``bitmap_blocks``,
  ``max_mapnr``, ...);
* blocks 1..: ``kdump_sub_header`` (``phys_base``; v1 ``dump_level``; v2 ``split``,
  ``start_pfn``, ``end_pfn``; v3 ``offset_vmcoreinfo``/``size_vmcoreinfo``; v4
  ``offset_note``/``size_note``; v5 ``offset_eraseinfo``/``size_eraseinfo``; v6
  ``start_pfn_64``, ``end_pfn_64``, ``max_mapnr_64``);
* ``bitmap_blocks`` blocks of bitmaps: the 1st half says which pfns exist in memory, the
  2nd which are dumped;
* ``page_desc`` array (``offset``, ``size``, ``flags``, ``page_flags``: 24 bytes), one per
  dumped pfn in pfn order; then page data.

A pfn set in the 1st bitmap but not in the 2nd was excluded by the dump filter (free,
cache, user or zero pages): reading it raises :class:`~kdbg.errors.FaultError` saying it
was "excluded from the dump".

Every failure of one page is a :class:`~kdbg.errors.FaultError` at the page's physical
address, worded as the ELF reader words it: "page missing from the truncated dump" (its
descriptor or data lie past the end of a cut-short file or stream), "page data is corrupt"
(it does not decompress to one page), "page descriptor is corrupt". A dump that cannot be
used at all (bad header, headers or bitmaps cut off, another architecture, a codec this
Python lacks) is a :class:`~kdbg.errors.CoreError` at open. A dump cut short opens with one
line in :attr:`KdumpPhysicalMemory.warnings` saying how much is missing.
"""

from __future__ import annotations

import contextlib
import re
import struct
from typing import List, Optional, Tuple

from kdbg.errors import CoreError, FaultError
from kdbg.memory.decompress import decompress_page, require_codec
from kdbg.memory.fileview import PAGE_MISSING, FileView, truncation_warning
from kdbg.memory.machine import dump_machine, require_supported
from kdbg.memory.pagecache import PageCache
from kdbg.memory.physical import PhysicalMemory, notes_to_info, page_spans, parse_elf_notes
from kdbg.memory.vmcoreinfo import VMCoreInfo

__all__ = ["KDUMP_SIGNATURE", "DISKDUMP_SIGNATURE", "DISK_DUMP_HEADER_SIZE", "HEADER_TAIL", "HEADER_TAIL_OFFSET",
           "SUB_HEADER", "PAGE_DESC", "KdumpHeader", "KdumpPhysicalMemory", "DL_EXCLUDE_ZERO", "DL_EXCLUDE_CACHE",
           "DL_EXCLUDE_CACHE_PRI", "DL_EXCLUDE_USER_DATA", "DL_EXCLUDE_FREE", "MAX_DUMP_LEVEL"]

KDUMP_SIGNATURE = b"KDUMP   "
DISKDUMP_SIGNATURE = b"DISKDUMP"
DISK_DUMP_HEADER_SIZE = 464
# signature[8], header_version, utsname(6*65), pad, timeval(16), status, block_size,
# sub_hdr_size, bitmap_blocks, max_mapnr, total_ram_blocks, device_blocks, written_blocks,
# current_cpu, nr_cpus
HEADER_TAIL = struct.Struct("<IiiIIIIIIi")
HEADER_TAIL_OFFSET = 424
#: ``kdump_sub_header``: phys_base, dump_level, split, start_pfn, end_pfn,
#: offset_vmcoreinfo, size_vmcoreinfo, offset_note, size_note, offset_eraseinfo,
#: size_eraseinfo, start_pfn_64, end_pfn_64, max_mapnr_64.
SUB_HEADER = struct.Struct("<Qii QQ qQ qQ qQ QQQ")
PAGE_DESC = struct.Struct("<qIIQ")
DUMP_DH_COMPRESSED_INCOMPLETE = 0x8
#: ``kdump_sub_header.dump_level``: makedumpfile's ``-d`` bits, the kinds of pages it left
#: out (``makedumpfile.h``): zero pages, cache pages, private cache pages, user data, free
#: pages; crash's ``sys`` says ``[PARTIAL DUMP]`` when it is not 0.
DL_EXCLUDE_ZERO = 0x01
DL_EXCLUDE_CACHE = 0x02
DL_EXCLUDE_CACHE_PRI = 0x04
DL_EXCLUDE_USER_DATA = 0x08
DL_EXCLUDE_FREE = 0x10
#: Every kind left out (``makedumpfile -d 31``): makedumpfile's ``MAX_DUMP_LEVEL``.
MAX_DUMP_LEVEL = DL_EXCLUDE_ZERO | DL_EXCLUDE_CACHE | DL_EXCLUDE_CACHE_PRI | DL_EXCLUDE_USER_DATA | DL_EXCLUDE_FREE
#: Largest VMCOREINFO / note area accepted from the sub-header.
MAX_NOTE_AREA = 64 << 20
#: Bitmap bytes covered by one rank checkpoint.
RANK_CHUNK = 512
#: Page descriptors read at a time when looking for the end of the page data.
DESC_CHUNK = 4096
#: At most this many chunks are read back from the end of the descriptor table (a tail of
#: zero pages all point at the one shared zero page and say nothing about the end).
MAX_DESC_CHUNKS = 64

_POPCOUNT = bytes(bin(i).count("1") for i in range(256))


def _popcount(b: bytes) -> int:
    """Number of set bits in ``b``."""
    if _HAS_BIT_COUNT:
        return int(getattr(int.from_bytes(b, "little"), "bit_count")())  # noqa: B009
    return sum(b.translate(_POPCOUNT))


_HAS_BIT_COUNT = hasattr(int, "bit_count")


#: Bitmap bytes with a page stored, and runs of 8 stored pages.
_NONZERO = re.compile(rb"[^\x00]+")
_FULL = re.compile(rb"\xff+")


class KdumpHeader:
    """The decoded ``disk_dump_header`` and ``kdump_sub_header``."""

    signature: bytes
    header_version: int
    release: str
    machine: str
    status: int
    block_size: int
    sub_hdr_size: int
    bitmap_blocks: int
    max_mapnr: int
    nr_cpus: int
    phys_base: Optional[int] = None
    dump_level: Optional[int] = None
    split: int = 0
    start_pfn: Optional[int] = None
    end_pfn: Optional[int] = None
    offset_vmcoreinfo: int = 0
    size_vmcoreinfo: int = 0
    offset_note: int = 0
    size_note: int = 0
    offset_eraseinfo: int = 0
    size_eraseinfo: int = 0

    @classmethod
    def parse(cls, f: FileView) -> KdumpHeader:
        """Read and validate both headers from ``f``; ``CoreError`` when malformed."""
        path = f.path
        if f.size < DISK_DUMP_HEADER_SIZE:
            raise CoreError(f"{path}: file too short for a kdump header ({f.size} bytes)")
        raw = f.pread(0, DISK_DUMP_HEADER_SIZE)
        h = cls()
        h.signature = raw[:8]
        if h.signature not in (KDUMP_SIGNATURE, DISKDUMP_SIGNATURE):
            raise CoreError(f"{path}: not a kdump-compressed file (signature {raw[:8]!r})")
        h.header_version = int.from_bytes(raw[8:12], "little", signed=True)
        uts = [raw[12 + 65 * i : 12 + 65 * (i + 1)].split(b"\0", 1)[0] for i in range(6)]
        h.release = uts[2].decode("latin-1")
        h.machine = uts[4].decode("latin-1")
        if not h.machine.isprintable():
            h.machine = repr(uts[4])
        (
            h.status,
            h.block_size,
            h.sub_hdr_size,
            h.bitmap_blocks,
            mapnr32,
            _total_ram,
            _device,
            _written,
            _cpu,
            h.nr_cpus,
        ) = HEADER_TAIL.unpack_from(raw, HEADER_TAIL_OFFSET)
        h.max_mapnr = mapnr32
        bs = h.block_size
        if bs <= 0 or bs & (bs - 1) or not 512 <= bs <= 1 << 20:
            raise CoreError(f"{path}: kdump block_size {bs} is not a plausible page size")
        if h.header_version < 0 or h.header_version > 64:
            raise CoreError(f"{path}: kdump header_version {h.header_version} is not plausible")
        if h.machine not in ("", "Unknown"):  # else decided once VMCOREINFO is read
            require_supported(path, h.machine)
        if h.sub_hdr_size < 0 or h.bitmap_blocks == 0:
            raise CoreError(
                f"{path}: kdump header has sub_hdr_size {h.sub_hdr_size}, "
                f"bitmap_blocks {h.bitmap_blocks}"
            )
        meta_end = (1 + h.sub_hdr_size + h.bitmap_blocks) * bs
        if meta_end > f.size:
            raise CoreError(
                f"{path}: kdump headers and bitmaps ({meta_end:#x} bytes) extend past the end "
                f"of the file ({f.size:#x} bytes; truncated inside them, or corrupt): no page "
                "can be located"
            )
        if h.signature == KDUMP_SIGNATURE and h.sub_hdr_size > 0:
            n = min(SUB_HEADER.size, h.sub_hdr_size * bs)
            if f.missing(bs, n) is not None:
                raise CoreError(f"{path}: the kdump sub-header is missing (truncated dump)")
            sub = f.pread(bs, n)
            sub = sub + bytes(SUB_HEADER.size - len(sub))
            v = SUB_HEADER.unpack(sub)
            h.phys_base = v[0]
            hv = h.header_version
            if hv >= 1:
                h.dump_level = v[1]
            if hv >= 2:
                h.split = v[2]
                h.start_pfn, h.end_pfn = v[3], v[4]
            if hv >= 3:
                h.offset_vmcoreinfo, h.size_vmcoreinfo = v[5], v[6]
            if hv >= 4:
                h.offset_note, h.size_note = v[7], v[8]
            if hv >= 5:
                h.offset_eraseinfo, h.size_eraseinfo = v[9], v[10]
            if hv >= 6:
                h.start_pfn, h.end_pfn, h.max_mapnr = v[11], v[12], v[13]
        return h


class KdumpPhysicalMemory(PhysicalMemory):
    """Physical memory of a kdump-compressed file (plain or through a flattened view)."""

    def __init__(self, f: FileView, cache_pages: int = 4096, format_name: str = "") -> None:
        self.file = f
        self.path = f.path
        try:
            self._init(cache_pages, format_name)
        except BaseException:
            f.close()
            raise

    def _init(self, cache_pages: int, format_name: str) -> None:
        f = self.file
        path = f.path
        h = self.header = KdumpHeader.parse(f)
        self.format_name = format_name or f"kdump-compressed dump {path}"
        bs = self.page_size = h.block_size
        self._page_shift = bs.bit_length() - 1
        self.phys_base_hint = h.phys_base
        self.prstatus: List[bytes] = []
        self.vmcoreinfo: Optional[VMCoreInfo] = None
        # Notes (v4+) carry PRSTATUS and usually VMCOREINFO; the v3 fields point at the text.
        self.machine = h.machine
        self.notes: List[tuple] = []
        if (
            0 < h.size_note <= MAX_NOTE_AREA
            and h.offset_note > 0
            and f.missing(h.offset_note, h.size_note) is None
        ):
            self.notes = parse_elf_notes(f.pread(h.offset_note, h.size_note))
            self.vmcoreinfo, self.prstatus = notes_to_info(self.notes)
        if (
            0 < h.size_vmcoreinfo <= 1 << 20
            and h.offset_vmcoreinfo > 0
            and f.missing(h.offset_vmcoreinfo, h.size_vmcoreinfo) is None
        ):
            with contextlib.suppress(CoreError):
                self.vmcoreinfo = VMCoreInfo.parse(f.pread(h.offset_vmcoreinfo, h.size_vmcoreinfo))
        # QEMU and makedumpfile fill it; an empty one or QEMU 7.2's arm64 "Unknown": ask
        # VMCOREINFO. The block size is the dump's own unit (QEMU 7.2 writes arm64 dumps in
        # 64 KiB blocks whatever the guest's page size); the kernel's is VMCOREINFO's.
        self.machine = dump_machine(path, h.machine, self.vmcoreinfo)
        require_codec(h.status)
        # Bitmaps: the file size bounds them (checked in KdumpHeader.parse).
        bm_off = (1 + h.sub_hdr_size) * bs
        bm_len = h.bitmap_blocks * bs
        half = bm_len // 2
        if half == 0:
            raise CoreError(f"{path}: kdump bitmap is empty")
        self._bitmap1 = f.pread(bm_off, half)
        self._bitmap2 = f.pread(bm_off + half, half)
        self.max_mapnr = min(h.max_mapnr, half * 8) if h.max_mapnr else half * 8
        # A cut-short flattened stream may lack later bitmap blocks (makedumpfile writes the
        # 2nd bitmap cycle by cycle): pfns from the first missing byte on cannot be located.
        self._pfn_known = self.max_mapnr
        if f.truncated:
            for base in (bm_off, bm_off + half):
                hole = f.missing(base, half)
                if hole is not None:
                    self._pfn_known = min(self._pfn_known, (hole - base) * 8)
        self._bm_off = bm_off
        self._desc_off = bm_off + bm_len
        self.max_physical_address = self.max_mapnr << self._page_shift
        self._ranks: Optional[List[int]] = None
        self._split_base = 0
        self._pfn_lo = 0
        self._pfn_hi = self.max_mapnr
        if h.split and h.start_pfn is not None and h.end_pfn is not None:
            self._pfn_lo = max(0, h.start_pfn)
            self._pfn_hi = min(self.max_mapnr, h.end_pfn)
            self._split_base = self._rank(self._pfn_lo)
        self.incomplete = bool(h.status & DUMP_DH_COMPRESSED_INCOMPLETE)
        self.cache = PageCache(self._load_page, cache_pages)
        self.warnings: List[str] = []
        self._truncated = False
        self._end_known = True
        self._check_complete()

    # -- completeness -------------------------------------------------------------------

    def _descriptor_count(self, pfn_end: int) -> int:
        """Number of this file's page descriptors for the pfns below ``pfn_end``."""
        return max(0, self._rank(min(pfn_end, self._pfn_hi)) - self._split_base)

    def data_end(self) -> Optional[int]:
        """Where the page data ends in the file, from the tail of the descriptor table.

        Page data is written in pfn order, every zero page sharing one copy at the start
        of the data, so the last descriptor pointing past that copy ends the data. ``None``
        when the tail of the table is not in the file or holds only zero pages.
        """
        f = self.file
        total = self._descriptor_count(self._pfn_hi)
        data_start = self._desc_off + total * PAGE_DESC.size
        hi = total
        for _ in range(MAX_DESC_CHUNKS):
            if hi <= 0:
                break
            lo = max(0, hi - DESC_CHUNK)
            off = self._desc_off + lo * PAGE_DESC.size
            n = (hi - lo) * PAGE_DESC.size
            if f.missing(off, n) is not None:
                return None
            descs = list(PAGE_DESC.iter_unpack(f.pread(off, n)))
            end = next((o + z for o, z, _f, _p in reversed(descs) if o > data_start), 0)
            if not end and lo == 0:
                end = max((o + z for o, z, _f, _p in descs if o == data_start), default=0)
            if end:
                return end
            hi = lo
        return None

    def missing_pages(self) -> Tuple[int, int]:
        """``(missing, total)``: dumped pages whose descriptor or data the file lacks (or
        that makedumpfile, out of space, left blank), of all the dumped pages.

        One pass over the descriptors the file holds (only cut-short dumps pay for it).
        """
        f = self.file
        total = self._descriptor_count(self._pfn_hi)
        known = self._descriptor_count(self._pfn_known)
        lost = total - known
        size = PAGE_DESC.size
        blank = self.incomplete
        for lo in range(0, known, DESC_CHUNK):
            hi = min(known, lo + DESC_CHUNK)
            off = self._desc_off + lo * size
            descs: List[Tuple[int, ...]] = []
            if f.missing(off, (hi - lo) * size) is None:
                descs = list(PAGE_DESC.iter_unpack(f.pread(off, (hi - lo) * size)))
            else:
                for i in range(lo, hi):
                    if f.missing(off + (i - lo) * size, size) is None:
                        descs.append(PAGE_DESC.unpack(f.pread(off + (i - lo) * size, size)))
                    else:
                        lost += 1
            for o, z, _f, _p in descs:
                if o > 0 and z > 0:
                    lost += f.missing(o, z) is not None
                else:
                    lost += blank
        return lost, total

    def _check_complete(self) -> None:
        """Set :attr:`warnings` when the file is cut short or makedumpfile ran out of space."""
        f = self.file
        total = self._descriptor_count(self._pfn_hi)
        desc_cut = (
            self._pfn_known < self._pfn_hi
            or f.missing(self._desc_off, total * PAGE_DESC.size) is not None
        )
        end = None if desc_cut else self.data_end()
        self._truncated = f.truncated or desc_cut or (end is not None and end > f.size)
        # Where the data ends is unknown (a long tail of zero pages): a page whose data lies
        # past the end of the file is then taken for a cut, not for a corrupt descriptor.
        self._end_known = end is not None or desc_cut
        if not self._truncated and not self.incomplete:
            return
        if end is not None and not f.truncated and not self.incomplete:
            # a plain file cut inside its page data: the bytes are exact
            self.warnings.append(truncation_warning(self.path, end - f.size, end))
            return
        lost, total = self.missing_pages()
        if self.incomplete:
            pct = 100.0 * lost / max(total, 1)
            self.warnings.append(
                f"vmcore {self.path} is incomplete (the dump tool ran out of space): {lost} of "
                f"{total} pages ({pct:.0f}%) missing; reads of missing pages fail"
            )
        elif lost:
            self.warnings.append(truncation_warning(self.path, lost, total, "pages"))
        else:
            self.warnings.append(
                f"vmcore {self.path} is truncated: the flattened stream has no end marker, "
                "but no page is missing"
            )

    # -- bitmaps ------------------------------------------------------------------------

    def is_present(self, pfn: int) -> bool:
        """Whether ``pfn`` is RAM the dumped machine had (1st bitmap)."""
        b = pfn >> 3
        return 0 <= pfn < self.max_mapnr and bool(self._bitmap1[b] >> (pfn & 7) & 1)

    def ranges(self) -> List[Tuple[int, int]]:
        """The runs of pages stored in the dump (2nd bitmap), as far as the file locates them."""
        lo, hi = self._pfn_lo, min(self._pfn_hi, self._pfn_known)
        bm = self._bitmap2
        runs: List[Tuple[int, int]] = []

        def add(first: int, end: int) -> None:
            first, end = max(first, lo), min(end, hi)
            if first >= end:
                return
            if runs and runs[-1][1] == first:
                runs[-1] = (runs[-1][0], end)
            else:
                runs.append((first, end))

        for span in _NONZERO.finditer(bm):
            i, stop = span.start(), span.end()
            while i < stop:
                full = _FULL.match(bm, i, stop)
                if full is not None:
                    add(i * 8, full.end() * 8)
                    i = full.end()
                    continue
                for bit in range(8):
                    if bm[i] >> bit & 1:
                        add(i * 8 + bit, i * 8 + bit + 1)
                i += 1
        shift = self._page_shift
        return [(first << shift, end << shift) for first, end in runs]

    def is_dumped(self, pfn: int) -> bool:
        """Whether page ``pfn`` is stored in the dump (2nd bitmap)."""
        b = pfn >> 3
        return self._pfn_lo <= pfn < self._pfn_hi and bool(self._bitmap2[b] >> (pfn & 7) & 1)

    def _rank(self, pfn: int) -> int:
        """Number of dumped pfns below ``pfn`` (index of its page descriptor)."""
        ranks = self._ranks
        bm = self._bitmap2
        if ranks is None:
            ranks = [0]
            acc = 0
            for i in range(0, len(bm), RANK_CHUNK):
                acc += _popcount(bm[i : i + RANK_CHUNK])
                ranks.append(acc)
            self._ranks = ranks
        byte = pfn >> 3
        chunk = byte // RANK_CHUNK
        r = ranks[chunk] + _popcount(bm[chunk * RANK_CHUNK : byte])
        bits = pfn & 7
        if bits:
            r += _POPCOUNT[bm[byte] & ((1 << bits) - 1)]
        return r

    def descriptor(self, pfn: int) -> Tuple[int, int, int, int]:
        """The ``page_desc`` of dumped page ``pfn``: ``(offset, size, flags, page_flags)``.

        ``FaultError`` when the descriptor is not in the file (truncated dump).
        """
        idx = self._rank(pfn) - self._split_base
        off = self._desc_off + idx * PAGE_DESC.size
        if self.file.missing(off, PAGE_DESC.size) is not None:
            raise FaultError(
                f"{PAGE_MISSING} (its page descriptor is past the end of the file)",
                pfn << self._page_shift,
                physical=True,
            )
        offset, size, flags, page_flags = PAGE_DESC.unpack(self.file.pread(off, PAGE_DESC.size))
        return offset, size, flags, page_flags

    # -- pages --------------------------------------------------------------------------

    def _load_page(self, pfn: int) -> bytes:
        addr = pfn << self._page_shift
        if pfn >= self._pfn_known and 0 <= pfn < self.max_mapnr:
            raise FaultError(
                f"{PAGE_MISSING} (its bitmap entry is past the end of the stream)",
                addr,
                physical=True,
            )
        if not self.is_dumped(pfn):
            if self.is_present(pfn):
                raise FaultError(self.not_held(pfn, "page excluded from the dump"), addr, physical=True)
            raise FaultError("physical address not in the dump", addr, physical=True)
        offset, size, flags, _page_flags = self.descriptor(pfn)
        ps = self.page_size
        if offset == 0 and size == 0 and self.incomplete:
            raise FaultError("page missing from the incomplete dump", addr, physical=True)
        if size <= 0 or size > ps or offset <= 0:
            raise FaultError(
                f"page descriptor is corrupt (size {size}, offset {offset:#x}; page size {ps})",
                addr,
                physical=True,
            )
        if self.file.missing(offset, size) is not None:
            if self._truncated or not self._end_known:
                raise FaultError(
                    f"{PAGE_MISSING} (its data is past the end of the file)", addr, physical=True
                )
            raise FaultError(
                f"page descriptor is corrupt (data at {offset:#x} lies past the end of the file)",
                addr,
                physical=True,
            )
        return decompress_page(self.file.pread(offset, size), flags, ps, addr)

    def read_page(self, pfn: int) -> bytes:
        """Decompressed page ``pfn`` through the LRU cache."""
        return self.cache.get(pfn)

    def read(self, address: int, size: int) -> bytes:
        """Exactly ``size`` bytes of physical memory at ``address``."""
        if address < 0:
            raise FaultError("negative physical address", address, physical=True)
        shift = self._page_shift
        ps = self.page_size
        pfn = address >> shift
        off = address & (ps - 1)
        if off + size <= ps:
            try:
                return self.cache.get(pfn)[off : off + size]
            except FaultError as e:
                raise FaultError(str(e.args[0]), address, physical=True) from None
        bulk = size > 64 * ps
        get = self.cache.get_uncached if bulk else self.cache.get
        parts = []
        for pfn, off, n in page_spans(address, size, ps):
            pos = (pfn << shift) + off
            try:
                page = get(pfn)
            except FaultError as e:
                raise FaultError(str(e.args[0]), pos, physical=True) from None
            parts.append(page[off : off + n] if n != ps else page)
        return b"".join(parts)

    def close(self) -> None:
        """Close the file and drop cached pages."""
        self.cache.clear()
        self.file.close()
