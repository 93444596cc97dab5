"""Filling a ``drgn.helpers.*`` module with kdbg's helpers of drgn's names."""

from __future__ import annotations

from typing import Any, Callable, Dict, List

import kdbg.helpers as helpers
from kdbg.compat import PREFIX, unsupported
from kdbg.compat.drgn.helpers.names import DRGN_HELPERS

__all__ = ["export"]


def export(namespace: Dict[str, Any], *keys: str) -> List[str]:
    """Put in ``namespace`` (a module's globals) every name of drgn's helper modules
    ``keys`` that kdbg implements (the same object as under :mod:`kdbg.helpers`), set
    its ``__all__`` to them, and make the others fail in one line when asked for."""
    wanted = [n for key in keys for n in DRGN_HELPERS[key]]
    have = []
    for name in wanted:
        value = getattr(helpers, name, None)
        if value is not None:
            namespace[name] = value
            have.append(name)
    where = "drgn.helpers." + keys[0] if len(keys) == 1 else "drgn" + namespace["__name__"][len(PREFIX):]
    namespace["__all__"] = have
    namespace["__getattr__"] = _missing(where, set(wanted))
    return have


def _missing(where: str, known: Any) -> Callable[[str], Any]:
    def __getattr__(name: str) -> Any:
        if name in known:
            raise unsupported(f"{where}.{name}", "kdbg has no helper of that name yet")
        raise AttributeError(f"module {where!r} has no attribute {name!r}")

    return __getattr__
