"""Memory sources: vmcores (ELF, kdump-compressed, flattened) and the live /proc/kcore.

The public entry points are :func:`open_core` (post-mortem) and :func:`open_kcore` (live),
which return a :class:`~kdbg.memory.base.KernelMemory`.

Every form fails the same way: a dump unusable as a whole (not a dump, a bad header,
headers cut off, another architecture than x86-64, a codec this Python lacks) raises
:class:`~kdbg.errors.CoreError` when opened; one unreadable page (excluded, missing past
the end of a cut-short file, corrupt data or descriptor) raises
:class:`~kdbg.errors.FaultError` at its address. A dump cut short still opens and says so
in ``warnings`` (one line each, e.g. "vmcore X is truncated: N of M bytes (P%) missing;
reads of missing pages fail").
"""

from __future__ import annotations

import os

from kdbg.errors import CoreError
from kdbg.memory.base import KernelMemory
from kdbg.memory.elfcore import ElfPhysicalMemory
from kdbg.memory.fileview import RawFile
from kdbg.memory.flattened import FlattenedFile, is_flattened
from kdbg.memory.kcore import KcoreMemory, open_kcore
from kdbg.memory.kdump import DISKDUMP_SIGNATURE, KDUMP_SIGNATURE, KdumpPhysicalMemory
from kdbg.memory.physical import CoreMemory, PhysicalMemory
from kdbg.memory.shrunk import ShrinkRecord

__all__ = [
    "KernelMemory",
    "CoreMemory",
    "KcoreMemory",
    "PhysicalMemory",
    "ElfPhysicalMemory",
    "KdumpPhysicalMemory",
    "FlattenedFile",
    "open_core",
    "open_kcore",
    "open_physical",
    "sniff_format",
]


def sniff_format(path: str) -> str:
    """``"elf"``, ``"kdump"`` or ``"flattened"`` from the file's first bytes; else CoreError."""
    try:
        with open(path, "rb") as f:
            head = f.read(32)
    except OSError as e:
        raise CoreError(f"cannot open {path}: {e.strerror or e}") from None
    if head[:4] == b"\x7fELF":
        return "elf"
    if head[:8] in (KDUMP_SIGNATURE, DISKDUMP_SIGNATURE):
        return "kdump"
    if is_flattened(head):
        return "flattened"
    raise CoreError(
        f"{path}: unknown dump format (not ELF, kdump-compressed or makedumpfile flattened)"
    )


def open_physical(path: str, cache_pages: int = 4096) -> PhysicalMemory:
    """The physical memory of a vmcore in any supported format."""
    path = os.fspath(path)
    kind = sniff_format(path)
    phys: PhysicalMemory
    if kind == "elf":
        phys = ElfPhysicalMemory(path)
    elif kind == "kdump":
        phys = KdumpPhysicalMemory(RawFile(path), cache_pages)
    else:
        flat = FlattenedFile(RawFile(path))
        phys = KdumpPhysicalMemory(flat, cache_pages, f"kdump-compressed dump {path} (flattened)")
    try:
        phys.shrunk = ShrinkRecord.from_notes(phys.notes, path)
    except CoreError:
        phys.close()
        raise
    return phys


def open_core(path: str, cache_pages: int = 4096) -> CoreMemory:
    """Open a vmcore (ELF, kdump-compressed or flattened) as :class:`KernelMemory`.

    Physical reads always work; virtual reads need the dump's VMCOREINFO note and raise a
    clear :class:`~kdbg.errors.CoreError` without it. A truncated dump opens with a line in
    ``warnings`` saying how much is missing.
    """
    return CoreMemory(open_physical(path, cache_pages))
