"""``drgn``, inside kdbg: drgn's public names, each one of kdbg's own objects.

See :mod:`kdbg.compat`. The names drgn 0.3.0 documents that kdbg cannot answer without
DWARF or a user-space target (source locations, program_from_pid, debug-info options...)
fail in one line naming them when a script asks for them.
"""

from __future__ import annotations

import os
import runpy
import sys
from typing import Any, Optional, Tuple, Union

from kdbg.btf.kinds import Language, PrimitiveType, Qualifiers, TypeKind, TypeKindSet
from kdbg.btf.types import Type, TypeEnumerator, TypeMember, TypeParameter
from kdbg.compat import unsupported
from kdbg.core.conversions import NULL, alignof, cast, container_of, offsetof, reinterpret, sizeof
from kdbg.core.default import NoDefaultProgramError, get_default_prog, set_default_prog
from kdbg.core.finders import FindObjectFlags
from kdbg.core.integer import IntegerLike
from kdbg.core.module import Module
from kdbg.core.object import AbsenceReason, Object
from kdbg.core.platform import X86_64_PLATFORM, Architecture, Platform, PlatformFlags, ProgramFlags
from kdbg.core.program import Program
from kdbg.core.search import MemorySearchIterator
from kdbg.errors import (
    FaultError,
    KdbgError,
    ObjectAbsentError,
    ObjectNotFoundError,
    OutOfBoundsError,
    UnsupportedOperation,
)
from kdbg.symbols.index import SymbolIndex
from kdbg.symbols.table import Symbol, SymbolBinding, SymbolKind
from kdbg.target import open_core, open_live
from kdbg.unwind import StackFrame, StackTrace, Thread

__all__ = [
    "AbsenceReason", "Architecture", "BadDataError", "FaultError", "FindObjectFlags", "IntegerLike", "Language",
    "MainModule", "MissingDebugInfoError", "Module", "NULL", "NoDefaultProgramError", "Object", "ObjectAbsentError",
    "ObjectNotFoundError", "OutOfBoundsError", "Platform", "PlatformFlags", "PrimitiveType", "Program",
    "ProgramFlags", "Qualifiers", "StackFrame", "StackTrace", "Symbol", "SymbolBinding", "SymbolIndex", "SymbolKind",
    "Thread", "Type", "TypeEnumerator", "TypeKind", "TypeKindSet", "TypeMember", "TypeParameter",
    "UnsupportedOperation", "alignof", "cast", "container_of", "execscript", "filename_matches", "get_default_prog",
    "host_platform", "implicit_convert", "offsetof", "program_from_core_dump", "program_from_kernel", "reinterpret",
    "set_default_prog", "sizeof", "stack_trace", "MemorySearchIterator", "search_memory", "search_memory_regex",
    "search_memory_u16", "search_memory_u32", "search_memory_u64", "search_memory_word",
]

#: drgn's version this module answers as.
__version__ = "0.3.0"

#: The main module's class: a module is a module here.
MainModule = Module
#: The platform kdbg runs on and reads.
host_platform = X86_64_PLATFORM


class BadDataError(KdbgError):
    """Data in the program is malformed (drgn's)."""


class MissingDebugInfoError(KdbgError):
    """What only debugging information (DWARF) has is asked for (drgn's)."""


def program_from_core_dump(path: str | os.PathLike[str]) -> Program:
    """A program for a vmcore (kdbg's :func:`kdbg.open_core`)."""
    return open_core(os.fspath(path))


def program_from_kernel() -> Program:
    """A program for the running kernel (kdbg's :func:`kdbg.open_live`)."""
    return open_live()


def stack_trace(thread: Any) -> StackTrace:
    """The stack trace of ``thread`` (a task, a PID, ``pt_regs``) in its program or the
    default one."""
    prog = thread.prog_ if isinstance(thread, Object) else get_default_prog()
    return prog.stack_trace(thread)


def search_memory(value: Any, **kwargs: Any) -> MemorySearchIterator[int]:
    """:meth:`Program.search_memory` of ``value``'s program (an object's) or the default one."""
    prog = value.prog_ if isinstance(value, Object) else get_default_prog()
    return prog.search_memory(value, **kwargs)


def search_memory_u16(*values: Any, ignore_mask: Any = 0) -> MemorySearchIterator[Tuple[int, int]]:
    """:meth:`Program.search_memory_u16` of the default program."""
    return get_default_prog().search_memory_u16(*values, ignore_mask=ignore_mask)


def search_memory_u32(*values: Any, ignore_mask: Any = 0) -> MemorySearchIterator[Tuple[int, int]]:
    """:meth:`Program.search_memory_u32` of the default program."""
    return get_default_prog().search_memory_u32(*values, ignore_mask=ignore_mask)


def search_memory_u64(*values: Any, ignore_mask: Any = 0) -> MemorySearchIterator[Tuple[int, int]]:
    """:meth:`Program.search_memory_u64` of the default program."""
    return get_default_prog().search_memory_u64(*values, ignore_mask=ignore_mask)


def search_memory_word(*values: Any, ignore_mask: Any = 0) -> MemorySearchIterator[Tuple[int, int]]:
    """:meth:`Program.search_memory_word` of the default program."""
    return get_default_prog().search_memory_word(*values, ignore_mask=ignore_mask)


def search_memory_regex(pattern: Union[bytes, str]) -> MemorySearchIterator[Tuple[int, Any]]:
    """:meth:`Program.search_memory_regex` of the default program."""
    return get_default_prog().search_memory_regex(pattern)


def filename_matches(haystack: Optional[str], needle: Optional[str]) -> bool:
    """Whether path ``haystack`` ends with the components of ``needle`` (drgn's rule for
    a finder's ``filename``); with no needle, anything matches."""
    if not needle:
        return True
    if not haystack:
        return False
    h = [c for c in haystack.split("/") if c]
    n = [c for c in needle.split("/") if c]
    return len(n) <= len(h) and h[len(h) - len(n):] == n


_ARITHMETIC = (TypeKind.INT, TypeKind.BOOL, TypeKind.FLOAT, TypeKind.ENUM)
_POINTERISH = (TypeKind.POINTER, TypeKind.ARRAY, TypeKind.FUNCTION)  # arrays and functions decay


def implicit_convert(type: Any, obj: Object) -> Object:  # noqa: A002 - drgn's name
    """``obj`` converted to ``type`` as C converts an assignment: a cast between
    arithmetic types or between pointers (an array or function decays to one), a struct
    or union to its own type; anything else, such as an integer to a pointer, is drgn's
    ``TypeError``."""
    target = obj.prog_.type(type) if isinstance(type, str) else type
    to_kind, from_kind = target.unaliased_kind(), obj.type_.unaliased_kind()
    if (to_kind in _ARITHMETIC and from_kind in _ARITHMETIC) or \
            (to_kind == TypeKind.POINTER and from_kind in _POINTERISH) or \
            (to_kind in (TypeKind.STRUCT, TypeKind.UNION) and
             target.unqualified().unaliased() == obj.type_.unqualified().unaliased()):
        return cast(target, obj) if to_kind not in (TypeKind.STRUCT, TypeKind.UNION) else obj.read_()
    raise TypeError(f"cannot convert '{obj.type_.type_name()}' to incompatible type '{target.type_name()}'")


def execscript(path: str, *args: str) -> None:
    """Run the script ``path`` with ``args`` in the caller's globals (drgn's)."""
    caller = sys._getframe(1).f_globals
    old_argv = sys.argv
    sys.argv = [path, *args]
    try:
        caller.update(runpy.run_path(path, init_globals=caller, run_name="__main__"))
    finally:
        sys.argv = old_argv


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise unsupported(f"drgn.{name}", "kdbg implements drgn's API for the Linux kernel over BTF and kallsyms")


