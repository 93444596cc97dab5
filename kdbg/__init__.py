"""kdbg: a Linux kernel debugger built on what the kernel carries about itself.

Types come from BTF, symbols from kallsyms and memory from /proc/kcore or a vmcore; no
DWARF, vmlinux or headers are needed.
"""

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

__all__ = [
    "BTFError",
    "CoreError",
    "ExpressionError",
    "FaultError",
    "KdbgError",
    "MemberNotFoundError",
    "NULL",
    "Object",
    "ObjectNotFoundError",
    "ObjectTypeError",
    "OutOfBoundsError",
    "Program",
    "SymbolNotFoundError",
    "TypeNotFoundError",
    "UntypedSymbolError",
    "cast",
    "container_of",
    "offsetof",
    "reinterpret",
    "sizeof",
    "__version__",
    "open_core",
    "open_files",
    "open_live",
]
