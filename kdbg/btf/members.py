"""The parts of a type: :class:`TypeMember`, :class:`TypeEnumerator`, :class:`TypeParameter`.

They carry drgn's names (``type``, ``name``, ``bit_offset``, ``offset``,
``bit_field_size``, ``object``; ``name`` is ``None`` for an unnamed member or parameter)
and BTF's record fields (``type_id``, ``btf_name``, ``bitfield_size``) for the BTF
writers. Their ``repr()`` is drgn's.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any, Iterator, NamedTuple, Optional, Tuple

from kdbg.errors import BTFError

if TYPE_CHECKING:
    from kdbg.btf.types import Type


def absent_object(btf: Any, t: Type, bit_field_size: Optional[int]) -> Any:
    """drgn's absent ``Object`` of type ``t`` (a bit field of ``bit_field_size`` bits),
    made by the program ``btf`` (or the BTF it is split from) belongs to."""
    b = btf
    while b is not None and getattr(b, "object_hook", None) is None:
        b = b.base
    if b is None:
        raise BTFError(f"the type {t.type_name()!r} belongs to no program: it has no objects")
    return b.object_hook(t, bit_field_size)


def lazy_object_repr(t: Type, bit_field_size: Optional[int]) -> str:
    """How drgn shows a member's or parameter's type in their ``repr()``:
    ``prog.type('T')``, or the absent object of a bit field."""
    if bit_field_size:
        return f"Object(prog, {t.type_name()!r}, bit_field_size={bit_field_size})"
    return f"prog.type({t.type_name()!r})"

__all__ = ["TypeMember", "TypeEnumerator", "TypeParameter", "VarSecinfo"]

def _drgn_form(first: Any) -> bool:
    """Whether a member's or parameter's first argument is drgn's (a Type or an Object),
    not kdbg's own BTF."""
    return hasattr(first, "unaliased_kind") or hasattr(first, "bit_field_size_")


def _type_and_bits(given: Any) -> Tuple[Any, int]:
    """The type and bit-field width drgn's ``TypeMember``/``TypeParameter`` take as their
    first argument: a Type (no bit field), or an Object (its type and ``bit_field_size_``)."""
    if hasattr(given, "type_") and hasattr(given, "bit_field_size_"):
        return given.type_, given.bit_field_size_ or 0
    return given, 0


class TypeMember:
    """A struct or union member. ``bit_offset`` is from the start of the type it was
    taken from (:meth:`Type.member` adds the offsets of unnamed members it looks through).

    ``type`` is what drgn gives: a flexible array member's type is the incomplete array
    ``T []`` (BTF writes it as ``T [0]``); :attr:`btf_type` is BTF's own record.
    """

    __slots__ = ("btf", "btf_name", "type_id", "bit_offset", "bitfield_size", "_type")

    def __init__(self, btf: Any, name: Optional[str] = None, type_id: int = 0, bit_offset: int = 0,
                 bitfield_size: int = 0, type: Optional[Type] = None) -> None:  # noqa: A002 - drgn's name
        if _drgn_form(btf):
            # TypeMember(object_or_type, name=None, bit_offset=0): a Type, or an absent
            # Object of the member's type (with its bit_field_size_)
            made, bits = _type_and_bits(btf)
            bit_offset = type_id or bit_offset
            btf, type_id, bitfield_size, type = made.btf, made.id, bits, made
        self.btf = btf
        #: The member's name as BTF stores it (``""`` when unnamed).
        self.btf_name = name or ""
        #: BTF type id of the member's type.
        self.type_id = type_id
        #: Offset from the start of the enclosing type, in bits.
        self.bit_offset = bit_offset
        #: Width of a bit field, 0 for a member that is not one (BTF's encoding).
        self.bitfield_size = bitfield_size
        self._type = type

    @property
    def name(self) -> Optional[str]:
        """The member's name, ``None`` when it has none (an anonymous struct or union)."""
        return self.btf_name or None

    @property
    def type(self) -> Type:
        """The member's type."""
        t = self._type
        return t if t is not None else self.btf.type(self.type_id)

    @property
    def btf_type(self) -> Type:
        """The member's type as BTF records it (``T [0]`` for a flexible array member)."""
        return self.btf.type(self.type_id)

    @property
    def offset(self) -> int:
        """Offset in bytes; ``ValueError`` for a bit field that does not start on a byte
        (as drgn)."""
        if self.bit_offset % 8:
            raise ValueError("member is not byte-aligned")
        return self.bit_offset // 8

    @property
    def object(self) -> Any:
        """The member as drgn has it: an absent ``Object`` of its type, with its
        ``bit_field_size``."""
        return absent_object(self.btf, self.type, self.bitfield_size or None)

    @property
    def bit_field_size(self) -> Optional[int]:
        """Width of a bit field in bits, ``None`` if the member is not one."""
        return self.bitfield_size or None

    @property
    def is_bitfield(self) -> bool:
        """Whether the member is a bit field."""
        return self.bitfield_size != 0

    @property
    def is_flexible(self) -> bool:
        """Whether this is a flexible array member (its type is an incomplete array)."""
        return self._type is not None and getattr(self._type, "length", 0) is None

    def moved(self, bits: int) -> TypeMember:
        """This member ``bits`` further from the start (seen from an enclosing type)."""
        return TypeMember(self.btf, self.btf_name, self.type_id, self.bit_offset + bits, self.bitfield_size,
                          self._type)

    def __eq__(self, other: builtins.object) -> bool:
        return (isinstance(other, TypeMember) and other.btf is self.btf and other.type_id == self.type_id
                and (other.btf_name, other.bit_offset, other.bitfield_size, other._type)
                == (self.btf_name, self.bit_offset, self.bitfield_size, self._type))

    def __hash__(self) -> int:
        return hash((self.type_id, self.btf_name, self.bit_offset))

    def __repr__(self) -> str:
        name = f", name={self.name!r}" if self.name is not None else ""
        return f"TypeMember({lazy_object_repr(self.type, self.bitfield_size)}{name}, bit_offset={self.bit_offset})"


class TypeEnumerator:
    """One enumeration constant: ``name`` and ``value``; a sequence ``(name, value)`` as
    drgn's (it unpacks and indexes like a pair, and equals only another enumerator)."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: int) -> None:
        self.name = name
        self.value = value

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> Any:
        return (self.name, self.value)[i]

    def __iter__(self) -> Iterator[Any]:
        return iter((self.name, self.value))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TypeEnumerator):
            return NotImplemented
        return (self.name, self.value) == (other.name, other.value)

    def __hash__(self) -> int:
        return hash((self.name, self.value))

    def __repr__(self) -> str:
        return f"TypeEnumerator({self.name!r}, {self.value!r})"


class TypeParameter:
    """A function parameter: ``type`` and ``name`` (``None`` when unnamed)."""

    __slots__ = ("btf", "btf_name", "type_id")

    def __init__(self, btf: Any, name: Optional[str] = None, type_id: int = 0) -> None:
        if _drgn_form(btf):  # drgn's TypeParameter(default_argument_or_type, name=None)
            made, _bits = _type_and_bits(btf)
            btf, type_id = made.btf, made.id
        self.btf = btf
        #: The name as BTF stores it (``""`` when unnamed).
        self.btf_name = name or ""
        #: BTF type id of the parameter's type (0 with no name is ``...``).
        self.type_id = type_id

    @property
    def name(self) -> Optional[str]:
        """The parameter's name, ``None`` when it has none."""
        return self.btf_name or None

    @property
    def type(self) -> Type:
        """The parameter's type."""
        return self.btf.type(self.type_id)

    @property
    def default_argument(self) -> Any:
        """drgn's default argument: C has none, so an absent ``Object`` of the type."""
        return absent_object(self.btf, self.type, None)

    def __repr__(self) -> str:
        name = f", name={self.name!r}" if self.name is not None else ""
        return f"TypeParameter({lazy_object_repr(self.type, None)}{name})"


class VarSecinfo(NamedTuple):
    """One variable's place in a DATASEC."""

    type_id: int
    offset: int
    size: int
    btf: Any

    @property
    def type(self) -> Type:
        """The VAR (or FUNC) this entry describes."""
        return self.btf.type(self.type_id)
