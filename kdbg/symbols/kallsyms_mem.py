"""Decode the kernel's own compressed symbol table (kallsyms) from kernel memory.

vmlinux carries every symbol in a handful of read-only tables written by
``scripts/kallsyms``:

``kallsyms_num_syms``
    ``unsigned int``: the number of symbols.
``kallsyms_names``
    one entry per symbol: a length (one byte, or two bytes when the first has bit 7 set:
    ``(b0 & 0x7f) | (b1 << 7)``, Linux >= 6.1) followed by that many token codes.
``kallsyms_token_table`` / ``kallsyms_token_index``
    256 NUL-terminated token strings and their ``u16`` offsets.  The first character of an
    expanded name is the ``nm`` type letter.
``kallsyms_markers``
    offsets in ``kallsyms_names`` of every 256th symbol (``unsigned long`` before 4.20-ish,
    ``unsigned int`` after).
``kallsyms_offsets`` + ``kallsyms_relative_base`` or ``kallsyms_addresses``
    the addresses, in one of several encodings (see :data:`ENCODINGS`).

Linux >= 6.0 lists the tables in VMCOREINFO (``SYMBOL(kallsyms_names)`` ...).  Older kernels
do not: the tables are then found by scanning the kernel image for their structure
(:func:`find_kallsyms_tables`).  The address encoding is chosen by reproducing
``SYMBOL(_stext)`` from VMCOREINFO.

Only vmlinux symbols are decoded here; module symbols live in ``struct module`` and need
typed objects (done above this layer).

Decoded tables are cached under ``$XDG_CACHE_HOME/kdbg/kallsyms`` keyed by the kernel build
id, so a second start skips decoding; a cache entry is checked against memory before use.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import marshal
import os
import struct
import tempfile
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Callable, Dict, List, Optional, Protocol, Sequence, Tuple

from kdbg.errors import CoreError, FaultError
from kdbg.symbols.table import SymbolTable

__all__ = [
    "ENCODINGS",
    "KallsymsTables",
    "DecodedKallsyms",
    "decode_kallsyms",
    "load_kallsyms_from_memory",
    "find_kallsyms_tables",
    "expand_names",
    "kallsyms_cache_dir",
]

#: Sanity bounds: a real vmlinux has 50k..400k symbols.
MAX_SYMS = 4_000_000
#: Upper bound of one compressed name (two-byte length) and of the names table.
MAX_NAME_BYTES = 0x3FFF
MAX_NAMES_TABLE = 256 << 20
#: Token-table candidates the image scan examines before giving up (real kernels: < 10).
MAX_ANCHORS = 256
#: KSYM_NAME_LEN is 512 since 6.1; no token is longer.
MAX_TOKEN_LEN = 512

#: Address encodings, tried in this order (the one reproducing ``_stext`` wins):
#:
#: ``absolute-percpu``  base-relative with absolute per-CPU symbols (x86-64 SMP, < 6.15):
#:                      ``off >= 0 ? off : relative_base - 1 - off``
#: ``base-relative``    ``relative_base + (u32)off`` (other arches; every kernel >= 6.15)
#: ``pc-relative``      place-relative ``&kallsyms_offsets[i] + (s32)off``
#: ``absolute``         ``kallsyms_addresses[i]`` (unsigned long; removed in 6.11)
ENCODINGS = ("absolute-percpu", "base-relative", "pc-relative", "absolute")

_CACHE_VERSION = 4
_CACHE_MAGIC = b"KDBGKSYM"

# Digit tokens are always literal (every digit occurs in some symbol, so codes 0x30..0x39
# keep their own character): "0\0" "1\0" ... "9\0" is contiguous in the token table.
_DIGITS_ANCHOR = b"".join(bytes([c]) + b"\0" for c in range(0x30, 0x3A))


class _VMCoreInfoLike(Protocol):
    def get(self, key: str, default: Optional[str] = None) -> Optional[str]: ...


class MemoryLike(Protocol):
    """What this module needs from a memory source."""

    def read(self, address: int, size: int, physical: bool = False) -> bytes: ...


@dataclass
class KallsymsTables:
    """Virtual addresses of the kallsyms tables (``None`` where the kernel has none)."""

    names: int
    num_syms: int
    token_table: int
    token_index: int
    offsets: Optional[int] = None
    relative_base: Optional[int] = None
    addresses: Optional[int] = None
    markers: Optional[int] = None
    #: ``"vmcoreinfo"`` or ``"scan"``.
    found_by: str = "vmcoreinfo"


@dataclass
class DecodedKallsyms:
    """The decoded vmlinux symbols, in kallsyms (address) order."""

    names: List[str]
    types: str
    addresses: List[int]
    #: One of :data:`ENCODINGS`.
    encoding: str
    tables: KallsymsTables
    #: Cache key (build id or table hash) and whether this came from the cache.
    key: str = ""
    from_cache: bool = False
    extra: Dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)

    def to_table(self) -> SymbolTable:
        """A :class:`SymbolTable` of these symbols (all in vmlinux)."""
        return SymbolTable.from_columns(self.names, self.addresses, self.types, None)


# -- helpers -------------------------------------------------------------------------------


def _vmci_symbol(vmci: Optional[_VMCoreInfoLike], name: str) -> Optional[int]:
    if vmci is None:
        return None
    text = vmci.get(f"SYMBOL({name})")
    if text is None:
        return None
    try:
        return int(text, 16)
    except ValueError:
        raise CoreError(f"VMCOREINFO SYMBOL({name}) is not hex: {text!r}") from None


def _read(mem: MemoryLike, addr: int, size: int, what: str) -> bytes:
    if size < 0 or size > MAX_NAMES_TABLE:
        raise CoreError(f"kallsyms: implausible size {size:#x} for {what}")
    if addr < 0 or addr + size > 1 << 64:
        raise CoreError(f"kallsyms: {what} at {addr:#x} is outside the address space")
    try:
        data = mem.read(addr, size)
    except FaultError as e:
        raise CoreError(f"kallsyms: cannot read {what} ({size:#x} bytes at {addr:#x}): {e}") \
            from e
    if len(data) != size:
        raise CoreError(f"kallsyms: short read of {what} at {addr:#x}")
    return bytes(data)


def _parse_tokens(table: bytes, index: Sequence[int]) -> List[str]:
    """Token strings from the token table bytes and the 256 u16 offsets; CoreError if bad."""
    tokens: List[str] = []
    prev = -1
    for i, off in enumerate(index):
        if off <= prev and i:
            raise CoreError(f"kallsyms: token_index[{i}]={off} is not ascending")
        end = table.find(b"\0", off)
        if end < 0:
            raise CoreError(f"kallsyms: token {i} is not NUL-terminated")
        if end - off > MAX_TOKEN_LEN:
            raise CoreError(f"kallsyms: token {i} is implausibly long")
        if i < 255 and index[i + 1] != end + 1:
            raise CoreError(f"kallsyms: token_index[{i + 1}] does not follow token {i}")
        tokens.append(table[off:end].decode("latin-1"))
        prev = off
    return tokens


def _read_tokens(mem: MemoryLike, t: KallsymsTables) -> Tuple[List[str], bytes]:
    raw_index = _read(mem, t.token_index, 512, "kallsyms_token_index")
    index = struct.unpack("<256H", raw_index)
    if index[0] != 0:
        raise CoreError("kallsyms: token_index[0] is not 0")
    table = _read(mem, t.token_table, index[255] + MAX_TOKEN_LEN + 1, "kallsyms_token_table")
    return _parse_tokens(table, index), table[: index[255] + 1] + raw_index


def expand_names(blob: bytes, count: int, tokens: Sequence[str]) -> Tuple[List[str], int]:
    """Expand ``count`` compressed names from ``blob`` (the ``kallsyms_names`` bytes).

    Returns the expanded names (type letter first) and the number of bytes consumed.
    Raises :class:`~kdbg.errors.CoreError` when the table is truncated or malformed.
    """
    if not 0 <= count <= MAX_SYMS:
        raise CoreError(f"kallsyms: implausible symbol count {count}")
    if len(tokens) != 256:
        raise CoreError("kallsyms: the token table needs 256 tokens")
    size = len(blob)
    # Every name becomes "\n" + its codes: the length byte is overwritten with a separator
    # code that maps to "\n" (no token contains one); then all names decode in one C-level
    # charmap pass.  The separator is a code rare in the data; if it occurs inside a name
    # anyway, the slower per-name path below is used.
    sep = _pick_separator(blob[: min(size, 1 << 16)])
    buf = bytearray(blob)
    starts = [0] * count
    big: List[int] = []
    pos = 0
    i = 0
    try:
        for i in range(count):
            n = blob[pos]
            starts[i] = pos
            buf[pos] = sep
            if n & 0x80:
                n = (n & 0x7F) | (blob[pos + 1] << 7)
                pos += 1
                buf[pos] = sep
                big.append(i)
            pos += n + 1
    except IndexError:
        raise CoreError(f"kallsyms: names table truncated at symbol {i} of {count}") from None
    if pos > size:
        raise CoreError(f"kallsyms: names table truncated (needs {pos} of {size} bytes)")
    if any("\n" in t for t in tokens):
        raise CoreError("kallsyms: a token contains a newline")
    del buf[pos:]
    # Names whose codes contain the separator are cut out of the bulk input and expanded
    # one by one afterwards.
    affected: List[int] = []
    if buf.count(sep) != count + len(big):
        sepb = bytes([sep])
        big_set = set(big)
        q = blob.find(sepb, 0, pos)
        while q >= 0:
            k = bisect_right(starts, q) - 1
            is_length = starts[k] == q or (k in big_set and starts[k] + 1 == q)
            if not is_length and (not affected or affected[-1] != k):
                affected.append(k)
            q = blob.find(sepb, q + 1, pos)
        for k in reversed(affected):
            a = starts[k] + (2 if k in big_set else 1)
            b = starts[k + 1] if k + 1 < count else pos
            del buf[a:b]
    mapping: Dict[int, str] = dict(enumerate(tokens))
    mapping[sep] = "\n"
    text = codecs.charmap_decode(buf, "strict", mapping)[0]
    names = text.split("\n")
    # Leading "" before the first separator, and one "" per two-byte length.
    del names[0]
    for j in range(len(big) - 1, -1, -1):
        del names[big[j] + j]
    if len(names) != count:  # pragma: no cover - guarded by the separator bookkeeping
        raise CoreError("kallsyms: names table does not split into its symbols")
    if affected:
        mapping[sep] = tokens[sep]
        for k in affected:
            a = starts[k] + (2 if k in big_set else 1)
            b = starts[k + 1] if k + 1 < count else pos
            names[k] = codecs.charmap_decode(blob[a:b], "strict", mapping)[0]
    return names, pos


def _pick_separator(sample: bytes) -> int:
    """The byte value least frequent in ``sample`` (so that few names need a second pass)."""
    best, best_count = 0, len(sample) + 1
    for v in range(255, -1, -1):
        c = sample.count(bytes([v]))
        if c < best_count:
            best, best_count = v, c
            if not c:
                break
    return best


def _check_names(full: List[str]) -> Tuple[List[str], str]:
    """Split ``Tname`` strings into names and a type-letter string; CoreError on garbage."""
    types = "".join(map(itemgetter(0), full)) if "" not in full else ""
    if len(types) != len(full):
        raise CoreError("kallsyms: a symbol expands to an empty string")
    if not types.isascii() or not types.isalpha():
        bad = next(i for i, c in enumerate(types) if not (c.isascii() and c.isalpha()))
        raise CoreError(f"kallsyms: symbol {bad} has a bad type letter {types[bad]!r}")
    names = list(map(itemgetter(slice(1, None)), full))
    return names, types


# -- address encodings ---------------------------------------------------------------------


def _address_fn(
    encoding: str, rel_base: int, offsets_addr: int
) -> Callable[[int, int], int]:
    mask = (1 << 64) - 1
    if encoding == "absolute-percpu":
        return lambda i, off: off if off >= 0 else (rel_base - 1 - off) & mask
    if encoding == "base-relative":
        return lambda i, off: (rel_base + (off & 0xFFFFFFFF)) & mask
    if encoding == "pc-relative":
        return lambda i, off: (offsets_addr + 4 * i + off) & mask
    return lambda i, off: off & mask


def _all_addresses(encoding: str, raw: array, rel_base: int, offsets_addr: int) -> List[int]:
    mask = (1 << 64) - 1
    addrs: List[int]
    if encoding == "absolute-percpu":
        # Most entries are negative (relative); compute those in C, then patch the few
        # non-negative (absolute, per-CPU) ones, found by their sign byte.
        addrs = list(map((rel_base - 1).__sub__, raw))
        sign = raw.tobytes()[3::4].translate(_NONNEG)
        k = sign.find(1)
        while k >= 0:
            addrs[k] = raw[k]
            k = sign.find(1, k + 1)
    elif encoding == "base-relative":
        unsigned = array("I")
        unsigned.frombytes(raw.tobytes())
        addrs = list(map(rel_base.__add__, unsigned))
    elif encoding == "pc-relative":
        addrs = [offsets_addr + 4 * i + o for i, o in enumerate(raw)]
    else:
        addrs = list(raw)
    if addrs and (max(addrs) > mask or min(addrs) < 0):
        addrs = [a & mask for a in addrs]
    return addrs


# Maps a little-endian int32's high byte to 1 when the value is non-negative.
_NONNEG = bytes(1 if b < 0x80 else 0 for b in range(256))


def _check_points(vmci: Optional[_VMCoreInfoLike], names: List[str]) -> List[Tuple[int, int]]:
    """(symbol index, expected address) pairs from VMCOREINFO, ``_stext`` first."""
    points: List[Tuple[int, int]] = []
    for sym in ("_stext", "init_uts_ns"):
        addr = _vmci_symbol(vmci, sym)
        if addr is None:
            continue
        try:
            idx = names.index(sym)
        except ValueError:
            continue
        points.append((idx, addr))
    return points


def _read_addresses(
    mem: MemoryLike, t: KallsymsTables, count: int, vmci: Optional[_VMCoreInfoLike],
    names: List[str], encodings: Sequence[str] = ENCODINGS,
) -> Tuple[List[int], str, int]:
    """Read the address table and pick the encoding that reproduces VMCOREINFO symbols."""
    points = _check_points(vmci, names)
    if not points:
        raise CoreError("kallsyms: VMCOREINFO has no _stext (or init_uts_ns) to validate "
                        "the address encoding against")
    candidates: List[Tuple[str, array, int, int]] = []
    if t.offsets is not None:
        raw = array("i")
        raw.frombytes(_read(mem, t.offsets, 4 * count, "kallsyms_offsets"))
        if array("i").itemsize != 4:  # pragma: no cover
            raise CoreError("kallsyms: platform int is not 32-bit")
        if struct.pack("=i", 1) != struct.pack("<i", 1):  # pragma: no cover
            raw.byteswap()
        rel_base = 0
        if t.relative_base is not None:
            (rel_base,) = struct.unpack(
                "<Q", _read(mem, t.relative_base, 8, "kallsyms_relative_base"))
        for enc in encodings:
            if enc in ("absolute-percpu", "base-relative") and t.relative_base is None:
                continue
            if enc in ("absolute-percpu", "base-relative", "pc-relative"):
                candidates.append((enc, raw, rel_base, t.offsets))
    if t.addresses is not None and "absolute" in encodings:
        raw64 = array("Q")
        raw64.frombytes(_read(mem, t.addresses, 8 * count, "kallsyms_addresses"))
        if struct.pack("=i", 1) != struct.pack("<i", 1):  # pragma: no cover
            raw64.byteswap()
        candidates.append(("absolute", raw64, 0, t.addresses))
    best: Optional[Tuple[int, str, array, int, int]] = None
    for enc, raw, rel_base, base_addr in candidates:
        fn = _address_fn(enc, rel_base, base_addr)
        idx0, want0 = points[0]
        if fn(idx0, raw[idx0]) != want0:
            continue
        score = sum(1 for i, want in points if fn(i, raw[i]) == want)
        if best is None or score > best[0]:
            best = (score, enc, raw, rel_base, base_addr)
    if best is None:
        idx0, want0 = points[0]
        raise CoreError(
            f"kallsyms: no address encoding reproduces {names[idx0]} = {want0:#x} "
            f"(tried {', '.join(c[0] for c in candidates) or 'none'})")
    _, enc, raw, rel_base, base_addr = best
    return _all_addresses(enc, raw, rel_base, base_addr), enc, rel_base


# -- locating the tables -------------------------------------------------------------------


def tables_from_vmcoreinfo(vmci: Optional[_VMCoreInfoLike]) -> Optional[KallsymsTables]:
    """The table addresses VMCOREINFO gives (Linux >= 6.0), or ``None`` when it has none."""
    names = _vmci_symbol(vmci, "kallsyms_names")
    num = _vmci_symbol(vmci, "kallsyms_num_syms")
    ttab = _vmci_symbol(vmci, "kallsyms_token_table")
    tidx = _vmci_symbol(vmci, "kallsyms_token_index")
    if names is None or num is None or ttab is None or tidx is None:
        return None
    return KallsymsTables(
        names=names, num_syms=num, token_table=ttab, token_index=tidx,
        offsets=_vmci_symbol(vmci, "kallsyms_offsets"),
        relative_base=_vmci_symbol(vmci, "kallsyms_relative_base"),
        addresses=_vmci_symbol(vmci, "kallsyms_addresses"),
        markers=_vmci_symbol(vmci, "kallsyms_markers"),
        found_by="vmcoreinfo",
    )


def _image_range(vmci: Optional[_VMCoreInfoLike], limit: int) -> Tuple[int, int]:
    start = _vmci_symbol(vmci, "_stext")
    if start is None:
        off = None
        if vmci is not None and vmci.get("KERNELOFFSET") is not None:
            try:
                off = int(vmci.get("KERNELOFFSET") or "0", 16)
            except ValueError:
                off = None
        if off is None:
            raise CoreError("kallsyms: VMCOREINFO gives neither _stext nor KERNELOFFSET; "
                            "cannot locate the kernel image")
        start = 0xFFFFFFFF81000000 + off
    end = start + limit
    for sym in ("init_uts_ns", "swapper_pg_dir", "init_top_pgt"):
        a = _vmci_symbol(vmci, sym)
        if a is not None and start < a:
            end = max(min(end, a + (16 << 20)), start + (32 << 20))
            break
    return start, min(end, start + limit)


def _read_tolerant(mem: MemoryLike, addr: int, size: int, page: int = 4096) -> bytes:
    """Read ``size`` bytes, zero-filling pages that fault."""
    try:
        return bytes(mem.read(addr, size))
    except FaultError:
        pass
    out = bytearray(size)
    pos = 0
    while pos < size:
        step = min(page - ((addr + pos) % page), size - pos)
        with contextlib.suppress(FaultError):
            out[pos:pos + step] = mem.read(addr + pos, step)
        pos += step
    return bytes(out)


def find_kallsyms_tables(
    mem: MemoryLike, vmci: Optional[_VMCoreInfoLike], limit: int = 96 << 20,
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
    overlap = 64
    # kallsyms is in .rodata, after the text and before .data: when init_uts_ns (in .data)
    # is known, scan backwards from it first; then whatever is left, forwards.
    chunks = [(p, min(chunk, end - p)) for p in range(start, end, chunk)]
    hint = _vmci_symbol(vmci, "init_uts_ns")
    if hint is not None and start < hint < end:
        k = (hint - start) // chunk
        chunks = chunks[k::-1] + chunks[k + 1:]
    tried = 0
    for pos, size in chunks:
        data = _read_tolerant(mem, pos, size + overlap)
        i = data.find(_DIGITS_ANCHOR)
        while 0 <= i < size:
            found = _tables_at_anchor(mem, pos + i, start)
            if found is not None:
                return found
            tried += 1
            if tried >= MAX_ANCHORS:
                raise CoreError(f"kallsyms: gave up after {tried} token-table candidates")
            i = data.find(_DIGITS_ANCHOR, i + 1)
    raise CoreError(f"kallsyms: no kallsyms tables found in {start:#x}..{end:#x}")


def _tables_at_anchor(
    mem: MemoryLike, anchor: int, image_start: int
) -> Optional[List[KallsymsTables]]:
    """Validate a token-table candidate around the digit tokens at ``anchor``."""
    window = 0x10000
    base = anchor - window
    try:
        data = _read_tolerant(mem, base, 2 * window)
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
            _parse_tokens(table + b"\0", idx)
        except CoreError:
            continue
        if table.find(b"\0", idx[255]) < 0 or any(table[table.find(b"\0", idx[255]) + 1:]):
            continue
        found = _names_before(mem, t, x, image_start)
        if found is not None:
            return found
    return None


def _names_before(
    mem: MemoryLike, token_table: int, token_index: int, image_start: int
) -> Optional[List[KallsymsTables]]:
    """Find markers, names and num_syms before the token table."""
    back = 0x20000
    data = _read_tolerant(mem, token_table - back, back)
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
    mem: MemoryLike, token_table: int, token_index: int, back: int = 4 << 20
) -> Optional[List[KallsymsTables]]:
    """Like :func:`_names_before` for kernels with ``kallsyms_seqs_of_names`` (3 bytes per
    symbol, 6.2+ and some stable 6.1) between the u32 markers and the token table."""
    base = token_table - back
    data = _read_tolerant(mem, base, back)
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
    mem: MemoryLike, marker_addr: int, markers: List[int], nblocks: int
) -> Optional[Tuple[int, int, int]]:
    """Find ``kallsyms_names`` (and ``num_syms`` before it) given the markers."""
    last = markers[-1]
    # The names table ends at most 7 bytes (padding) before the markers; the last block of
    # <= 256 names is at most 256 * (2 + KSYM_NAME_LEN) bytes long.
    hi = marker_addr - last - 2
    lo = hi - 256 * (2 + 512) - 16
    data = _read_tolerant(mem, lo - 16, hi - lo + 32)
    for names_addr in range(hi & ~7, lo, -8):
        o = names_addr - (lo - 16)
        (count, pad) = struct.unpack_from("<II", data, o - 8)
        if pad or count == 0 or (count + 255) >> 8 != nblocks:
            continue
        tail = marker_addr - names_addr
        if tail <= last:
            continue
        try:
            blob = _read(mem, names_addr, tail, "kallsyms_names")
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


# -- cache ---------------------------------------------------------------------------------


def kallsyms_cache_dir() -> str:
    """``$XDG_CACHE_HOME/kdbg/kallsyms`` (``~/.cache/kdbg/kallsyms`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "kdbg", "kallsyms")


def _cache_path(cache_dir: str, key: str) -> str:
    return os.path.join(cache_dir, hashlib.sha256(key.encode()).hexdigest()[:40] + ".ksym")


def _cache_load(cache_dir: str, key: str) -> Optional[tuple]:
    path = _cache_path(cache_dir, key)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if len(data) < 40 or data[:8] != _CACHE_MAGIC:
        return None
    payload = data[40:]
    if hashlib.sha256(payload).digest() != data[8:40]:
        return None
    try:
        obj = marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None
    if not isinstance(obj, tuple) or len(obj) != 10 or obj[0] != _CACHE_VERSION or obj[1] != key:
        return None
    return obj


def _cache_store(cache_dir: str, key: str, obj: tuple) -> None:
    try:
        os.makedirs(cache_dir, exist_ok=True)
        payload = marshal.dumps(obj)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_CACHE_MAGIC + hashlib.sha256(payload).digest() + payload)
            os.replace(tmp, _cache_path(cache_dir, key))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:
        pass


def _tables_tuple(t: KallsymsTables, origin: int) -> tuple:
    def rel(v: Optional[int]) -> Optional[int]:
        return None if v is None else v - origin

    return (rel(t.names), rel(t.num_syms), rel(t.token_table), rel(t.token_index),
            rel(t.offsets), rel(t.relative_base), rel(t.addresses), rel(t.markers), t.found_by)


def _tables_from_tuple(v: tuple, origin: int) -> KallsymsTables:
    def ab(x: Optional[int]) -> Optional[int]:
        return None if x is None else x + origin

    return KallsymsTables(
        names=v[0] + origin, num_syms=v[1] + origin, token_table=v[2] + origin,
        token_index=v[3] + origin, offsets=ab(v[4]), relative_base=ab(v[5]),
        addresses=ab(v[6]), markers=ab(v[7]), found_by=v[8])


# -- entry points --------------------------------------------------------------------------


def _read_num_syms(mem: MemoryLike, t: KallsymsTables) -> int:
    (count,) = struct.unpack("<I", _read(mem, t.num_syms, 4, "kallsyms_num_syms"))
    if not 0 < count <= MAX_SYMS:
        raise CoreError(f"kallsyms: implausible kallsyms_num_syms {count}")
    return count


def _decode_at(
    mem: MemoryLike, t: KallsymsTables, vmci: Optional[_VMCoreInfoLike]
) -> DecodedKallsyms:
    count = _read_num_syms(mem, t)
    tokens, _ = _read_tokens(mem, t)
    # Names end before the token table (markers lie between) in every layout.
    if t.token_table > t.names and t.token_table - t.names <= MAX_NAMES_TABLE:
        size = t.token_table - t.names
    else:
        size = min(count * 24 + 4096, MAX_NAMES_TABLE)
    if size > count * (MAX_NAME_BYTES + 2):
        size = count * (MAX_NAME_BYTES + 2)
    blob = _read_names(mem, t.names, size, count)
    full, _ = expand_names(blob, count, tokens)
    names, types = _check_names(full)
    addrs, enc, rel_base = _read_addresses(mem, t, count, vmci, names)
    return DecodedKallsyms(names, types, addrs, enc, t, extra={"relative_base": rel_base})


def _read_names(mem: MemoryLike, addr: int, size: int, count: int) -> bytes:
    try:
        return _read(mem, addr, size, "kallsyms_names")
    except CoreError:
        # Part of the range may be unreadable (e.g. a guessed size running into a hole):
        # read what is readable page by page and let the decoder report truncation.
        data = bytearray()
        page = 4096
        pos = 0
        while pos < size:
            step = min(page - ((addr + pos) % page), size - pos)
            try:
                data += mem.read(addr + pos, step)
            except FaultError:
                break
            pos += step
        if not data:
            raise
        return bytes(data)


def _token_digest(mem: MemoryLike, t: KallsymsTables) -> str:
    _, raw = _read_tokens(mem, t)
    return hashlib.sha256(raw).hexdigest()


def _cache_key(mem: MemoryLike, vmci: Optional[_VMCoreInfoLike],
               t: Optional[KallsymsTables]) -> Optional[str]:
    """The cache key: the build id, else a hash of the token tables and first names, else
    (tables found by scanning, no build id) the release: every hit is validated anyway."""
    release = (vmci.get("OSRELEASE") if vmci is not None else None) or "?"
    build_id = vmci.get("BUILD-ID") if vmci is not None else None
    if build_id:
        return f"build-id:{build_id}:{release}"
    if t is None:
        return f"release:{release}" if release != "?" else None
    try:
        _, raw = _read_tokens(mem, t)
        head = _read(mem, t.names, 4096, "kallsyms_names")
        num = _read(mem, t.num_syms, 4, "kallsyms_num_syms")
    except CoreError:
        return None
    h = hashlib.sha256(raw + head + num).hexdigest()
    return f"tables:{h}:{release}"


def decode_kallsyms(
    mem: MemoryLike,
    vmcoreinfo: Optional[_VMCoreInfoLike] = None,
    *,
    use_cache: bool = True,
    cache_dir: Optional[str] = None,
    scan_limit: int = 96 << 20,
) -> DecodedKallsyms:
    """Decode vmlinux kallsyms from ``mem``.

    ``vmcoreinfo`` defaults to ``mem.vmcoreinfo``.  Tables come from VMCOREINFO when it
    lists them (Linux >= 6.0), otherwise from a scan of the kernel image.  Raises
    :class:`~kdbg.errors.CoreError` when the tables are missing or malformed.
    """
    vmci = vmcoreinfo if vmcoreinfo is not None else getattr(mem, "vmcoreinfo", None)
    if cache_dir is None:
        cache_dir = kallsyms_cache_dir()
    stext = _vmci_symbol(vmci, "_stext")
    origin = stext if stext is not None else 0
    t = tables_from_vmcoreinfo(vmci)
    key = _cache_key(mem, vmci, t) if use_cache else None
    if key is not None:
        hit = _from_cache(mem, vmci, cache_dir, key, t, origin)
        if hit is not None:
            return hit
    result: Optional[DecodedKallsyms] = None
    if t is not None:
        result = _decode_at(mem, t, vmci)
    else:
        errors: List[str] = []
        for cand in find_kallsyms_tables(mem, vmci, limit=scan_limit):
            try:
                result = _decode_at(mem, cand, vmci)
                break
            except CoreError as e:
                errors.append(str(e))
        if result is None:
            raise CoreError("; ".join(dict.fromkeys(errors)))
        if use_cache and key is None:
            key = _cache_key(mem, vmci, result.tables)
    result.key = key or ""
    if use_cache and key is not None:
        _cache_store(cache_dir, key, (
            _CACHE_VERSION, key, result.names, result.types, result.addresses,
            result.encoding, _tables_tuple(result.tables, origin),
            result.extra.get("relative_base", 0), len(result.names),
            _token_digest(mem, result.tables)))
    return result


def _from_cache(
    mem: MemoryLike, vmci: Optional[_VMCoreInfoLike], cache_dir: str, key: str,
    t: Optional[KallsymsTables], origin: int,
) -> Optional[DecodedKallsyms]:
    obj = _cache_load(cache_dir, key)
    if obj is None:
        return None
    try:
        (_, _, names, types, addrs, enc, ttuple, rel_base, count, digest) = obj
        tables = _tables_from_tuple(ttuple, origin)
        if t is not None and (t.names, t.token_table) != (tables.names, tables.token_table):
            return None
        if not (isinstance(names, list) and isinstance(types, str)
                and isinstance(addrs, list) and len(names) == len(types) == len(addrs) == count):
            return None
        if _read_num_syms(mem, tables) != count or _token_digest(mem, tables) != digest:
            return None
        if tables.relative_base is not None:
            (now_base,) = struct.unpack(
                "<Q", _read(mem, tables.relative_base, 8, "kallsyms_relative_base"))
            if now_base != rel_base:
                return None
        points = _check_points(vmci, names)
        if not points or any(addrs[i] != want for i, want in points):
            return None
    except (CoreError, ValueError, TypeError, IndexError):
        return None
    return DecodedKallsyms(names, types, addrs, enc, tables, key=key, from_cache=True,
                           extra={"relative_base": rel_base})


def load_kallsyms_from_memory(
    mem: MemoryLike, vmcoreinfo: Optional[_VMCoreInfoLike] = None, **kwargs: object
) -> SymbolTable:
    """Decode vmlinux kallsyms from memory and return a :class:`SymbolTable`."""
    return decode_kallsyms(mem, vmcoreinfo, **kwargs).to_table()  # type: ignore[arg-type]
