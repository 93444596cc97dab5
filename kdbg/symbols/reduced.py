"""A vmlinux symbol table reduced to the symbols an analysis used, carried in a note of a
dump (``kdbg shrink --reduced-btf``) instead of the pages of the kallsyms tables.

The note holds the symbols in ``/proc/kallsyms`` text form, compressed
(:mod:`kdbg.memory.kdbgnotes`): the ones :meth:`~kdbg.symbols.table.SymbolTable.used_indices`
gives, so that the reduced table answers every recorded lookup as the whole one did
(same symbol, same size, same choice among aliases and repeated names).
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

from kdbg.memory.kdbgnotes import KDBG_NOTE_NAME, kdbg_note, kdbg_note_data
from kdbg.symbols.kallsyms.text import parse_kallsyms_text
from kdbg.symbols.table import SymbolTable

__all__ = ["REDUCED_SYMBOLS_NOTE", "reduced_symbols_note", "reduced_symbols_from_notes"]

#: The ELF note (name, type) holding the reduced symbol table.
REDUCED_SYMBOLS_NOTE = (KDBG_NOTE_NAME, 0x53594D31)  # "SYM1"


def reduced_symbols_note(table: SymbolTable) -> Tuple[Tuple[str, int, bytes], int]:
    """The note carrying what ``table`` used since it began recording
    (:meth:`~kdbg.symbols.table.SymbolTable.record_use`), and how many symbols it holds."""
    names, addrs, types = table.names, table.addresses, table.types
    lines = []
    for i in table.used_indices():
        module = table.module_of(i)
        lines.append(f"{addrs[i]:016x} {types[i]} {names[i]}" + (f"\t[{module}]" if module else "") + "\n")
    return kdbg_note(REDUCED_SYMBOLS_NOTE[1], "".join(lines).encode()), len(lines)


def reduced_symbols_from_notes(notes: Sequence[Tuple[str, int, bytes]], what: str = "the dump"
                               ) -> Optional[SymbolTable]:
    """The table of a :func:`reduced_symbols_note` among a dump's ``notes`` (``None`` when
    there is none); :class:`~kdbg.errors.CoreError` naming ``what`` when it is malformed."""
    data = kdbg_note_data(notes, REDUCED_SYMBOLS_NOTE[1], what)
    if data is None:
        return None
    return parse_kallsyms_text(data, f"{what}: kdbg's reduced-symbols note", all_zero_ok=True)
