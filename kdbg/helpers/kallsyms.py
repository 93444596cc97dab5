"""The kernel's symbols as drgn's symbol indexes (drgn's ``drgn.helpers.linux.kallsyms``).

``load_vmlinux_kallsyms`` gives the kernel image's kallsyms (kdbg's own symbol table: the
``kallsyms_*`` tables read through VMCOREINFO and the kernel's symbols) with the binding,
kind and size drgn's kallsyms loader gives them; ``load_module_kallsyms`` the loaded
modules' symbol tables (:func:`~kdbg.helpers.module.module_kallsyms`). Each is a
:class:`~kdbg.symbols.index.SymbolIndex`, ready for ``prog.register_symbol_finder``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional

from kdbg.helpers.module import for_each_module, module_kallsyms
from kdbg.symbols.index import SymbolIndex
from kdbg.symbols.table import Symbol, SymbolBinding, SymbolKind

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["load_module_kallsyms", "load_vmlinux_kallsyms"]

#: A kallsyms symbol's size is the distance to the next one when below this (drgn's rule:
#: a larger gap is no symbol's size, e.g. the jump from per-CPU offsets to the text).
_MAX_SYMBOL_LENGTH = 0x10000
_OBJECT_LETTERS = frozenset("bcdgrv")


def _binding(letter: str) -> SymbolBinding:
    """drgn's binding of a kallsyms letter: weak ``v``/``w``, unique ``u``, global upper
    case; a lower-case letter is usually but not surely local: unknown."""
    if letter == "u":
        return SymbolBinding.UNIQUE
    if letter in "vVwW":
        return SymbolBinding.WEAK
    return SymbolBinding.GLOBAL if letter.isupper() else SymbolBinding.UNKNOWN


def _kind(letter: str) -> SymbolKind:
    """drgn's kind of a kallsyms letter: data, bss, read-only and weak objects are objects,
    text functions, anything else unknown."""
    low = letter.lower()
    if low in _OBJECT_LETTERS:
        return SymbolKind.OBJECT
    return SymbolKind.FUNC if low == "t" else SymbolKind.UNKNOWN


def load_vmlinux_kallsyms(prog: Program) -> SymbolIndex:
    """A symbol index of the kernel image's kallsyms, each symbol as drgn's loader makes
    it: its size the distance to the next symbol (when below 64 KiB, else 0), its binding
    and kind from its type letter."""
    table = [s for s in prog.symbol_table if s.module is None]
    out: List[Symbol] = []
    for i, s in enumerate(table):
        nxt: Optional[Symbol] = table[i + 1] if i + 1 < len(table) else None
        gap = nxt.address - s.address if nxt is not None else _MAX_SYMBOL_LENGTH
        size = gap if gap < _MAX_SYMBOL_LENGTH else 0
        out.append(Symbol(s.name, s.address, size, s.type, None, _binding(s.type), _kind(s.type)))
    return SymbolIndex(out)


def load_module_kallsyms(prog: Program) -> SymbolIndex:
    """A symbol index of every loaded module's symbols (their ELF symbol tables in kernel
    memory, :func:`~kdbg.helpers.module.module_kallsyms`)."""
    return SymbolIndex([sym for mod in for_each_module(prog) for sym in module_kallsyms(mod)])
