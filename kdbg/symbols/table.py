"""Symbol table: kernel symbols by name and by address.

The table stores its symbols column-wise (one list of names, one of addresses, a string of
type letters, one list of module names) sorted by address, so that building it for 200,000
symbols costs a sort and no per-symbol objects.  :class:`Symbol` objects are made on demand.

Address lookups use :mod:`bisect`; the name index is built on the first name lookup.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from kdbg.errors import SymbolNotFoundError

__all__ = ["Symbol", "SymbolTable", "section_class"]

# Type letters grouped by the section they denote; a symbol's size never crosses a change of
# group (text -> data, ...), nor a change of module.
_SECTION_CLASS = {
    "t": "t", "w": "t",  # text; weak symbols in kallsyms are (nearly always) functions
    "d": "d", "v": "d", "g": "d", "s": "d",  # data, weak objects, small data
    "b": "b",  # bss
    "r": "r", "n": "r",  # read-only data
    "a": "a",  # absolute (and x86-64 per-CPU offsets)
}


def section_class(type_letter: str) -> str:
    """Return the section group of a kallsyms type letter (``"t"`` for ``T``/``t``/``W``...)."""
    low = type_letter.lower()
    return _SECTION_CLASS.get(low, low)


@dataclass(frozen=True)
class Symbol:
    """One kernel symbol.

    ``size`` is derived from the next symbol's address when both are in the same module and
    the same kind of section (kallsyms has no sizes); it is ``None`` when unknown.
    """

    name: str
    address: int
    size: Optional[int]
    type: str
    module: Optional[str] = None

    @property
    def is_global(self) -> bool:
        """Whether the symbol is global (upper-case type letter), as ``nm`` shows it."""
        return self.type.isupper()

    def __str__(self) -> str:
        mod = f"\t[{self.module}]" if self.module else ""
        return f"{self.address:016x} {self.type} {self.name}{mod}"


class SymbolTable:
    """An immutable set of symbols, queried by name and by address.

    Build it with :meth:`from_columns` (fast path: parallel sequences) or from
    :class:`Symbol` objects.  ``len(table)`` counts symbols; iterating yields
    :class:`Symbol` objects in address order.
    """

    def __init__(self, symbols: Iterable[Symbol] = ()) -> None:
        syms = list(symbols)
        self._init_columns(
            [s.name for s in syms],
            [s.address for s in syms],
            "".join(s.type for s in syms),
            [s.module for s in syms],
            sizes=[s.size for s in syms],
        )

    @classmethod
    def from_columns(
        cls,
        names: Sequence[str],
        addresses: Sequence[int],
        types: str,
        modules: Optional[Sequence[Optional[str]]] = None,
    ) -> SymbolTable:
        """Build a table from parallel columns; ``types`` holds one letter per symbol.

        ``modules`` is ``None`` when every symbol is in vmlinux.  Sizes are derived.
        """
        self = cls.__new__(cls)
        self._init_columns(names, addresses, types, modules)
        return self

    def _init_columns(
        self,
        names: Sequence[str],
        addresses: Sequence[int],
        types: str,
        modules: Optional[Sequence[Optional[str]]],
        sizes: Optional[Sequence[Optional[int]]] = None,
    ) -> None:
        n = len(names)
        if len(addresses) != n or len(types) != n or (modules is not None and len(modules) != n):
            raise ValueError("symbol columns differ in length")
        addr_list = list(addresses)
        if all(addr_list[i] <= addr_list[i + 1] for i in range(n - 1)):
            order: Optional[List[int]] = None
        else:
            # Stable: symbols at the same address keep their source order.
            order = sorted(range(n), key=addr_list.__getitem__)
        if order is None:
            self._names = list(names)
            self._addrs = addr_list
            self._types = types
            self._mods: Optional[List[Optional[str]]] = (
                list(modules) if modules is not None and any(modules) else None
            )
            given_sizes = list(sizes) if sizes is not None else None
        else:
            self._names = [names[i] for i in order]
            self._addrs = [addr_list[i] for i in order]
            self._types = "".join([types[i] for i in order])
            self._mods = (
                [modules[i] for i in order] if modules is not None and any(modules) else None
            )
            given_sizes = [sizes[i] for i in order] if sizes is not None else None
        self._given_sizes = (
            given_sizes if given_sizes is not None and any(s is not None for s in given_sizes)
            else None
        )
        self._next_cache: Optional[List[int]] = None
        self._by_name: Optional[Dict[str, int]] = None
        self._dups: Optional[Dict[str, List[int]]] = None

    # -- basic protocol ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[Symbol]:
        for i in range(len(self._names)):
            yield self._symbol(i)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._name_index()

    def __repr__(self) -> str:
        return f"<SymbolTable {len(self)} symbols>"

    @property
    def names(self) -> List[str]:
        """Symbol names in address order (shared list; do not modify)."""
        return self._names

    @property
    def addresses(self) -> List[int]:
        """Symbol addresses, ascending (shared list; do not modify)."""
        return self._addrs

    @property
    def types(self) -> str:
        """Type letters, one per symbol, in address order."""
        return self._types

    def module_of(self, index: int) -> Optional[str]:
        """Module of the symbol at ``index`` (``None`` for vmlinux)."""
        return self._mods[index] if self._mods is not None else None

    # -- sizes ------------------------------------------------------------------------------

    def _next_index(self) -> List[int]:
        """For each symbol, the index of the first symbol at a strictly higher address."""
        if self._next_cache is None:
            addrs = self._addrs
            n = len(addrs)
            nxt = [n] * n
            j = n
            for i in range(n - 1, -1, -1):
                if i + 1 < n and addrs[i + 1] != addrs[i]:
                    j = i + 1
                nxt[i] = j
            self._next_cache = nxt
        return self._next_cache

    def _size(self, i: int) -> Optional[int]:
        if self._given_sizes is not None:
            s = self._given_sizes[i]
            if s is not None:
                return s
        j = self._next_index()[i]
        if j >= len(self._addrs):
            return None
        if self.module_of(j) != self.module_of(i):
            return None
        if section_class(self._types[j]) != section_class(self._types[i]):
            return None
        return self._addrs[j] - self._addrs[i]

    def _symbol(self, i: int) -> Symbol:
        return Symbol(self._names[i], self._addrs[i], self._size(i), self._types[i],
                      self.module_of(i))

    # -- by name ----------------------------------------------------------------------------

    def _name_index(self) -> Dict[str, int]:
        if self._by_name is None:
            names = self._names
            n = len(names)
            # Reversed so that the first symbol (lowest address) of a name wins.
            self._by_name = dict(zip(reversed(names), range(n - 1, -1, -1)))
        return self._by_name

    def _duplicates(self) -> Dict[str, List[int]]:
        if self._dups is None:
            dups: Dict[str, List[int]] = {}
            if len(self._name_index()) != len(self._names):
                multi = {k for k, c in Counter(self._names).items() if c > 1}
                for i, name in enumerate(self._names):
                    if name in multi:
                        dups.setdefault(name, []).append(i)
            self._dups = dups
        return self._dups

    def lookup(self, name: str, module: Optional[str] = None) -> Symbol:
        """Return the symbol called ``name``.

        When several symbols share the name, a global one in vmlinux is preferred, then the
        lowest address.  ``module`` restricts the search (``"vmlinux"`` for the core kernel).
        Raises :class:`~kdbg.errors.SymbolNotFoundError`.
        """
        if module is None:
            i = self._name_index().get(name)
            if i is None:
                raise SymbolNotFoundError(f"symbol {name!r} not found")
            if name in self._duplicates():
                cands = self._duplicates()[name]
                best = min(cands, key=lambda k: (self.module_of(k) is not None,
                                                 not self._types[k].isupper(), k))
                return self._symbol(best)
            return self._symbol(i)
        matches = self.lookup_all(name, module)
        if not matches:
            raise SymbolNotFoundError(f"symbol {name!r} not found in {module}")
        return matches[0]

    def lookup_all(self, name: str, module: Optional[str] = None) -> List[Symbol]:
        """Return every symbol called ``name`` in address order (empty list if none)."""
        i = self._name_index().get(name)
        if i is None:
            return []
        idx = self._duplicates().get(name, [i])
        syms = [self._symbol(k) for k in idx]
        if module is not None:
            want = None if module == "vmlinux" else module
            syms = [s for s in syms if s.module == want]
        return syms

    def get(self, name: str) -> Optional[Symbol]:
        """Like :meth:`lookup` but return ``None`` when the name is unknown."""
        try:
            return self.lookup(name)
        except SymbolNotFoundError:
            return None

    def address_of(self, name: str) -> Optional[int]:
        """Address of :meth:`lookup` ``(name)``, or ``None`` when unknown (a handy callable,
        e.g. ``read_vmlinux_btf(mem, table.address_of)``)."""
        sym = self.get(name)
        return sym.address if sym is not None else None

    # -- by address -------------------------------------------------------------------------

    def symbolize(self, address: int) -> Tuple[Symbol, int]:
        """Return ``(symbol, offset)`` for the symbol containing ``address``.

        Among aliases (symbols at the same address) the first in table order is returned,
        as the kernel does.  A symbol contains the addresses below its known size; when the
        size is unknown (section or module change follows), the addresses up to the next
        symbol of the same module.  Raises :class:`~kdbg.errors.SymbolNotFoundError`.
        """
        addrs = self._addrs
        pos = bisect_right(addrs, address) - 1
        if pos < 0:
            raise SymbolNotFoundError(f"no symbol contains address {address:#x}")
        start = addrs[pos]
        # First alias at that address.
        while pos > 0 and addrs[pos - 1] == start:
            pos -= 1
        sym = self._symbol(pos)
        off = address - start
        if sym.size is not None:
            if off < sym.size or off == 0:
                return sym, off
            raise SymbolNotFoundError(f"no symbol contains address {address:#x}")
        if off == 0:
            return sym, 0
        j = self._next_index()[pos]
        if j < len(addrs) and self.module_of(j) == sym.module and address < addrs[j]:
            return sym, off
        raise SymbolNotFoundError(f"no symbol contains address {address:#x}")

    def format_address(self, address: int) -> str:
        """Format ``address`` as ``name+0x10/0x40`` (``[module]`` appended for modules).

        The ``/size`` part is left out when the size is unknown; an address in no symbol
        formats as plain hex.
        """
        try:
            sym, off = self.symbolize(address)
        except SymbolNotFoundError:
            return f"{address:#x}"
        text = f"{sym.name}+{off:#x}"
        if sym.size is not None:
            text += f"/{sym.size:#x}"
        if sym.module:
            text += f" [{sym.module}]"
        return text

    def symbol(self, key: Union[str, int]) -> Symbol:
        """Look up by name (``str``) or by contained address (``int``)."""
        if isinstance(key, str):
            return self.lookup(key)
        return self.symbolize(key)[0]

    def in_range(self, start: int, end: int) -> List[Symbol]:
        """Symbols with ``start <= address < end``, in address order."""
        lo = bisect_right(self._addrs, start - 1)
        hi = bisect_right(self._addrs, end - 1)
        return [self._symbol(i) for i in range(lo, hi)]
