"""``Object``: a typed value in the kernel, drgn's model over BTF types.

An object is either a *reference* (it lives in kernel memory at :attr:`Object.address_`,
possibly at a bit offset for a bitfield) or a *value* (its bytes or number are held in the
object). Member access, subscripting and pointer arithmetic follow C, as in drgn:
``task.comm``, ``ptr[0]``, ``ptr + 1`` (scaled by the pointee), ``ptr1 - ptr2``
(``ptrdiff_t``), ``cast``, ``reinterpret``, ``container_of``. Types are
:mod:`kdbg.btf.types` types; derived types a program needs (``struct x *`` for
:meth:`Object.address_of_`) come from :meth:`kdbg.btf.index.BTF.pointer_to`.

A reference reads its whole value with one memory read the first time a value is needed,
and members of an object already read are sliced from those bytes; reading a member of an
object not yet read reads only that member. A bad address raises
:class:`~kdbg.errors.FaultError` naming it. x86-64 is the only target: values are
little-endian and pointers 8 bytes.

Printing is :mod:`kdbg.core.printer` (``str(obj) == obj.format_()``).
"""

from __future__ import annotations

import contextlib
import math
import struct
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple, Union

from kdbg.btf.types import (
    Array,
    Composite,
    Enum,
    Float,
    FuncProto,
    Int,
    Member,
    Pointer,
    Type,
    Void,
)
from kdbg.core.typeview import flexible_array_type, object_type, raw_type
from kdbg.errors import (
    BTFError,
    FaultError,
    KdbgError,
    MemberNotFoundError,
    ObjectTypeError,
    OutOfBoundsError,
)

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = [
    "Object",
    "NULL",
    "cast",
    "reinterpret",
    "container_of",
    "sizeof",
    "offsetof",
    "is_flexible_array_member",
    "flexible_by_rule",
]

#: Longest string :meth:`Object.string_` reads through a ``char *`` before giving up.
STRING_LIMIT = 1 << 20

# Kinds of a type once typedefs and qualifiers are stripped.
K_INT, K_BOOL, K_FLOAT, K_ENUM, K_PTR, K_COMPOUND, K_ARRAY, K_FUNC, K_VOID, K_INCOMPLETE = range(10)
_CHAR_NAMES = frozenset(("char", "signed char", "unsigned char"))


class _Info:
    """What the object code needs of a type, computed once per type."""

    __slots__ = ("under", "kind", "size", "signed", "is_char")

    def __init__(self, under: Type, kind: int, size: Optional[int], signed: bool, is_char: bool) -> None:
        self.under = under
        self.kind = kind
        self.size = size
        self.signed = signed
        self.is_char = is_char


_INFO: Dict[Type, _Info] = {}


def type_info(t: Type) -> _Info:
    """The kind, size and signedness of ``t`` (typedefs and qualifiers stripped), cached."""
    info = _INFO.get(t)
    if info is not None:
        return info
    raw = raw_type(t)
    if raw is not t:  # a view: what its BTF type has
        return type_info(raw)
    under = t.strip_typedefs()
    size: Optional[int]
    signed = False
    is_char = False
    if isinstance(under, Int):
        kind = K_BOOL if under.is_bool else K_INT
        size = under.size
        signed = under.is_signed
        unq = t.unqualified()
        is_char = isinstance(unq, Int) and unq.name in _CHAR_NAMES
    elif isinstance(under, Float):
        kind, size = K_FLOAT, under.size
    elif isinstance(under, Enum):
        kind, size = K_ENUM, under.size
        signed = under.is_signed or any(e.value < 0 for e in under.enumerators)
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
    info = _Info(under, kind, size, signed, is_char)
    if len(_INFO) > 200_000:
        _INFO.clear()
    _INFO[t] = info
    return info


_SCALAR = (K_INT, K_BOOL, K_ENUM, K_PTR)
_ARITH = (K_INT, K_BOOL, K_ENUM, K_FLOAT)

_MEMBERS: Dict[Type, Dict[str, Tuple[Optional[Member], bool]]] = {}


def flexible_by_rule(container: Composite, index: int) -> bool:
    """The rule over BTF alone for whether member ``index`` of ``container`` is a flexible
    array member (``T x[]``) rather than a zero-length array (``T x[0]``).

    BTF writes both as arrays of length 0. C allows ``T x[]`` only as the last member of a
    struct with another member before it, so: a zero-length array that is the last member
    of a struct (an anonymous one too, as ``DECLARE_FLEX_ARRAY`` makes) with more than one
    member is flexible; in a union, before the end, or alone in its struct it is ``[0]``.
    Against Debian's DWARF (every zero-length array of every named struct and union,
    nested anonymous ones included) this alone is right on 859 of 871 on 6.1, 1039 of
    1047 on 6.12, 289 of 796 on 5.10 (which still spelled most trailing arrays ``[0]``):
    :func:`is_flexible_array_member` corrects it from DWARF.
    """
    members = raw_type(container).members  # type: ignore[attr-defined]
    if index != len(members) - 1 or index == 0 or getattr(container, "keyword", "") != "struct":
        return False
    return _zero_length_array(members[index])


def _zero_length_array(m: Member) -> bool:
    """Whether member ``m`` is an array of length 0 (BTF's ``[]`` and ``[0]``)."""
    if m.bitfield_size:
        return False
    under = m.type.strip_typedefs()
    return isinstance(under, Array) and under.length == 0


def is_flexible_array_member(container: Composite, index: int) -> bool:
    """Whether member ``index`` of ``container`` is a flexible array member (``T x[]``)
    rather than a zero-length array (``T x[0]``) or anything else, as DWARF declares it.

    :func:`flexible_by_rule`, corrected by the members its kernel's DWARF declares
    otherwise (:func:`kdbg.declarations.zero_length_exceptions`: a list made per kernel
    build from Debian's DWARF by ``python3 -m tools.gen_declarations``; a build it does not
    know gets the exceptions common to those it does). This is the one place that decides
    (types, ``ptype``, sizes and printing ask it); ``tests/test_flexible_arrays.py`` checks
    it against drgn with DWARF on every reference kernel.
    """
    raw = raw_type(container)
    members = raw.members  # type: ignore[attr-defined]
    m = members[index]
    if not _zero_length_array(m):
        return False
    rule = index == len(members) - 1 and index != 0 and getattr(raw, "keyword", "") == "struct"
    btf = getattr(raw, "btf", None)
    if btf is None or not m.name:
        return rule
    from kdbg.declarations import zero_length_container, zero_length_exceptions

    exceptions = zero_length_exceptions(btf)
    if not exceptions:
        return rule
    key = zero_length_container(raw.keyword, raw.name, [x.name for x in members])  # type: ignore[attr-defined]
    said = exceptions.get(f"{key}.{m.name}")
    return rule if said is None else said


def _container_index(under: Composite, name: str, depth: int = 0) -> Optional[Tuple[Composite, int]]:
    """The struct or union that directly holds member ``name`` (looked up as
    :meth:`Composite.find_member` does) and its index there."""
    members = under.members
    for i, m in enumerate(members):
        if m.name == name:
            return under, i
    if depth > 64:
        return None
    for m in members:
        if not m.name:
            inner = m.type.strip_typedefs()
            if isinstance(inner, Composite):
                found = _container_index(inner, name, depth + 1)
                if found is not None:
                    return found
    return None


def _find_member(under: Composite, name: str) -> Tuple[Optional[Member], bool]:
    """Member ``name`` of ``under`` (through anonymous members) and whether it is a
    flexible array member; cached."""
    cache = _MEMBERS.get(under)
    if cache is None:
        cache = _MEMBERS[under] = {}
    try:
        return cache[name]
    except KeyError:
        m = under.find_member(name)
        flexible = False
        if m is not None and type_info(m.type).size == 0:
            where = _container_index(under, name)
            flexible = where is not None and is_flexible_array_member(*where)
        hit = cache[name] = (m, flexible)
        return hit


def _type_name(t: Type, flex: bool = False) -> str:
    from kdbg.core.printer import type_name

    name = type_name(t)
    return name.replace("[0]", "[]", 1) if flex else name


def _truncate(value: int, bits: int, signed: bool) -> int:
    value &= (1 << bits) - 1
    if signed and value >> (bits - 1):
        value -= 1 << bits
    return value


def _float_value(value: float, size: int) -> float:
    if size == 4:
        return float(struct.unpack("<f", struct.pack("<f", value))[0])
    return float(value)


def _pointer_to(t: Type, prog: Program) -> Type:
    btf = t.btf if t.btf is not None else prog.btf
    return btf.pointer_to(t)


class Object:
    """A typed kernel value: ``Object(prog, type, value=None, *, address=None,
    bit_offset=None, bit_field_size=None)``, drgn's constructor.

    ``type`` is a :class:`~kdbg.btf.types.Type` or a C type name. Give ``address`` for a
    reference, ``value`` for a value: an int or float for scalars, a dict of member values
    for a struct or union, a list (or ``bytes``) for an array, or ``bytes`` holding the
    object's memory image.
    """

    __slots__ = ("prog_", "_type", "_info", "address_", "bit_offset_", "bit_field_size_", "_value", "_buf", "_flex")

    prog_: Program
    _type: Type  # the BTF type (obj.type_ is its view under drgn's names)
    address_: Optional[int]
    bit_offset_: Optional[int]
    bit_field_size_: Optional[int]

    def __init__(
        self,
        prog: Program,
        type: Union[Type, str, None] = None,  # noqa: A002 - drgn's parameter name
        value: Any = None,
        *,
        address: Optional[int] = None,
        bit_offset: Optional[int] = None,
        bit_field_size: Optional[int] = None,
    ) -> None:
        if type is None:
            if isinstance(value, Object):
                type = value._type
            else:
                raise ObjectTypeError("Object() needs a type")
        t = prog.type(type) if isinstance(type, str) else raw_type(type)
        info = type_info(t)
        self.prog_ = prog
        self._type = t
        self._info = info
        if bit_field_size is not None:
            if info.kind not in (K_INT, K_BOOL, K_ENUM):
                raise ObjectTypeError(f"bit field must be an integer, boolean or enum, not {_type_name(t)!r}")
            if not 0 < bit_field_size <= 8 * (info.size or 0):
                raise ObjectTypeError(f"invalid bit field size {bit_field_size} for {_type_name(t)!r}")
        self.bit_field_size_ = bit_field_size
        self._buf: Optional[bytes] = None
        self._value: Any = None
        self._flex = False
        if address is not None:
            if value is not None:
                raise ObjectTypeError("an object cannot have both an address and a value")
            off = bit_offset or 0
            if off and info.kind not in _SCALAR and info.kind != K_FLOAT:
                raise ObjectTypeError("non-scalar must be byte-aligned")
            self.address_ = (int(address) + off // 8) & 0xFFFFFFFFFFFFFFFF
            self.bit_offset_ = off % 8
            return
        if bit_offset is not None:
            raise ObjectTypeError("a value object has no bit offset")
        self.address_ = None
        self.bit_offset_ = None
        if value is None:
            raise ObjectTypeError("Object() needs a value or an address")
        if isinstance(value, Object):
            value = cast(t, value)._value if info.kind in _SCALAR + (K_FLOAT,) else value.to_bytes_()
        if isinstance(value, (bytes, bytearray, memoryview)) and info.kind not in (K_COMPOUND, K_ARRAY):
            value = _from_image(bytes(value), 0, self._bits(), info)
        self._set_value(value)

    @property
    def type_(self) -> Type:
        """The object's type as drgn names it (a :mod:`kdbg.core.typeview` view of the BTF
        type: ``type_name()`` is ``unsigned long``, a flexible array member's is ``T []``)."""
        if self._flex:
            return flexible_array_type(self._type)
        return object_type(self._type)

    # ------------------------------------------------------------------ construction
    def _bits(self) -> int:
        bits = self.bit_field_size_
        if bits is not None:
            return bits
        size = self._info.size
        if size is None:
            raise ObjectTypeError(f"cannot get size of {_type_name(self._type)!r}")
        return size * 8

    def _set_value(self, value: Any) -> None:
        info = self._info
        kind = info.kind
        if kind in (K_INT, K_ENUM, K_PTR, K_BOOL):
            if isinstance(value, float):
                if not math.isfinite(value):
                    raise ObjectTypeError(f"cannot convert {value} to an integer")
                value = int(value)
            bits = self._bits()
            self._value = _truncate(int(value), bits, info.signed and kind != K_PTR)
        elif kind == K_FLOAT:
            self._value = _float_value(float(value), info.size or 8)
        elif kind in (K_COMPOUND, K_ARRAY):
            size = info.size
            if size is None:
                raise ObjectTypeError(f"cannot create a value of incomplete type {_type_name(self._type)!r}")
            if isinstance(value, (bytes, bytearray, memoryview)):
                raw = bytes(value)[:size]
                self._buf = raw + bytes(size - len(raw))
            else:
                buf = bytearray(size)
                _encode_into(buf, 0, self._type, value, self.prog_)
                self._buf = bytes(buf)
        else:
            raise ObjectTypeError(f"cannot create a value of type {_type_name(self._type)!r}")

    @classmethod
    def _reference(
        cls, prog: Program, t: Type, address: int, bit_offset: int = 0,
        bit_field_size: Optional[int] = None, buf: Optional[bytes] = None,
    ) -> Object:
        """A reference without the constructor's checks (the fast path for members)."""
        obj = cls.__new__(cls)
        obj.prog_ = prog
        obj._type = t
        obj._info = type_info(t)
        obj.address_ = address & 0xFFFFFFFFFFFFFFFF
        obj.bit_offset_ = bit_offset
        obj.bit_field_size_ = bit_field_size
        obj._value = None
        obj._buf = buf
        obj._flex = False
        return obj

    @classmethod
    def _of_value(cls, prog: Program, t: Type, value: Any, bit_field_size: Optional[int] = None) -> Object:
        """A value object of ``t`` holding ``value`` (converted as the constructor does)."""
        obj = cls.__new__(cls)
        obj.prog_ = prog
        obj._type = t
        obj._info = type_info(t)
        obj.address_ = None
        obj.bit_offset_ = None
        obj.bit_field_size_ = bit_field_size
        obj._value = None
        obj._buf = None
        obj._flex = False
        obj._set_value(value)
        return obj

    @classmethod
    def _of_image(cls, prog: Program, t: Type, buf: bytes, bit_offset: int = 0,
                  bit_field_size: Optional[int] = None) -> Object:
        """A value object decoded from the memory image ``buf`` (bits from ``bit_offset``)."""
        obj = cls.__new__(cls)
        obj.prog_ = prog
        obj._type = t
        info = obj._info = type_info(t)
        obj.address_ = None
        obj.bit_offset_ = None
        obj.bit_field_size_ = bit_field_size
        obj._buf = None
        obj._value = None
        obj._flex = False
        if info.kind in (K_COMPOUND, K_ARRAY):
            size = info.size or 0
            obj._buf = bytes(buf[: size]) if len(buf) != size else buf
        else:
            obj._value = _from_image(buf, bit_offset, obj._bits(), info)
        return obj

    @classmethod
    def from_bytes_(cls, prog: Program, type: Union[Type, str], data: bytes,  # noqa: A002
                    *, bit_offset: int = 0, bit_field_size: Optional[int] = None) -> Object:
        """A value object of ``type`` from its memory image (drgn's ``from_bytes_``)."""
        t = prog.type(type) if isinstance(type, str) else raw_type(type)
        size = type_info(t).size
        if size is None:
            raise ObjectTypeError(f"cannot create a value of incomplete type {_type_name(t)!r}")
        need = (bit_offset + (bit_field_size or size * 8) + 7) // 8
        if len(data) < need:
            raise OutOfBoundsError(f"need {need} bytes for {_type_name(t)!r}, got {len(data)}")
        return cls._of_image(prog, t, bytes(data), bit_offset, bit_field_size)

    # ------------------------------------------------------------------ reading
    def _image(self) -> bytes:
        """The bytes covering this object: read once for a reference, built for a value."""
        buf = self._buf
        if buf is not None:
            return buf
        info = self._info
        if self.address_ is None:
            if info.kind in (K_COMPOUND, K_ARRAY):  # pragma: no cover - values always hold bytes
                raise ObjectTypeError("value has no bytes")
            return _to_image(self._value, self._bits(), info)
        if info.kind == K_FUNC:
            raise ObjectTypeError("cannot read object with function type")
        if info.kind in (K_VOID, K_INCOMPLETE) or info.size is None:
            raise ObjectTypeError(f"cannot read object with incomplete type {_type_name(self._type)!r}")
        nbytes = info.size
        if self.bit_offset_ or self.bit_field_size_:
            nbytes = ((self.bit_offset_ or 0) + self._bits() + 7) // 8
        buf = self._buf = self.prog_.read(self.address_, nbytes)
        return buf

    def _scalar(self) -> Any:
        """The number held or read (int, bool or float)."""
        if self.address_ is None:
            v = self._value
            if v is None:
                raise ObjectTypeError(f"cannot convert {_type_name(self._type)!r} to a number")
            return v
        info = self._info
        if info.kind not in _SCALAR and info.kind != K_FLOAT:
            raise ObjectTypeError(f"cannot convert {_type_name(self._type)!r} to a number")
        return _from_image(self._image(), self.bit_offset_ or 0, self._bits(), info)

    def read_(self) -> Object:
        """This object as a value (a reference is read from memory; a value is itself)."""
        if self.address_ is None:
            return self
        info = self._info
        buf = self._image()
        if info.kind in (K_COMPOUND, K_ARRAY):
            return Object._of_image(self.prog_, self._type, buf)
        return Object._of_image(self.prog_, self._type, buf, self.bit_offset_ or 0, self.bit_field_size_)

    def value_(self) -> Any:
        """The value as Python: int (bool for ``_Bool``), float, dict of members for a
        struct or union (anonymous members merged in), list for an array."""
        kind = self._info.kind
        if kind == K_BOOL:  # the bits as stored print as they are; the value is a bool
            return bool(self._scalar())
        if kind in _SCALAR or kind == K_FLOAT:
            return self._scalar()
        if kind == K_COMPOUND:
            out: Dict[str, Any] = {}
            under = self._info.under
            assert isinstance(under, Composite)
            n = len(under.members)
            for i, m in enumerate(under.members):
                if i == n - 1 and is_flexible_array_member(under, i):
                    continue  # a flexible array member has no value (as in drgn)
                sub = self._member(m, 0)
                v = sub.value_()
                if m.name:
                    out[m.name] = v
                elif isinstance(v, dict):
                    out.update(v)
            return out
        if kind == K_ARRAY:
            if self._flex:
                raise ObjectTypeError("cannot read object with incomplete array type")
            return [e.value_() for e in self]
        if kind == K_FUNC:
            raise ObjectTypeError("cannot read object with function type")
        raise ObjectTypeError(f"cannot read object with type {_type_name(self._type)!r}")

    def to_bytes_(self) -> bytes:
        """The object's memory image (a bitfield's bits start at bit 0)."""
        info = self._info
        if info.kind in (K_COMPOUND, K_ARRAY):
            return self._image()
        v = self._scalar()
        bits = self._bits()
        return _to_image(v, bits, info)

    def string_(self, limit: int = STRING_LIMIT) -> bytes:
        """The bytes of a NUL-terminated string: a char array's (up to its length) or a
        pointer's (read until a NUL, at most ``limit`` bytes)."""
        info = self._info
        if info.kind == K_ARRAY:
            data = self._image()
            end = data.find(b"\0")
            return data if end < 0 else data[:end]
        if info.kind == K_PTR:
            return read_c_string(self.prog_, self._scalar(), limit)
        raise ObjectTypeError(f"string() argument must be an array or pointer, not {_type_name(self._type)!r}")

    # ------------------------------------------------------------------ members
    def _member_object(self, m: Member, extra_bits: int, flexible: bool = False) -> Object:
        """The member ``m`` (bit offset relative to this object's type) of this object;
        ``flexible`` when it is a flexible array member (see
        :func:`is_flexible_array_member`): an incomplete array ``T []``."""
        obj = self._member(m, extra_bits)
        if flexible:
            obj._flex = True
        return obj

    def _member(self, m: Member, extra_bits: int) -> Object:
        bits = m.bit_offset + extra_bits
        mt = m.type
        bfs = m.bitfield_size or None
        if self.address_ is None:
            return Object._of_image(self.prog_, mt, self._buf[bits // 8:] if bits >= 8 else self._buf,
                                    bits % 8, bfs) if self._buf is not None else _missing(self)
        start = (self.bit_offset_ or 0) + bits
        buf = self._buf
        sub: Optional[bytes] = None
        if buf is not None:
            minfo = type_info(mt)
            nb = (start % 8 + (bfs if bfs else (minfo.size or 0) * 8) + 7) // 8
            sub = buf[start // 8: start // 8 + nb]
            if minfo.size is None or len(sub) != nb:
                sub = None
        return Object._reference(self.prog_, mt, self.address_ + start // 8, start % 8, bfs, sub)

    def member_(self, name: str) -> Object:
        """Member ``name`` of a struct or union, or of the one a pointer points to
        (anonymous members are looked through)."""
        info = self._info
        under = info.under
        if info.kind == K_PTR:
            assert isinstance(under, Pointer)
            target = type_info(under.type)
            if target.kind != K_COMPOUND:
                raise ObjectTypeError(f"'{_type_name(self._type)}' is not a pointer to a structure, union, or class")
            m, flexible = _find_member(target.under, name)  # type: ignore[arg-type]
            if m is None:
                raise MemberNotFoundError(f"'{_type_name(target.under)}' has no member {name!r}")
            return Object._reference(self.prog_, under.type, self._scalar())._member_object(m, 0, flexible)
        if info.kind != K_COMPOUND:
            raise ObjectTypeError(f"'{_type_name(self._type)}' is not a structure, union, or class")
        m, flexible = _find_member(under, name)  # type: ignore[arg-type]
        if m is None:
            raise MemberNotFoundError(f"'{_type_name(under)}' has no member {name!r}")
        return self._member_object(m, 0, flexible)

    def subobject_(self, designator: str) -> Object:
        """The member or element named by a C designator (``"a.b[2]"``)."""
        obj = self
        import re

        for mname, idx in re.findall(r"\.?\s*([A-Za-z_]\w*)|\[\s*(-?(?:0[xX][0-9a-fA-F]+|\d+))\s*\]", designator):
            obj = obj.member_(mname) if mname else obj[int(idx, 0)]
        return obj

    def __getattr__(self, name: str) -> Object:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        kind = self._info.kind
        if kind == K_COMPOUND or (kind == K_PTR and type_info(self._info.under.type).kind == K_COMPOUND):  # type: ignore[attr-defined]
            return self.member_(name)
        raise MemberNotFoundError(f"'{_type_name(self._type)}' object has no attribute {name!r}")

    def __dir__(self) -> List[str]:
        names = set(super().__dir__())
        info = self._info
        under: Optional[Type] = None
        if info.kind == K_COMPOUND:
            under = info.under
        elif info.kind == K_PTR:
            t = type_info(info.under.type)  # type: ignore[attr-defined]
            if t.kind == K_COMPOUND:
                under = t.under
        if isinstance(under, Composite):
            with contextlib.suppress(KdbgError):
                names.update(n for n in under.member_names() if n.isidentifier())
        return sorted(names)

    # ------------------------------------------------------------------ addresses
    def address_of_(self) -> Object:
        """A pointer to this object (a reference, not a bitfield)."""
        if self.address_ is None:
            raise ObjectTypeError("cannot take address of value")
        if self.bit_field_size_ is not None or self.bit_offset_:
            raise ObjectTypeError("cannot take address of bit field")
        return Object._of_value(self.prog_, _pointer_to(self._type, self.prog_), self.address_)

    def deref_(self) -> Object:
        """What a pointer points to (``ptr[0]``, C's ``*ptr``)."""
        if self._info.kind != K_PTR:
            raise ObjectTypeError(f"cannot dereference '{_type_name(self._type)}'")
        return self[0]

    def __getitem__(self, index: Any) -> Object:
        info = self._info
        i = _index(index)
        if info.kind == K_PTR:
            under = info.under
            assert isinstance(under, Pointer)
            elem = under.type
            einfo = type_info(elem)
            if einfo.kind == K_FUNC and i == 0:
                return Object._reference(self.prog_, elem, self._scalar())
            size = einfo.size
            if size is None:
                raise ObjectTypeError(f"cannot get size of {_type_name(elem)!r}" if einfo.kind != K_VOID
                                      else "cannot get size of void type")
            return Object._reference(self.prog_, elem, self._scalar() + i * size)
        if info.kind == K_ARRAY:
            under = info.under
            assert isinstance(under, Array)
            elem = under.type
            size = type_info(elem).size
            if size is None:
                raise ObjectTypeError(f"cannot get size of {_type_name(elem)!r}")
            if self.address_ is None:
                if not 0 <= i < under.length:
                    raise OutOfBoundsError("out of bounds of value")
                return Object._of_image(self.prog_, elem, self._buf[i * size:(i + 1) * size])  # type: ignore[index]
            buf = self._buf
            sub = buf[i * size:(i + 1) * size] if buf is not None and 0 <= i < under.length else None
            return Object._reference(self.prog_, elem, self.address_ + i * size, 0, None, sub)
        raise ObjectTypeError(f"'{_type_name(self._type)}' is not an array or pointer")

    def __len__(self) -> int:
        under = self._info.under
        if self._info.kind != K_ARRAY:
            raise ObjectTypeError(f"'{_type_name(self._type)}' has no len()")
        assert isinstance(under, Array)
        return under.length

    def __iter__(self) -> Iterator[Object]:
        if self._info.kind != K_ARRAY:
            raise ObjectTypeError(f"'{_type_name(self._type)}' is not iterable")
        if self.address_ is not None and self._buf is None and self._info.size:
            self._image()  # one read for the whole array
        for i in range(len(self)):
            yield self[i]

    # ------------------------------------------------------------------ conversions
    def __int__(self) -> int:
        kind = self._info.kind
        if kind == K_FLOAT:
            return int(self._scalar())
        if kind == K_BOOL:
            return int(bool(self._scalar()))
        if kind in _SCALAR:
            return int(self._scalar())
        if kind == K_FUNC and self.address_ is not None:
            return self.address_
        raise ObjectTypeError(f"cannot convert '{_type_name(self._type)}' to int")

    def __index__(self) -> int:
        if self._info.kind not in _SCALAR:
            raise ObjectTypeError(f"'{_type_name(self._type)}' object cannot be interpreted as an integer")
        return int(self)

    def __float__(self) -> float:
        if self._info.kind not in _SCALAR and self._info.kind != K_FLOAT:
            raise ObjectTypeError(f"cannot convert '{_type_name(self._type)}' to float")
        return float(self._scalar())

    def __bool__(self) -> bool:
        kind = self._info.kind
        if kind in _SCALAR or kind == K_FLOAT:
            return bool(self._scalar())
        if kind == K_ARRAY and self.address_ is not None:
            return self.address_ != 0
        if kind == K_FUNC and self.address_ is not None:
            return self.address_ != 0
        raise ObjectTypeError(f"cannot convert '{_type_name(self._type)}' to bool")

    def __round__(self, ndigits: Optional[int] = None) -> Any:
        return round(float(self), ndigits) if ndigits is not None else round(float(self))

    def __trunc__(self) -> int:
        return int(self)

    def __floor__(self) -> int:
        return math.floor(float(self))

    def __ceil__(self) -> int:
        return math.ceil(float(self))

    # ------------------------------------------------------------------ printing
    def format_(self, **options: Any) -> str:
        """Format in C syntax with drgn's options (see :func:`kdbg.core.printer.format_object`)."""
        from kdbg.core.printer import format_object

        return format_object(self, **options)

    def __str__(self) -> str:
        return self.format_()

    def __repr__(self) -> str:
        parts = [f"Object(prog, {_type_name(self._type, self._flex)!r}"]
        if self.address_ is not None:
            parts.append(f"address={self.address_:#x}")
            if self.bit_offset_:
                parts.append(f"bit_offset={self.bit_offset_}")
        else:
            kind = self._info.kind
            if kind == K_PTR:
                parts.append(f"value={self._value:#x}")
            elif kind in (K_COMPOUND, K_ARRAY):
                parts.append(f"value={self.value_()!r}")
            elif kind == K_BOOL:
                parts.append(f"value={bool(self._value)!r}")
            else:
                parts.append(f"value={self._value!r}")
        if self.bit_field_size_ is not None:
            parts.append(f"bit_field_size={self.bit_field_size_}")
        return ", ".join(parts) + ")"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    # ------------------------------------------------------------------ operators
    def _binary(self, op: str, other: Any, reflected: bool = False) -> Object:
        a, b = (self, _operand(self.prog_, other)) if not reflected else (_operand(self.prog_, other), self)
        return _binary_op(op, a, b)

    def __add__(self, other: Any) -> Object:
        return self._binary("+", other)

    def __radd__(self, other: Any) -> Object:
        return self._binary("+", other, True)

    def __sub__(self, other: Any) -> Object:
        return self._binary("-", other)

    def __rsub__(self, other: Any) -> Object:
        return self._binary("-", other, True)

    def __mul__(self, other: Any) -> Object:
        return self._binary("*", other)

    def __rmul__(self, other: Any) -> Object:
        return self._binary("*", other, True)

    def __truediv__(self, other: Any) -> Object:
        return self._binary("/", other)

    def __rtruediv__(self, other: Any) -> Object:
        return self._binary("/", other, True)

    def __floordiv__(self, other: Any) -> Object:
        return self._binary("/", other)

    def __mod__(self, other: Any) -> Object:
        return self._binary("%", other)

    def __rmod__(self, other: Any) -> Object:
        return self._binary("%", other, True)

    def __lshift__(self, other: Any) -> Object:
        return self._binary("<<", other)

    def __rlshift__(self, other: Any) -> Object:
        return self._binary("<<", other, True)

    def __rshift__(self, other: Any) -> Object:
        return self._binary(">>", other)

    def __rrshift__(self, other: Any) -> Object:
        return self._binary(">>", other, True)

    def __and__(self, other: Any) -> Object:
        return self._binary("&", other)

    def __rand__(self, other: Any) -> Object:
        return self._binary("&", other, True)

    def __or__(self, other: Any) -> Object:
        return self._binary("|", other)

    def __ror__(self, other: Any) -> Object:
        return self._binary("|", other, True)

    def __xor__(self, other: Any) -> Object:
        return self._binary("^", other)

    def __rxor__(self, other: Any) -> Object:
        return self._binary("^", other, True)

    def __neg__(self) -> Object:
        return _unary("-", self)

    def __pos__(self) -> Object:
        return _unary("+", self)

    def __invert__(self) -> Object:
        return _unary("~", self)

    def _compare(self, other: Any) -> Tuple[Any, Any]:
        b = other if isinstance(other, Object) else _operand(self.prog_, other)
        ka, kb = self._info.kind, b._info.kind
        if (ka in _SCALAR or ka == K_FLOAT) and (kb in _SCALAR or kb == K_FLOAT):
            if ka in (K_INT, K_BOOL, K_ENUM) and kb in (K_INT, K_BOOL, K_ENUM):
                # C's usual arithmetic conversions: (unsigned)5 > -1 is false
                pa, pb = _promote(self), _promote(b)
                info = type_info(_common(pa, pb))
                bits = (info.size or 4) * 8
                return _truncate(pa[2], bits, info.signed), _truncate(pb[2], bits, info.signed)
            return self._scalar(), b._scalar()
        if ka in (K_ARRAY, K_FUNC) and self.address_ is not None and (kb in _SCALAR or kb in (K_ARRAY, K_FUNC)):
            return self.address_, b.address_ if kb in (K_ARRAY, K_FUNC) else b._scalar()
        if kb in (K_ARRAY, K_FUNC) and b.address_ is not None and ka in _SCALAR:
            return self._scalar(), b.address_
        raise ObjectTypeError(
            f"invalid operands to comparison ('{_type_name(self._type)}' and '{_type_name(b._type)}')"
        )

    def __eq__(self, other: Any) -> bool:
        a, b = self._compare(other)
        return bool(a == b)

    def __ne__(self, other: Any) -> bool:
        a, b = self._compare(other)
        return bool(a != b)

    def __lt__(self, other: Any) -> bool:
        a, b = self._compare(other)
        return bool(a < b)

    def __le__(self, other: Any) -> bool:
        a, b = self._compare(other)
        return bool(a <= b)

    def __gt__(self, other: Any) -> bool:
        a, b = self._compare(other)
        return bool(a > b)

    def __ge__(self, other: Any) -> bool:
        a, b = self._compare(other)
        return bool(a >= b)

    __hash__ = None  # type: ignore[assignment]


def _missing(obj: Object) -> Object:  # pragma: no cover - a value always holds its bytes
    raise ObjectTypeError(f"value of {_type_name(obj._type)!r} holds no bytes")


def _index(index: Any) -> int:
    if isinstance(index, Object):
        return index.__index__()
    try:
        return int(index.__index__())
    except AttributeError:
        raise ObjectTypeError(f"object index must be an integer, not {type(index).__name__}") from None


# ---------------------------------------------------------------------- images
def _from_image(buf: bytes, bit_offset: int, bits: int, info: _Info) -> Any:
    """The number stored in ``bits`` bits of ``buf`` from ``bit_offset`` (little-endian)."""
    kind = info.kind
    if kind == K_FLOAT:
        size = info.size
        if size == 8:
            return struct.unpack_from("<d", buf, bit_offset // 8)[0]
        if size == 4:
            return float(struct.unpack_from("<f", buf, bit_offset // 8)[0])
        raise ObjectTypeError(f"cannot read a {size}-byte float")
    if bit_offset == 0 and bits % 8 == 0:
        v = int.from_bytes(buf[: bits // 8], "little")
    else:
        v = (int.from_bytes(buf[: (bit_offset + bits + 7) // 8], "little") >> bit_offset) & ((1 << bits) - 1)
    if info.signed and kind != K_PTR and v >> (bits - 1):
        v -= 1 << bits
    return v


def _to_image(value: Any, bits: int, info: _Info) -> bytes:
    if info.kind == K_FLOAT:
        return struct.pack("<f" if info.size == 4 else "<d", value)
    return (int(value) & ((1 << bits) - 1)).to_bytes((bits + 7) // 8, "little")


def _encode_into(buf: bytearray, bit_offset: int, t: Type, value: Any, prog: Program,
                 bit_field_size: Optional[int] = None) -> None:
    """Write ``value`` (number, dict, list, bytes or Object) as type ``t`` into ``buf``."""
    info = type_info(t)
    if isinstance(value, Object):
        value = value.value_() if info.kind not in (K_COMPOUND, K_ARRAY) else value.to_bytes_()
    if info.kind in (K_COMPOUND, K_ARRAY) and isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)[: info.size or 0]  # the memory image
        buf[bit_offset // 8: bit_offset // 8 + len(raw)] = raw
        return
    if info.kind == K_COMPOUND:
        if not isinstance(value, dict):
            raise ObjectTypeError(f"value for {_type_name(t)!r} must be a dict")
        under = info.under
        assert isinstance(under, Composite)
        for name, v in value.items():
            m = under.find_member(name)
            if m is None:
                raise MemberNotFoundError(f"'{_type_name(under)}' has no member {name!r}")
            _encode_into(buf, bit_offset + m.bit_offset, m.type, v, prog, m.bitfield_size or None)
        return
    if info.kind == K_ARRAY:
        under = info.under
        assert isinstance(under, Array)
        seq = list(value)
        if len(seq) > under.length:
            raise OutOfBoundsError(f"too many items in array value ({len(seq)} > {under.length})")
        esize = type_info(under.type).size or 0
        for i, v in enumerate(seq):
            _encode_into(buf, bit_offset + i * esize * 8, under.type, v, prog)
        return
    if info.kind in _SCALAR or info.kind == K_FLOAT:
        bits = bit_field_size or (info.size or 0) * 8
        if info.kind == K_FLOAT:
            raw = _to_image(_float_value(float(value), info.size or 8), bits, info)
            buf[bit_offset // 8: bit_offset // 8 + len(raw)] = raw
            return
        v = int(value) & ((1 << bits) - 1)
        lo, nb = bit_offset // 8, (bit_offset % 8 + bits + 7) // 8
        cur = int.from_bytes(buf[lo:lo + nb], "little")
        shift = bit_offset % 8
        cur = (cur & ~(((1 << bits) - 1) << shift)) | (v << shift)
        buf[lo:lo + nb] = cur.to_bytes(nb, "little")
        return
    raise ObjectTypeError(f"cannot create a value of type {_type_name(t)!r}")


def read_c_string(prog: Program, address: int, limit: int = STRING_LIMIT) -> bytes:
    """The NUL-terminated string at ``address`` (at most ``limit`` bytes), read a page at
    a time; :class:`~kdbg.errors.FaultError` if it runs into unreadable memory first."""
    out = bytearray()
    addr = address
    while len(out) < limit:
        chunk = min(4096 - (addr & 0xFFF), limit - len(out))
        try:
            data = prog.read(addr, chunk)
        except FaultError:
            if chunk <= 1:
                raise
            data = b""
            for k in range(chunk):  # the NUL may come before the fault
                b = prog.read(addr + k, 1)
                if b == b"\0":
                    return bytes(out + data)
                data += b
        end = data.find(b"\0")
        if end >= 0:
            out += data[:end]
            return bytes(out)
        out += data
        addr += chunk
    return bytes(out[:limit])


# ---------------------------------------------------------------------- arithmetic
def _literal(prog: Program, value: Any) -> Object:
    """A Python number as a C literal: int, long, unsigned long long; or double."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        for name, lo, hi in (("int", -(1 << 31), 1 << 31), ("long", -(1 << 63), 1 << 63),
                             ("unsigned long long", 0, 1 << 64)):
            if lo <= value < hi:
                return Object._of_value(prog, prog.primitive_type(name), value)
        raise ObjectTypeError(f"integer {value} is too large for any C type")
    if isinstance(value, float):
        return Object._of_value(prog, prog.primitive_type("double"), value)
    raise ObjectTypeError(f"cannot convert {type(value).__name__} to an object")


def _operand(prog: Program, value: Any) -> Object:
    return value if isinstance(value, Object) else _literal(prog, value)


def _promote(obj: Object) -> Tuple[Type, _Info, Any]:
    """C's integer promotions: ``(type, info, value)``, arrays and functions decayed to
    pointers."""
    info = obj._info
    kind = info.kind
    prog = obj.prog_
    if kind == K_ARRAY and obj.address_ is not None:
        under = info.under
        assert isinstance(under, Array)
        t = _pointer_to(under.type, prog)
        return t, type_info(t), obj.address_
    if kind == K_FUNC and obj.address_ is not None:
        t = _pointer_to(obj._type, prog)
        return t, type_info(t), obj.address_
    if kind not in _SCALAR and kind != K_FLOAT:
        raise ObjectTypeError(f"invalid operand type '{_type_name(obj._type)}'")
    v = obj._scalar()
    if kind in (K_PTR, K_FLOAT):
        return obj._type, info, v
    t = obj._type
    if kind == K_ENUM:
        t = prog.primitive_type(("int" if info.signed else "unsigned int") if (info.size or 4) <= 4
                                else ("long" if info.signed else "unsigned long"))
        info = type_info(t)
    bfs = obj.bit_field_size_
    if kind == K_BOOL or (info.size or 0) < 4 or (bfs is not None and bfs < 32):
        t = prog.primitive_type("int")
        return t, type_info(t), int(v)
    return t, info, int(v)


def _common(a: Tuple[Type, _Info, Any], b: Tuple[Type, _Info, Any]) -> Type:
    """The usual arithmetic conversions' result type of two promoted integer operands."""
    ta, ia, _ = a
    tb, ib, _ = b
    if ta == tb:
        return ta
    sa, sb = ia.size or 0, ib.size or 0
    if ia.signed == ib.signed:
        win = ta if sa > sb else tb if sb > sa else None
    elif not ia.signed:
        win = ta if sa >= sb else tb
    else:
        win = tb if sb >= sa else ta
    if win is None:  # same size and signedness, different names: the plain type
        return ia.under if sa else ta
    return win


def _arith_result(prog: Program, t: Type, value: Any) -> Object:
    return Object._of_value(prog, t, value)


def _binary_op(op: str, a: Object, b: Object) -> Object:
    prog = a.prog_
    pa, pb = _promote(a), _promote(b)
    ka, kb = pa[1].kind, pb[1].kind
    if ka == K_PTR or kb == K_PTR:
        return _pointer_op(op, pa, pb, prog, a, b)
    if ka == K_FLOAT or kb == K_FLOAT:
        if op not in ("+", "-", "*", "/"):
            raise ObjectTypeError(
                f"invalid operands to binary {op} ('{_type_name(a._type)}' and '{_type_name(b._type)}')")
        t = pa[0] if ka == K_FLOAT and (kb != K_FLOAT or (pa[1].size or 0) >= (pb[1].size or 0)) else pb[0]
        x, y = float(pa[2]), float(pb[2])
        if op == "/" and y == 0:
            raise ZeroDivisionError("division by zero")
        r = {"+": x + y, "-": x - y, "*": x * y, "/": x / y if y else math.nan}[op]
        return _arith_result(prog, t, r)
    if op in ("<<", ">>"):
        t, info, x = pa
        y = pb[2]
        if y < 0:
            raise ObjectTypeError("shift count is negative")
        bits = (info.size or 4) * 8
        if op == "<<":
            r = (x << y) if y < bits else 0
        else:
            r = (x >> y) if y < bits else (-1 if x < 0 else 0)
        return _arith_result(prog, t, r)
    t = _common(pa, pb)
    info = type_info(t)
    bits = (info.size or 4) * 8
    x = _truncate(pa[2], bits, info.signed)
    y = _truncate(pb[2], bits, info.signed)
    if op == "+":
        r = x + y
    elif op == "-":
        r = x - y
    elif op == "*":
        r = x * y
    elif op in ("/", "%"):
        if y == 0:
            raise ZeroDivisionError("division by zero")
        q = abs(x) // abs(y) * (1 if (x >= 0) == (y >= 0) else -1)  # C truncates toward zero
        r = q if op == "/" else x - q * y
    elif op == "&":
        r = x & y
    elif op == "|":
        r = x | y
    elif op == "^":
        r = x ^ y
    else:  # pragma: no cover - every operator is listed
        raise ObjectTypeError(f"unknown operator {op}")
    return _arith_result(prog, t, r)


def _pointer_op(op: str, pa: Tuple[Type, _Info, Any], pb: Tuple[Type, _Info, Any], prog: Program,
                a: Object, b: Object) -> Object:
    ka, kb = pa[1].kind, pb[1].kind

    def bad() -> ObjectTypeError:
        return ObjectTypeError(f"invalid operands to binary {op} ('{_type_name(a._type)}' and '{_type_name(b._type)}')")

    def scale(info: _Info) -> int:
        target = type_info(info.under.type)  # type: ignore[attr-defined]
        if target.kind in (K_VOID, K_FUNC):
            return 1
        if target.size is None:
            raise ObjectTypeError(f"cannot get size of {_type_name(info.under.type)!r}")  # type: ignore[attr-defined]
        return target.size

    if ka == K_PTR and kb == K_PTR:
        if op != "-":
            raise bad()
        sa, sb = scale(pa[1]), scale(pb[1])
        if sa != sb:
            raise bad()
        try:
            t = prog.type("ptrdiff_t")
        except KdbgError:
            t = prog.primitive_type("long")
        diff = _truncate(pa[2] - pb[2], 64, True)
        return Object._of_value(prog, t, int(diff / sa) if diff % sa else diff // sa)
    if ka == K_PTR and kb in (K_INT, K_BOOL, K_ENUM) and op in ("+", "-"):
        step = scale(pa[1]) * pb[2]
        return Object._of_value(prog, pa[0], pa[2] + step if op == "+" else pa[2] - step)
    if kb == K_PTR and ka in (K_INT, K_BOOL, K_ENUM) and op == "+":
        return Object._of_value(prog, pb[0], pb[2] + scale(pb[1]) * pa[2])
    raise bad()


def _unary(op: str, obj: Object) -> Object:
    t, info, v = _promote(obj)
    if info.kind == K_PTR or (info.kind == K_FLOAT and op == "~"):
        raise ObjectTypeError(f"invalid operand to unary {op} ('{_type_name(obj._type)}')")
    if op == "-":
        v = -v
    elif op == "~":
        v = ~v
    return Object._of_value(obj.prog_, t, v)


# ---------------------------------------------------------------------- free functions
def _as_type(prog: Program, t: Union[Type, str]) -> Type:
    return prog.type(t) if isinstance(t, str) else raw_type(t)


def cast(type: Union[Type, str], obj: Any) -> Object:  # noqa: A002 - drgn's name
    """``(type)obj`` as C converts scalars: truncation, sign extension, pointer <-> int,
    float <-> int. The result is a value."""
    if not isinstance(obj, Object):
        raise ObjectTypeError(f"cast() argument 2 must be an Object, not {type(obj).__name__}")  # type: ignore[operator]
    prog = obj.prog_
    t = _as_type(prog, type)
    info = type_info(t)
    if info.kind in (K_COMPOUND, K_ARRAY):
        oi = obj._info
        if oi.under == info.under:
            return Object._of_image(prog, t, obj.to_bytes_())
        raise ObjectTypeError(f"cannot cast to '{_type_name(t)}'")
    if info.kind not in _SCALAR and info.kind != K_FLOAT:
        raise ObjectTypeError(f"cannot cast to '{_type_name(t)}'")
    src_t, src_info, v = _promote(obj) if obj._info.kind in (K_ARRAY, K_FUNC) else (obj._type, obj._info, obj._scalar())
    if src_info.kind in (K_COMPOUND, K_VOID, K_INCOMPLETE):
        raise ObjectTypeError(f"cannot cast '{_type_name(obj._type)}' to '{_type_name(t)}'")
    if info.kind == K_FLOAT:
        if src_info.kind == K_PTR:
            raise ObjectTypeError(f"cannot cast '{_type_name(obj._type)}' to '{_type_name(t)}'")
        return Object._of_value(prog, t, float(v))
    if src_info.kind == K_FLOAT:
        if info.kind == K_PTR:
            raise ObjectTypeError(f"cannot cast '{_type_name(obj._type)}' to '{_type_name(t)}'")
        if info.kind == K_BOOL:
            return Object._of_value(prog, t, v != 0)
        return Object._of_value(prog, t, int(v))
    if info.kind == K_BOOL:
        return Object._of_value(prog, t, int(v) != 0)
    return Object._of_value(prog, t, int(v))


def reinterpret(type: Union[Type, str], obj: Object) -> Object:  # noqa: A002 - drgn's name
    """``obj``'s bytes seen as ``type``: a reference at the same address, or a value
    decoded from the same memory image."""
    prog = obj.prog_
    t = _as_type(prog, type)
    if obj.address_ is not None:
        return Object._reference(prog, t, obj.address_, obj.bit_offset_ or 0)
    return Object._of_image(prog, t, obj.to_bytes_())


def container_of(ptr: Object, type: Union[Type, str], member: str) -> Object:  # noqa: A002
    """A pointer to the ``type`` that contains ``*ptr`` as its ``member`` (``"a.b[1]"``)."""
    prog = ptr.prog_
    if ptr._info.kind != K_PTR:
        _t, info, _v = _promote(ptr)
        if info.kind != K_PTR:
            raise ObjectTypeError(f"container_of() argument must be a pointer, not '{_type_name(ptr._type)}'")
    cache: Dict[Tuple[Union[Type, str], str], Tuple[Type, int]] = prog._containers
    key = (type, member)
    hit = cache.get(key)
    if hit is None:
        t = _as_type(prog, type)
        under = t.strip_typedefs()
        if not isinstance(under, Composite):
            raise ObjectTypeError(f"container_of() argument 2 must be a structure, union, or class type, "
                                  f"not '{_type_name(t)}'")
        bits, _mt = under.offsetof_bits(member)
        if bits % 8:
            raise ObjectTypeError(f"member {member!r} is a bit field")
        hit = cache[key] = (_pointer_to(t, prog), bits // 8)
    return Object._of_value(prog, hit[0], int(ptr) - hit[1])


def sizeof(type_or_obj: Union[Type, Object]) -> int:
    """Size in bytes of a type or of an object's type."""
    if isinstance(type_or_obj, Object):
        if type_or_obj.bit_field_size_ is not None:
            raise ObjectTypeError("cannot get size of bit field")
        t = type_or_obj.type_ if type_or_obj._flex else type_or_obj._type
    else:
        t = type_or_obj
    size = type_info(t).size
    if size is None:
        raise ObjectTypeError(f"cannot get size of {_type_name(t)!r}")
    return size


def offsetof(type: Type, member: str) -> int:  # noqa: A002 - drgn's name
    """Byte offset of a member designator (``"se.avg"``, ``"comm[2]"``) in ``type``."""
    under = type.strip_typedefs()
    if not isinstance(under, Composite):
        raise ObjectTypeError(f"'{_type_name(type)}' is not a structure, union, or class")
    return under.offsetof(member)


def NULL(prog: Program, type: Union[Type, str]) -> Object:  # noqa: A002, N802 - drgn's name
    """A null pointer of ``type``."""
    return Object(prog, type, 0)
