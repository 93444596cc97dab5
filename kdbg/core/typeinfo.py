"""What the object layer needs of a type, computed once and kept on the type.

An :class:`~kdbg.core.object.Object` asks the same few questions of its type on every
operation: which family of value it holds (an integer, a pointer, a struct, ...), its
size and whether it is signed. :func:`type_info` answers them once per type and keeps the
answer in the type's ``info`` slot, so it lives and dies with the type (and so with the
program); nothing is kept in a module-level table.
"""

from __future__ import annotations

from typing import Optional

from kdbg.btf.types import Array, Composite, Enum, Float, FuncProto, Int, Pointer, Type, Void
from kdbg.errors import BTFError

__all__ = [
    "TypeInfo", "type_info", "K_INT", "K_BOOL", "K_FLOAT", "K_ENUM", "K_PTR", "K_COMPOUND", "K_ARRAY", "K_FUNC",
    "K_VOID", "K_INCOMPLETE", "SCALAR", "ARITHMETIC", "INTEGER",
]

# Value families of a type once typedefs and qualifiers are stripped.
K_INT, K_BOOL, K_FLOAT, K_ENUM, K_PTR, K_COMPOUND, K_ARRAY, K_FUNC, K_VOID, K_INCOMPLETE = range(10)
#: Families held as one number.
SCALAR = (K_INT, K_BOOL, K_ENUM, K_PTR)
#: Families C's arithmetic applies to.
ARITHMETIC = (K_INT, K_BOOL, K_ENUM, K_FLOAT)
#: Integer families (what can index, shift, or be added to a pointer).
INTEGER = (K_INT, K_BOOL, K_ENUM)
_CHAR_NAMES = frozenset(("char", "signed char", "unsigned char"))


class TypeInfo:
    """``under`` (the type with typedefs and qualifiers stripped), its value ``kind``
    (one of the ``K_*`` families), ``size`` (``None`` if incomplete), ``signed`` and
    ``is_char`` (a character type: printed as a string in arrays and pointers)."""

    __slots__ = ("under", "kind", "size", "signed", "is_char")

    def __init__(self, under: Type, kind: int, size: Optional[int], signed: bool, is_char: bool) -> None:
        self.under = under
        self.kind = kind
        self.size = size
        self.signed = signed
        self.is_char = is_char


def type_info(t: Type) -> TypeInfo:
    """The :class:`TypeInfo` of ``t``, made on first use and kept on ``t``."""
    info = t.info
    if info is not None:
        return info
    info = t.info = _make(t)
    return info


def _make(t: Type) -> TypeInfo:
    under = t.strip_typedefs()
    size: Optional[int]
    signed = False
    is_char = False
    if isinstance(under, Int):
        kind = K_BOOL if under.is_bool else K_INT
        size = under.size
        signed = not under.is_bool and under.is_signed
        unq = t.unqualified()
        is_char = isinstance(unq, Int) and unq.btf_name in _CHAR_NAMES
    elif isinstance(under, Float):
        kind, size = K_FLOAT, under.size
    elif isinstance(under, Enum):
        kind, size = K_ENUM, under.size
        signed = under.is_signed
    elif isinstance(under, Pointer):
        kind, size = K_PTR, 8
    elif isinstance(under, Composite):
        kind, size = K_COMPOUND, under.size
    elif isinstance(under, Array):
        kind = K_ARRAY
        try:
            size = under.size
        except BTFError:
            size = None
    elif isinstance(under, FuncProto):
        kind, size = K_FUNC, None
    elif isinstance(under, Void):
        kind, size = K_VOID, None
    else:  # Fwd, or a kind only known by its layout
        kind, size = K_INCOMPLETE, None
    return TypeInfo(under, kind, size, signed, is_char)
