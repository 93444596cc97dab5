"""drgn's names for kdbg's own objects: inside kdbg, ``import drgn`` is kdbg.

:func:`install` puts an import finder first on ``sys.meta_path`` that answers ``drgn``
and every ``drgn.*`` module with kdbg's module of that name under
:mod:`kdbg.compat.drgn` (the same module object under both names, so ``drgn.Object`` is
``kdbg.Object``). The command line installs it before it runs a script, ``-e`` code, a
REPL line or a plugin; a drgn already imported in the process is set aside meanwhile and
given back by :func:`uninstall`. Outside kdbg, ``import drgn`` stays drgn's business.

An API of drgn that kdbg does not implement fails in one line naming it
(:class:`UnsupportedError`), never with an ``AttributeError`` from kdbg's internals.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Dict, List, Optional, Sequence

from kdbg.errors import UnsupportedError, unsupported

__all__ = ["install", "uninstall", "installed", "UnsupportedError", "unsupported", "PREFIX"]

#: Where kdbg keeps its ``drgn`` package.
PREFIX = "kdbg.compat.drgn"


class _Alias(importlib.abc.Loader):
    """Loads ``drgn.X`` as the module ``kdbg.compat.drgn.X`` already is."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        return None


class _DrgnFinder(importlib.abc.MetaPathFinder):
    """``drgn`` and ``drgn.*`` -> :data:`PREFIX` and ``PREFIX.*``."""

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None,
                  target: Optional[ModuleType] = None) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname != "drgn" and not fullname.startswith("drgn."):
            return None
        ours = PREFIX + fullname[len("drgn"):]
        if importlib.util.find_spec(ours) is None:
            return None  # drgn has it, kdbg not: the import fails as for any missing module
        spec = importlib.machinery.ModuleSpec(fullname, _Alias(ours), is_package=True)
        return spec


_FINDER = _DrgnFinder()
_SET_ASIDE: Dict[str, ModuleType] = {}


def installed() -> bool:
    """Whether ``import drgn`` resolves to kdbg now."""
    return _FINDER in sys.meta_path


def install() -> None:
    """Make ``import drgn`` (and ``drgn.*``) resolve to kdbg in this process."""
    if installed():
        return
    for name in [n for n in sys.modules if n == "drgn" or n.startswith("drgn.")]:
        module = sys.modules.pop(name)
        if not getattr(module, "__name__", "").startswith(PREFIX):
            _SET_ASIDE[name] = module
    sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    """Give ``import drgn`` back to whatever provides it (drgn, if installed)."""
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    gone: List[str] = [n for n in sys.modules if n == "drgn" or n.startswith("drgn.")]
    for name in gone:
        del sys.modules[name]
    sys.modules.update(_SET_ASIDE)
    _SET_ASIDE.clear()
