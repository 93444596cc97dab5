"""A vmlinux symbol table that answers its first lookups by name without decoding kallsyms.

A process that looks up a handful of symbols and exits (``kdbg -c DUMP -e
'prog["init_task"].comm'`` looks up six) should not expand 100,000 names first.
:class:`LazyKallsyms` is a :class:`~kdbg.symbols.table.SymbolTable` that answers its
first :data:`LAZY_LOOKUPS` lookups by name that find something through a
:class:`~kdbg.symbols.kallsyms.byname.NameFinder` (a binary search of
``kallsyms_seqs_of_names``), and becomes the full table (decoded, or loaded from the
cache) on anything else: a name the finder does not find (a miss is only trusted from the
full table), an address lookup, the name list, iteration, or the lookup after the budget.
Its answers are the full table's: same symbols, indexes, sizes and choice among repeated
names.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional

from kdbg.errors import CoreError
from kdbg.symbols.kallsyms.byname import NameFinder
from kdbg.symbols.table import Symbol, SymbolTable

__all__ = ["LAZY_LOOKUPS", "LazyKallsyms"]

#: Lookups by name answered through the finder before the full table is made (one costs
#: about 0.2 ms; decoding every name 100-400 ms, loading them from the cache 20-60 ms).
LAZY_LOOKUPS = 64

#: What :class:`~kdbg.symbols.table.SymbolTable` keeps; reading any of it makes the full
#: table.
_TABLE_STATE = frozenset((
    "_names", "_addrs", "_types", "_mods", "_given_sizes", "_scans", "_by_name",
    "_last_by_name", "_dups", "_ranges_cache", "_module_regions",
))


class LazyKallsyms(SymbolTable):
    """vmlinux kallsyms: by name through ``finder`` at first, in full from ``load()`` once
    anything else is asked (see the module docstring)."""

    def __init__(self, finder: NameFinder, load: Callable[[], SymbolTable],
                 lookups: int = LAZY_LOOKUPS) -> None:
        # No SymbolTable.__init__: its state comes from ``load`` when first needed.
        self._finder: Optional[NameFinder] = finder
        self._load = load
        self._lookups_left = lookups

    def __getattr__(self, name: str) -> Any:
        """The full table's state, made on first use (only called for attributes not set)."""
        if name in _TABLE_STATE:
            self.materialize()
            return self.__dict__[name]
        raise AttributeError(name)

    @property
    def is_materialized(self) -> bool:
        """Whether the full table has been made."""
        return self._finder is None

    def materialize(self) -> None:
        """Make the full table now (a no-op once made)."""
        if self._finder is None:
            return
        full = self._load()
        self.__dict__.update(full.__dict__)
        self._finder = None

    def __len__(self) -> int:
        return self._finder.count if self._finder is not None else super().__len__()

    def _indices_of(self, name: str) -> List[int]:
        finder = self._finder
        if finder is not None and self._lookups_left > 0:
            self._lookups_left -= 1
            try:
                found = finder.indices(name)
            except CoreError:  # the names turned out broken: the full decode says how
                found = []
            if found:
                return found
        return super()._indices_of(name)

    def _symbol(self, i: int) -> Symbol:
        f = self._finder
        if f is None:
            return super()._symbol(i)
        self._note_use(i)
        return Symbol(f.name(i), f.address(i), f.size(i), f.type(i), None)

    def module_of(self, index: int) -> Optional[str]:
        """Module of the symbol at ``index`` (``None``: these are vmlinux's)."""
        return None if self._finder is not None else super().module_of(index)

    def type_of(self, index: int) -> str:
        """Type letter of the symbol at ``index``."""
        f = self._finder
        return f.type(index) if f is not None else super().type_of(index)
