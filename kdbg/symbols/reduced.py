"""A vmlinux symbol table reduced to the symbols an analysis used, carried in a note of a
dump (``kdbg shrink --reduced-btf``) instead of the pages of the kallsyms tables.

The note holds the symbols in ``/proc/kallsyms`` text form, compressed
(:mod:`kdbg.memory.kdbgnotes`): the ones :meth:`~kdbg.symbols.table.SymbolTable.used_indices`
gives, so that the reduced table answers every recorded lookup as the whole one did
(same symbol, same size, same choice among aliases and repeated names). Its last line
gives every symbol's size in the whole table, so that an address past a kept symbol's end
finds no symbol rather than one the whole table would not give.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

from kdbg.errors import CoreError
from kdbg.memory.kdbgnotes import KDBG_NOTE_NAME, kdbg_note, kdbg_note_data
from kdbg.symbols.kallsyms.text import parse_kallsyms_text
from kdbg.symbols.table import Symbol, SymbolTable

__all__ = ["REDUCED_SYMBOLS_NOTE", "reduced_symbols_note", "reduced_symbols_from_notes"]

#: The ELF note (name, type) holding the reduced symbol table.
REDUCED_SYMBOLS_NOTE = (KDBG_NOTE_NAME, 0x53594D31)  # "SYM1"
#: The note's last line: every symbol's size (``-``: unknown), in the order of the lines.
_SIZES = "#sizes"


def reduced_symbols_note(table: SymbolTable) -> Tuple[Tuple[str, int, bytes], int]:
    """The note carrying what ``table`` used since it began recording
    (:meth:`~kdbg.symbols.table.SymbolTable.record_use`), and how many symbols it holds."""
    names, addrs, types = table.names, table.addresses, table.types
    lines = []
    sizes = []
    for i in table.used_indices():
        module = table.module_of(i)
        lines.append(f"{addrs[i]:016x} {types[i]} {names[i]}" + (f"\t[{module}]" if module else "") + "\n")
        size = table.size_of(i)
        sizes.append("-" if size is None else str(size))
    # Each symbol's size in the whole table: the last one kept of a run (kept for the size
    # of the one before it) must not reach up to the next kept symbol, claiming addresses
    # the whole table gives to symbols not kept.
    lines.append(f"{_SIZES} {' '.join(sizes)}\n")
    return kdbg_note(REDUCED_SYMBOLS_NOTE[1], "".join(lines).encode()), len(sizes)


def reduced_symbols_from_notes(notes: Sequence[Tuple[str, int, bytes]], what: str = "the dump"
                               ) -> Optional[SymbolTable]:
    """The table of a :func:`reduced_symbols_note` among a dump's ``notes`` (``None`` when
    there is none); :class:`~kdbg.errors.CoreError` naming ``what`` when it is malformed."""
    data = kdbg_note_data(notes, REDUCED_SYMBOLS_NOTE[1], what)
    if data is None:
        return None
    source = f"{what}: kdbg's reduced-symbols note"
    cut = data.rfind(b"\n" + _SIZES.encode() + b" ")
    if cut < 0:  # the first such notes had no sizes
        return parse_kallsyms_text(data, source, all_zero_ok=True)
    table = parse_kallsyms_text(data[:cut + 1], source, all_zero_ok=True)
    sizes = data[cut + 1:].split()[1:]
    if len(sizes) != len(table):
        raise CoreError(f"{source}: {len(sizes)} sizes for {len(table)} symbols")
    symbols = list(table)
    return SymbolTable(Symbol(sym.name, sym.address, None if size == b"-" else int(size), sym.type, sym.module)
                       for sym, size in zip(symbols, sizes))
