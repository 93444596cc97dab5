"""``Object``: a typed value in the kernel, drgn's model over BTF types.

An object is either a *reference* (it lives in kernel memory at :attr:`Object.address_`,
possibly at a bit offset for a bit field) or a *value* (its bytes or number are held in the
object). Member access, subscripting and pointer arithmetic follow C, as in drgn:
``task.comm``, ``ptr[0]``, ``ptr + 1`` (scaled by the pointee), ``ptr1 - ptr2``
(``ptrdiff_t``), ``cast``, ``reinterpret``, ``container_of``.

A reference reads its whole value with one memory read the first time a value is needed,
and members of an object already read are sliced from those bytes; reading a member of an
object not yet read reads only that member. A bad address raises
:class:`~kdbg.errors.FaultError` naming it.

Every C member name is reachable as an attribute (``siginfo._sifields._sigfault._perf._type``)
except the names of drgn's own Object API (``type_``, ``value_``, ...), which
:meth:`Object.member_` reaches: the object's own state is in name-mangled slots, and the
functions other layers use (the printer, the helpers' fast paths) are this module's
functions, not methods. The printer is :mod:`kdbg.core.printer`, reached through
:meth:`Object.format_` (``str(obj) == obj.format_()``).
"""

from __future__ import annotations

import contextlib
import enum
import math
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple, Union

from kdbg.btf.memberpath import DESIGNATOR
from kdbg.btf.types import Array, Composite, Pointer, Type, TypeMember
from kdbg.core import arithmetic as A
from kdbg.core.integer import integer_value
from kdbg.core.operators import CSyntax
from kdbg.core.typeinfo import (
    INTEGER,
    K_ARRAY,
    K_BOOL,
    K_COMPOUND,
    K_FLOAT,
    K_FUNC,
    K_INCOMPLETE,
    K_PTR,
    K_VOID,
    SCALAR,
    TypeInfo,
    type_info,
)
from kdbg.core.value import STRING_LIMIT, encode_into, float_value, from_image, read_c_string, to_image, truncate
from kdbg.errors import (
    KdbgError,
    MemberAttributeError,
    MemberNotFoundError,
    ObjectAbsentError,
    ObjectTypeError,
    OutOfBoundsError,
)

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = [
    "Object", "AbsenceReason", "value_object", "reference_object", "image_object", "STRING_LIMIT",
]

class AbsenceReason(enum.Enum):
    """Why an object is absent (drgn's values)."""

    OTHER = 0
    OPTIMIZED_OUT = 1
    NOT_IMPLEMENTED = 2


#: The printer, installed by :mod:`kdbg.core.printer` (the object layer does not import
#: the printer: the printer imports it).
_FORMAT: List[Any] = []


class Object(CSyntax):
    """A typed kernel value: ``Object(prog, type, value=None, *, address=None,
    bit_offset=None, bit_field_size=None)``, drgn's constructor.

    ``type`` is a :class:`~kdbg.btf.types.Type` or a C type name. Give ``address`` for a
    reference, ``value`` for a value: an int or float for scalars, a dict of member values
    for a struct or union, a list (or ``bytes``) for an array, or ``bytes`` holding the
    object's memory image.
    """

    __slots__ = ("prog_", "address_", "bit_offset_", "bit_field_size_", "__type", "__info", "__value", "__buf")

    prog_: Program
    address_: Optional[int]
    bit_offset_: Optional[int]
    bit_field_size_: Optional[int]
    __type: Type
    __info: TypeInfo

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
                type = value.__type
            else:
                raise ObjectTypeError("Object() needs a type")
        t = prog.type(type) if isinstance(type, str) else type
        info = type_info(t)
        self.prog_ = prog
        self.__type = t
        self.__info = info
        if bit_field_size is not None:
            if info.kind not in INTEGER:
                raise ObjectTypeError(f"bit field must be an integer, boolean or enum, not {t.type_name()!r}")
            if not 0 < bit_field_size <= 8 * (info.size or 0):
                raise ObjectTypeError(f"invalid bit field size {bit_field_size} for {t.type_name()!r}")
        self.bit_field_size_ = bit_field_size
        self.__buf: Optional[bytes] = None
        self.__value: Any = None
        if address is not None:
            if value is not None:
                raise ObjectTypeError("an object cannot have both an address and a value")
            off = bit_offset or 0
            if off and info.kind not in SCALAR and info.kind != K_FLOAT:
                raise ObjectTypeError("non-scalar must be byte-aligned")
            self.address_ = (int(address) + off // 8) & 0xFFFFFFFFFFFFFFFF
            self.bit_offset_ = off % 8
            return
        if bit_offset is not None:
            raise ObjectTypeError("a value object has no bit offset")
        self.address_ = None
        self.bit_offset_ = None
        if value is None:
            return  # absent (drgn's Object(prog, type)): no value, no address
        if isinstance(value, Object):
            value = A.convert(t, info, value.__operand(), value.__type) if info.kind in SCALAR + (K_FLOAT,) \
                else value.to_bytes_()
        if isinstance(value, (bytes, bytearray, memoryview)) and info.kind not in (K_COMPOUND, K_ARRAY):
            # drgn refuses bytes for a scalar (Object.from_bytes_ takes a memory image)
            raise ObjectTypeError(f"'{t.type_name()}' value must be number")
        self.__set(value)

    @property
    def type_(self) -> Type:
        """The object's type."""
        return self.__type

    @property
    def absent_(self) -> bool:
        """Whether the object has no value and no address (``Object(prog, type)``)."""
        return self.address_ is None and self.__value is None and self.__buf is None

    @property
    def absence_reason_(self) -> Optional[AbsenceReason]:
        """Why an absent object is absent (``None`` when it is not)."""
        return AbsenceReason.OTHER if self.absent_ else None

    # ------------------------------------------------------------------ construction
    def __bits(self) -> int:
        bits = self.bit_field_size_
        if bits is not None:
            return bits
        size = self.__info.size
        if size is None:
            raise ObjectTypeError(f"cannot get size of {self.__type.type_name()!r}")
        return size * 8

    def __set(self, value: Any) -> None:
        info = self.__info
        kind = info.kind
        if kind in SCALAR:
            if isinstance(value, float):
                if not math.isfinite(value):
                    raise ObjectTypeError(f"cannot convert {value} to an integer")
                value = int(value)
            elif not isinstance(value, int):
                raise ObjectTypeError(f"'{self.__type.type_name()}' value must be number")
            self.__value = truncate(int(value), self.__bits(), info.signed and kind != K_PTR)
        elif kind == K_FLOAT:
            if not isinstance(value, (int, float)):
                raise ObjectTypeError(f"'{self.__type.type_name()}' value must be number")
            self.__value = float_value(float(value), info.size or 8)
        elif kind in (K_COMPOUND, K_ARRAY):
            size = info.size
            if size is None:
                raise ObjectTypeError(f"cannot create a value of incomplete type {self.__type.type_name()!r}")
            if isinstance(value, (bytes, bytearray, memoryview)):
                raw = bytes(value)[:size]
                self.__buf = raw + bytes(size - len(raw))
            else:
                buf = bytearray(size)
                encode_into(buf, 0, self.__type, value)
                self.__buf = bytes(buf)
        else:
            raise ObjectTypeError(f"cannot create a value of type {self.__type.type_name()!r}")

    @classmethod
    def from_bytes_(cls, prog: Program, type: Union[Type, str], data: bytes,  # noqa: A002
                    *, bit_offset: int = 0, bit_field_size: Optional[int] = None) -> Object:
        """A value object of ``type`` from its memory image (drgn's ``from_bytes_``)."""
        t = prog.type(type) if isinstance(type, str) else type
        size = type_info(t).size
        if size is None:
            raise ObjectTypeError(f"cannot create a value of incomplete type {t.type_name()!r}")
        need = (bit_offset + (bit_field_size or size * 8) + 7) // 8
        if len(data) < need:
            raise OutOfBoundsError(f"need {need} bytes for {t.type_name()!r}, got {len(data)}")
        return image_object(prog, t, bytes(data), bit_offset, bit_field_size)

    # ------------------------------------------------------------------ reading
    def __image(self) -> bytes:
        """The bytes covering this object: read once for a reference, built for a value."""
        buf = self.__buf
        if buf is not None:
            return buf
        info = self.__info
        if self.address_ is None:
            if self.__value is None:
                raise ObjectAbsentError("object absent")
            return to_image(self.__value, self.__bits(), info)
        if info.kind == K_FUNC:
            raise ObjectTypeError("cannot read object with function type")
        if info.kind in (K_VOID, K_INCOMPLETE) or info.size is None:
            raise ObjectTypeError(f"cannot read object with incomplete type {self.__type.type_name()!r}")
        nbytes = info.size
        if self.bit_offset_ or self.bit_field_size_:
            nbytes = ((self.bit_offset_ or 0) + self.__bits() + 7) // 8
        buf = self.__buf = self.prog_.read(self.address_, nbytes)
        return buf

    def __scalar(self) -> Any:
        """The number held or read (int or float)."""
        if self.address_ is None:
            v = self.__value
            if v is None:
                if self.__buf is None:
                    raise ObjectAbsentError("object absent")
                raise ObjectTypeError(f"cannot convert {self.__type.type_name()!r} to a number")
            return v
        info = self.__info
        if info.kind not in SCALAR and info.kind != K_FLOAT:
            raise ObjectTypeError(f"cannot convert {self.__type.type_name()!r} to a number")
        return from_image(self.__image(), self.bit_offset_ or 0, self.__bits(), info)

    def read_(self) -> Object:
        """This object as a value (a reference is read from memory; a value is itself)."""
        if self.address_ is None:
            return self
        info = self.__info
        buf = self.__image()
        if info.kind in (K_COMPOUND, K_ARRAY):
            return image_object(self.prog_, self.__type, buf)
        return image_object(self.prog_, self.__type, buf, self.bit_offset_ or 0, self.bit_field_size_)

    def value_(self) -> Any:
        """The value as Python: int (bool for ``_Bool``), float, dict of members for a
        struct or union (anonymous members merged in), list for an array."""
        kind = self.__info.kind
        if kind == K_BOOL:  # the bits as stored print as they are; the value is a bool
            return bool(self.__scalar())
        if kind in SCALAR or kind == K_FLOAT:
            return self.__scalar()
        if kind == K_COMPOUND:
            out: Dict[str, Any] = {}
            under = self.__info.under
            assert isinstance(under, Composite)
            for m in under.members:
                if m.is_flexible:
                    continue  # a flexible array member has no value (as in drgn)
                v = self.__member(m, 0).value_()
                if m.btf_name:
                    out[m.btf_name] = v
                elif isinstance(v, dict):
                    out.update(v)
            return out
        if kind == K_ARRAY:
            if self.__info.size is None:
                raise ObjectTypeError("cannot read object with incomplete array type")
            return [e.value_() for e in self]
        if kind == K_FUNC:
            raise ObjectTypeError("cannot read object with function type")
        raise ObjectTypeError(f"cannot read object with type {self.__type.type_name()!r}")

    def to_bytes_(self) -> bytes:
        """The object's memory image (a bit field's bits start at bit 0)."""
        info = self.__info
        if info.kind in (K_COMPOUND, K_ARRAY):
            return self.__image()
        return to_image(self.__scalar(), self.__bits(), info)

    def string_(self, limit: int = STRING_LIMIT) -> bytes:
        """The bytes of a NUL-terminated string: a char array's (up to its length) or a
        pointer's (read until a NUL, at most ``limit`` bytes)."""
        info = self.__info
        if info.kind == K_ARRAY:
            data = self.__image()
            end = data.find(b"\0")
            return data if end < 0 else data[:end]
        if info.kind == K_PTR:
            return read_c_string(self.prog_, self.__scalar(), limit)
        raise ObjectTypeError(f"string() argument must be an array or pointer, not {self.__type.type_name()!r}")

    # ------------------------------------------------------------------ members
    def __member(self, m: TypeMember, extra_bits: int) -> Object:
        bits = m.bit_offset + extra_bits
        mt = m.type
        bfs = m.bitfield_size or None
        buf = self.__buf
        if self.address_ is None:
            if buf is None:  # pragma: no cover - a value always holds its bytes
                raise ObjectTypeError(f"value of {self.__type.type_name()!r} holds no bytes")
            return image_object(self.prog_, mt, buf[bits // 8:] if bits >= 8 else buf, bits % 8, bfs)
        start = (self.bit_offset_ or 0) + bits
        sub: Optional[bytes] = None
        if buf is not None:
            minfo = type_info(mt)
            nb = (start % 8 + (bfs if bfs else (minfo.size or 0) * 8) + 7) // 8
            sub = buf[start // 8: start // 8 + nb]
            if minfo.size is None or len(sub) != nb:
                sub = None
        return reference_object(self.prog_, mt, self.address_ + start // 8, start % 8, bfs, sub)

    def member_(self, name: str) -> Object:
        """Member ``name`` of a struct or union, or of the one a pointer points to
        (anonymous members are looked through)."""
        info = self.__info
        under = info.under
        if info.kind == K_PTR:
            assert isinstance(under, Pointer)
            target = type_info(under.type)
            if target.kind != K_COMPOUND:
                raise ObjectTypeError(
                    f"'{self.__type.type_name()}' is not a pointer to a structure, union, or class")
            m = _find_member(target.under, name)
            return reference_object(self.prog_, under.type, self.__scalar()).__member(m, 0)
        if info.kind != K_COMPOUND:
            raise ObjectTypeError(f"'{self.__type.type_name()}' is not a structure, union, or class")
        return self.__member(_find_member(under, name), 0)

    def subobject_(self, designator: str) -> Object:
        """The member or element named by a C designator (``"a.b[2]"``)."""
        obj = self
        pos = 0
        text = designator.strip()
        while pos < len(text):
            m = DESIGNATOR.match(text, pos)
            if m is None:
                raise ObjectTypeError(f"bad member designator {designator!r} at {text[pos:]!r}")
            pos = m.end()
            obj = obj.member_(m.group(1)) if m.group(1) else obj[int(m.group(2), 0)]
        return obj

    def __getattr__(self, name: str) -> Object:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        info = self.__info
        kind = info.kind
        if kind == K_COMPOUND or (kind == K_PTR and type_info(info.under.type).kind == K_COMPOUND):  # type: ignore[attr-defined]
            try:
                return self.member_(name)
            except MemberNotFoundError as e:  # drgn: member_()'s LookupError is obj.name's AttributeError
                raise MemberAttributeError(str(e)) from None
        raise MemberAttributeError(f"'_drgn.Object' object has no attribute '{name}'")  # drgn's words

    def __dir__(self) -> List[str]:
        names = set(super().__dir__())
        info = self.__info
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
        return sorted(n for n in names if not n.startswith("_Object__"))

    # ------------------------------------------------------------------ addresses
    def address_of_(self) -> Object:
        """A pointer to this object (a reference, not a bit field)."""
        if self.address_ is None:
            raise ObjectTypeError("cannot take address of value")
        if self.bit_field_size_ is not None or self.bit_offset_:
            raise ObjectTypeError("cannot take address of bit field")
        return value_object(self.prog_, A.pointer_to(self.prog_, self.__type), self.address_)

    def __getitem__(self, index: Any) -> Object:
        if isinstance(index, slice):
            return self.__slice(index)
        info = self.__info
        i = integer_value(index)
        if info.kind == K_PTR:
            under = info.under
            assert isinstance(under, Pointer)
            elem = under.type
            einfo = type_info(elem)
            if einfo.kind == K_FUNC and i == 0:
                return reference_object(self.prog_, elem, self.__scalar())
            size = einfo.size
            if size is None:
                raise ObjectTypeError(f"cannot get size of {elem.type_name()!r}" if einfo.kind != K_VOID
                                      else "cannot get size of void type")
            return reference_object(self.prog_, elem, self.__scalar() + i * size)
        if info.kind == K_ARRAY:
            under = info.under
            assert isinstance(under, Array)
            elem = under.type
            size = type_info(elem).size
            if size is None:
                raise ObjectTypeError(f"cannot get size of {elem.type_name()!r}")
            length = under.length
            if self.address_ is None:
                if length is None or not 0 <= i < length:
                    raise OutOfBoundsError("out of bounds of value")
                return image_object(self.prog_, elem, self.__buf[i * size:(i + 1) * size])  # type: ignore[index]
            buf = self.__buf
            sub = buf[i * size:(i + 1) * size] if buf is not None and length and 0 <= i < length else None
            return reference_object(self.prog_, elem, self.address_ + i * size, 0, None, sub)
        raise ObjectTypeError(f"'{self.__type.type_name()}' is not an array or pointer")

    def __slice(self, s: slice) -> Object:
        """drgn's ``obj[start:stop]``: :func:`kdbg.core.arithmetic.slice_of`'s array."""
        arr, offset = A.slice_of(self.prog_, self.__type, self.__info, s)
        if self.__info.kind == K_PTR:
            return reference_object(self.prog_, arr, self.__scalar() + offset)
        if self.address_ is None:
            if offset < 0:
                raise OutOfBoundsError("out of bounds of value")
            return image_object(self.prog_, arr, (self.__buf or b"")[offset:])
        return reference_object(self.prog_, arr, self.address_ + offset)

    def __len__(self) -> int:
        under = self.__info.under
        if self.__info.kind != K_ARRAY or under.length is None:  # type: ignore[attr-defined]
            raise ObjectTypeError(f"'{self.__type.type_name()}' has no len()")
        return under.length  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[Object]:
        if self.__info.kind != K_ARRAY:
            raise ObjectTypeError(f"'{self.__type.type_name()}' is not iterable")
        if self.address_ is not None and self.__buf is None and self.__info.size:
            self.__image()  # one read for the whole array
        for i in range(len(self)):
            yield self[i]

    # ------------------------------------------------------------------ conversions
    def __int__(self) -> int:
        kind = self.__info.kind
        if kind == K_FLOAT:
            return int(self.__scalar())
        if kind == K_BOOL:
            return int(bool(self.__scalar()))
        if kind in SCALAR:
            return int(self.__scalar())
        if kind == K_FUNC and self.address_ is not None:
            return self.address_
        raise ObjectTypeError(f"cannot convert '{self.__type.type_name()}' to int")

    def __index__(self) -> int:
        if self.__info.kind not in SCALAR:
            raise ObjectTypeError(f"'{self.__type.type_name()}' object cannot be interpreted as an integer")
        return int(self)

    def __float__(self) -> float:
        if self.__info.kind not in SCALAR and self.__info.kind != K_FLOAT:
            raise ObjectTypeError(f"cannot convert '{self.__type.type_name()}' to float")
        return float(self.__scalar())

    def __bool__(self) -> bool:
        kind = self.__info.kind
        if kind in SCALAR or kind == K_FLOAT:
            return bool(self.__scalar())
        if kind in (K_ARRAY, K_FUNC) and self.address_ is not None:
            return self.address_ != 0
        raise ObjectTypeError(f"cannot convert '{self.__type.type_name()}' to bool")

    # ------------------------------------------------------------------ printing
    def format_(self, **options: Any) -> str:
        """Format in C syntax with drgn's options (see :func:`kdbg.core.printer.format_object`)."""
        if not _FORMAT:  # pragma: no cover - kdbg.core imports the printer
            raise ObjectTypeError("no printer installed")
        return _FORMAT[0](self, **options)

    def __str__(self) -> str:
        return self.format_()

    def __repr__(self) -> str:
        parts = [f"Object(prog, {self.__type.type_name()!r}"]
        if self.absent_:
            pass
        elif self.address_ is not None:
            parts.append(f"address={self.address_:#x}")
            if self.bit_offset_:
                parts.append(f"bit_offset={self.bit_offset_}")
        else:
            kind = self.__info.kind
            if kind == K_PTR:
                parts.append(f"value={self.__value:#x}")
            elif kind in (K_COMPOUND, K_ARRAY):
                parts.append(f"value={self.value_()!r}")
            elif kind == K_BOOL:
                parts.append(f"value={bool(self.__value)!r}")
            else:
                parts.append(f"value={self.__value!r}")
        if self.bit_field_size_ is not None:
            parts.append(f"bit_field_size={self.bit_field_size_}")
        return ", ".join(parts) + ")"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    # ------------------------------------------------------------------ operators
    # The operators themselves are :class:`kdbg.core.operators.CSyntax`'s; they call these.
    def __operand(self) -> A.Operand:
        """This object as an operand: C's promotions, arrays and functions decayed."""
        info = self.__info
        if info.kind == K_ARRAY and self.address_ is not None:
            return A.decay(self.prog_, A.element_of(self.__type), self.address_)
        if info.kind == K_FUNC and self.address_ is not None:
            return A.decay(self.prog_, self.__type, self.address_)
        return A.promote(self.prog_, self.__type, info, self.__scalar() if info.kind in SCALAR + (K_FLOAT,)
                         else None, self.bit_field_size_)

    def _CSyntax__binary(self, op: str, other: Any, reflected: bool = False) -> Object:
        b = other if isinstance(other, Object) else _literal(self.prog_, other)
        a = self
        if reflected:
            a, b = b, a
        try:
            pa, pb = a.__operand(), b.__operand()
        except ObjectTypeError:  # a struct, union or void operand: drgn names the operator
            raise ObjectTypeError(f"invalid operands to binary {op} ('{a.__type.type_name()}' and "
                                  f"'{b.__type.type_name()}')") from None
        t, v = A.binary(self.prog_, op, pa, pb, a.__type, b.__type)
        return value_object(self.prog_, t, v)

    def _CSyntax__unary(self, op: str) -> Object:
        t, v = A.unary(op, self.__operand(), self.__type)
        return value_object(self.prog_, t, v)

    def _CSyntax__compare(self, other: Any) -> Tuple[Any, Any]:
        b = other if isinstance(other, Object) else _literal(self.prog_, other)
        try:
            pa, pb = self.__operand(), b.__operand()  # arrays and functions decay to pointers
        except ObjectTypeError:
            raise ObjectTypeError(f"invalid operands to comparison ('{self.__type.type_name()}' and "
                                  f"'{b.__type.type_name()}')") from None
        if (pa.info.kind == K_PTR) != (pb.info.kind == K_PTR):  # as drgn: no pointer and integer
            raise ObjectTypeError(f"invalid operands to comparison ('{pa.type.type_name()}' and "
                                  f"'{pb.type.type_name()}')")
        return A.compare(self.prog_, pa, pb)

    __hash__ = None  # type: ignore[assignment]


# ---------------------------------------------------------------------- the explicit interface
# What other layers need beyond drgn's API: fast constructors (no checks, for helpers that
# make many objects) and what the printer reads. Functions, not methods, so that no name
# of kdbg's shadows a C member.

def _bare(prog: Program, t: Type, info: TypeInfo, address: Optional[int], bit_offset: Optional[int],
          bit_field_size: Optional[int], buf: Optional[bytes]) -> Any:
    """An Object of ``t`` with its fields set and no value yet (the constructors below)."""
    obj: Any = Object.__new__(Object)
    obj.prog_ = prog
    obj._Object__type = t
    obj._Object__info = info
    obj.address_ = address
    obj.bit_offset_ = bit_offset
    obj.bit_field_size_ = bit_field_size
    obj._Object__value = None
    obj._Object__buf = buf
    return obj


def value_object(prog: Program, t: Type, value: Any, bit_field_size: Optional[int] = None) -> Object:
    """A value object of ``t`` holding ``value`` (a number, or what the constructor takes)."""
    obj = _bare(prog, t, type_info(t), None, None, bit_field_size, None)
    obj._Object__set(value)
    return obj


def reference_object(prog: Program, t: Type, address: int, bit_offset: int = 0,
                     bit_field_size: Optional[int] = None, buf: Optional[bytes] = None) -> Object:
    """A reference to ``t`` at ``address`` without the constructor's checks; ``buf`` is
    its memory image when already read."""
    return _bare(prog, t, type_info(t), address & 0xFFFFFFFFFFFFFFFF, bit_offset,
                 bit_field_size, buf)


def image_object(prog: Program, t: Type, buf: bytes, bit_offset: int = 0,
                 bit_field_size: Optional[int] = None) -> Object:
    """A value object decoded from the memory image ``buf`` (bits from ``bit_offset``);
    :class:`~kdbg.errors.OutOfBoundsError` when ``buf`` is too short for ``t``."""
    info = type_info(t)
    obj = _bare(prog, t, info, None, None, bit_field_size, None)
    if info.kind in (K_COMPOUND, K_ARRAY):
        size = info.size or 0
        if len(buf) < size:
            raise OutOfBoundsError(f"out of bounds of value: {t.type_name()!r} needs {size} bytes, "
                                   f"the value has {len(buf)}")
        obj._Object__buf = bytes(buf[:size]) if len(buf) != size else buf
    else:
        bits = obj._Object__bits()
        if len(buf) * 8 < bit_offset + bits:
            raise OutOfBoundsError(f"out of bounds of value: {t.type_name()!r} needs {(bit_offset + bits + 7) // 8} "
                                   f"bytes, the value has {len(buf)}")
        obj._Object__value = from_image(buf, bit_offset, bits, info)
    return obj


def install_printer(fmt: Any) -> None:
    """Make ``fmt(obj, **options)`` the printer behind :meth:`Object.format_`."""
    _FORMAT[:] = [fmt]


def _find_member(under: Type, name: str) -> TypeMember:
    """Member ``name`` of struct or union ``under``, cached on the type."""
    cache = under.lookup
    if cache is None:
        cache = under.lookup = {}
    m = cache.get(name)
    if m is None:
        assert isinstance(under, Composite)
        m = under.find_member(name)
        if m is None:
            raise MemberNotFoundError(f"'{under.type_name()}' has no member {name!r}")
        cache[name] = m
    return m


def _literal(prog: Program, value: Any) -> Object:
    t, v = A.literal(prog, value)
    return value_object(prog, t, v)
