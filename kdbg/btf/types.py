"""The BTF type model: one class per kind family.

Types are created lazily by :class:`kdbg.btf.index.BTF` and cached there, so two lookups
of the same id return the same object. Types that refer to other types hold their ids and
resolve them through the owning BTF on access; that keeps decoding one type cheap.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Iterator, List, NamedTuple, Optional, Tuple

from kdbg.btf import constants as K
from kdbg.errors import BTFError

if TYPE_CHECKING:
    from kdbg.btf.index import BTF

__all__ = [
    "Type",
    "Void",
    "Int",
    "Float",
    "Pointer",
    "Array",
    "Member",
    "Composite",
    "Struct",
    "Union",
    "Enumerator",
    "Enum",
    "Fwd",
    "Typedef",
    "Qualified",
    "Const",
    "Volatile",
    "Restrict",
    "TypeTag",
    "Param",
    "FuncProto",
    "Func",
    "Var",
    "VarSecinfo",
    "Datasec",
    "DeclTag",
    "Opaque",
    "MAX_CHAIN",
]

#: Longest typedef/qualifier/pointer chain followed before declaring a cycle.
MAX_CHAIN = 256
#: Deepest nesting of types by value (struct in struct, array of arrays) before declaring a
#: cycle; far above anything real (the kernel nests a few levels) and below Python's stack.
MAX_NESTING = 128


class _CycleError(BTFError):
    """A type contains itself by value (only malformed BTF does that)."""


def _nested_alignment(t: Type, depth: int) -> int:
    """``t``'s alignment one nesting level deeper; :class:`BTFError` past :data:`MAX_NESTING`."""
    if depth >= MAX_NESTING:
        raise _CycleError(f"types nest more than {MAX_NESTING} deep (cycle?) at type id {t.id}")
    return t._alignment(depth + 1)


class Type:
    """A BTF type. ``kind`` is the BTF kind number, ``name`` the type's own name or ``""``."""

    __slots__ = ("btf", "id", "kind", "name", "kflag")

    def __init__(self, btf: Optional[BTF], type_id: int, kind: int, name: str, kflag: bool) -> None:
        self.btf = btf
        self.id = type_id
        self.kind = kind
        self.name = name
        self.kflag = kflag

    # --- identity --------------------------------------------------------------------
    @property
    def kind_name(self) -> str:
        """The kind as bpftool spells it (``STRUCT``, ``TYPEDEF``, ...)."""
        return K.KIND_NAMES.get(self.kind, f"KIND{self.kind}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} [{self.id}] {self.type_name()!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Type) and other.id == self.id and other.btf is self.btf

    def __hash__(self) -> int:
        return hash((id(self.btf), self.id))

    def _resolve(self, type_id: int) -> Type:
        if self.btf is None:  # pragma: no cover - only Void has no btf
            raise BTFError("type has no BTF to resolve ids in")
        return self.btf.type(type_id)

    # --- structure ---------------------------------------------------------------------
    @property
    def size(self) -> Optional[int]:
        """Size in bytes, following typedefs and qualifiers; ``None`` if incomplete."""
        return None

    def sizeof(self) -> int:
        """Size in bytes, or :class:`BTFError` for incomplete types (void, fwd, function)."""
        size = self.size
        if size is None:
            raise BTFError(f"cannot take sizeof incomplete type {self.type_name()!r}")
        return size

    @property
    def alignment(self) -> int:
        """Natural alignment in bytes as gcc's x86-64 ABI would give it."""
        return self._alignment(0)

    def _alignment(self, depth: int) -> int:
        """:attr:`alignment`, ``depth`` levels inside the type asked about."""
        return 1

    def is_anonymous(self) -> bool:
        """True for types with no name of their own."""
        return not self.name

    def unqualified(self) -> Type:
        """This type with const/volatile/restrict and type tags removed."""
        t: Type = self
        for _ in range(MAX_CHAIN):
            if not isinstance(t, Qualified):
                return t
            t = t.type
        raise BTFError(f"qualifier cycle at type id {self.id}")

    def strip_typedefs(self) -> Type:
        """Follow typedefs and qualifiers down to the underlying type."""
        t: Type = self
        for _ in range(MAX_CHAIN):
            if isinstance(t, (Typedef, Qualified)):
                t = t.type
            else:
                return t
        raise BTFError(f"typedef cycle at type id {self.id}")

    def qualifiers(self) -> List[str]:
        """Qualifier keywords directly on this type (outermost first)."""
        out: List[str] = []
        t: Type = self
        for _ in range(MAX_CHAIN):
            if not isinstance(t, Qualified):
                return out
            if t.keyword:
                out.append(t.keyword)
            t = t.type
        raise BTFError(f"qualifier cycle at type id {self.id}")

    # --- naming ------------------------------------------------------------------------
    def type_name(self) -> str:
        """The C spelling of this type (``struct list_head *``, ``char [16]``)."""
        from kdbg.btf.cdecl import type_name

        return type_name(self)

    def declaration(self, name: str) -> str:
        """A C declaration of ``name`` with this type (``int (*fn)(void)``)."""
        from kdbg.btf.cdecl import declaration

        return declaration(self, name)


class Void(Type):
    """``void`` (type id 0)."""

    __slots__ = ()

    def __init__(self, btf: Optional[BTF] = None) -> None:
        super().__init__(btf, 0, K.KIND_UNKN, "void", False)


class Int(Type):
    """An integer type; ``bits``/``bit_offset`` give the BTF int encoding."""

    __slots__ = ("_size", "encoding", "bit_offset", "bits")

    def __init__(self, btf: BTF, type_id: int, name: str, size: int, data: int) -> None:
        super().__init__(btf, type_id, K.KIND_INT, name, False)
        self._size = size
        self.encoding = (data >> 24) & 0x0F
        self.bit_offset = (data >> 16) & 0xFF
        self.bits = data & 0xFF

    @property
    def size(self) -> Optional[int]:
        return self._size

    def _alignment(self, depth: int) -> int:
        return min(self._size, 16) or 1

    @property
    def is_signed(self) -> bool:
        """True for signed integers."""
        return bool(self.encoding & K.INT_SIGNED)

    @property
    def is_char(self) -> bool:
        """True when BTF marks the int as a character type."""
        return bool(self.encoding & K.INT_CHAR) or self.name in ("char", "signed char", "unsigned char")

    @property
    def is_bool(self) -> bool:
        """True for ``_Bool``."""
        return bool(self.encoding & K.INT_BOOL)


class Float(Type):
    """A floating point type."""

    __slots__ = ("_size",)

    def __init__(self, btf: BTF, type_id: int, name: str, size: int) -> None:
        super().__init__(btf, type_id, K.KIND_FLOAT, name, False)
        self._size = size

    @property
    def size(self) -> Optional[int]:
        return self._size

    def _alignment(self, depth: int) -> int:
        return min(self._size, 16) or 1


class _Ref(Type):
    """A type that refers to exactly one other type (pointer, typedef, qualifier...)."""

    __slots__ = ("type_id",)

    def __init__(self, btf: BTF, type_id: int, kind: int, name: str, kflag: bool, ref: int) -> None:
        super().__init__(btf, type_id, kind, name, kflag)
        self.type_id = ref

    @property
    def type(self) -> Type:
        """The referenced type."""
        return self._resolve(self.type_id)


class Pointer(_Ref):
    """A pointer; ``type`` is the pointed-to type."""

    __slots__ = ()

    @property
    def size(self) -> Optional[int]:
        return 8

    def _alignment(self, depth: int) -> int:
        return 8


class Array(Type):
    """An array of ``length`` elements of ``type``."""

    __slots__ = ("type_id", "index_type_id", "length")

    def __init__(self, btf: BTF, type_id: int, elem: int, index: int, nelems: int) -> None:
        super().__init__(btf, type_id, K.KIND_ARRAY, "", False)
        self.type_id = elem
        self.index_type_id = index
        self.length = nelems

    @property
    def type(self) -> Type:
        """The element type."""
        return self._resolve(self.type_id)

    @property
    def size(self) -> Optional[int]:
        return _sizeof_chain(self, 0)

    def _alignment(self, depth: int) -> int:
        return _nested_alignment(self.type, depth)


def _sizeof_chain(t: Type, depth: int) -> int:
    if depth > MAX_CHAIN:
        raise _CycleError(f"type chain too deep (cycle?) at type id {t.id}")
    if isinstance(t, Array):
        return _sizeof_chain(t.type, depth + 1) * t.length
    if isinstance(t, (Typedef, Qualified)):
        return _sizeof_chain(t.type, depth + 1)
    size = t.size
    if size is None:
        raise BTFError(f"incomplete type {t.type_name()!r} (id {t.id}) has no size")
    return size


class Member(NamedTuple):
    """A struct/union member. ``bit_offset`` is from the start of the enclosing type."""

    name: str
    type_id: int
    bit_offset: int
    bitfield_size: int
    btf: BTF

    @property
    def type(self) -> Type:
        """The member's type."""
        return self.btf.type(self.type_id)

    @property
    def offset(self) -> int:
        """Byte offset (bit offset // 8)."""
        return self.bit_offset // 8

    @property
    def is_bitfield(self) -> bool:
        """True when the member is a bitfield."""
        return self.bitfield_size != 0


_DESIGNATOR = re.compile(r"\s*(?:\.?\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*(-?(?:0[xX][0-9a-fA-F]+|\d+))\s*\])")


class _Sized(Type):
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


class Composite(_Sized):
    """A struct or union (``members`` in declaration order)."""

    __slots__ = ()

    @property
    def keyword(self) -> str:
        """``struct`` or ``union``."""
        return "union" if self.kind == K.KIND_UNION else "struct"

    @property
    def members(self) -> Tuple[Member, ...]:
        """The members, decoded on first access."""
        if self._records is None:
            btf = self.btf
            assert btf is not None
            self._records = tuple(
                Member(n, t, o, b, btf) for n, t, o, b in btf.records.members(self.id, btf.records.names)
            )
        return self._records

    def _alignment(self, depth: int) -> int:
        align = 1
        for m in self.members:
            try:
                a = _nested_alignment(m.type, depth)
            except _CycleError:
                raise
            except BTFError:
                a = 1
            align = max(align, a)
        return align

    def has_member(self, name: str) -> bool:
        """True if ``name`` is a member, directly or through anonymous members."""
        return self.find_member(name) is not None

    def find_member(self, name: str) -> Optional[Member]:
        """Find a member by name, looking through anonymous struct/union members.

        The returned member's ``bit_offset`` is relative to this type.
        """
        return _find_member(self, name, 0, 0)

    def member(self, name: str) -> Member:
        """Like :meth:`find_member` but raises ``LookupError`` naming the type."""
        m = self.find_member(name)
        if m is None:
            from kdbg.errors import ObjectNotFoundError

            raise ObjectNotFoundError(f"{self.type_name()!r} has no member {name!r}")
        return m

    def member_names(self) -> List[str]:
        """Names reachable by ``.name``, anonymous members flattened (for completion)."""
        return _member_names(self, ())


    def offsetof(self, designator: str) -> int:
        """Byte offset of a member designator such as ``"a.b[3].c"``."""
        bits, _ = self.offsetof_bits(designator)
        return bits // 8

    def offsetof_bits(self, designator: str) -> Tuple[int, Type]:
        """Bit offset and type of a member designator (``"se.avg"``, ``"comm[3]"``)."""
        pos = 0
        bits = 0
        cur: Type = self
        text = designator.strip()
        if not text:
            raise BTFError("empty member designator")
        first = True
        while pos < len(text):
            m = _DESIGNATOR.match(text, pos)
            if m is None or (first and m.group(0).lstrip().startswith("[")):
                raise BTFError(f"bad member designator {designator!r} at {text[pos:]!r}")
            first = False
            pos = m.end()
            under = cur.strip_typedefs()
            if m.group(1) is not None:
                if not isinstance(under, Composite):
                    raise BTFError(f"{cur.type_name()!r} is not a struct or union in {designator!r}")
                mem = under.find_member(m.group(1))
                if mem is None:
                    raise BTFError(f"{under.type_name()!r} has no member {m.group(1)!r}")
                bits += mem.bit_offset
                cur = mem.type
            else:
                if not isinstance(under, Array):
                    raise BTFError(f"{cur.type_name()!r} is not an array in {designator!r}")
                idx = int(m.group(2), 0)
                bits += idx * _sizeof_chain(under.type, 0) * 8
                cur = under.type
        return bits, cur


def _anon_cycle(t: Composite, path: Tuple[int, ...]) -> BTFError:
    return BTFError(f"type id {t.id} contains itself through anonymous members")


def _member_names(t: Composite, path: Tuple[int, ...]) -> List[str]:
    if t.id in path or len(path) > 64:
        raise _anon_cycle(t, path)
    out: List[str] = []
    for m in t.members:
        if m.name:
            out.append(m.name)
        else:
            inner = m.type.strip_typedefs()
            if isinstance(inner, Composite):
                out.extend(_member_names(inner, path + (t.id,)))
    return out


def _find_member(
    t: Composite, name: str, base: int, depth: int, path: Tuple[int, ...] = ()
) -> Optional[Member]:
    if depth > 64 or t.id in path:
        raise _anon_cycle(t, path)
    for m in t.members:
        if m.name == name:
            return m._replace(bit_offset=base + m.bit_offset) if base else m
    for m in t.members:
        if not m.name:
            inner = m.type.strip_typedefs()
            if isinstance(inner, Composite):
                found = _find_member(inner, name, base + m.bit_offset, depth + 1, path + (t.id,))
                if found is not None:
                    return found
    return None


class Struct(Composite):
    """``struct``."""

    __slots__ = ()


class Union(Composite):
    """``union``."""

    __slots__ = ()


class Enumerator(NamedTuple):
    """One enumeration constant."""

    name: str
    value: int


class Enum(_Sized):
    """``enum`` (BTF ENUM or ENUM64); ``is_signed`` from the kind flag."""

    __slots__ = ()

    def _alignment(self, depth: int) -> int:
        return min(self._size, 8) or 1

    @property
    def is_signed(self) -> bool:
        """Whether the values are signed (BTF kind flag)."""
        return self.kflag

    @property
    def is_enum64(self) -> bool:
        """True for BTF ENUM64."""
        return self.kind == K.KIND_ENUM64

    @property
    def enumerators(self) -> Tuple[Enumerator, ...]:
        """The constants, decoded on first access."""
        if self._records is None:
            btf = self.btf
            assert btf is not None
            self._records = tuple(Enumerator(n, v) for n, v in btf.records.enumerators(self.id, btf.records.names))
        return self._records


class Fwd(Type):
    """A forward declaration (``struct x;`` or, with the kind flag, ``union x;``)."""

    __slots__ = ()

    @property
    def keyword(self) -> str:
        """``struct`` or ``union``."""
        return "union" if self.kflag else "struct"


class Typedef(_Ref):
    """``typedef``."""

    __slots__ = ()

    @property
    def size(self) -> Optional[int]:
        return _size_or_none(self.type)

    def _alignment(self, depth: int) -> int:
        return _nested_alignment(self.strip_typedefs(), depth)


def _size_or_none(t: Type) -> Optional[int]:
    """The size of ``t`` through typedefs, qualifiers and arrays; ``None`` if incomplete."""
    try:
        return _sizeof_chain(t, 1)
    except _CycleError:
        raise
    except BTFError:
        return None


class Qualified(_Ref):
    """A qualifier or type tag applied to ``type``."""

    __slots__ = ()

    #: C keyword for the qualifier (``""`` for type tags, which C does not spell).
    keyword = ""

    @property
    def size(self) -> Optional[int]:
        return _size_or_none(self.type)

    def _alignment(self, depth: int) -> int:
        return _nested_alignment(self.type, depth)


class Const(Qualified):
    """``const``."""

    __slots__ = ()
    keyword = "const"


class Volatile(Qualified):
    """``volatile``."""

    __slots__ = ()
    keyword = "volatile"


class Restrict(Qualified):
    """``restrict``."""

    __slots__ = ()
    keyword = "restrict"


class TypeTag(Qualified):
    """A BTF type tag such as ``user`` or ``rcu`` (``__attribute__((btf_type_tag))``)."""

    __slots__ = ()


class Param(NamedTuple):
    """A function parameter; ``name`` may be empty. ``type_id`` 0 with no name is ``...``."""

    name: str
    type_id: int
    btf: BTF

    @property
    def type(self) -> Type:
        """The parameter's type."""
        return self.btf.type(self.type_id)


class FuncProto(Type):
    """A function prototype: return type and parameters."""

    __slots__ = ("type_id", "_vlen", "_params")

    def __init__(self, btf: BTF, type_id: int, ret: int, vlen: int) -> None:
        super().__init__(btf, type_id, K.KIND_FUNC_PROTO, "", False)
        self.type_id = ret
        self._vlen = vlen
        self._params: Optional[Tuple[Param, ...]] = None

    @property
    def type(self) -> Type:
        """The return type."""
        return self._resolve(self.type_id)

    @property
    def vlen(self) -> int:
        """Number of parameter records (``...`` counts as one)."""
        return self._vlen

    @property
    def raw_params(self) -> Tuple[Param, ...]:
        """The parameter records as stored: ``...`` is a last one of type 0 and no name."""
        if self._params is None:
            btf = self.btf
            assert btf is not None
            self._params = tuple(Param(n, t, btf) for n, t in btf.records.params(self.id, btf.records.names))
        return self._params

    @property
    def params(self) -> Tuple[Param, ...]:
        """Parameters in order, ``...`` excluded (see :attr:`is_variadic`)."""
        p = self.raw_params
        if p and p[-1].type_id == 0 and not p[-1].name:
            return p[:-1]
        return p

    @property
    def is_variadic(self) -> bool:
        """True when the prototype ends in ``...``."""
        p = self.raw_params
        return bool(p) and p[-1].type_id == 0 and not p[-1].name


class Func(_Ref):
    """A function: its name, linkage and prototype (``type``)."""

    __slots__ = ("linkage",)

    def __init__(self, btf: BTF, type_id: int, name: str, ref: int, linkage: int) -> None:
        super().__init__(btf, type_id, K.KIND_FUNC, name, False, ref)
        self.linkage = linkage

    @property
    def proto(self) -> FuncProto:
        """The function's prototype."""
        t = self.type
        if not isinstance(t, FuncProto):
            raise BTFError(f"FUNC {self.name!r} (id {self.id}) does not point at a FUNC_PROTO")
        return t


class Var(_Ref):
    """A variable (BTF has these for per-CPU variables, or all globals with newer pahole)."""

    __slots__ = ("linkage",)

    def __init__(self, btf: BTF, type_id: int, name: str, ref: int, linkage: int) -> None:
        super().__init__(btf, type_id, K.KIND_VAR, name, False, ref)
        self.linkage = linkage


class VarSecinfo(NamedTuple):
    """One variable's place in a DATASEC."""

    type_id: int
    offset: int
    size: int
    btf: BTF

    @property
    def type(self) -> Type:
        """The VAR (or FUNC) this entry describes."""
        return self.btf.type(self.type_id)


class Datasec(_Sized):
    """A data section (``.data..percpu``) listing variables and their offsets."""

    __slots__ = ()

    def __init__(self, btf: BTF, type_id: int, name: str, size: int, vlen: int) -> None:
        super().__init__(btf, type_id, K.KIND_DATASEC, name, False, size, vlen)

    @property
    def entries(self) -> Tuple[VarSecinfo, ...]:
        """The section's variables."""
        if self._records is None:
            btf = self.btf
            assert btf is not None
            self._records = tuple(VarSecinfo(t, o, s, btf) for t, o, s in btf.records.secinfo(self.id))
        return self._records


class DeclTag(_Ref):
    """A declaration tag (``name`` is the tag text) on a type, member or parameter."""

    __slots__ = ("component_idx",)

    def __init__(self, btf: BTF, type_id: int, name: str, kflag: bool, ref: int, idx: int) -> None:
        super().__init__(btf, type_id, K.KIND_DECL_TAG, name, kflag, ref)
        self.component_idx = idx


class Opaque(Type):
    """A kind this code knows only by its layout (newer BTF, or LOC_* kinds)."""

    __slots__ = ("raw_size_or_type", "vlen", "offset")

    def __init__(
        self, btf: BTF, type_id: int, kind: int, name: str, kflag: bool, st: int, vlen: int, off: int
    ) -> None:
        super().__init__(btf, type_id, kind, name, kflag)
        self.raw_size_or_type = st
        self.vlen = vlen
        self.offset = off


def iter_chain(t: Type) -> Iterator[Type]:
    """Yield ``t`` and every type it refers to through single references (bounded)."""
    cur: Optional[Type] = t
    for _ in range(MAX_CHAIN):
        if cur is None:
            return
        yield cur
        cur = cur.type if isinstance(cur, (_Ref, Array)) else None
    raise BTFError(f"reference chain too long (cycle?) from type id {t.id}")
