"""The exported-symbol tables' reader (:func:`kdbg.symbols.ksymtab.exported_symbols`) on a
crafted read-only data image laid out as the kernel's linker script lays out 6.x's
(``struct kernel_symbol``: three place-relative ``int``; names in a merged string section,
where a name may be the tail of a longer one; an empty namespace string). The real tables
are read, and checked against the ``-dbg`` vmlinux, in ``test_arm64_data_symbols``."""

from __future__ import annotations

import struct
from typing import Dict, List, Tuple

import pytest

from kdbg.memory.vmcoreinfo import VMCoreInfo
from kdbg.symbols.ksymtab import ANCHORS, exported_symbols, vmcoreinfo_symbols
from kdbg.symbols.table import SymbolTable

pytestmark = pytest.mark.timeout(60)

BASE = 0xFFFF800008F00000
STEXT = 0xFFFF800008010000
TEXT = {"kfree": STEXT + 0x1000, "kmalloc": STEXT + 0x2000}
DATA = {"init_task": 0xFFFF800009818C80, "jiffies_64": 0xFFFF8000098079C0, "init_net": 0xFFFF800009A83540}


def table() -> SymbolTable:
    names = sorted(TEXT, key=TEXT.__getitem__) + ["_etext"]
    return SymbolTable.from_columns(names, [TEXT[n] for n in names[:-1]] + [STEXT + 0x100000], "TTD")


def image(entries: List[Tuple[str, int]], junk_after: bytes = b"") -> Tuple[bytes, Dict[str, int]]:
    """``(bytes at BASE, {name: entry address})``: 64 bytes of zeros, the entries, then
    ``junk_after``, then the strings (``__init_net`` holds ``init_net`` as its tail)."""
    strings = b"\0" + b"\0".join(n.encode() for n, _a in entries if n != "init_net") + b"\0__init_net\0"
    table_at = BASE + 64
    strings_at = table_at + 12 * len(entries) + len(junk_after)
    out = bytearray(64)
    where = {}
    for i, (name, address) in enumerate(entries):
        e = table_at + 12 * i
        where[name] = e
        needle = b"_init_net\0" if name == "init_net" else b"\0" + name.encode() + b"\0"
        s = strings_at + strings.index(needle) + 1
        empty = strings_at  # the empty string: the NUL at the section's start
        out += struct.pack("<iii", address - e, s - (e + 4), empty - (e + 8))
    return bytes(out + junk_after + strings), where


def test_every_entry_is_read_and_names_may_be_tails() -> None:
    entries = sorted([*TEXT.items(), *DATA.items()])
    data, where = image(entries)
    found, span, note = exported_symbols(BASE, data, table(), STEXT)
    assert found == dict(entries) and note == ""
    assert span == (min(where.values()), max(where.values()) + 12)


def test_the_walk_stops_at_an_entry_that_is_none() -> None:
    entries = sorted([*TEXT.items(), *DATA.items()])
    junk = struct.pack("<iii", 0x7FFFFFF0, 0x7FFFFFF0, 0)  # a value and a name far outside
    data, where = image(entries, junk)
    found, span, _note = exported_symbols(BASE, data, table(), STEXT)
    assert found == dict(entries) and span is not None and span[1] == max(where.values()) + 12


def test_an_entry_contradicting_kallsyms_is_not_taken() -> None:
    entries = sorted([("kfree", TEXT["kfree"] + 4), ("init_task", DATA["init_task"]),
                      ("jiffies_64", DATA["jiffies_64"])])
    data, _where = image(entries)
    found, _span, _note = exported_symbols(BASE, data, table(), STEXT)
    assert "kfree" not in found and found["init_task"] == DATA["init_task"]


def test_no_anchor_is_one_line() -> None:
    found, span, note = exported_symbols(BASE, bytes(4096), table(), STEXT)
    assert (found, span) == ({}, None)
    assert note == f"no __ksymtab entry names any of {', '.join(ANCHORS)} in [{BASE:#x}, {BASE + 4096:#x})"


def test_vmcoreinfo_symbols_take_address_entries_only() -> None:
    note = VMCoreInfo.parse(b"OSRELEASE=6.1\nSYMBOL(init_uts_ns)=ffffb6024dfb0600\n"
                            b"SYMBOL(mem_section)=ffff000007f9d380\n"
                            b"SYMBOL(node_online_map)=ffffb6024de0f558\nSYMBOL(prb)=zz\n")
    assert vmcoreinfo_symbols(note, ("init_uts_ns", "node_online_map", "prb")) == {"init_uts_ns": 0xFFFFB6024DFB0600}
    assert vmcoreinfo_symbols(None, ("init_uts_ns",)) == {}
