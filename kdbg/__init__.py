"""kdbg: a Linux kernel debugger built on what the kernel carries about itself.

Types come from BTF, symbols from kallsyms and memory from /proc/kcore or a vmcore; no
DWARF, vmlinux or headers are needed.

The names below load on first use (``kdbg.Object``, ``kdbg.open_core``...), so that
``python -m kdbg`` starts by importing only what it runs, and can report a broken part of
an installation in one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List

from kdbg.lazy import LazyNames

if TYPE_CHECKING:
    from kdbg.core.conversions import NULL, cast, container_of, offsetof, reinterpret, sizeof
    from kdbg.core.object import Object
    from kdbg.core.program import Program
    from kdbg.errors import (
        BTFError,
        CoreError,
        ExpressionError,
        FaultError,
        KdbgError,
        MemberNotFoundError,
        ObjectNotFoundError,
        ObjectTypeError,
        OutOfBoundsError,
        SymbolNotFoundError,
        TypeNotFoundError,
        UntypedSymbolError,
    )
    from kdbg.target import open_core, open_files, open_live

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_HOMES = LazyNames({
    **dict.fromkeys(("NULL", "cast", "container_of", "offsetof", "reinterpret", "sizeof"), "kdbg.core.conversions"),
    "Object": "kdbg.core.object",
    "Program": "kdbg.core.program",
    **dict.fromkeys(("BTFError", "CoreError", "ExpressionError", "FaultError", "KdbgError", "MemberNotFoundError",
                     "ObjectNotFoundError", "ObjectTypeError", "OutOfBoundsError", "SymbolNotFoundError",
                     "TypeNotFoundError", "UntypedSymbolError"), "kdbg.errors"),
    **dict.fromkeys(("open_core", "open_files", "open_live"), "kdbg.target"),
})

__all__ = [
    "BTFError", "CoreError", "ExpressionError", "FaultError", "KdbgError", "MemberNotFoundError", "NULL", "Object",
    "ObjectNotFoundError", "ObjectTypeError", "OutOfBoundsError", "Program", "SymbolNotFoundError",
    "TypeNotFoundError", "UntypedSymbolError", "__version__", "cast", "container_of", "offsetof", "open_core",
    "open_files", "open_live", "reinterpret", "sizeof",
]
assert sorted(set(__all__) - {"__version__"}) == sorted(_HOMES)


_resolve = _HOMES.module_getattr(__name__, globals())


def __getattr__(name: str) -> Any:
    return _resolve(name)


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_HOMES))
