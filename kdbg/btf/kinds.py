"""drgn's vocabulary for types: :class:`TypeKind`, :class:`PrimitiveType`,
:class:`Qualifiers`, :class:`Language` and :class:`TypeKindSet`.

The names and values are drgn's (drgn 0.3.0), so a script that compares
``t.kind == TypeKind.STRUCT`` or tests ``t.qualifiers & Qualifiers.CONST`` runs unchanged.
BTF's own kind numbers stay in :mod:`kdbg.btf.constants` (``Type.btf_kind``).
"""

from __future__ import annotations

import enum
from typing import AbstractSet, Dict, Iterable, Iterator, Optional

__all__ = ["TypeKind", "PrimitiveType", "Qualifiers", "Language", "TypeKindSet", "primitive_of", "C_SPELLINGS"]


class TypeKind(enum.Enum):
    """Kind of a type (drgn's numbering)."""

    VOID = 1
    INT = 2
    BOOL = 3
    FLOAT = 4
    STRUCT = 5
    UNION = 6
    CLASS = 7
    ENUM = 8
    TYPEDEF = 9
    POINTER = 10
    ARRAY = 11
    FUNCTION = 12


class PrimitiveType(enum.Enum):
    """A primitive type of C (drgn's numbering)."""

    C_VOID = 0
    C_CHAR = 1
    C_SIGNED_CHAR = 2
    C_UNSIGNED_CHAR = 3
    C_SHORT = 4
    C_UNSIGNED_SHORT = 5
    C_INT = 6
    C_UNSIGNED_INT = 7
    C_LONG = 8
    C_UNSIGNED_LONG = 9
    C_LONG_LONG = 10
    C_UNSIGNED_LONG_LONG = 11
    C_BOOL = 12
    C_FLOAT = 13
    C_DOUBLE = 14
    C_LONG_DOUBLE = 15
    C_SIZE_T = 16
    C_PTRDIFF_T = 17


class Qualifiers(enum.Flag):
    """Type qualifiers (a bit mask, drgn's values)."""

    NONE = 0
    CONST = 1
    VOLATILE = 2
    RESTRICT = 4
    ATOMIC = 8


#: Qualifier keyword -> flag.
QUALIFIER_KEYWORDS: Dict[str, Qualifiers] = {
    "const": Qualifiers.CONST,
    "volatile": Qualifiers.VOLATILE,
    "restrict": Qualifiers.RESTRICT,
    "_Atomic": Qualifiers.ATOMIC,
}


class Language:
    """A programming language (only C: BTF describes C)."""

    __slots__ = ("name",)
    C: Language

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Language.{self.name}"


Language.C = Language("C")


class TypeKindSet(AbstractSet[TypeKind]):
    """An immutable set of :class:`TypeKind` (what a type finder is asked for)."""

    __slots__ = ("_kinds",)

    def __init__(self, kinds: Iterable[TypeKind] = ()) -> None:
        self._kinds = frozenset(kinds)

    def __contains__(self, kind: object) -> bool:
        return kind in self._kinds

    def __iter__(self) -> Iterator[TypeKind]:
        return iter(sorted(self._kinds, key=lambda k: k.value))

    def __len__(self) -> int:
        return len(self._kinds)

    def __repr__(self) -> str:
        return "TypeKindSet({" + ", ".join(str(k) for k in self) + "})"


#: gcc's spellings of the C integer types (as BTF and DWARF carry them) -> C's
#: canonical spelling, which drgn uses for ``Type.name`` and in every type name.
C_SPELLINGS: Dict[str, str] = {
    "long long unsigned int": "unsigned long long",
    "long long int": "long long",
    "long unsigned int": "unsigned long",
    "long int": "long",
    "short unsigned int": "unsigned short",
    "short int": "short",
}

_PRIMITIVES: Dict[str, PrimitiveType] = {
    "char": PrimitiveType.C_CHAR,
    "signed char": PrimitiveType.C_SIGNED_CHAR,
    "unsigned char": PrimitiveType.C_UNSIGNED_CHAR,
    "short": PrimitiveType.C_SHORT,
    "unsigned short": PrimitiveType.C_UNSIGNED_SHORT,
    "int": PrimitiveType.C_INT,
    "unsigned int": PrimitiveType.C_UNSIGNED_INT,
    "long": PrimitiveType.C_LONG,
    "unsigned long": PrimitiveType.C_UNSIGNED_LONG,
    "long long": PrimitiveType.C_LONG_LONG,
    "unsigned long long": PrimitiveType.C_UNSIGNED_LONG_LONG,
    "_Bool": PrimitiveType.C_BOOL,
    "float": PrimitiveType.C_FLOAT,
    "double": PrimitiveType.C_DOUBLE,
    "long double": PrimitiveType.C_LONG_DOUBLE,
}


def primitive_of(name: str) -> Optional[PrimitiveType]:
    """The primitive type a C base type name (canonical spelling) denotes, or ``None``."""
    return _PRIMITIVES.get(name)
