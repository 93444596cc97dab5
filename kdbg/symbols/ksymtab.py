"""Data symbols a kernel built without ``CONFIG_KALLSYMS_ALL`` still carries.

Such a kernel's kallsyms lists text only (Debian's bookworm ``cloud-arm64``: no
``init_task``, ``__per_cpu_offset`` or ``jiffies_64``). What it carries besides:

* VMCOREINFO's ``SYMBOL(name)=address`` lines (``swapper_pg_dir``, ``init_uts_ns``,
  ``prb``, ...);
* the exported-symbol tables ``__ksymtab`` and ``__ksymtab_gpl``, in the read-only data
  after ``_etext``: with ``CONFIG_HAVE_ARCH_PREL32_RELOCATIONS`` (arm64, x86-64) each
  entry is ``struct kernel_symbol { int value_offset, name_offset, namespace_offset; }``,
  every field relative to its own address, the names in ``__ksymtab_strings``. The
  tables are found from the string of an exported name (``init_task``): the entry whose
  ``name_offset`` points at it, then entry by entry both ways while each entry is one (its
  name a C identifier after a NUL, its value in the kernel image or, for x86-64's
  zero-based per-CPU variables, below :data:`PERCPU_SPAN`, and, for a name kallsyms has,
  kallsyms' address).

* the code of the functions kallsyms lists: the globals of
  :data:`kdbg.symbols.coderefs.REFERRERS` (``modules``, ``panic_cpu``, ...) are the one
  address their referrers' code forms (:mod:`kdbg.symbols.coderefs`; arm64's ``adrp``
  pairs, x86-64's RIP-relative and absolute operands).

Per-CPU variables (BTF's ``.data..percpu`` DATASEC) are placed from an exported one by
:mod:`kdbg.core.kernel_finders`. Any other global stays unknown: its lookup fails in one
line, never with a guess.
"""

from __future__ import annotations

import array
import operator
import re
import sys
from dataclasses import dataclass, field
from typing import Callable, Collection, Dict, List, Optional, Set, Tuple

from kdbg.errors import CoreError, KdbgError
from kdbg.memory.vmcoreinfo import VMCoreInfo
from kdbg.symbols.coderefs import REFERRERS, code_referenced_symbols
from kdbg.symbols.table import SymbolTable

__all__ = ["MACROS", "RECOVERED_SYMBOLS", "RecoveredSymbols", "exported_symbols", "vmcoreinfo_symbols",
           "with_data_symbols", "recover_data_symbols", "lacks_data_symbols", "merged_table", "ANCHORS"]

#: The key of a program's :class:`RecoveredSymbols` in ``prog.cache`` (set when its
#: symbols are loaded from a dump).
RECOVERED_SYMBOLS = "kdbg.recovered_symbols"
#: VMCOREINFO ``SYMBOL()`` names that are macros, no symbol of the kernel's
#: (``node_online_map`` is ``node_states[N_ONLINE]``).
MACROS = ("node_online_map",)
#: Exported names whose string finds the tables (the first found wins).
ANCHORS = ("init_task", "jiffies_64", "__per_cpu_offset", "init_pid_ns", "kfree")
#: An entry: three little-endian ``int``.
ENTRY = 12
#: Where an entry may start (``__ksymtab`` is aligned to its ``int`` fields).
ENTRY_ALIGN = 4
#: How far above ``_stext`` an exported symbol's value may lie (the image's span).
IMAGE_SPAN = 1 << 30
#: x86-64's per-CPU variables are zero-based: an exported one's value is its offset in
#: the per-CPU area (``cpu_number`` at ``0x19160`` on bookworm), as its kallsyms lists it.
PERCPU_SPAN = 1 << 24
_MASK = (1 << 64) - 1
#: How far a name may lie from the anchor's name (``__ksymtab_strings`` is 184 KiB on
#: bookworm's cloud-arm64 kernel).
STRINGS_SPAN = 1 << 20
_IDENT = re.compile(rb"[A-Za-z_][A-Za-z0-9_.]*\Z")
_TEXT = "TtWw"


@dataclass(frozen=True)
class RecoveredSymbols:
    """What was recovered: ``{name: address}`` per source (``"vmcoreinfo"``,
    ``"ksymtab"``, ``"code"``), the exported tables' span ``[begin, end)`` (``None`` when
    not found) or why not, and why each global the code source looked for was not found
    (``unresolved``)."""

    sources: Dict[str, Dict[str, int]]
    ksymtab: Optional[Tuple[int, int]]
    note: str
    unresolved: Dict[str, str] = field(default_factory=dict)


def lacks_data_symbols(table: SymbolTable) -> bool:
    """Whether ``table`` is a kallsyms without ``CONFIG_KALLSYMS_ALL`` (no ``init_task``,
    which every kernel has)."""
    return table.get("init_task") is None


def vmcoreinfo_symbols(vmcoreinfo: Optional[VMCoreInfo], names: Collection[str]) -> Dict[str, int]:
    """``{name: address}`` of VMCOREINFO's ``SYMBOL(name)`` entries (read by
    :meth:`VMCoreInfo.symbol`) whose name is in ``names`` (the entries that hold an address,
    not a pointer's value as ``SYMBOL(mem_section)`` does) and is a symbol (not
    :data:`MACROS`). A malformed value recovers nothing for that name (it stays unknown)."""
    out: Dict[str, int] = {}
    if vmcoreinfo is None:
        return out
    for name in names:
        if name in MACROS or not vmcoreinfo.has_symbol(name):
            continue
        try:
            out[name] = vmcoreinfo.symbol(name)
        except CoreError:
            continue
    return out


class _Blob:
    """The read-only data searched, as bytes and as ``int32`` words."""

    def __init__(self, base: int, data: bytes) -> None:
        self.base = base
        self.data = data
        n = len(data) // 4 * 4
        self.words = array.array("i", data[:n])
        if sys.byteorder != "little":  # pragma: no cover - kdbg's hosts are little-endian
            self.words.byteswap()

    def s32(self, address: int) -> Optional[int]:
        i = address - self.base
        if i < 0 or i & 3 or i + 4 > len(self.data):
            return None
        return self.words[i >> 2]

    def name_at(self, address: int) -> Optional[str]:
        """The C identifier from ``address`` to a NUL, or ``None`` (``__ksymtab_strings`` is
        a merged string section: a name may be the tail of a longer one)."""
        i = address - self.base
        if i < 0 or i >= len(self.data):
            return None
        end = self.data.find(b"\0", i, i + 256)
        if end < 0 or not _IDENT.match(self.data[i:end]):
            return None
        return self.data[i:end].decode("ascii")

    def is_namespace(self, address: int) -> bool:
        """Whether a ``namespace_offset`` may point at ``address``: the empty string (an
        export without a namespace, 6.x) or an identifier."""
        i = address - self.base
        return 0 <= i < len(self.data) and (self.data[i] == 0 or self.name_at(address) is not None)


def _entry(blob: _Blob, e: int, text: Dict[str, Set[int]], stext: int, strings: int) -> Optional[Tuple[str, int]]:
    """``(name, address)`` of the ``kernel_symbol`` at ``e``, or ``None`` when it is none
    (its name and namespace must lie within :data:`STRINGS_SPAN` of ``strings``, the
    anchor's name)."""
    v, n, ns = blob.s32(e), blob.s32(e + 4), blob.s32(e + 8)
    if v is None or n is None or ns is None:
        return None
    if abs(e + 4 + n - strings) > STRINGS_SPAN or (ns and abs(e + 8 + ns - strings) > STRINGS_SPAN):
        return None
    name = blob.name_at(e + 4 + n)
    value = (e + v) & _MASK
    if name is None or not (stext <= value < stext + IMAGE_SPAN or value < PERCPU_SPAN):
        return None
    if ns and not blob.is_namespace(e + 8 + ns):
        return None
    known = text.get(name)
    if known is not None and value not in known:
        return None
    return name, value


def _text_addresses(table: SymbolTable) -> Dict[str, Set[int]]:
    """``{name: addresses}`` of ``table``'s text symbols (an exported function's value
    must be one of its name's)."""
    out: Dict[str, Set[int]] = {}
    for name, address, kind in zip(table.names, table.addresses, table.types):
        if kind in _TEXT:
            out.setdefault(name, set()).add(address)
    return out


def _first_reference(blob: _Blob, targets: Collection[int]) -> Optional[int]:
    """The lowest address ``a`` in ``blob`` whose ``int32`` word, taken relative to ``a``
    (a ``kernel_symbol`` field), points at one of ``targets``; None when none does.

    The words are 2-3 million on a cloud kernel: one pass in C (``operator.indexOf`` over
    ``word + offset in targets``, offsets from the blob's start), not a Python loop.
    """
    words, base = blob.words, blob.base
    wanted = {t - base for t in targets}
    points = map(wanted.__contains__, map(operator.add, words, range(0, 4 * len(words), 4)))
    try:
        return base + 4 * operator.indexOf(points, True)
    except ValueError:
        return None


def exported_symbols(blob_base: int, data: bytes, table: SymbolTable,
                     stext: int) -> Tuple[Dict[str, int], Optional[Tuple[int, int]], str]:
    """The exported symbols in ``data`` (the read-only data at ``blob_base``): ``({name:
    address}, (begin, end) of the tables or None, why not found)``."""
    blob = _Blob(blob_base, data)
    text = _text_addresses(table)
    for anchor in ANCHORS:
        wanted = set()
        pos = data.find(b"\0" + anchor.encode() + b"\0")
        while pos >= 0:
            wanted.add(blob_base + pos + 1)
            pos = data.find(b"\0" + anchor.encode() + b"\0", pos + 1)
        if not wanted:
            continue
        hit = _first_reference(blob, wanted)
        if hit is None:
            continue
        words = blob.words
        first, strings = hit - 4, hit + words[(hit - blob_base) >> 2]
        if _entry(blob, first, text, stext, strings) is None:
            continue
        lo = first
        while _entry(blob, lo - ENTRY, text, stext, strings) is not None:
            lo -= ENTRY
        hi = first + ENTRY
        while _entry(blob, hi, text, stext, strings) is not None:
            hi += ENTRY
        out: Dict[str, int] = {}
        for e in range(lo, hi, ENTRY):
            got = _entry(blob, e, text, stext, strings)
            assert got is not None
            out.setdefault(*got)
        return out, (lo, hi), ""
    return {}, None, f"no __ksymtab entry names any of {', '.join(ANCHORS)} in [{blob_base:#x}, " \
                     f"{blob_base + len(data):#x})"


def with_data_symbols(table: SymbolTable, read: Callable[[int, int], bytes], vmcoreinfo: Optional[VMCoreInfo],
                      address_symbols: Collection[str],
                      decode: Tuple[Optional[Callable[[bytes, int], Set[int]]], str] = (None, "")
                      ) -> Tuple[SymbolTable, RecoveredSymbols]:
    """``table`` plus the data symbols VMCOREINFO, the exported-symbol tables and the code
    give (type ``D``; ``T`` for text), when ``table`` lacks data symbols; else ``table``
    (:func:`recover_data_symbols`, then :func:`merged_table`)."""
    recovered = recover_data_symbols(table, read, vmcoreinfo, address_symbols, decode)
    return merged_table(table, recovered), recovered


def recover_data_symbols(table: SymbolTable, read: Callable[[int, int], bytes], vmcoreinfo: Optional[VMCoreInfo],
                         address_symbols: Collection[str],
                         decode: Tuple[Optional[Callable[[bytes, int], Set[int]]], str] = (None, "")
                         ) -> RecoveredSymbols:
    """The data symbols VMCOREINFO, the exported-symbol tables and the code give, when
    ``table`` lacks data symbols (none of ``table``'s names among them).
    ``address_symbols`` names the VMCOREINFO ``SYMBOL()`` entries that hold addresses;
    ``decode`` is :func:`kdbg.arch.code_references` of the machine (``(None, why)``: the
    code is not searched).

    The exported tables are searched from ``_etext`` (rounded up to :data:`ENTRY_ALIGN`)
    up to the lowest VMCOREINFO address above the kallsyms tables (which lie in the same
    read-only data, before them)."""
    sources: Dict[str, Dict[str, int]] = {"vmcoreinfo": {}, "ksymtab": {}, "code": {}}
    if not lacks_data_symbols(table):
        return RecoveredSymbols(sources, None, "kallsyms has data symbols")
    vmci = vmcoreinfo_symbols(vmcoreinfo, address_symbols)
    etext, stext = table.get("_etext"), table.get("_stext")
    note = ""
    span: Optional[Tuple[int, int]] = None
    exported: Dict[str, int] = {}
    if etext is None or stext is None:
        note = "kallsyms has no _stext/_etext: the exported-symbol tables were not searched"
    else:
        floor = max([a for n, a in vmci.items() if n.startswith("kallsyms_")] + [etext.address])
        above = [a for a in vmci.values() if floor < a < stext.address + IMAGE_SPAN]
        if not above:
            note = "VMCOREINFO names no address above the kallsyms tables: the exported tables were not searched"
        else:
            end = min(above)
            begin = (etext.address + ENTRY_ALIGN - 1) & -ENTRY_ALIGN  # x86-64's _etext is not aligned
            try:
                data = read(begin, end - begin)
            except KdbgError as e:
                data, note = b"", f"cannot read [{begin:#x}, {end:#x}): {e}"
            if data:
                exported, span, note = exported_symbols(begin, data, table, stext.address)
    have = set(table.names)
    coded, unresolved = _from_code(table, read, decode, vmci, exported, have)
    for source, found in (("vmcoreinfo", vmci), ("ksymtab", exported), ("code", coded)):
        for name, address in found.items():
            if name not in have:
                have.add(name)
                sources[source][name] = address
    return RecoveredSymbols(sources, span, note, unresolved)


def merged_table(table: SymbolTable, recovered: RecoveredSymbols) -> SymbolTable:
    """``table`` plus every symbol of ``recovered.sources`` (type ``T`` inside
    ``[_stext, _etext)``, else ``D``); ``table`` itself when they are none. The sources
    name no symbol ``table`` has (:func:`with_data_symbols` leaves those out)."""
    etext, stext = table.get("_etext"), table.get("_stext")
    extra: List[Tuple[str, int, str]] = []
    for found in recovered.sources.values():
        for name, address in found.items():
            text = stext is not None and etext is not None and stext.address <= address < etext.address
            extra.append((name, address, "T" if text else "D"))
    if not extra:
        return table
    mods = table.module_names
    return SymbolTable.from_columns(table.names + [n for n, _a, _t in extra],
                                    table.addresses + [a for _n, a, _t in extra],
                                    table.types + "".join(t for _n, _a, t in extra),
                                    None if mods is None else list(mods) + [None] * len(extra))


def _from_code(table: SymbolTable, read: Callable[[int, int], bytes],
               decode: Tuple[Optional[Callable[[bytes, int], Set[int]]], str], vmci: Dict[str, int],
               exported: Dict[str, int], have: Collection[str]) -> Tuple[Dict[str, int], Dict[str, str]]:
    """The globals of :data:`REFERRERS` that neither ``table`` (``have``), VMCOREINFO nor
    the exported tables give, found in the code (:func:`code_referenced_symbols`, in the
    image past ``_etext``); and why each one not found was not."""
    wanted = [n for n in REFERRERS if n not in have and n not in vmci and n not in exported]
    if not wanted:
        return {}, {}
    decoder, why = decode
    etext, stext = table.get("_etext"), table.get("_stext")
    if decoder is None or etext is None or stext is None:
        why = why or "kallsyms has no _stext/_etext"
        return {}, {n: why for n in wanted}
    known = set(table.addresses) | set(vmci.values()) | set(exported.values())
    return code_referenced_symbols(table, read, decoder, (etext.address, stext.address + IMAGE_SPAN), known, wanted)
