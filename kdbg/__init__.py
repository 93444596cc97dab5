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
from kdbg.program import Program, open_core, open_files, open_live

__version__ = "0.1.0"

__all__ = [
    "BTFError",
    "CoreError",
    "ExpressionError",
    "FaultError",
    "KdbgError",
    "ObjectNotFoundError",
    "Program",
    "SymbolNotFoundError",
    "TypeNotFoundError",
    "__version__",
    "open_core",
    "open_files",
    "open_live",
]
