"""Recovered data symbols kept in kdbg's cache (:mod:`kdbg.cache`, kind ``"recovered"``).

A kernel without ``CONFIG_KALLSYMS_ALL`` gets its globals from what it carries
(:func:`kdbg.symbols.ksymtab.with_data_symbols`): searching megabytes of read-only data for
``__ksymtab`` and decoding the code of the referrer functions costs most of a start, and
its result depends on the build alone; so does where the vmlinux BTF lies, which such a
kernel's kallsyms does not say either (``__start_BTF``, ``__stop_BTF``: the ``"btf"``
source, placed where the BTF loader's scan of the image finds it; from the cache the loader
reads it without scanning). So it is stored under the key the decoded kallsyms
use (:func:`kdbg.symbols.kallsyms.cache.cache_key`: the build id and release), extended by
a fingerprint of the tables the search follows (``REFERRERS``, ``SUCCESSORS``, ``ANCHORS``, the
VMCOREINFO names): a change of theirs is a miss, never a stale answer.

An entry holds every address relative to ``_stext`` (another boot's KASLR slide moves them
all alike; values outside the image, x86-64's zero-based per-CPU offsets, as they are),
the exported tables' span, the text ranges the code search read, and a SHA-256 over the
bytes of the span, of those ranges and of the BTF's head. Before it is used, the bytes at hand must give the
same digest (``__ksymtab``'s fields and ``adrp`` pairs are relative to their own
addresses, so the same build hashes alike wherever it is loaded), and every VMCOREINFO
address it holds must be VMCOREINFO's now. Anything else is a miss: the symbols are
searched again and the entry rewritten. A search that could not read something, or ran
without a code decoder, is not stored.
"""

from __future__ import annotations

import hashlib
import marshal
from typing import Callable, Collection, Dict, List, Optional, Set, Tuple

from kdbg import cache
from kdbg.btf.memory import locate_btf_in_memory
from kdbg.errors import KdbgError
from kdbg.memory.base import KernelMemory
from kdbg.symbols.coderefs import MIN_REFERRERS, REFERRERS, SUCCESSORS
from kdbg.symbols.kallsyms.cache import cache_key
from kdbg.symbols.ksymtab import (
    ANCHORS,
    IMAGE_SPAN,
    MACROS,
    RecoveredSymbols,
    lacks_data_symbols,
    merged_table,
    recover_data_symbols,
    vmcoreinfo_symbols,
)
from kdbg.symbols.table import SymbolTable

__all__ = ["BTF_BOUNDS", "KIND", "entry_key", "recovered_data_symbols"]

#: The :mod:`kdbg.cache` kind of these entries.
KIND = "recovered"
#: Bumped whenever the payload layout or the search's rules change.
_VERSION = 2
#: The symbols around vmlinux BTF (``.BTF``), the ``"btf"`` source: placed where the
#: BTF loader's scan of the image finds it, so that a start from the cache reads it
#: without scanning.
BTF_BOUNDS = ("__start_BTF", "__stop_BTF")
#: How much of the BTF's head an entry's digest covers.
_BTF_HEAD = 4096
_MASK = (1 << 64) - 1

Decode = Tuple[Optional[Callable[[bytes, int], Set[int]]], str]
#: ``[(offset from _stext, size)]`` of the ranges an entry's digest covers.
Ranges = List[Tuple[int, int]]


def _fingerprint(address_symbols: Collection[str]) -> str:
    """A hash of everything besides the build that decides what the search finds."""
    rules = repr((_VERSION, sorted(REFERRERS.items()), sorted(SUCCESSORS.items()), MIN_REFERRERS, ANCHORS, MACROS,
                  sorted(address_symbols)))
    return hashlib.sha256(rules.encode()).hexdigest()[:16]


def entry_key(memory: KernelMemory, address_symbols: Collection[str]) -> Optional[str]:
    """The key of ``memory``'s kernel's entry: the decoded kallsyms' key and the search's
    fingerprint; ``None`` when the build is unknown (nothing is cached)."""
    key = cache_key(memory, memory.vmcoreinfo, None)
    return None if key is None else f"{key}:{_fingerprint(address_symbols)}"


def _digest(read: Callable[[int, int], bytes], stext: int, ranges: Ranges) -> str:
    h = hashlib.sha256()
    for offset, size in ranges:
        h.update(read((stext + offset) & _MASK, size))
    return h.hexdigest()


def recovered_data_symbols(table: SymbolTable, memory: KernelMemory, address_symbols: Collection[str],
                           decode: Decode, *, use_cache: bool = True,
                           root: Optional[str] = None) -> Tuple[SymbolTable, RecoveredSymbols]:
    """:func:`~kdbg.symbols.ksymtab.with_data_symbols` of ``table`` over ``memory``, and
    :data:`BTF_BOUNDS` where the BTF lies (when ``table`` lacks data symbols): from the
    cache when a valid entry is there (see the module docstring), else searched and
    stored. ``use_cache`` false searches without the cache (``kdbg shrink`` must read all
    it keeps); ``root`` is another cache root than :func:`kdbg.cache.cache_root`."""
    stext = table.get("_stext")
    etext = table.get("_etext")
    key = entry_key(memory, address_symbols) if use_cache and lacks_data_symbols(table) else None
    if key is not None and stext is not None:
        hit = _load(table, memory, address_symbols, key, stext.address, root)
        if hit is not None:
            return merged_table(table, hit), hit
    code: Ranges = []
    failed: List[bool] = []

    def recording(address: int, size: int) -> bytes:
        """``memory.read``, noting the text ranges read (the referrers' code) and failures."""
        try:
            data = memory.read(address, size)
        except KdbgError:
            failed.append(True)
            raise
        if stext is not None and etext is not None and stext.address <= address < etext.address:
            code.append((address - stext.address, size))
        return data

    found = recover_data_symbols(table, recording, memory.vmcoreinfo, address_symbols, decode)
    if lacks_data_symbols(table):
        found.sources["btf"] = _btf_bounds(table, memory)
    if key is not None and stext is not None and not failed and decode[0] is not None:
        _store(memory, found, code, key, stext.address, root)
    return merged_table(table, found), found


def _btf_bounds(table: SymbolTable, memory: KernelMemory) -> Dict[str, int]:
    """``{__start_BTF: address, __stop_BTF: end}`` of the vmlinux BTF the BTF loader's scan
    of the image finds (:func:`~kdbg.btf.memory.locate_btf_in_memory`); ``{}`` when
    ``table`` has either or no BTF is found."""
    if any(table.get(name) is not None for name in BTF_BOUNDS):
        return {}
    try:
        address, data = locate_btf_in_memory(memory, memory.vmcoreinfo)
    except KdbgError:
        return {}
    return {BTF_BOUNDS[0]: address, BTF_BOUNDS[1]: address + len(data)}


def _rebased(found: Dict[str, int], stext: int) -> List[Tuple[str, int, bool]]:
    """``[(name, value, moves)]``: an image address as its offset from ``stext``."""
    out = []
    for name, address in found.items():
        moves = stext <= address < stext + IMAGE_SPAN
        out.append((name, address - stext if moves else address, moves))
    return out


def _store(memory: KernelMemory, found: RecoveredSymbols, code: Ranges, key: str, stext: int,
           root: Optional[str]) -> None:
    ranges = list(code)
    span = None
    if found.ksymtab is not None:
        span = (found.ksymtab[0] - stext, found.ksymtab[1] - stext)
        ranges.insert(0, (span[0], span[1] - span[0]))
    btf = found.sources.get("btf")
    if btf:
        start, stop = btf[BTF_BOUNDS[0]], btf[BTF_BOUNDS[1]]
        ranges.append((start - stext, min(stop - start, _BTF_HEAD)))
    try:
        digest = _digest(memory.read, stext, ranges)
    except KdbgError:
        return
    sources = {source: _rebased(names, stext) for source, names in found.sources.items()}
    payload = marshal.dumps((_VERSION, sources, span, found.note, dict(found.unresolved), ranges, digest))
    cache.store(KIND, key, payload, root=root)


def _load(table: SymbolTable, memory: KernelMemory, address_symbols: Collection[str], key: str, stext: int,
          root: Optional[str]) -> Optional[RecoveredSymbols]:
    """The entry under ``key`` moved to ``stext``, if it matches ``memory``; else ``None``."""
    payload = cache.load(KIND, key, root=root)
    if payload is None:
        return None
    try:
        version, stored, span, note, unresolved, ranges, digest = marshal.loads(payload)
        if version != _VERSION or not isinstance(note, str) or not isinstance(unresolved, dict):
            return None
        ranges = [(int(offset), int(size)) for offset, size in ranges]
        if _digest(memory.read, stext, ranges) != digest:
            return None
        sources: Dict[str, Dict[str, int]] = {}
        for source in ("vmcoreinfo", "ksymtab", "code", "btf"):
            sources[source] = {str(name): ((stext + value) & _MASK if moves else int(value))
                               for name, value, moves in stored[source]}
        now = vmcoreinfo_symbols(memory.vmcoreinfo, address_symbols)
        if any(now.get(name) != address for name, address in sources["vmcoreinfo"].items()):
            return None
        have = set(table.names)  # not ``name in table``: that indexes every name
        if any(name in have for names in sources.values() for name in names):
            return None
        return RecoveredSymbols(sources, None if span is None else (stext + span[0], stext + span[1]),
                                note, {str(n): str(why) for n, why in unresolved.items()})
    except (KdbgError, ValueError, TypeError, KeyError, EOFError, OverflowError):
        return None
