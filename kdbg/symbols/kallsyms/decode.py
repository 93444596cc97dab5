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

This module decodes tables whose addresses are known (:class:`KallsymsTables`, from
VMCOREINFO on Linux >= 6.0 via :func:`tables_from_vmcoreinfo`, or from the image scan in
:mod:`kdbg.symbols.kallsyms.scan`); the address encoding is chosen by reproducing
``SYMBOL(_stext)`` from VMCOREINFO.  :mod:`kdbg.symbols.kallsyms.mem` ties scan, decode
and cache together.
"""

from __future__ import annotations

import codecs
import struct
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from kdbg.errors import CoreError, FaultError
from kdbg.memory.base import KernelMemory
from kdbg.memory.vmcoreinfo import VMCoreInfo
from kdbg.symbols.table import SymbolTable

__all__ = [
    "ENCODINGS",
    "KallsymsTables",
    "DecodedKallsyms",
    "decode_tables",
    "expand_names",
    "tables_from_vmcoreinfo",
]

#: Sanity bounds: a real vmlinux has 50k..400k symbols.
MAX_SYMS = 4_000_000
#: Upper bound of one compressed name (two-byte length) and of the names table.
MAX_NAME_BYTES = 0x3FFF
MAX_NAMES_TABLE = 256 << 20
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
    #: ``relative_base``: the value of ``kallsyms_relative_base`` (0 without one).
    extra: Dict[str, int] = field(default_factory=dict)
    #: Indexes of the symbols whose value is not an address in the kernel image and so
    #: does not move with KASLR (x86-64's absolute per-CPU offsets).
    fixed: List[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)

    def to_table(self) -> SymbolTable:
        """A :class:`SymbolTable` of these symbols (all in vmlinux)."""
        return SymbolTable.from_columns(self.names, self.addresses, self.types, None)


# -- helpers -------------------------------------------------------------------------------


def vmcoreinfo_address(vmci: Optional[VMCoreInfo], name: str) -> Optional[int]:
    """``SYMBOL(name)`` from VMCOREINFO, ``None`` when absent; CoreError when not hex."""
    if vmci is None or not vmci.has_symbol(name):
        return None
    return vmci.symbol(name)


def read_exact(mem: KernelMemory, addr: int, size: int, what: str) -> bytes:
    """``size`` bytes of ``what`` at ``addr``; a bad range or a fault is a CoreError."""
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


def parse_tokens(table: bytes, index: Sequence[int]) -> List[str]:
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


def read_tokens(mem: KernelMemory, t: KallsymsTables) -> Tuple[List[str], bytes]:
    """The 256 tokens, and the raw token table + index bytes they came from."""
    raw_index = read_exact(mem, t.token_index, 512, "kallsyms_token_index")
    index = struct.unpack("<256H", raw_index)
    if index[0] != 0:
        raise CoreError("kallsyms: token_index[0] is not 0")
    table = read_exact(mem, t.token_table, index[255] + MAX_TOKEN_LEN + 1, "kallsyms_token_table")
    return parse_tokens(table, index), table[: index[255] + 1] + raw_index


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


def address_fn(
    encoding: str, rel_base: int, offsets_addr: int
) -> Callable[[int, int], int]:
    """``f(i, raw)``: the address of symbol ``i`` whose table entry is ``raw`` (an ``s32``
    of ``kallsyms_offsets``, or a ``u64`` of ``kallsyms_addresses`` for ``"absolute"``)."""
    mask = (1 << 64) - 1
    if encoding == "absolute-percpu":
        return lambda i, off: off if off >= 0 else (rel_base - 1 - off) & mask
    if encoding == "base-relative":
        return lambda i, off: (rel_base + (off & 0xFFFFFFFF)) & mask
    if encoding == "pc-relative":
        return lambda i, off: (offsets_addr + 4 * i + off) & mask
    return lambda i, off: off & mask


def _all_addresses(
    encoding: str, raw: array, rel_base: int, offsets_addr: int
) -> Tuple[List[int], List[int]]:
    """Every address, and the indexes of the fixed (absolute, KASLR-independent) ones."""
    mask = (1 << 64) - 1
    addrs: List[int]
    fixed: List[int] = []
    if encoding == "absolute-percpu":
        # Most entries are negative (relative); compute those in C, then patch the few
        # non-negative (absolute, per-CPU) ones, found by their sign byte.
        addrs = list(map((rel_base - 1).__sub__, raw))
        sign = raw.tobytes()[3::4].translate(_NONNEG)
        k = sign.find(1)
        while k >= 0:
            addrs[k] = raw[k]
            fixed.append(k)
            k = sign.find(1, k + 1)
    elif encoding == "base-relative":
        unsigned = array("I")
        unsigned.frombytes(raw.tobytes())
        addrs = list(map(rel_base.__add__, unsigned))
    elif encoding == "pc-relative":
        addrs = [offsets_addr + 4 * i + o for i, o in enumerate(raw)]
    else:
        addrs = list(raw)
        # Absolute tables hold relocated image addresses (kernel half: top bit set on
        # x86-64 and arm64 alike); anything else (x86-64's per-CPU offsets) was not relocated.
        fixed = [i for i, a in enumerate(addrs) if not a >> 63]
    if addrs and (max(addrs) > mask or min(addrs) < 0):
        addrs = [a & mask for a in addrs]
    return addrs, fixed


# Maps a little-endian int32's high byte to 1 when the value is non-negative.
_NONNEG = bytes(1 if b < 0x80 else 0 for b in range(256))


#: The VMCOREINFO symbols kallsyms decodes are checked against, the first required.
CHECK_SYMBOLS = ("_stext", "init_uts_ns")


def check_points(
    vmci: Optional[VMCoreInfo], index_of: Callable[[str], Optional[int]]
) -> List[Tuple[int, int]]:
    """(symbol index, expected address) pairs from VMCOREINFO, ``_stext`` first;
    ``index_of(name)`` is the index of the first symbol called ``name`` (``None`` when
    there is none): :func:`first_index_in` a list of names, or a by-name lookup."""
    points: List[Tuple[int, int]] = []
    for sym in CHECK_SYMBOLS:
        addr = vmcoreinfo_address(vmci, sym)
        if addr is None:
            continue
        idx = index_of(sym)
        if idx is not None:
            points.append((idx, addr))
    return points


def first_index_in(names: Sequence[str]) -> Callable[[str], Optional[int]]:
    """``index_of`` for :func:`check_points` over a decoded name list."""
    def index_of(name: str) -> Optional[int]:
        try:
            return names.index(name)
        except ValueError:
            return None

    return index_of


def address_candidates(
    mem: KernelMemory, t: KallsymsTables, count: int, encodings: Sequence[str] = ENCODINGS,
) -> List[Tuple[str, array, int, int]]:
    """Every address encoding the tables allow: ``(encoding, raw table, relative_base,
    table address)``, the raw table (``kallsyms_offsets`` as ``s32``, or
    ``kallsyms_addresses`` as ``u64``) read in one bulk read."""
    candidates: List[Tuple[str, array, int, int]] = []
    if t.offsets is not None:
        raw = array("i")
        raw.frombytes(read_exact(mem, t.offsets, 4 * count, "kallsyms_offsets"))
        if array("i").itemsize != 4:  # pragma: no cover
            raise CoreError("kallsyms: platform int is not 32-bit")
        if struct.pack("=i", 1) != struct.pack("<i", 1):  # pragma: no cover
            raw.byteswap()
        rel_base = 0
        if t.relative_base is not None:
            (rel_base,) = struct.unpack(
                "<Q", read_exact(mem, t.relative_base, 8, "kallsyms_relative_base"))
        for enc in encodings:
            if enc in ("absolute-percpu", "base-relative") and t.relative_base is None:
                continue
            if enc in ("absolute-percpu", "base-relative", "pc-relative"):
                candidates.append((enc, raw, rel_base, t.offsets))
    if t.addresses is not None and "absolute" in encodings:
        raw64 = array("Q")
        raw64.frombytes(read_exact(mem, t.addresses, 8 * count, "kallsyms_addresses"))
        if struct.pack("=i", 1) != struct.pack("<i", 1):  # pragma: no cover
            raw64.byteswap()
        candidates.append(("absolute", raw64, 0, t.addresses))
    return candidates


def pick_encoding(
    candidates: Sequence[Tuple[str, array, int, int]], points: Sequence[Tuple[int, int]],
    first_name: str,
) -> Tuple[str, array, int, int]:
    """The candidate (of :func:`address_candidates`) that reproduces the check points
    (:func:`check_points`; the first, ``first_name``'s, must match) best; CoreError when
    none does."""
    best: Optional[Tuple[int, str, array, int, int]] = None
    for enc, raw, rel_base, base_addr in candidates:
        fn = address_fn(enc, rel_base, base_addr)
        idx0, want0 = points[0]
        if fn(idx0, raw[idx0]) != want0:
            continue
        score = sum(1 for i, want in points if fn(i, raw[i]) == want)
        if best is None or score > best[0]:
            best = (score, enc, raw, rel_base, base_addr)
    if best is None:
        raise CoreError(
            f"kallsyms: no address encoding reproduces {first_name} = {points[0][1]:#x} "
            f"(tried {', '.join(c[0] for c in candidates) or 'none'})")
    return best[1:]


def _read_addresses(
    mem: KernelMemory, t: KallsymsTables, count: int, vmci: Optional[VMCoreInfo],
    names: List[str], encodings: Sequence[str] = ENCODINGS,
) -> Tuple[List[int], List[int], str, int]:
    """Read the address table and pick the encoding that reproduces VMCOREINFO symbols."""
    points = check_points(vmci, first_index_in(names))
    if not points:
        raise CoreError("kallsyms: VMCOREINFO has no _stext (or init_uts_ns) to validate "
                        "the address encoding against")
    candidates = address_candidates(mem, t, count, encodings)
    enc, raw, rel_base, base_addr = pick_encoding(candidates, points, names[points[0][0]])
    addrs, fixed = _all_addresses(enc, raw, rel_base, base_addr)
    return addrs, fixed, enc, rel_base


def tables_from_vmcoreinfo(vmci: Optional[VMCoreInfo]) -> Optional[KallsymsTables]:
    """The table addresses VMCOREINFO gives (Linux >= 6.0), or ``None`` when it has none."""
    names = vmcoreinfo_address(vmci, "kallsyms_names")
    num = vmcoreinfo_address(vmci, "kallsyms_num_syms")
    ttab = vmcoreinfo_address(vmci, "kallsyms_token_table")
    tidx = vmcoreinfo_address(vmci, "kallsyms_token_index")
    if names is None or num is None or ttab is None or tidx is None:
        return None
    return KallsymsTables(
        names=names, num_syms=num, token_table=ttab, token_index=tidx,
        offsets=vmcoreinfo_address(vmci, "kallsyms_offsets"),
        relative_base=vmcoreinfo_address(vmci, "kallsyms_relative_base"),
        addresses=vmcoreinfo_address(vmci, "kallsyms_addresses"),
        markers=vmcoreinfo_address(vmci, "kallsyms_markers"),
        found_by="vmcoreinfo",
    )


def read_num_syms(mem: KernelMemory, t: KallsymsTables) -> int:
    """``kallsyms_num_syms``; CoreError when implausible."""
    (count,) = struct.unpack("<I", read_exact(mem, t.num_syms, 4, "kallsyms_num_syms"))
    if not 0 < count <= MAX_SYMS:
        raise CoreError(f"kallsyms: implausible kallsyms_num_syms {count}")
    return count


def decode_tables(
    mem: KernelMemory, t: KallsymsTables, vmci: Optional[VMCoreInfo]
) -> DecodedKallsyms:
    """Decode the tables at ``t``: names, type letters and addresses.

    The address encoding is the one of :data:`ENCODINGS` that reproduces VMCOREINFO's
    ``_stext`` (and ``init_uts_ns``).  Raises :class:`~kdbg.errors.CoreError` when the
    tables are unreadable or malformed.
    """
    count = read_num_syms(mem, t)
    tokens, _ = read_tokens(mem, t)
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
    addrs, fixed, enc, rel_base = _read_addresses(mem, t, count, vmci, names)
    return DecodedKallsyms(names, types, addrs, enc, t, fixed=fixed,
                           extra={"relative_base": rel_base})


def _read_names(mem: KernelMemory, addr: int, size: int, count: int) -> bytes:
    try:
        return read_exact(mem, addr, size, "kallsyms_names")
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

