"""kdbg: a Linux kernel debugger built on what the kernel carries about itself.

Types come from BTF, symbols from kallsyms and memory from /proc/kcore or a vmcore; no
DWARF, vmlinux or headers are needed.
"""

from kdbg.errors import (
    BTFError,
    CoreError,
    ExpressionError,
    FaultError,
    KdbgError,
    ObjectNotFoundError,
    SymbolNotFoundError,
    TypeNotFoundError,
)

__version__ = "0.1.0"

__all__ = [
    "BTFError",
    "CoreError",
    "ExpressionError",
    "FaultError",
    "KdbgError",
    "ObjectNotFoundError",
    "SymbolNotFoundError",
    "TypeNotFoundError",
    "__version__",
]
