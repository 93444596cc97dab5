"""Struct, union and enum types (and their forward declarations): types with members or
enumerators, decoded on first use. See :mod:`kdbg.btf.types`, the model's public home."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional, Tuple

from kdbg.btf import constants as K
from kdbg.btf.kinds import TypeKind
from kdbg.btf.memberpath import designator_offset, find_member, member_names
from kdbg.btf.members import TypeEnumerator, TypeMember
from kdbg.btf.typebase import Array, CycleError, Type, nested_alignment
from kdbg.errors import BTFError, MemberNotFoundError

if TYPE_CHECKING:
    from kdbg.btf.index import BTF

__all__ = ["Sized", "Composite", "Struct", "Union", "Enum", "Fwd"]

class Sized(Type):
    """A type with a byte size and ``vlen`` records after its header (struct, union, enum,
    datasec); the records decode on first use (through the BTF's decoder)."""

    __slots__ = ("_size", "_vlen", "_records")

    def __init__(self, btf: BTF, type_id: int, kind: int, name: str, kflag: bool, size: int, vlen: int) -> None:
        super().__init__(btf, type_id, kind, name, kflag)
        self._size = size
        self._vlen = vlen
        self._records: Optional[Tuple[Any, ...]] = None

    @property
    def size(self) -> Optional[int]:
        return self._size

    @property
    def vlen(self) -> int:
        """Number of records (members, enumerators, variables)."""
        return self._vlen


class Composite(Sized):
    """A struct or union (``members`` in declaration order)."""

    __slots__ = ("_members",)

    def __init__(self, btf: BTF, type_id: int, kind: int, name: str, kflag: bool, size: int, vlen: int) -> None:
        super().__init__(btf, type_id, kind, name, kflag, size, vlen)
        self._members: Optional[Tuple[TypeMember, ...]] = None

    @property
    def kind(self) -> TypeKind:
        return TypeKind.UNION if self.btf_kind == K.KIND_UNION else TypeKind.STRUCT

    @property
    def keyword(self) -> str:
        """``struct`` or ``union``."""
        return "union" if self.btf_kind == K.KIND_UNION else "struct"

    @property
    def tag(self) -> Optional[str]:
        """The struct's or union's tag, ``None`` if it is anonymous."""
        return self.btf_name or None

    @property
    def btf_members(self) -> Tuple[TypeMember, ...]:
        """The members as BTF records them (a flexible array member as ``T [0]``)."""
        if self._records is None:
            btf = self.btf
            assert btf is not None
            self._records = tuple(
                TypeMember(btf, n, t, o, b) for n, t, o, b in btf.records.members(self.id, btf.records.names)
            )
        return self._records

    @property
    def members(self) -> Tuple[TypeMember, ...]:
        """The members, as drgn has them: a flexible array member's type is ``T []``
        (which zero-length arrays are flexible: :meth:`kdbg.btf.index.BTF.is_flexible`)."""
        if self._members is None:
            raw = self.btf_members
            out = raw
            if raw and self.btf is not None:
                last = raw[-1]
                if self.btf.is_flexible(self, len(raw) - 1):
                    elem = self.btf.type(last.type_id).strip_typedefs()
                    assert isinstance(elem, Array)
                    flex = self.btf.incomplete_array_of(elem.type)
                    out = raw[:-1] + (TypeMember(last.btf, last.btf_name, last.type_id, last.bit_offset,
                                                 last.bitfield_size, flex),)
            self._members = out
        return self._members

    def _alignment(self, depth: int) -> int:
        align = 1
        for m in self.btf_members:
            try:
                a = nested_alignment(m.btf_type, depth)
            except CycleError:
                raise
            except BTFError:
                a = 1
            align = max(align, a)
        return align

    def has_member(self, name: str) -> bool:
        """True if ``name`` is a member, directly or through anonymous members."""
        return self.find_member(name) is not None

    def find_member(self, name: str) -> Optional[TypeMember]:
        """Member ``name`` (through anonymous members; its ``bit_offset`` is relative to
        this type), or ``None``."""
        return find_member(self, name)

    def member(self, name: str) -> TypeMember:
        """Like :meth:`find_member` but raises :class:`~kdbg.errors.MemberNotFoundError`
        (a ``LookupError``) naming the type."""
        m = self.find_member(name)
        if m is None:
            raise MemberNotFoundError(f"{self.type_name()!r} has no member {name!r}")
        return m

    def member_names(self) -> List[str]:
        """Names reachable by ``.name``, anonymous members flattened (for completion)."""
        return member_names(self)

    def offsetof(self, designator: str) -> int:
        """Byte offset of a member designator such as ``"a.b[3].c"``."""
        bits, _ = self.offsetof_bits(designator)
        return bits // 8

    def offsetof_bits(self, designator: str) -> Tuple[int, Type]:
        """Bit offset and type of a member designator (``"se.avg"``, ``"comm[3]"``)."""
        return designator_offset(self, designator)


class Struct(Composite):
    """``struct``."""

    __slots__ = ()


class Union(Composite):
    """``union``."""

    __slots__ = ()


class Enum(Sized):
    """``enum`` (BTF ENUM or ENUM64)."""

    __slots__ = ()

    @property
    def kind(self) -> TypeKind:
        return TypeKind.ENUM

    @property
    def tag(self) -> Optional[str]:
        """The enum's tag, ``None`` if it is anonymous."""
        return self.btf_name or None

    def _alignment(self, depth: int) -> int:
        return min(self._size, 8) or 1

    def is_complete(self) -> bool:
        return self._vlen > 0

    @property
    def is_signed(self) -> bool:
        """Whether the values are signed: BTF's kind flag, or (BTF from before kernel
        6.0, which has no signedness) whether a 4-byte enum holds a negative value."""
        if self.kflag:
            return True
        btf = self.btf
        if btf is not None and not btf.enum_signedness_known and (self._size or 4) <= 4:
            return any(e.value < 0 for e in self.enumerators)
        return False

    @property
    def is_enum64(self) -> bool:
        """True for BTF ENUM64."""
        return self.btf_kind == K.KIND_ENUM64

    @property
    def enumerators(self) -> Tuple[TypeEnumerator, ...]:
        """The constants, decoded on first access."""
        if self._records is None:
            btf = self.btf
            assert btf is not None
            self._records = tuple(TypeEnumerator(n, v) for n, v in btf.enumerator_values(self))
        return self._records

    @property
    def type(self) -> Type:
        """The compatible integer type (``unsigned int`` for most enums)."""
        btf = self.btf
        assert btf is not None
        return btf.integer_type(self._size or 4, self.is_signed)


class Fwd(Type):
    """A forward declaration (``struct x;`` or, with the kind flag, ``union x;``): an
    incomplete struct or union."""

    __slots__ = ()

    @property
    def kind(self) -> TypeKind:
        return TypeKind.UNION if self.kflag else TypeKind.STRUCT

    @property
    def keyword(self) -> str:
        """``struct`` or ``union``."""
        return "union" if self.kflag else "struct"

    @property
    def tag(self) -> Optional[str]:
        """The tag, ``None`` if anonymous."""
        return self.btf_name or None

    @property
    def members(self) -> None:
        """``None``: an incomplete type has no members."""
        return None

    def is_complete(self) -> bool:
        return False
