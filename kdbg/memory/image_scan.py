"""Search the kernel image in memory for a byte pattern (the one scan loop kdbg has).

Kernels before 6.0 do not list their kallsyms tables in VMCOREINFO, and vmlinux BTF
without ``__start_BTF`` has no address at all; both are then found by scanning the kernel
image for a signature (the literal digit tokens of the kallsyms token table, the BTF
magic) and validating each hit.  :func:`scan_image` is that loop: it reads the range in
large chunks (one bulk read each, zero-filling pages that fault, so a hole in a filtered
dump does not end the scan), finds every occurrence, including one that straddles two
chunks, and yields the addresses lazily so the caller stops at the first hit that
validates.  :func:`kernel_text_start` says where the image starts.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, List, Optional, Tuple

from kdbg.arch import text_link_address
from kdbg.errors import CoreError, FaultError
from kdbg.memory.base import KernelMemory
from kdbg.memory.machine import X86_64, vmcoreinfo_machine
from kdbg.memory.vmcoreinfo import VMCoreInfo

__all__ = ["kernel_text_start", "read_tolerant", "scan_image"]


def kernel_text_start(vmcoreinfo: Optional[VMCoreInfo]) -> int:
    """The kernel text's start address: ``SYMBOL(_stext)``, else the default text address
    plus ``KERNELOFFSET`` (the KASLR slide).

    Raises :class:`~kdbg.errors.CoreError` when VMCOREINFO gives neither (or a malformed
    value).
    """
    if vmcoreinfo is not None:
        if vmcoreinfo.has_symbol("_stext"):
            return vmcoreinfo.symbol("_stext")
        link = text_link_address(vmcoreinfo_machine(vmcoreinfo) or X86_64, vmcoreinfo)
        if vmcoreinfo.get("KERNELOFFSET") is not None and link is not None:
            return link + vmcoreinfo.kerneloffset
    raise CoreError("cannot locate the kernel image: VMCOREINFO gives neither _stext nor "
                    "KERNELOFFSET")


def read_tolerant(mem: KernelMemory, address: int, size: int, page: int = 4096) -> bytes:
    """``size`` bytes at ``address``, with every page that faults read as zeros."""
    try:
        return bytes(mem.read(address, size))
    except FaultError:
        pass
    out = bytearray(size)
    pos = 0
    while pos < size:
        step = min(page - ((address + pos) % page), size - pos)
        with contextlib.suppress(FaultError):
            out[pos:pos + step] = mem.read(address + pos, step)
        pos += step
    return bytes(out)


def scan_image(
    mem: KernelMemory, needle: bytes, start: int, end: int, *,
    chunk: int = 4 << 20, first: Optional[int] = None,
) -> Iterator[int]:
    """Yield the address of every occurrence of ``needle`` in ``[start, end)``.

    The range is read ``chunk`` bytes at a time (unreadable pages read as zeros).  Without
    ``first`` chunks go in address order; with it, the chunk holding ``first`` comes first,
    then the chunks before it downwards (a table known to lie *before* ``first`` is met
    soonest), then the rest upwards.  Within a chunk hits come in address order.
    """
    if not needle:
        raise ValueError("scan_image needs a non-empty needle")
    if end <= start:
        return
    chunk = max(chunk, len(needle))
    overlap = len(needle) - 1
    chunks: List[Tuple[int, int]] = [(p, min(chunk, end - p)) for p in range(start, end, chunk)]
    if first is not None and start <= first < end:
        k = (first - start) // chunk
        chunks = chunks[k::-1] + chunks[k + 1:]
    for pos, size in chunks:
        tail = min(overlap, end - pos - size)
        data = read_tolerant(mem, pos, size + tail)
        i = data.find(needle)
        while 0 <= i < size:
            yield pos + i
            i = data.find(needle, i + 1)
