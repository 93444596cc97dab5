"""Synthetic kallsyms images for tests: compress names like ``scripts/kallsyms`` and lay the
tables out in kernel memory in the pre-6.4 or the 6.4+ order.

This lets the decoder (and its scanner) be exercised without a vmcore, and gives the fuzz
tests a valid starting point to mutate.
"""

from __future__ import annotations

import itertools
import struct
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

from kdbg.arch.x86_64 import START_KERNEL
from kdbg.errors import FaultError
from kdbg.memory.base import KernelMemory
from kdbg.memory.vmcoreinfo import VMCoreInfo

__all__ = ["compress_names", "FakeMemory", "FakeVMCoreInfo", "PatchedMemory", "build_kallsyms_image"]

#: Where the synthetic image starts without a KASLR slide: the kernel's link address.
TEXT_BASE = START_KERNEL


class FakeVMCoreInfo(VMCoreInfo):
    """A :class:`~kdbg.memory.vmcoreinfo.VMCoreInfo` made from a dict (no note text)."""


class FakeMemory(KernelMemory):
    """Kernel memory made of byte regions; anything else faults."""

    def __init__(self, regions: Dict[int, bytes], vmcoreinfo: Optional[FakeVMCoreInfo] = None
                 ) -> None:
        self.regions = sorted((a, bytes(b)) for a, b in regions.items())
        self.vmcoreinfo = vmcoreinfo
        self.reads = 0

    def read(self, address: int, size: int, physical: bool = False) -> bytes:
        """Return ``size`` bytes at ``address`` or raise FaultError."""
        self.reads += 1
        for base, data in self.regions:
            if base <= address and address + size <= base + len(data):
                return data[address - base:address - base + size]
        raise FaultError("not mapped", address)


class PatchedMemory(KernelMemory):
    """Another memory source with some bytes replaced: ``{address: new bytes}``."""

    def __init__(self, inner: KernelMemory, patches: Dict[int, bytes]) -> None:
        self.inner = inner
        self.patches = patches
        self.vmcoreinfo = inner.vmcoreinfo

    def read(self, address: int, size: int, physical: bool = False) -> bytes:
        """The inner source's bytes with the patches that fall in range applied."""
        data = self.inner.read(address, size)
        hits = [(a, p) for a, p in self.patches.items()
                if a < address + size and address < a + len(p)]
        if not hits:
            return data
        buf = bytearray(data)
        for a, p in hits:
            for k, byte in enumerate(p):
                if address <= a + k < address + size:
                    buf[a + k - address] = byte
        return bytes(buf)


def compress_names(names: Sequence[bytes], rounds: int = 256) -> Tuple[List[bytes], List[bytes]]:
    """Token-compress ``names`` (type letter first); return (256 tokens, encoded names).

    Unused byte codes become tokens for the most frequent adjacent pairs, as the kernel's
    ``scripts/kallsyms`` does (simplified: one pass per new token).
    """
    tokens: List[bytes] = [b""] * 256
    seqs = [list(n) for n in names]
    used = set()
    for s in seqs:
        used.update(s)
    for c in used:
        tokens[c] = bytes([c])
    free = [c for c in range(255, -1, -1) if c not in used]
    for _ in range(rounds):
        if not free:
            break
        pairs: Counter = Counter()
        for s in seqs:
            pairs.update(itertools.pairwise(s))
        if not pairs:
            break
        (a, b), cnt = pairs.most_common(1)[0]
        if cnt < 2 or len(tokens[a]) + len(tokens[b]) > 64:
            break
        code = free.pop(0)
        tokens[code] = tokens[a] + tokens[b]
        for k, s in enumerate(seqs):
            out: List[int] = []
            i = 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    out.append(code)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[k] = out
    # Codes never assigned get an empty token, as unused entries would.
    return tokens, [bytes(s) for s in seqs]


def _align(buf: bytearray, n: int = 8) -> None:
    while len(buf) % n:
        buf.append(0)


def build_kallsyms_image(
    symbols: Sequence[Tuple[str, str, int]],
    *,
    layout: str = "6.4",
    encoding: str = "absolute-percpu",
    markers_width: int = 4,
    in_vmcoreinfo: bool = True,
    seqs_of_names: bool = False,
    seqs_at: str = "markers",
    seqs_width: int = 3,
    text_size: int = 0x10000,
    build_id: Optional[str] = "00112233445566778899aabbccddeeff00112233",
    slide: int = 0,
) -> Tuple[FakeMemory, Dict[str, int]]:
    """Lay out kallsyms tables for ``symbols`` ``(name, type, address)`` (sorted by address).

    ``slide`` boots the same image with a KASLR slide: the image, its tables and every
    non-absolute symbol move by ``slide`` and VMCOREINFO says ``KERNELOFFSET=slide``.

    ``layout`` is ``"6.4"`` (num_syms, names, markers, token table/index, offsets,
    relative_base) or ``"5.10"`` (offsets, relative_base, num_syms, names, markers, token
    table/index); ``seqs_of_names`` adds the 6.2+ table after the markers.  Returns the
    memory and the table addresses.  ``_stext`` must be one of the symbols.
    """
    def absolute(t: str, a: int) -> bool:
        return t in "Aa" or a < TEXT_BASE

    symbols = [(n, t, a if absolute(t, a) else a + slide) for n, t, a in symbols]
    base = TEXT_BASE + slide
    full = [(t + n).encode() for n, t, _ in symbols]
    tokens, enc = compress_names(full)
    count = len(symbols)
    addrs = [a for _, _, a in symbols]
    nonabs = [a for (n, t, a) in symbols if not absolute(t, a)]
    rel_base = min(nonabs) if nonabs else base

    def names_blob() -> Tuple[bytes, List[int]]:
        out = bytearray()
        markers = []
        for i, e in enumerate(enc):
            if i % 256 == 0:
                markers.append(len(out))
            if len(e) >= 0x80:
                out += bytes([(len(e) & 0x7F) | 0x80, len(e) >> 7])
            else:
                out.append(len(e))
            out += e
        return bytes(out), markers

    def token_blobs() -> Tuple[bytes, bytes]:
        table = bytearray()
        index = []
        for t in tokens:
            index.append(len(table))
            table += t + b"\0"
        return bytes(table), struct.pack("<256H", *index)

    img = bytearray(b"\xcc" * text_size)  # "text" before rodata
    where: Dict[str, int] = {}

    def label(name: str) -> None:
        _align(img)
        where[name] = base + len(img)

    def offsets_and_base(off_addr: int) -> Tuple[bytes, bytes]:
        if encoding == "absolute":
            return struct.pack(f"<{count}Q", *addrs), b""
        vals = []
        for i, (_n, t, a) in enumerate(symbols):
            if encoding == "absolute-percpu":
                vals.append(a if absolute(t, a) else rel_base - a - 1)
            elif encoding == "base-relative":
                vals.append((a - rel_base) & 0xFFFFFFFF)
            else:  # pc-relative
                vals.append(((a - (off_addr + 4 * i)) + (1 << 31)) % (1 << 32) - (1 << 31))
        fmt = "I" if encoding == "base-relative" else "i"
        return struct.pack(f"<{count}{fmt}", *vals), struct.pack("<Q", rel_base)

    names, markers = names_blob()
    ttab, tidx = token_blobs()
    mfmt = "Q" if markers_width == 8 else "I"

    def emit_offsets() -> None:
        label("kallsyms_addresses" if encoding == "absolute" else "kallsyms_offsets")
        off_addr = where.get("kallsyms_offsets", 0)
        o, b = offsets_and_base(off_addr)
        img.extend(o)
        if b:
            label("kallsyms_relative_base")
            img.extend(b)

    if layout == "5.10":
        emit_offsets()
    label("kallsyms_num_syms")
    img.extend(struct.pack("<I", count))
    label("kallsyms_names")
    img.extend(names)
    label("kallsyms_markers")
    img.extend(struct.pack(f"<{len(markers)}{mfmt}", *markers))
    def emit_seqs() -> None:  # 6.2+: symbol indexes sorted by name (then address)
        label("kallsyms_seqs_of_names")
        for i in sorted(range(count), key=lambda k: (symbols[k][0].encode(), symbols[k][2], k)):
            img.extend(i.to_bytes(seqs_width, "big"))

    if seqs_of_names and seqs_at == "markers":
        emit_seqs()
    label("kallsyms_token_table")
    img.extend(ttab)
    label("kallsyms_token_index")
    img.extend(tidx)
    if layout != "5.10":
        emit_offsets()
    if seqs_of_names and seqs_at == "end":
        emit_seqs()
    _align(img, 4096)
    img.extend(b"\0" * 4096)
    vm: Dict[str, str] = {"OSRELEASE": "6.99.0-synthetic", "KERNELOFFSET": f"{slide:x}"}
    if build_id:
        vm["BUILD-ID"] = build_id
    for n, _t, a in symbols:
        if n in ("_stext", "init_uts_ns"):
            vm[f"SYMBOL({n})"] = f"{a:x}"
    if in_vmcoreinfo:
        for k in ("kallsyms_names", "kallsyms_num_syms", "kallsyms_token_table",
                  "kallsyms_token_index", "kallsyms_offsets", "kallsyms_relative_base",
                  "kallsyms_addresses"):
            if k in where and k != "kallsyms_markers":
                vm[f"SYMBOL({k})"] = f"{where[k]:x}"
    mem = FakeMemory({base: bytes(img)}, FakeVMCoreInfo(vm))
    return mem, where
