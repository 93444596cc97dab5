"""``SymbolIndex``: a fixed set of symbols as a symbol finder (drgn's ``drgn.SymbolIndex``).

A script that knows symbols the program does not (a module's private symbols, a JIT's)
builds one from a list of :class:`~kdbg.symbols.table.Symbol` and registers it with
``prog.register_symbol_finder(name, index)``; it answers by name, by address (a symbol
contains the addresses ``[address, address + size)``), or with all its symbols.
"""

from __future__ import annotations

import bisect
from typing import Any, Dict, Iterable, List, Optional

from kdbg.symbols.table import Symbol

__all__ = ["SymbolIndex"]


class SymbolIndex:
    """A static set of symbols, callable as a symbol finder:
    ``index(prog, name, address, one) -> [Symbol]`` (drgn's Symbol Finder API). Symbols
    may overlap and share names; which of several matches comes first is not promised."""

    def __init__(self, symbols: Iterable[Symbol]) -> None:
        syms = list(symbols)
        for s in syms:
            if not isinstance(s, Symbol):
                raise TypeError(f"SymbolIndex takes Symbols, not {type(s).__name__}")
        self._by_address = sorted(syms, key=lambda s: s.address)
        self._starts = [s.address for s in self._by_address]
        #: The longest symbol: how far before an address a symbol containing it can start.
        self._longest = max((s.size or 0 for s in syms), default=0)
        self._by_name: Dict[str, List[Symbol]] = {}
        for s in self._by_address:
            self._by_name.setdefault(s.name, []).append(s)

    def _containing(self, address: int) -> List[Symbol]:
        hits: List[Symbol] = []
        i = bisect.bisect_right(self._starts, address)
        low = address - self._longest
        while i > 0 and self._starts[i - 1] > low - 1:
            i -= 1
            s = self._by_address[i]
            if address < s.address + (s.size or 0):
                hits.append(s)
        return hits

    def __call__(self, prog: Any, name: Optional[str], address: Optional[int], one: bool) -> List[Symbol]:
        """The symbols named ``name`` (if given) containing ``address`` (if given); at most
        one if ``one``."""
        if address is not None:
            found = self._containing(int(address))
            if name is not None:
                found = [s for s in found if s.name == name]
        elif name is not None:
            found = list(self._by_name.get(name, ()))
        else:
            found = list(self._by_address)
        return found[:1] if one else found
