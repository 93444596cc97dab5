"""C's arithmetic on values: promotions, the usual arithmetic conversions, operators,
pointer arithmetic and conversions (casts), as drgn applies them.

Everything here works on :class:`Operand` triples ``(type, info, value)`` and returns
``(type, value)`` pairs; :class:`~kdbg.core.object.Object` turns those into objects.
Python numbers are C literals: ``int``, ``long`` or ``unsigned long long`` by magnitude,
``double`` for a float.
"""

from __future__ import annotations

import math
import operator
from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Tuple

from kdbg.btf.types import Array, Pointer, Type
from kdbg.core.typeinfo import (
    INTEGER,
    K_ARRAY,
    K_BOOL,
    K_ENUM,
    K_FLOAT,
    K_FUNC,
    K_PTR,
    K_VOID,
    SCALAR,
    TypeInfo,
    type_info,
)
from kdbg.core.value import truncate
from kdbg.errors import KdbgError, ObjectTypeError

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["Operand", "literal", "promote", "decay", "common_type", "binary", "unary", "compare", "convert",
           "pointer_to", "element_of"]

Result = Tuple[Type, Any]


class Operand(NamedTuple):
    """A promoted operand: its type, the type's info and its value (a number, or the
    address of an array or function that decayed to a pointer)."""

    type: Type
    info: TypeInfo
    value: Any


def pointer_to(prog: Program, t: Type) -> Type:
    """``t *`` (the BTF's own pointer type, or one it synthesizes)."""
    btf = t.btf if t.btf is not None else prog.btf
    return btf.pointer_to(t)


def literal(prog: Program, value: Any) -> Result:
    """A Python number as a C literal: ``int``, ``long``, ``unsigned long long``; or
    ``double``."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        for name, lo, hi in (("int", -(1 << 31), 1 << 31), ("long", -(1 << 63), 1 << 63),
                             ("unsigned long long", 0, 1 << 64)):
            if lo <= value < hi:
                return prog.primitive_type(name), value
        raise ObjectTypeError(f"integer {value} is too large for any C type")
    if isinstance(value, float):
        return prog.primitive_type("double"), value
    raise ObjectTypeError(f"cannot convert {type(value).__name__} to an object")


def decay(prog: Program, elem_or_func: Type, address: int) -> Operand:
    """An array's or function's address as the pointer C converts it to."""
    t = pointer_to(prog, elem_or_func)
    return Operand(t, type_info(t), address)


def promote(prog: Program, t: Type, info: TypeInfo, value: Any, bit_field_size: Optional[int]) -> Operand:
    """C's integer promotions of a scalar ``value`` of type ``t``: enums become their
    integer type, anything narrower than ``int`` (bools, chars, shorts, narrow bit
    fields) becomes ``int``; pointers and floats stay."""
    kind = info.kind
    if kind not in SCALAR and kind != K_FLOAT:
        raise ObjectTypeError(f"invalid operand type '{t.type_name()}'")
    if kind in (K_PTR, K_FLOAT):
        return Operand(t, info, value)
    if kind == K_ENUM:
        t = prog.primitive_type(("int" if info.signed else "unsigned int") if (info.size or 4) <= 4
                                else ("long" if info.signed else "unsigned long"))
        info = type_info(t)
    if kind == K_BOOL or (info.size or 0) < 4 or (bit_field_size is not None and bit_field_size < 32):
        t = prog.primitive_type("int")
        return Operand(t, type_info(t), int(value))
    return Operand(t, info, int(value))


#: C's integer conversion rank of each integer type (by its C name).
_RANKS = {"_Bool": 0, "char": 1, "signed char": 1, "unsigned char": 1, "short": 2, "unsigned short": 2,
          "int": 3, "unsigned int": 3, "long": 4, "unsigned long": 4, "long long": 5, "unsigned long long": 5}


def _rank(info: TypeInfo) -> int:
    """The conversion rank of a promoted integer type (one beyond ``long long`` for wider
    ones, ``__int128``)."""
    rank = _RANKS.get(info.under.name)
    return rank if rank is not None else 5 + (info.size or 0) // 8


def common_type(prog: Program, a: Operand, b: Operand) -> Type:
    """The usual arithmetic conversions' result type of two promoted integer operands
    (C11 6.3.1.8): the higher rank; of a signed and an unsigned one, the unsigned unless
    the signed one has a higher rank and holds all its values, else the unsigned type of
    the signed one's rank (``long long + unsigned long`` is ``unsigned long long``)."""
    ta, ia = a.type, a.info
    tb, ib = b.type, b.info
    if ta == tb:
        return ta
    ra, rb = _rank(ia), _rank(ib)
    if ia.signed == ib.signed:
        if ra != rb:
            return ta if ra > rb else tb
        return ia.under  # same rank and signedness, different names: the plain type
    (tu, iu, ru), (ts, is_, rs) = ((ta, ia, ra), (tb, ib, rb)) if not ia.signed else ((tb, ib, rb), (ta, ia, ra))
    if ru >= rs:
        return tu
    if (is_.size or 0) > (iu.size or 0):
        return ts
    return prog.primitive_type("unsigned " + is_.under.name)


def _invalid(op: str, a: Type, b: Type) -> ObjectTypeError:
    return ObjectTypeError(f"invalid operands to binary {op} ('{a.type_name()}' and '{b.type_name()}')")


def binary(prog: Program, op: str, a: Operand, b: Operand, ta: Type, tb: Type) -> Result:
    """``a op b`` for promoted operands (``ta`` and ``tb`` are the operands' own types,
    for messages)."""
    ka, kb = a.info.kind, b.info.kind
    if ka == K_PTR or kb == K_PTR:
        return _pointer_op(prog, op, a, b, ta, tb)
    if ka == K_FLOAT or kb == K_FLOAT:
        if op not in ("+", "-", "*", "/"):
            raise _invalid(op, ta, tb)
        t = a.type if ka == K_FLOAT and (kb != K_FLOAT or (a.info.size or 0) >= (b.info.size or 0)) else b.type
        x, y = float(a.value), float(b.value)
        if op == "/" and y == 0:
            raise ZeroDivisionError("division by zero")
        r = {"+": x + y, "-": x - y, "*": x * y, "/": x / y if y else math.nan}[op]
        return t, r
    if op in ("<<", ">>"):
        x, y = a.value, b.value
        if y < 0:
            raise ObjectTypeError("shift count is negative")
        bits = (a.info.size or 4) * 8
        if op == "<<":
            r = (x << y) if y < bits else 0
        else:
            r = (x >> y) if y < bits else (-1 if x < 0 else 0)
        return a.type, r
    t = common_type(prog, a, b)
    info = type_info(t)
    bits = (info.size or 4) * 8
    x = truncate(a.value, bits, info.signed)
    y = truncate(b.value, bits, info.signed)
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
    return t, r


def _scale(info: TypeInfo) -> int:
    under = info.under
    assert isinstance(under, Pointer)
    target = type_info(under.type)
    if target.kind in (K_VOID, K_FUNC):
        return 1
    if target.size is None:
        raise ObjectTypeError(f"cannot get size of {under.type.type_name()!r}")
    return target.size


def _pointer_op(prog: Program, op: str, a: Operand, b: Operand, ta: Type, tb: Type) -> Result:
    ka, kb = a.info.kind, b.info.kind
    if ka == K_PTR and kb == K_PTR:
        if op != "-":
            raise _invalid(op, ta, tb)
        sa, sb = _scale(a.info), _scale(b.info)
        if sa != sb:
            raise _invalid(op, ta, tb)
        try:
            t = prog.type("ptrdiff_t")
        except KdbgError:
            t = prog.primitive_type("long")
        diff = truncate(a.value - b.value, 64, True)
        return t, int(diff / sa) if diff % sa else diff // sa
    if ka == K_PTR and kb in INTEGER and op in ("+", "-"):
        step = _scale(a.info) * b.value
        return a.type, a.value + step if op == "+" else a.value - step
    if kb == K_PTR and ka in INTEGER and op == "+":
        return b.type, b.value + _scale(b.info) * a.value
    raise _invalid(op, ta, tb)


def unary(op: str, a: Operand, t: Type) -> Result:
    """``op a`` (``-``, ``+``, ``~``) for a promoted operand of original type ``t``."""
    if a.info.kind == K_PTR or (a.info.kind == K_FLOAT and op == "~"):
        raise ObjectTypeError(f"invalid operand to unary {op} ('{t.type_name()}')")
    v = a.value
    if op == "-":
        v = -v
    elif op == "~":
        v = ~v
    return a.type, v


def compare(prog: Program, a: Operand, b: Operand) -> Tuple[Any, Any]:
    """The two values a comparison of promoted scalar operands compares: integers after
    the usual arithmetic conversions (``(unsigned)5 > -1`` is false), else as they are."""
    if a.info.kind in INTEGER and b.info.kind in INTEGER:
        info = type_info(common_type(prog, a, b))
        bits = (info.size or 4) * 8
        return truncate(a.value, bits, info.signed), truncate(b.value, bits, info.signed)
    return a.value, b.value


def convert(t: Type, info: TypeInfo, src: Operand, src_type: Type) -> Any:
    """The value ``(t)src`` has, as C converts a scalar: truncation and sign extension are
    left to the object holding it; pointer <-> integer, float <-> integer, and any value
    to ``_Bool`` (nonzero is 1). Compound types do not convert."""
    if info.kind not in SCALAR and info.kind != K_FLOAT:
        raise ObjectTypeError(f"cannot cast to '{t.type_name()}'")
    kind, v = src.info.kind, src.value
    if kind not in SCALAR and kind != K_FLOAT:
        raise ObjectTypeError(f"cannot cast '{src_type.type_name()}' to '{t.type_name()}'")
    if info.kind == K_FLOAT:
        if kind == K_PTR:
            raise ObjectTypeError(f"cannot cast '{src_type.type_name()}' to '{t.type_name()}'")
        return float(v)
    if kind == K_FLOAT:
        if info.kind == K_PTR:
            raise ObjectTypeError(f"cannot cast '{src_type.type_name()}' to '{t.type_name()}'")
        if not math.isfinite(v):
            raise ObjectTypeError(f"cannot convert {v} to an integer")
    if info.kind == K_BOOL:
        return v != 0
    return int(v)


def element_of(t: Type) -> Type:
    """The element type of array type ``t`` (through typedefs and qualifiers)."""
    under = t.strip_typedefs()
    assert isinstance(under, Array)
    return under.type


def slice_of(prog: Program, t: Type, info: TypeInfo, s: slice) -> Tuple[Type, int]:
    """drgn's ``obj[start:stop]`` of a pointer or array object of type ``t``: the array
    type of elements ``start`` (default 0) up to ``stop`` (default: the array's length;
    none is fewer than 0) and the byte offset of element ``start`` (indices count from the
    start, as in C)."""
    if info.kind not in (K_PTR, K_ARRAY):
        raise ObjectTypeError(f"'{t.type_name()}' is not an array or pointer")
    if s.step is not None:
        raise ObjectTypeError("object slice step is not supported")
    under = info.under
    assert isinstance(under, (Pointer, Array))
    elem = under.type
    size = type_info(elem).size
    if size is None:
        raise ObjectTypeError(f"cannot get size of {elem.type_name()!r}")
    start = 0 if s.start is None else operator.index(s.start)
    if s.stop is not None:
        stop = operator.index(s.stop)
    elif isinstance(under, Array) and under.length is not None:
        stop = under.length
    else:
        raise ObjectTypeError(f"cannot omit the stop index of a slice of '{t.type_name()}' (not a complete array)")
    btf = elem.btf if elem.btf is not None else prog.btf
    return btf.array_of(elem, max(stop - start, 0)), start * size
