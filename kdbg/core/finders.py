"""Registries of finders, drgn's way: named callbacks, enabled in an order.

A program keeps one :class:`FinderList` for types, one for objects and one for symbols
(drgn's ``register_type_finder``, ``set_enabled_type_finders``, ...). Layers above the
core (module loading, the declaration table) register theirs when a program is assembled;
the core's own finders over the kernel's BTF and kallsyms are registered first.
"""

from __future__ import annotations

import enum
from typing import Callable, Dict, Generic, Iterator, List, Optional, Sequence, Set, Tuple, TypeVar

__all__ = ["FinderList", "FindObjectFlags"]

_F = TypeVar("_F", bound=Callable[..., object])


class FindObjectFlags(enum.Flag):
    """Which kinds of object a lookup wants (drgn's values)."""

    CONSTANT = 1
    FUNCTION = 2
    VARIABLE = 4
    ANY = 7


class FinderList(Generic[_F]):
    """Named finders and the enabled ones in order."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._registered: Dict[str, _F] = {}
        self._enabled: List[Tuple[str, _F]] = []

    def register(self, name: str, fn: _F, enable_index: Optional[int] = None) -> None:
        """Register ``fn`` as ``name``; with ``enable_index`` also enable it there
        (``-1`` or past the end: last)."""
        if name in self._registered:
            raise ValueError(f"duplicate {self.what} finder {name!r}")
        self._registered[name] = fn
        if enable_index is not None:
            names = [n for n, _ in self._enabled]
            if enable_index < 0 or enable_index > len(names):
                enable_index = len(names)
            names.insert(enable_index, name)
            self.set_enabled(names)

    def registered(self) -> Set[str]:
        """The names of every registered finder."""
        return set(self._registered)

    def set_enabled(self, names: Sequence[str]) -> None:
        """Enable exactly ``names``, in that order."""
        if len(set(names)) != len(names):
            raise ValueError(f"{self.what} finder named more than once")
        missing = [n for n in names if n not in self._registered]
        if missing:
            raise ValueError(f"no {self.what} finder named {missing[0]!r}")
        self._enabled = [(n, self._registered[n]) for n in names]

    def enabled(self) -> List[str]:
        """The names of the enabled finders, in order."""
        return [n for n, _ in self._enabled]

    def __iter__(self) -> Iterator[Tuple[str, _F]]:
        """The enabled ``(name, finder)`` pairs, in order (a copy: a finder may register
        or enable others while it runs)."""
        return iter(list(self._enabled))
