"""Names that load on first use: the one registry of "public name -> the module that
defines it", resolved with :mod:`importlib` only when a name is asked for.

``kdbg``'s own names (``kdbg.Object``, ``kdbg.open_core``), ``kdbg.helpers``' names and the
built-in command table (:mod:`kdbg.ui.commands`) are such registries, so that a one-command
run (``kdbg -c DUMP -x sys``) imports the modules that command needs and not the others.
A package makes its names lazy with PEP 562::

    _NAMES = LazyNames({"Object": "kdbg.core.object", ...})
    __getattr__ = _NAMES.module_getattr(__name__, globals())

Each registry is checked by a test against the registrations it stands for (the modules'
own ``__all__``, the commands they register).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Callable, Dict, Iterable, Iterator, Mapping, MutableMapping, Sequence, Tuple

__all__ = ["LazyNames"]


class LazyNames(Mapping[str, str]):
    """A mapping of names to the modules that define them (``name -> "kdbg.x.y"``), which
    loads a name's module only when the name is resolved."""

    def __init__(self, homes: Mapping[str, str]) -> None:
        self._homes: Dict[str, str] = dict(homes)

    @classmethod
    def by_module(cls, table: Sequence[Tuple[str, Sequence[str]]]) -> LazyNames:
        """The registry of ``(module, names)`` rows (names in the order given; a name listed
        twice belongs to its last module, as with consecutive ``from module import *``)."""
        return cls({name: module for module, names in table for name in names})

    def __getitem__(self, name: str) -> str:
        return self._homes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._homes)

    def __len__(self) -> int:
        return len(self._homes)

    def modules(self) -> Iterable[str]:
        """Every home module, each once, in the order the names were given."""
        return dict.fromkeys(self._homes.values()).keys()

    def import_home(self, name: str) -> ModuleType:
        """Import the module that defines ``name`` (``KeyError`` when it is not registered)."""
        return importlib.import_module(self._homes[name])

    def resolve(self, name: str) -> Any:
        """The value of ``name``, its module imported first."""
        return getattr(self.import_home(name), name)

    def module_getattr(self, module: str, namespace: MutableMapping[str, Any]) -> Callable[[str], Any]:
        """A PEP 562 ``__getattr__`` for the package ``module`` whose globals are
        ``namespace``: a registered name is resolved and kept in those globals (later uses
        are plain attribute reads), any other is an ``AttributeError``."""

        def __getattr__(name: str) -> Any:
            if name not in self._homes:
                raise AttributeError(f"module {module!r} has no attribute {name!r}")
            value = self.resolve(name)
            namespace[name] = value
            return value

        return __getattr__
