"""Read vmlinux BTF out of kernel memory.

The kernel keeps its BTF in the ``.BTF`` section, between the linker symbols
``__start_BTF`` and ``__stop_BTF`` (the bytes ``/sys/kernel/btf/vmlinux`` serves).  With a
symbol table those bound it exactly; without them the section is found by scanning the
kernel image for a BTF header (magic ``0xeB9F``) that validates. The same checks find it
in a kernel image file that is not ELF (:func:`find_btf_in_image`: arm64's ``Image``).

This module needs a :class:`~kdbg.memory.base.KernelMemory` and, optionally, a symbol
lookup; it does not depend on :mod:`kdbg.symbols`.  The scan is the one image scan
(:func:`kdbg.memory.image_scan.scan_image`).
"""

from __future__ import annotations

import struct
from typing import Callable, Optional, Sequence, Tuple

from kdbg.errors import CoreError, FaultError
from kdbg.memory.base import KernelMemory
from kdbg.memory.image_scan import kernel_text_start, read_tolerant, scan_image
from kdbg.memory.kdbgnotes import KDBG_NOTE_NAME, kdbg_note, kdbg_note_data
from kdbg.memory.vmcoreinfo import VMCoreInfo

__all__ = [
    "BTF_MAGIC", "read_vmlinux_btf", "find_btf_in_memory", "locate_btf_in_memory", "find_btf_in_image",
    "btf_size_from_header",
    "REDUCED_BTF_NOTE",
    "reduced_btf_note", "reduced_btf_from_notes",
]

#: ``btf_header.magic`` as stored little-endian, with version 1 and flags 0.
BTF_MAGIC = b"\x9f\xeb\x01\x00"
#: vmlinux BTF is a few MiB; refuse anything implausibly large.
MAX_BTF_SIZE = 256 << 20


def btf_size_from_header(header: bytes) -> Optional[int]:
    """Total size (header + sections) a BTF header declares, or ``None`` if implausible.

    Checks magic, version 1, ``hdr_len`` (24..256, 4-aligned), and that the type and string
    sections lie after the header with plausible, non-empty lengths.
    """
    if len(header) < 24 or header[:3] != BTF_MAGIC[:3]:
        return None
    hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<5I", header, 4)
    if hdr_len < 24 or hdr_len > 256 or hdr_len % 4:
        return None
    if type_len == 0 or str_len == 0 or type_off % 4:
        return None
    if type_len > MAX_BTF_SIZE or str_len > MAX_BTF_SIZE:
        return None
    end = max(type_off + type_len, str_off + str_len)
    # Sections must not overlap: types first, then strings, as every producer writes.
    if type_off + type_len > str_off and str_off + str_len > type_off:
        return None
    if hdr_len + end > MAX_BTF_SIZE:
        return None
    return hdr_len + end


def _valid_btf(data: bytes) -> bool:
    """Whole-blob checks: header sizes match, string section starts and ends with NUL."""
    size = btf_size_from_header(data[:256])
    if size is None or size != len(data):
        return False
    hdr_len, _type_off, _type_len, str_off, str_len = struct.unpack_from("<5I", data, 4)
    strs = hdr_len + str_off
    return data[strs] == 0 and data[strs + str_len - 1] == 0


#: The ELF note (name, type) in which ``kdbg shrink --reduced-btf`` stores the vmlinux BTF
#: an analysis used, compressed (:mod:`kdbg.memory.kdbgnotes`), instead of the pages of the
#: kernel's ``.BTF``.
REDUCED_BTF_NOTE = (KDBG_NOTE_NAME, 0x42544631)  # "BTF1"


def reduced_btf_note(btf: bytes) -> Tuple[str, int, bytes]:
    """The note that carries ``btf`` (a whole BTF blob) in a dump."""
    return kdbg_note(REDUCED_BTF_NOTE[1], btf)


def reduced_btf_from_notes(notes: Sequence[Tuple[str, int, bytes]], what: str = "the dump") -> Optional[bytes]:
    """The BTF of a :func:`reduced_btf_note` among a dump's ``notes`` (``None`` when there
    is none); :class:`CoreError` naming ``what`` when the note is not valid BTF."""
    data = kdbg_note_data(notes, REDUCED_BTF_NOTE[1], what)
    if data is None:
        return None
    if not _valid_btf(data):
        raise CoreError(f"{what}: kdbg's reduced-BTF note does not hold valid BTF")
    return data


def _read(mem: KernelMemory, addr: int, size: int, what: str) -> bytes:
    try:
        data = bytes(mem.read(addr, size))
    except FaultError as e:
        raise CoreError(f"cannot read {what} ({size:#x} bytes at {addr:#x}): {e}") from e
    if len(data) != size:
        raise CoreError(f"short read of {what} at {addr:#x}")
    return data


def read_vmlinux_btf(
    mem: KernelMemory,
    symbol: Optional[Callable[[str], Optional[int]]] = None,
    vmcoreinfo: Optional[VMCoreInfo] = None,
    scan_limit: int = 96 << 20,
) -> bytes:
    """Return the raw vmlinux BTF bytes from kernel memory.

    ``symbol(name)`` returns a symbol address or ``None`` (e.g. from a kallsyms
    :class:`~kdbg.symbols.SymbolTable`).  When ``__start_BTF``/``__stop_BTF`` are known they
    bound the data (validated as BTF); otherwise :func:`find_btf_in_memory` scans the
    kernel image.  Raises :class:`~kdbg.errors.CoreError` when no valid BTF is found.
    """
    start = symbol("__start_BTF") if symbol is not None else None
    stop = symbol("__stop_BTF") if symbol is not None else None
    if start is not None and stop is not None:
        size = stop - start
        if not 24 <= size <= MAX_BTF_SIZE:
            raise CoreError(f"__start_BTF..__stop_BTF spans an implausible {size:#x} bytes")
        data = _read(mem, start, size, "vmlinux BTF")
        if not _valid_btf(data):
            raise CoreError(f"the bytes at __start_BTF ({start:#x}) are not valid BTF")
        return data
    vmci = vmcoreinfo if vmcoreinfo is not None else mem.vmcoreinfo
    return find_btf_in_memory(mem, vmci, scan_limit=scan_limit)


def find_btf_in_memory(
    mem: KernelMemory, vmcoreinfo: Optional[VMCoreInfo], scan_limit: int = 96 << 20,
    chunk: int = 4 << 20,
) -> bytes:
    """Scan the kernel image from its text start for a valid BTF header; return the BTF.

    A candidate must carry the magic, version 1, flags 0, a sane header, its string section
    must begin and end with NUL, and its first type must parse (``name_off`` inside the
    string section).
    """
    return locate_btf_in_memory(mem, vmcoreinfo, scan_limit, chunk)[1]


def locate_btf_in_memory(
    mem: KernelMemory, vmcoreinfo: Optional[VMCoreInfo], scan_limit: int = 96 << 20,
    chunk: int = 4 << 20,
) -> Tuple[int, bytes]:
    """``(address, bytes)`` of the BTF :func:`find_btf_in_memory` finds (where a kernel
    whose kallsyms lacks ``__start_BTF`` keeps it)."""
    try:
        start = kernel_text_start(vmcoreinfo)
    except CoreError as e:
        raise CoreError(f"cannot search kernel memory for BTF: {e}") from None
    end = start + scan_limit
    for addr in scan_image(mem, BTF_MAGIC, start, end, chunk=chunk):
        found = _try_candidate(mem, addr)
        if found is not None:
            return addr, found
    raise CoreError(f"no BTF found in kernel memory {start:#x}..{end:#x}")


def _try_candidate(mem: KernelMemory, addr: int) -> Optional[bytes]:
    if addr % 4:
        return None
    total = btf_size_from_header(read_tolerant(mem, addr, 256))
    if total is None:
        return None
    try:
        data = bytes(mem.read(addr, total))
    except FaultError:
        return None
    return data if _valid_candidate(data) else None


def _valid_candidate(data: bytes) -> bool:
    """:func:`_valid_btf`, and the first type's name offset points into the strings."""
    if not _valid_btf(data):
        return False
    hdr_len, type_off, type_len, _str_off, str_len = struct.unpack_from("<5I", data, 4)
    if type_len >= 12:
        (name_off,) = struct.unpack_from("<I", data, hdr_len + type_off)
        if name_off >= str_len:
            return False
    return True


def find_btf_in_image(image: bytes) -> Optional[bytes]:
    """The vmlinux BTF inside a kernel image file that is no ELF (arm64's ``Image``, once
    decompressed): the largest blob at a 4-byte aligned BTF magic that validates as
    :func:`find_btf_in_memory`'s candidates do (other BTF the image may embed, a BPF
    light skeleton's, is smaller), or ``None``."""
    best: Optional[bytes] = None
    pos = image.find(BTF_MAGIC)
    while pos >= 0:
        total = btf_size_from_header(image[pos:pos + 256]) if pos % 4 == 0 else None
        if total is not None and pos + total <= len(image) and (best is None or total > len(best)):
            data = image[pos:pos + total]
            if _valid_candidate(data):
                best = data
        pos = image.find(BTF_MAGIC, pos + 1)
    return best
