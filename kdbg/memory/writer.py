"""Writing a vmcore that holds chosen pages of another: ELF or kdump-compressed.

The two formats are the ones kdbg reads (:mod:`kdbg.memory.elfcore`,
:mod:`kdbg.memory.kdump`) and that crash, drgn and makedumpfile read:

* **ELF** (``ET_CORE``): one ``PT_NOTE`` with the notes carried over (VMCOREINFO, one
  ``NT_PRSTATUS`` per CPU), then one ``PT_LOAD`` per run of consecutive kept pages, its
  ``p_paddr`` the run's physical address and ``p_vaddr`` its direct-map address when known
  (as ``/proc/vmcore`` has them). A page not kept is in no segment.
* **kdump-compressed** (makedumpfile's ``diskdump_mod.h`` layout, ``header_version`` 6): the
  header, a sub-header followed by VMCOREINFO and the notes, the two bitmaps (the 1st: the
  machine's memory as the original dump had it; the 2nd: the kept pages), one
  ``page_desc`` per kept page and the zlib-compressed pages. A page the original had but
  that is not kept reads as "excluded from the dump", exactly as a filtered dump's do.

Neither writer invents data: the caller supplies every kept page's bytes.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass, field
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

from kdbg.errors import CoreError
from kdbg.memory.decompress import DUMP_DH_COMPRESSED_ZLIB
from kdbg.memory.kdump import HEADER_TAIL, HEADER_TAIL_OFFSET, KDUMP_SIGNATURE, PAGE_DESC, SUB_HEADER
from kdbg.memory.machine import elf_machine_number

__all__ = ["DumpImage", "note_bytes", "write_elf_core", "write_kdump_core"]

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
_NHDR = struct.Struct("<III")
PT_LOAD = 1
PT_NOTE = 4
ET_CORE = 4
PF_R, PF_W, PF_X = 4, 2, 1

#: makedumpfile's ``header_version`` written (v6: 64-bit pfns in the sub-header).
_HEADER_VERSION = 6


@dataclass
class DumpImage:
    """What a written dump holds: the machine, its notes, and the kept pages.

    ``page(pfn)`` gives a kept page's bytes (exactly ``page_size`` of them); ``pages`` lists
    the kept frames ascending; ``is_present(pfn)`` says whether the machine had memory
    there (for the kdump 1st bitmap), up to ``max_pfn`` (exclusive).
    """

    machine: str
    page_size: int
    notes: Sequence[tuple]
    pages: List[int]
    page: Callable[[int], bytes]
    max_pfn: int
    is_present: Callable[[int], bool]
    #: ``new_utsname``'s six fields (sysname, nodename, release, version, machine,
    #: domainname) for the kdump header, as the kernel's ``init_uts_ns`` has them
    #: (libkdumpfile, hence drgn, wants more than the release and machine filled).
    utsname: Sequence[str] = ()
    phys_base: int = 0
    #: The virtual address of a physical one for ELF ``p_vaddr`` (``None``: 0): the kernel
    #: image's mapping inside the image, the direct map elsewhere, as ``/proc/vmcore`` has it.
    virtual_of: Optional[Callable[[int], int]] = None
    #: CPU count for the kdump header (default: one per ``NT_PRSTATUS`` note).
    nr_cpus: Optional[int] = None
    #: ``disk_dump_header.timestamp`` seconds, when the original dump recorded one.
    timestamp: Tuple[int, int] = field(default=(0, 0))
    #: ``kdump_sub_header.dump_level``: the kinds of pages left out, as makedumpfile's
    #: ``-d`` bits (:data:`~kdbg.memory.kdump.MAX_DUMP_LEVEL` and its parts).
    dump_level: int = 0


def note_bytes(notes: Iterable[tuple]) -> bytes:
    """The ELF note area of ``(name, type, desc)`` tuples (names NUL-terminated, both
    padded to 4 bytes), as the kernel and QEMU write it."""
    out = bytearray()
    for name, ntype, desc in notes:
        nb = name.encode("latin-1") + b"\0"
        out += _NHDR.pack(len(nb), len(desc), ntype)
        out += nb + bytes(-len(nb) % 4)
        out += desc + bytes(-len(desc) % 4)
    return bytes(out)


def _runs(pfns: Sequence[int], page_size: int, virtual_of: Optional[Callable[[int], int]]
          ) -> List[Tuple[int, int, int]]:
    """``(first_pfn, count, vaddr)`` runs of pages consecutive both physically and in
    ``virtual_of`` (a run does not straddle the kernel image's edge)."""
    runs: List[Tuple[int, int, int]] = []
    for pfn in pfns:
        va = virtual_of(pfn * page_size) if virtual_of is not None else 0
        if runs:
            first, count, va0 = runs[-1]
            if first + count == pfn and (virtual_of is None or va0 + count * page_size == va):
                runs[-1] = (first, count + 1, va0)
                continue
        runs.append((pfn, 1, va))
    return runs


def _page(image: DumpImage, pfn: int) -> bytes:
    data = image.page(pfn)
    if len(data) != image.page_size:
        raise CoreError(f"page {pfn:#x}: {len(data)} bytes given for a {image.page_size}-byte page")
    return data


def write_elf_core(path: str, image: DumpImage) -> int:
    """Write ``image`` to ``path`` as an ELF vmcore; returns the file's size."""
    machine = elf_machine_number(image.machine)
    notes = note_bytes(image.notes)
    runs = _runs(image.pages, image.page_size, image.virtual_of)
    ps = image.page_size
    phnum = 1 + len(runs)
    if phnum >= 0xFFFF:
        raise CoreError(f"{len(runs)} runs of pages are more than an ELF header can count")
    note_off = _EHDR.size + phnum * _PHDR.size
    data_off = -(-(note_off + len(notes)) // ps) * ps
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    phdrs = [_PHDR.pack(PT_NOTE, 0, note_off, 0, 0, len(notes), len(notes), 4)]
    off = data_off
    for first, count, va in runs:
        pa = first * ps
        size = count * ps
        phdrs.append(_PHDR.pack(PT_LOAD, PF_R | PF_W | PF_X, off, va, pa, size, size, ps))
        off += size
    ehdr = _EHDR.pack(ident, ET_CORE, machine, 1, 0, _EHDR.size, 0, 0, _EHDR.size, _PHDR.size,
                      phnum, 0, 0, 0)
    with _Output(path) as f:
        f.write(ehdr + b"".join(phdrs) + notes)
        f.write(bytes(data_off - f.tell()))
        for first, count, _va in runs:
            for pfn in range(first, first + count):
                f.write(_page(image, pfn))
        return f.tell()


def _bitmap(nbytes: int, bits: Iterable[int]) -> bytearray:
    bm = bytearray(nbytes)
    for pfn in bits:
        bm[pfn >> 3] |= 1 << (pfn & 7)
    return bm


def _uts(image: DumpImage) -> bytes:
    fields = list(image.utsname) if len(image.utsname) == 6 else ["Linux", "", "", "", image.machine, ""]
    return b"".join(f.encode("latin-1")[:64].ljust(65, b"\0") for f in fields)


def write_kdump_core(path: str, image: DumpImage, level: int = 6) -> int:
    """Write ``image`` to ``path`` as a kdump-compressed vmcore (zlib at ``level``);
    returns the file's size."""
    bs = image.page_size
    notes = note_bytes(image.notes)
    vmcoreinfo = next((bytes(d) for n, _t, d in image.notes if n == "VMCOREINFO"), b"")
    max_pfn = max(image.max_pfn, (image.pages[-1] + 1) if image.pages else 0)
    bitmap_bytes = (max_pfn + 7) // 8
    half = (bitmap_bytes + bs - 1) // bs * bs
    present = _bitmap(half, (pfn for pfn in range(max_pfn) if image.is_present(pfn)))
    dumped = _bitmap(half, image.pages)
    for pfn in image.pages:  # a kept page is memory the machine had, whatever the original said
        present[pfn >> 3] |= 1 << (pfn & 7)
    off_vmci = bs + SUB_HEADER.size
    off_note = off_vmci + len(vmcoreinfo)
    sub_end = off_note + len(notes)
    sub_hdr_size = -(-(sub_end - bs) // bs)
    bitmap_blocks = 2 * half // bs
    desc_off = (1 + sub_hdr_size + bitmap_blocks) * bs
    data_off = desc_off + len(image.pages) * PAGE_DESC.size
    nr_cpus = image.nr_cpus if image.nr_cpus is not None else \
        sum(1 for n, t, _d in image.notes if n == "CORE" and t == 1)
    header = bytearray(bs)
    header[0:8] = KDUMP_SIGNATURE
    header[8:12] = _HEADER_VERSION.to_bytes(4, "little")
    header[12:12 + 390] = _uts(image)
    struct.pack_into("<qq", header, 408, *image.timestamp)
    HEADER_TAIL.pack_into(header, HEADER_TAIL_OFFSET, DUMP_DH_COMPRESSED_ZLIB, bs, sub_hdr_size, bitmap_blocks,
                          min(max_pfn, 0xFFFFFFFF), len(image.pages), 0, len(image.pages), 0, nr_cpus)
    sub = SUB_HEADER.pack(image.phys_base & ((1 << 64) - 1), image.dump_level, 0, 0, max_pfn,
                          off_vmci if vmcoreinfo else 0, len(vmcoreinfo), off_note, len(notes), 0, 0, 0, max_pfn,
                          max_pfn)
    meta = bytearray(sub + vmcoreinfo + notes)
    meta += bytes(sub_hdr_size * bs - len(meta))
    with _Output(path) as f:
        f.write(bytes(header) + bytes(meta) + bytes(present) + bytes(dumped))
        descs = bytearray()
        blobs: List[bytes] = []
        pos = data_off
        for pfn in image.pages:
            raw = _page(image, pfn)
            packed = zlib.compress(raw, level)
            if len(packed) < bs:
                blob, flags = packed, DUMP_DH_COMPRESSED_ZLIB
            else:
                blob, flags = raw, 0
            descs += PAGE_DESC.pack(pos, len(blob), flags, 0)
            blobs.append(blob)
            pos += len(blob)
        f.write(bytes(descs))
        for blob in blobs:
            f.write(blob)
        return f.tell()


class _Output:
    """A file written under a temporary name and renamed into place when complete, so a
    failure never leaves a half-written dump under the name asked for."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.tmp = f"{path}.tmp.{os.getpid()}"
        self.f = open(self.tmp, "wb")  # noqa: SIM115

    def write(self, data: bytes) -> None:
        self.f.write(data)

    def tell(self) -> int:
        return self.f.tell()

    def __enter__(self) -> _Output:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.f.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            os.unlink(self.tmp)
