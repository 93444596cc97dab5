"""The base of the type model: :class:`Type` and the types that are one record over another
(pointers, arrays, typedefs, qualifiers) or none (``void``, integers, floats). See
:mod:`kdbg.btf.types`, the model's public home."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, List, Optional, Tuple

from kdbg.btf import constants as K
from kdbg.btf.kinds import C_SPELLINGS, Language, PrimitiveType, Qualifiers, TypeKind, primitive_of
from kdbg.btf.members import TypeEnumerator, TypeMember, TypeParameter
from kdbg.btf.typerepr import drgn_repr
from kdbg.errors import BTFError, ObjectTypeError

if TYPE_CHECKING:
    from kdbg.btf.index import BTF

__all__ = [
    "Type", "Void", "Int", "Float", "Pointer", "Array", "Typedef", "Qualified", "Const", "Volatile", "Restrict",
    "TypeTag", "Ref", "sizeof_chain", "MAX_CHAIN", "MAX_NESTING", "iter_chain", "size_or_none", "nested_alignment",
    "CycleError", "drgn_repr",
]

#: Longest typedef/qualifier/pointer chain followed before declaring a cycle.
MAX_CHAIN = 256
#: Deepest nesting of types by value (struct in struct, array of arrays) before declaring a
#: cycle; far above anything real (the kernel nests a few levels) and below Python's stack.
MAX_NESTING = 128


class CycleError(BTFError):
    """A type contains itself by value (only malformed BTF does that)."""


def nested_alignment(t: Type, depth: int) -> int:
    """``t``'s alignment one nesting level deeper; :class:`BTFError` past :data:`MAX_NESTING`."""
    if depth >= MAX_NESTING:
        raise CycleError(f"types nest more than {MAX_NESTING} deep (cycle?) at type id {t.id}")
    return t._alignment(depth + 1)


#: drgn's words for an attribute a kind of type lacks ("int type does not have members").
_LACKS = {
    "name": "does not have a name", "tag": "does not have a tag", "size": "does not have a size",
    "length": "does not have a length", "is_signed": "does not have a signedness",
    "byteorder": "does not have a byte order", "type": "does not have an underlying type",
    "members": "does not have members", "enumerators": "does not have enumerators",
    "parameters": "does not have parameters", "is_variadic": "cannot be variadic",
    "template_parameters": "does not have template parameters",
}

#: The kinds of type that have no name, in drgn and in kdbg.
_NAMELESS = frozenset((TypeKind.VOID, TypeKind.POINTER, TypeKind.ARRAY, TypeKind.FUNCTION))
#: The kinds of type that have a byte order and template parameters, in drgn.
_HAS_BYTEORDER = frozenset((TypeKind.INT, TypeKind.BOOL, TypeKind.FLOAT, TypeKind.POINTER))
_HAS_TEMPLATE_PARAMETERS = frozenset((TypeKind.STRUCT, TypeKind.UNION, TypeKind.CLASS, TypeKind.FUNCTION))


def lacks(t: Type, attribute: str) -> AttributeError:
    """drgn's ``AttributeError`` for an ``attribute`` the kind of ``t`` does not have."""
    try:
        kind = t.kind.name.lower()
    except BTFError:
        return AttributeError(f"{type(t).__name__!r} object has no attribute {attribute!r}")
    return AttributeError(f"{kind} type {_LACKS[attribute]}")


class Type:
    """A type: drgn's attributes over one BTF record.

    ``btf_kind`` is the BTF kind number, ``btf_name`` the record's name (``""`` if none).
    ``info`` and ``lookup`` hold what the object layer derives from the type once (they
    live and die with the type, so nothing outside keeps a closed program's types).
    """

    __slots__ = ("btf", "id", "btf_kind", "btf_name", "kflag", "info", "lookup")

    def __init__(self, btf: Optional[BTF], type_id: int, kind: int, name: str, kflag: bool) -> None:
        self.btf = btf
        self.id = type_id
        self.btf_kind = kind
        self.btf_name = name
        self.kflag = kflag
        self.info: Any = None
        self.lookup: Any = None

    # --- BTF ---------------------------------------------------------------------------
    @property
    def kind_name(self) -> str:
        """The BTF kind as bpftool spells it (``STRUCT``, ``TYPEDEF``, ...)."""
        return K.KIND_NAMES.get(self.btf_kind, f"KIND{self.btf_kind}")

    def __repr__(self) -> str:
        try:
            for _ in iter_chain(self):  # a cycle of references is a BTFError, not a deep recursion
                pass
            return drgn_repr(self)
        except BTFError:  # damaged BTF: say which record
            return f"<{type(self).__name__} [{self.id}] {self.btf_name!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Type) and other.id == self.id and other.btf is self.btf

    def __hash__(self) -> int:
        return hash((id(self.btf), self.id))

    def _resolve(self, type_id: int) -> Type:
        if self.btf is None:  # pragma: no cover - only Void has no btf
            raise BTFError("type has no BTF to resolve ids in")
        return self.btf.type(type_id)

    # --- drgn --------------------------------------------------------------------------
    @property
    def kind(self) -> TypeKind:
        """The kind of type (:class:`~kdbg.btf.kinds.TypeKind`)."""
        raise BTFError(f"BTF {self.kind_name} record {self.btf_name!r} (id {self.id}) is not a C type")

    @property
    def name(self) -> str:
        """The type's name (integer, boolean, floating-point and typedef types; for a
        struct, union or enum kdbg also gives its tag, ``""`` if anonymous); drgn's
        ``AttributeError`` for ``void``, pointer, array and function types."""
        if self.kind in _NAMELESS:
            raise lacks(self, "name")
        return self.btf_name

    @property
    def qualifiers(self) -> Qualifiers:
        """The type's qualifiers."""
        return Qualifiers.NONE

    @property
    def language(self) -> Language:
        """The programming language: C."""
        return Language.C

    @property
    def primitive(self) -> Optional[PrimitiveType]:
        """The primitive C type this is (``int``, ``double``, ...), else ``None``."""
        return None

    @property
    def byteorder(self) -> str:
        """``"little"`` or ``"big"`` (integer, boolean, floating-point and pointer types)."""
        if self.kind not in _HAS_BYTEORDER:
            raise lacks(self, "byteorder")
        order = self.btf.byteorder if self.btf is not None else "<"
        return "big" if order == ">" else "little"

    @property
    def template_parameters(self) -> Tuple[Any, ...]:
        """C has no templates: always empty (structs, unions and functions)."""
        if self.kind not in _HAS_TEMPLATE_PARAMETERS:
            raise lacks(self, "template_parameters")
        return ()

    if not TYPE_CHECKING:  # for mypy an attribute a kind lacks stays an error

        def __getattr__(self, attribute: str) -> Any:
            """drgn's ``AttributeError`` for an attribute of drgn's ``Type`` this kind lacks."""
            if attribute in _LACKS:
                raise lacks(self, attribute)
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {attribute!r}")

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

    def is_complete(self) -> bool:
        """Whether the type's definition is known (``void``, forward declarations and
        incomplete arrays are not)."""
        return True

    @property
    def alignment(self) -> int:
        """Natural alignment in bytes as gcc's x86-64 ABI would give it."""
        return self._alignment(0)

    def _alignment(self, depth: int) -> int:
        """:attr:`alignment`, ``depth`` levels inside the type asked about."""
        return 1

    def is_anonymous(self) -> bool:
        """True for types with no name of their own."""
        return not self.btf_name

    def unqualified(self) -> Type:
        """This type without qualifiers (and type tags)."""
        return self

    def qualified(self, qualifiers: Qualifiers) -> Type:
        """This type with exactly ``qualifiers`` (they replace the ones it has)."""
        base = self.unqualified()
        if qualifiers == Qualifiers.NONE:
            return base
        if base.btf is None:
            raise BTFError("void has no BTF to qualify it in")
        return base.btf.qualified_type(base, qualifiers)

    def unaliased(self) -> Type:
        """This type with top-level typedefs removed (qualifiers kept, as in drgn)."""
        t: Type = self
        quals = Qualifiers.NONE
        for _ in range(MAX_CHAIN):
            quals |= t.qualifiers
            base = t.unqualified()
            if not isinstance(base, Typedef):
                return base.qualified(quals) if quals != Qualifiers.NONE else base
            t = base.type
        raise BTFError(f"typedef cycle at type id {self.id}")

    def unaliased_kind(self) -> TypeKind:
        """The kind of :meth:`unaliased` (``TypeKind.STRUCT`` for a typedef of a struct)."""
        return self.unaliased().kind

    def strip_typedefs(self) -> Type:
        """Follow typedefs and qualifiers down to the underlying type."""
        t: Type = self
        for _ in range(MAX_CHAIN):
            if isinstance(t, Typedef):
                t = t.type
            elif isinstance(t, Qualified):
                t = t.ref
            else:
                return t
        raise BTFError(f"typedef cycle at type id {self.id}")

    def qualifier_keywords(self) -> List[str]:
        """Qualifier keywords directly on this type, outermost first (``["const"]``)."""
        return []

    def has_member(self, name: str) -> bool:
        """Whether a struct or union has member ``name`` (through unnamed members)."""
        raise ObjectTypeError(f"'{self.type_name()}' is not a structure, union, or class")

    def member(self, name: str) -> TypeMember:
        """Member ``name`` of a struct or union (through unnamed members, whose offsets
        are added); :class:`LookupError` if it has none."""
        raise ObjectTypeError(f"'{self.type_name()}' is not a structure, union, or class")

    # --- spelling ----------------------------------------------------------------------
    def type_name(self) -> str:
        """The C name of this type as drgn writes it (``struct list_head *``,
        ``unsigned long``, ``char [16]``, ``T []`` for an incomplete array)."""
        if self.btf is None:
            return "void"
        return self.btf.c_name(self)

    def variable_declaration(self, name: str) -> str:
        """A C declaration of ``name`` with this type (``int (*fn)(void)``)."""
        if self.btf is None:
            return f"void {name}"
        return self.btf.c_declaration(self, name)

    declaration = variable_declaration

    def __str__(self) -> str:
        """drgn's C definition: a struct, union or enum with its body, ``typedef T name``,
        else the type's name."""
        if self.btf is None:
            return "void"
        return self.btf.c_definition(self)


class Void(Type):
    """``void`` (type id 0)."""

    __slots__ = ()

    def __init__(self, btf: Optional[BTF] = None) -> None:
        super().__init__(btf, 0, K.KIND_UNKN, "void", False)

    @property
    def kind(self) -> TypeKind:
        return TypeKind.VOID

    @property
    def primitive(self) -> Optional[PrimitiveType]:
        return PrimitiveType.C_VOID

    def is_complete(self) -> bool:
        return False


class Int(Type):
    """An integer or boolean; ``bits``/``bit_offset`` give the BTF int encoding."""

    __slots__ = ("_size", "encoding", "bit_offset", "bits")

    def __init__(self, btf: BTF, type_id: int, name: str, size: int, data: int) -> None:
        super().__init__(btf, type_id, K.KIND_INT, name, False)
        self._size = size
        self.encoding = (data >> 24) & 0x0F
        self.bit_offset = (data >> 16) & 0xFF
        self.bits = data & 0xFF

    @property
    def kind(self) -> TypeKind:
        return TypeKind.BOOL if self.is_bool else TypeKind.INT

    @property
    def name(self) -> str:
        """C's spelling (``unsigned long``; gcc and BTF write ``long unsigned int``)."""
        return C_SPELLINGS.get(self.btf_name, self.btf_name)

    @property
    def primitive(self) -> Optional[PrimitiveType]:
        return primitive_of(self.name)

    @property
    def size(self) -> Optional[int]:
        return self._size

    def _alignment(self, depth: int) -> int:
        return min(self._size, 16) or 1

    @property
    def is_signed(self) -> bool:
        """True for signed integers; drgn's ``AttributeError`` for ``_Bool``, which has no
        signedness."""
        if self.is_bool:
            raise lacks(self, "is_signed")
        encoded = bool(self.encoding & K.INT_SIGNED)
        return encoded if self.btf is None else self.btf.char_is_signed(self.btf_name, encoded)

    @property
    def is_char(self) -> bool:
        """True when BTF marks the int as a character type."""
        return bool(self.encoding & K.INT_CHAR) or self.btf_name in ("char", "signed char", "unsigned char")

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
    def kind(self) -> TypeKind:
        return TypeKind.FLOAT

    @property
    def primitive(self) -> Optional[PrimitiveType]:
        return primitive_of(self.btf_name)

    @property
    def size(self) -> Optional[int]:
        return self._size

    def _alignment(self, depth: int) -> int:
        return min(self._size, 16) or 1


class Ref(Type):
    """A record that refers to exactly one other record (pointer, typedef, qualifier...)."""

    __slots__ = ("type_id",)

    def __init__(self, btf: BTF, type_id: int, kind: int, name: str, kflag: bool, ref: int) -> None:
        super().__init__(btf, type_id, kind, name, kflag)
        self.type_id = ref

    @property
    def ref(self) -> Type:
        """The record this one refers to (BTF's ``type`` field)."""
        return self._resolve(self.type_id)

    @property
    def type(self) -> Type:
        """The referenced type."""
        return self._resolve(self.type_id)


class Pointer(Ref):
    """A pointer; ``type`` is the pointed-to type."""

    __slots__ = ()

    @property
    def kind(self) -> TypeKind:
        return TypeKind.POINTER

    @property
    def size(self) -> Optional[int]:
        return K.POINTER_SIZE

    def _alignment(self, depth: int) -> int:
        return K.POINTER_SIZE


class Array(Type):
    """An array of ``length`` elements of ``type``; ``length`` is ``None`` for an
    incomplete array (``T []``: a flexible array member)."""

    __slots__ = ("type_id", "index_type_id", "length")

    def __init__(self, btf: BTF, type_id: int, elem: int, index: int, nelems: Optional[int]) -> None:
        super().__init__(btf, type_id, K.KIND_ARRAY, "", False)
        self.type_id = elem
        self.index_type_id = index
        self.length = nelems

    @property
    def kind(self) -> TypeKind:
        return TypeKind.ARRAY

    @property
    def type(self) -> Type:
        """The element type."""
        return self._resolve(self.type_id)

    @property
    def ref(self) -> Type:
        """The element type (BTF's reference)."""
        return self._resolve(self.type_id)

    @property
    def size(self) -> Optional[int]:
        if self.length is None:
            return None
        return sizeof_chain(self, 0)

    def is_complete(self) -> bool:
        return self.length is not None

    def _alignment(self, depth: int) -> int:
        return nested_alignment(self.type, depth)


def sizeof_chain(t: Type, depth: int) -> int:
    if depth > MAX_CHAIN:
        raise CycleError(f"type chain too deep (cycle?) at type id {t.id}")
    if isinstance(t, Array):
        if t.length is None:
            raise BTFError(f"incomplete array type {t.type_name()!r} has no size")
        return sizeof_chain(t.type, depth + 1) * t.length
    if isinstance(t, (Typedef, Qualified)):
        return sizeof_chain(t.ref, depth + 1)
    size = t.size
    if size is None:
        raise BTFError(f"incomplete type {t.type_name()!r} (id {t.id}) has no size")
    return size


def size_or_none(t: Type) -> Optional[int]:
    """The size of ``t`` through typedefs, qualifiers and arrays; ``None`` if incomplete."""
    try:
        return sizeof_chain(t, 1)
    except CycleError:
        raise
    except BTFError:
        return None



class Typedef(Ref):
    """``typedef``."""

    __slots__ = ()

    @property
    def kind(self) -> TypeKind:
        return TypeKind.TYPEDEF

    @property
    def primitive(self) -> Optional[PrimitiveType]:
        """``size_t`` and ``ptrdiff_t`` are primitive types of C's, as drgn has them."""
        return _PRIMITIVE_TYPEDEFS.get(self.btf_name)

    @property
    def size(self) -> Optional[int]:
        return size_or_none(self.type)

    def is_complete(self) -> bool:
        return self.strip_typedefs().is_complete()

    def _alignment(self, depth: int) -> int:
        return nested_alignment(self.strip_typedefs(), depth)


class Qualified(Ref):
    """A qualifier or type tag on the record :attr:`ref` refers to. To drgn's questions it
    answers as the type it qualifies, with :attr:`qualifiers` set."""

    __slots__ = ()

    #: C keyword for the qualifier (``""`` for type tags, which C does not spell).
    keyword = ""

    @property
    def base(self) -> Type:
        """The type under every qualifier and type tag of this chain."""
        t: Type = self
        for _ in range(MAX_CHAIN):
            if not isinstance(t, Qualified):
                return t
            t = t.ref
        raise BTFError(f"qualifier cycle at type id {self.id}")

    def unqualified(self) -> Type:
        return self.base

    @property
    def qualifiers(self) -> Qualifiers:
        q = Qualifiers.NONE
        t: Type = self
        for _ in range(MAX_CHAIN):
            if not isinstance(t, Qualified):
                return q
            if t.keyword:
                q |= _QUALIFIER_FLAGS[t.keyword]
            t = t.ref
        raise BTFError(f"qualifier cycle at type id {self.id}")

    def qualifier_keywords(self) -> List[str]:
        out: List[str] = []
        t: Type = self
        for _ in range(MAX_CHAIN):
            if not isinstance(t, Qualified):
                return out
            if t.keyword:
                out.append(t.keyword)
            t = t.ref
        raise BTFError(f"qualifier cycle at type id {self.id}")

    # drgn's attributes are those of the qualified type
    @property
    def kind(self) -> TypeKind:
        return self.base.kind

    @property
    def name(self) -> str:
        return self.base.name

    @property
    def primitive(self) -> Optional[PrimitiveType]:
        return self.base.primitive

    @property
    def type(self) -> Type:
        """The qualified type's ``type`` (pointee, element, aliased or return type)."""
        return self.base.type  # type: ignore[attr-defined]

    @property
    def tag(self) -> Optional[str]:
        return self.base.tag  # type: ignore[attr-defined]

    @property
    def length(self) -> Optional[int]:
        return self.base.length  # type: ignore[attr-defined]

    @property
    def is_signed(self) -> bool:
        return self.base.is_signed  # type: ignore[attr-defined]

    @property
    def members(self) -> Optional[Tuple[TypeMember, ...]]:
        return self.base.members  # type: ignore[attr-defined]

    @property
    def enumerators(self) -> Optional[Tuple[TypeEnumerator, ...]]:
        return self.base.enumerators  # type: ignore[attr-defined]

    @property
    def parameters(self) -> Tuple[TypeParameter, ...]:
        return self.base.parameters  # type: ignore[attr-defined]

    @property
    def is_variadic(self) -> bool:
        return self.base.is_variadic  # type: ignore[attr-defined]

    @property
    def size(self) -> Optional[int]:
        return size_or_none(self.ref)

    def is_complete(self) -> bool:
        return self.base.is_complete()

    def has_member(self, name: str) -> bool:
        return self.base.has_member(name)

    def member(self, name: str) -> TypeMember:
        return self.base.member(name)

    def _alignment(self, depth: int) -> int:
        return nested_alignment(self.ref, depth)


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


#: The typedefs drgn counts as C's primitive types.
_PRIMITIVE_TYPEDEFS = {"size_t": PrimitiveType.C_SIZE_T, "ptrdiff_t": PrimitiveType.C_PTRDIFF_T}

_QUALIFIER_FLAGS = {"const": Qualifiers.CONST, "volatile": Qualifiers.VOLATILE, "restrict": Qualifiers.RESTRICT}



def iter_chain(t: Type) -> Iterator[Type]:
    """Yield ``t`` and every record it refers to through single references (bounded)."""
    cur: Optional[Type] = t
    for _ in range(MAX_CHAIN):
        if cur is None:
            return
        yield cur
        cur = cur.ref if isinstance(cur, (Ref, Array)) else None
    raise BTFError(f"reference chain too long (cycle?) from type id {t.id}")
