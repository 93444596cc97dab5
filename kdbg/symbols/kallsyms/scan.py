"""Find the kallsyms tables in the kernel image by their structure (kernels before 6.0).

Linux >= 6.0 lists the kallsyms tables in VMCOREINFO; older kernels do not, so
:func:`find_kallsyms_tables` scans the image (:func:`kdbg.memory.image_scan.scan_image`)
for the token table, whose literal digit tokens ``"0" .. "9"`` are contiguous, and
validates each hit by the token index after it and the markers, names and
``kallsyms_num_syms`` before it.  The address table's place depends on the kernel
version, so every plausible placement is returned and the decoder keeps the one that
reproduces ``_stext``.
"""

from __future__ import annotations

import struct
from typing import List, Optional, Tuple

from kdbg.errors import CoreError
from kdbg.memory.base import KernelMemory
from kdbg.memory.image_scan import kernel_text_start, read_tolerant, scan_image
from kdbg.memory.vmcoreinfo import VMCoreInfo
from kdbg.symbols.kallsyms.decode import (
    MAX_SYMS,
    KallsymsTables,
    parse_tokens,
    read_exact,
    vmcoreinfo_address,
)

__all__ = ["MAX_ANCHORS", "find_kallsyms_tables"]

#: Token-table candidates the image scan examines before giving up (real kernels: < 10).
MAX_ANCHORS = 256

# Digit tokens are always literal (every digit occurs in some symbol, so codes 0x30..0x39
# keep their own character): "0\0" "1\0" ... "9\0" is contiguous in the token table.
_DIGITS_ANCHOR = b"".join(bytes([c]) + b"\0" for c in range(0x30, 0x3A))


def _image_range(vmci: Optional[VMCoreInfo], limit: int) -> Tuple[int, int]:
    """The part of the kernel image to scan: from the text start, at most ``limit`` bytes,
    and not far past ``.data`` when VMCOREINFO names a symbol there."""
    start = kernel_text_start(vmci)
    end = start + limit
    for sym in ("init_uts_ns", "swapper_pg_dir", "init_top_pgt"):
        a = vmcoreinfo_address(vmci, sym)
        if a is not None and start < a:
            end = max(min(end, a + (16 << 20)), start + (32 << 20))
            break
    return start, min(end, start + limit)


def find_kallsyms_tables(
    mem: KernelMemory, vmci: Optional[VMCoreInfo], limit: int = 96 << 20,
    chunk: int = 4 << 20,
) -> List[KallsymsTables]:
    """Find the kallsyms tables by their structure in the kernel image (pre-6.0 kernels).

    Returns candidate table sets (same names and tokens, different address-table
    placements), most likely first; :func:`decode_kallsyms` keeps the first that decodes
    and reproduces ``_stext``.

    Scans at most ``limit`` bytes from ``_stext`` for the token table (the literal digit
    tokens ``"0" .. "9"`` are contiguous in it), then checks the token index that follows
    it, walks back over the markers to the names table and ``kallsyms_num_syms``, and
    locates the offsets either before ``num_syms`` (< 6.4 layout) or after the token index
    (>= 6.4 layout).  Raises :class:`~kdbg.errors.CoreError` when nothing validates.
    """
    start, end = _image_range(vmci, limit)
    # kallsyms is in .rodata, after the text and before .data: when init_uts_ns (in .data)
    # is known, scan backwards from it first; then whatever is left, forwards.
    hint = vmcoreinfo_address(vmci, "init_uts_ns")
    hits = scan_image(mem, _DIGITS_ANCHOR, start, end, chunk=chunk, first=hint)
    for tried, anchor in enumerate(hits, 1):
        found = _tables_at_anchor(mem, anchor, start)
        if found is not None:
            return found
        if tried >= MAX_ANCHORS:
            raise CoreError(f"kallsyms: gave up after {tried} token-table candidates")
    raise CoreError(f"kallsyms: no kallsyms tables found in {start:#x}..{end:#x}")


def _tables_at_anchor(
    mem: KernelMemory, anchor: int, image_start: int
) -> Optional[List[KallsymsTables]]:
    """Validate a token-table candidate around the digit tokens at ``anchor``."""
    window = 0x10000
    base = anchor - window
    try:
        data = read_tolerant(mem, base, 2 * window)
    except CoreError:
        return None
    # The token index follows the table (8-aligned); its entries for '0'..'9' differ by 2.
    first = (anchor + 20 + 7) & ~7
    for x in range(first, anchor + window - 512, 8):
        xo = x - base
        idx = struct.unpack_from("<256H", data, xo)
        if idx[0] != 0 or idx[0x31] - idx[0x30] != 2 or idx[0x39] - idx[0x30] != 18:
            continue
        t = anchor - idx[0x30]
        to = t - base
        if to < 0 or t % 4:
            continue
        table = data[to:xo]
        try:
            parse_tokens(table + b"\0", idx)
        except CoreError:
            continue
        if table.find(b"\0", idx[255]) < 0 or any(table[table.find(b"\0", idx[255]) + 1:]):
            continue
        found = _names_before(mem, t, x, image_start)
        if found is not None:
            return found
    return None


def _names_before(
    mem: KernelMemory, token_table: int, token_index: int, image_start: int
) -> Optional[List[KallsymsTables]]:
    """Find markers, names and num_syms before the token table."""
    back = 0x20000
    data = read_tolerant(mem, token_table - back, back)
    for width, fmt in ((8, "<Q"), (4, "<I")):
        for pad in range(0, 8, width):
            end = back - pad
            if end % width:
                continue
            vals: List[int] = []
            p = end
            while p - width >= 0 and len(vals) < (MAX_SYMS >> 8):
                (v,) = struct.unpack_from(fmt, data, p - width)
                if vals and v >= vals[-1]:
                    break
                vals.append(v)
                p -= width
                if v == 0:
                    break
            if not vals or vals[-1] != 0:
                continue
            markers = vals[::-1]
            if any(b - a < 256 * 2 for a, b in zip(markers, markers[1:])):
                continue
            marker_addr = token_table - back + p
            nblocks = len(markers)
            found = _find_num_syms(mem, marker_addr, markers, nblocks)
            if found is None:
                continue
            names_addr, num_addr, count = found
            return _place_offsets(names_addr, num_addr, count, token_table, token_index,
                                  marker_addr)
    return _names_before_seqs(mem, token_table, token_index,
                              min(4 << 20, max(token_table - image_start, 0)))


def _names_before_seqs(
    mem: KernelMemory, token_table: int, token_index: int, back: int = 4 << 20
) -> Optional[List[KallsymsTables]]:
    """Like :func:`_names_before` for kernels with ``kallsyms_seqs_of_names`` (3 bytes per
    symbol, 6.2+ and some stable 6.1) between the u32 markers and the token table."""
    base = token_table - back
    data = read_tolerant(mem, base, back)
    unpack = struct.unpack_from
    for m in range(1, back // 768):
        hi_s = token_table - ((768 * (m - 1) + 3 + 7) & ~7)
        lo_s = token_table - ((768 * m + 7) & ~7)
        mlen = (4 * m + 7) & ~7
        for seqs in range(hi_s, lo_s - 1, -8):
            p = seqs - mlen - base
            if p < 0:
                return None
            if unpack("<I", data, p)[0] != 0:
                continue
            if m > 1 and not (512 <= unpack("<I", data, p + 4)[0] <= 0x40000
                              and unpack("<I", data, p + 4 * (m - 1))[0] >= 512 * (m - 1)):
                continue
            markers = list(unpack(f"<{m}I", data, p))
            if any(not 512 <= b - a <= 0x40000 for a, b in zip(markers, markers[1:])):
                continue
            found = _find_num_syms(mem, base + p, markers, m)
            if found is None:
                continue
            names_addr, num_addr, count = found
            if not 0 <= token_table - (seqs + 3 * count) < 8:
                continue
            return _place_offsets(names_addr, num_addr, count, token_table, token_index,
                                  base + p)
    return None


def _find_num_syms(
    mem: KernelMemory, marker_addr: int, markers: List[int], nblocks: int
) -> Optional[Tuple[int, int, int]]:
    """Find ``kallsyms_names`` (and ``num_syms`` before it) given the markers."""
    last = markers[-1]
    # The names table ends at most 7 bytes (padding) before the markers; the last block of
    # <= 256 names is at most 256 * (2 + KSYM_NAME_LEN) bytes long.
    hi = marker_addr - last - 2
    lo = hi - 256 * (2 + 512) - 16
    data = read_tolerant(mem, lo - 16, hi - lo + 32)
    for names_addr in range(hi & ~7, lo, -8):
        o = names_addr - (lo - 16)
        (count, pad) = struct.unpack_from("<II", data, o - 8)
        if pad or count == 0 or (count + 255) >> 8 != nblocks:
            continue
        tail = marker_addr - names_addr
        if tail <= last:
            continue
        try:
            blob = read_exact(mem, names_addr, tail, "kallsyms_names")
        except CoreError:
            continue
        # Verify markers: walk lengths only.
        pos = 0
        ok = True
        for i in range(count):
            if not i & 0xFF and markers[i >> 8] != pos:
                ok = False
                break
            if pos >= tail:
                ok = False
                break
            n = blob[pos]
            if n & 0x80:
                if pos + 1 >= tail:
                    ok = False
                    break
                n = (n & 0x7F) | (blob[pos + 1] << 7)
                pos += 1
            pos += n + 1
        if ok and 0 <= tail - pos < 8:
            return names_addr, names_addr - 8, count
    return None


def _place_offsets(
    names_addr: int, num_addr: int, count: int, token_table: int,
    token_index: int, marker_addr: int,
) -> List[KallsymsTables]:
    size = (4 * count + 7) & ~7
    # < 6.4: offsets, relative_base, num_syms, names, markers, token_table, token_index.
    rb_before = num_addr - 8
    off_before = rb_before - size
    # >= 6.4: num_syms, names, markers, token_table, token_index, offsets, relative_base.
    off_after = (token_index + 512 + 7) & ~7
    rb_after = off_after + size
    t = KallsymsTables(
        names=names_addr, num_syms=num_addr, token_table=token_table, token_index=token_index,
        offsets=off_before, relative_base=rb_before, markers=marker_addr, found_by="scan")
    t_alt = KallsymsTables(
        names=names_addr, num_syms=num_addr, token_table=token_table, token_index=token_index,
        offsets=off_after, relative_base=rb_after, markers=marker_addr, found_by="scan")
    # kallsyms_addresses (unsigned long, no relative base; gone in 6.11) in either place.
    t_abs = KallsymsTables(
        names=names_addr, num_syms=num_addr, token_table=token_table, token_index=token_index,
        addresses=num_addr - 8 * count, markers=marker_addr, found_by="scan")
    t_abs_alt = KallsymsTables(
        names=names_addr, num_syms=num_addr, token_table=token_table, token_index=token_index,
        addresses=off_after, markers=marker_addr, found_by="scan")
    return [t, t_alt, t_abs, t_abs_alt]


