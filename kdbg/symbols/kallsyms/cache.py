"""Decoded kallsyms kept in the kdbg cache (:mod:`kdbg.cache`, kind ``"kallsyms"``).

Expanding ~150k compressed names is most of the cost of decoding kallsyms, and it depends
only on the kernel build, not on the boot.  An entry is therefore keyed by the build
(VMCOREINFO ``BUILD-ID``, else a hash of the token tables and the first names, else the
release) and holds every address as the boot that stored it saw them, with that boot's
kernel text start (``_stext``): another boot of the kernel (a different KASLR slide) moves
them by the difference of the text starts, so two boots share the entry, and the same boot
again (the usual case) takes them as they are, without arithmetic on 100,000 Python ints.
Symbols whose value is not an image address (x86-64's absolute per-CPU offsets,
:attr:`DecodedKallsyms.fixed`) never move.

Before an entry is used it is checked against the memory at hand: the tables must sit
where VMCOREINFO says (relative to ``_stext``), ``kallsyms_num_syms``, the token table and
index bytes and ``kallsyms_relative_base`` must match, ``_stext`` and ``init_uts_ns`` must
come out at their VMCOREINFO addresses, and a sample of the address table's entries must
decode to the cached addresses.  Anything else is a miss, never a wrong answer.
"""

from __future__ import annotations

import hashlib
import marshal
import struct
from array import array
from typing import List, Optional, Tuple

from kdbg import cache
from kdbg.errors import CoreError
from kdbg.memory.base import KernelMemory
from kdbg.memory.image_scan import kernel_text_start
from kdbg.memory.vmcoreinfo import VMCoreInfo
from kdbg.symbols.kallsyms.decode import (
    DecodedKallsyms,
    KallsymsTables,
    address_fn,
    check_points,
    first_index_in,
    read_exact,
    read_num_syms,
    read_tokens,
)

__all__ = ["KIND", "cache_key", "load_cached", "store_cached", "text_origin"]

#: The :mod:`kdbg.cache` kind of these entries.
KIND = "kallsyms"
#: Bumped whenever the payload layout changes.
_VERSION = 6
_MASK = (1 << 64) - 1
#: Address-table entries compared with memory before a cached entry is used.
_SAMPLES = 32


def text_origin(vmci: Optional[VMCoreInfo]) -> Optional[int]:
    """The address cached addresses are relative to (the text start), or ``None``."""
    try:
        return kernel_text_start(vmci)
    except CoreError:
        return None


def cache_key(mem: KernelMemory, vmci: Optional[VMCoreInfo],
              t: Optional[KallsymsTables]) -> Optional[str]:
    """The key of the kernel's entry: its build id, else a hash of the token tables and
    first names (content, so independent of KASLR), else (tables not located yet, no build
    id) its release.  Every hit is validated, so a coarse key costs a miss, never an error.
    """
    release = (vmci.get("OSRELEASE") if vmci is not None else None) or "?"
    build_id = vmci.get("BUILD-ID") if vmci is not None else None
    if build_id:
        return f"build-id:{build_id}:{release}"
    if t is None:
        return f"release:{release}" if release != "?" else None
    try:
        _, raw = read_tokens(mem, t)
        head = read_exact(mem, t.names, 4096, "kallsyms_names")
        num = read_exact(mem, t.num_syms, 4, "kallsyms_num_syms")
    except CoreError:
        return None
    h = hashlib.sha256(raw + head + num).hexdigest()
    return f"tables:{h}:{release}"


def _token_digest(mem: KernelMemory, t: KallsymsTables) -> str:
    _, raw = read_tokens(mem, t)
    return hashlib.sha256(raw).hexdigest()


def _rel(v: Optional[int], origin: int) -> Optional[int]:
    return None if v is None else v - origin


def _abs(v: Optional[int], origin: int) -> Optional[int]:
    return None if v is None else v + origin


def _tables_tuple(t: KallsymsTables, origin: int) -> tuple:
    return (_rel(t.names, origin), _rel(t.num_syms, origin), _rel(t.token_table, origin),
            _rel(t.token_index, origin), _rel(t.offsets, origin),
            _rel(t.relative_base, origin), _rel(t.addresses, origin),
            _rel(t.markers, origin), t.found_by)


def _tables_from_tuple(v: tuple, origin: int) -> KallsymsTables:
    return KallsymsTables(
        names=v[0] + origin, num_syms=v[1] + origin, token_table=v[2] + origin,
        token_index=v[3] + origin, offsets=_abs(v[4], origin),
        relative_base=_abs(v[5], origin), addresses=_abs(v[6], origin),
        markers=_abs(v[7], origin), found_by=v[8])


def _absolute_addresses(blob: bytes, fixed: List[int], delta: int) -> List[int]:
    """The stored addresses (``blob``: unsigned 64-bit words) moved by ``delta``, fixed
    ones as they are."""
    words = array("Q")
    words.frombytes(blob)
    if delta == 0:
        return words.tolist()
    addrs = list(map(delta.__add__, words))
    for k in fixed:
        addrs[k] = words[k]
    if max(addrs) > _MASK or min(addrs) < 0:
        addrs = [a & _MASK for a in addrs]
    return addrs


def store_cached(mem: KernelMemory, vmci: Optional[VMCoreInfo], d: DecodedKallsyms,
                 key: str, *, root: Optional[str] = None) -> None:
    """Store ``d`` under ``key`` (addresses relative to the text start); never raises for
    cache problems."""
    origin = text_origin(vmci)
    if origin is None:
        return
    try:
        digest = _token_digest(mem, d.tables)
    except CoreError:
        return
    try:
        words = array("Q", d.addresses).tobytes()
    except OverflowError:  # not 64-bit addresses: nothing worth keeping
        return
    rel_base = d.extra.get("relative_base", 0)
    payload = marshal.dumps((
        _VERSION, d.names, d.types, words, origin,
        array("I", d.fixed).tobytes(), d.encoding, _tables_tuple(d.tables, origin),
        rel_base - origin if d.tables.relative_base is not None else rel_base,
        len(d.names), digest))
    cache.store(KIND, key, payload, root=root)


def load_cached(mem: KernelMemory, vmci: Optional[VMCoreInfo], key: str,
                t: Optional[KallsymsTables], *, root: Optional[str] = None,
                ) -> Optional[DecodedKallsyms]:
    """The entry under ``key`` rebased to this boot's text start, if it matches ``mem``
    (see the module docstring); ``None`` otherwise."""
    origin = text_origin(vmci)
    if origin is None:
        return None
    payload = cache.load(KIND, key, root=root)
    if payload is None:
        return None
    try:
        obj = marshal.loads(payload)
        if not isinstance(obj, tuple) or len(obj) != 11 or obj[0] != _VERSION:
            return None
        (_, names, types, abs_addrs, stored_origin, fixed_b, enc, ttuple, rel_base, count,
         digest) = obj
        if not (isinstance(names, list) and isinstance(types, str)
                and isinstance(abs_addrs, bytes) and isinstance(fixed_b, bytes)
                and isinstance(stored_origin, int)
                and len(names) == len(types) == count == len(abs_addrs) // 8):
            return None
        tables = _tables_from_tuple(ttuple, origin)
        if t is not None and (t.names, t.token_table) != (tables.names, tables.token_table):
            return None
        if tables.relative_base is not None:
            rel_base += origin
        fixed_arr = array("I")
        fixed_arr.frombytes(fixed_b)
        fixed = fixed_arr.tolist()
        addrs = _absolute_addresses(abs_addrs, fixed, origin - stored_origin)
        if not _matches_memory(mem, vmci, tables, names, addrs, enc, rel_base, count, digest):
            return None
    except (CoreError, ValueError, TypeError, IndexError, EOFError, OverflowError):
        return None
    return DecodedKallsyms(names, types, addrs, enc, tables, key=key, from_cache=True,
                           extra={"relative_base": rel_base}, fixed=fixed)


def _matches_memory(
    mem: KernelMemory, vmci: Optional[VMCoreInfo], tables: KallsymsTables,
    names: List[str], addrs: List[int], enc: str, rel_base: int, count: int, digest: str,
) -> bool:
    if read_num_syms(mem, tables) != count or _token_digest(mem, tables) != digest:
        return False
    if tables.relative_base is not None:
        (now_base,) = struct.unpack(
            "<Q", read_exact(mem, tables.relative_base, 8, "kallsyms_relative_base"))
        if now_base != rel_base:
            return False
    points = check_points(vmci, first_index_in(names))
    if not points or any(addrs[i] != want for i, want in points):
        return False
    return all(want == got for want, got in _sampled_entries(mem, tables, addrs, enc,
                                                              rel_base, count))


def _sampled_entries(
    mem: KernelMemory, tables: KallsymsTables, addrs: List[int], enc: str, rel_base: int,
    count: int,
) -> List[Tuple[int, int]]:
    """(cached, decoded-from-memory) address pairs for a spread of symbols."""
    if enc == "absolute":
        if tables.addresses is None:
            raise CoreError("kallsyms cache: absolute encoding without kallsyms_addresses")
        base, width, fmt = tables.addresses, 8, "<Q"
    else:
        if tables.offsets is None:
            raise CoreError("kallsyms cache: relative encoding without kallsyms_offsets")
        base, width, fmt = tables.offsets, 4, "<i"
    fn = address_fn(enc, rel_base, base)
    step = max(count // _SAMPLES, 1)
    out: List[Tuple[int, int]] = []
    for i in sorted({*range(0, count, step), count - 1}):
        (raw,) = struct.unpack(fmt, read_exact(mem, base + width * i, width, "kallsyms entry"))
        out.append((addrs[i], fn(i, raw)))
    return out
