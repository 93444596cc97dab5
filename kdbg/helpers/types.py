"""Type helpers, drgn's ``drgn.helpers.common.type``: what member is at an offset, a
member's type, and an enum as a Python ``IntEnum``."""

from __future__ import annotations

import enum
from typing import Container, List, Optional, Union

from kdbg.btf.kinds import TypeKind
from kdbg.btf.types import Type
from kdbg.core.default import get_default_prog
from kdbg.errors import MemberNotFoundError, ObjectTypeError

__all__ = ["enum_type_to_class", "member_at_offset", "typeof_member"]

_COMPOUND = (TypeKind.STRUCT, TypeKind.UNION, TypeKind.CLASS)


def _type(t: Union[str, Type]) -> Type:
    return get_default_prog().type(t) if isinstance(t, str) else t


def enum_type_to_class(type: Type, name: str, exclude: Container[str] = (),  # noqa: A002 - drgn's name
                       prefix: str = "") -> type[enum.IntEnum]:
    """An ``IntEnum`` class called ``name`` with the enumerators of enum ``type`` (those
    in ``exclude`` left out, ``prefix`` taken off the others' names)."""
    enumerators = type.unaliased().enumerators  # type: ignore[attr-defined]
    if enumerators is None:
        raise ObjectTypeError("enum type is incomplete")
    members = [(e.name[len(prefix):] if e.name.startswith(prefix) else e.name, e.value)
               for e in enumerators if e.name not in exclude]
    return enum.IntEnum(name, members)  # type: ignore[return-value]


def typeof_member(type: Union[str, Type], member: str) -> Type:  # noqa: A002 - drgn's name
    """The type of ``member`` (``"a.b[2]"``) of struct or union ``type`` (the kernel's
    ``typeof_member()``)."""
    t = _type(type)
    under = t.unaliased()
    if under.kind not in _COMPOUND:
        raise ObjectTypeError(f"'{t.type_name()}' is not a structure, union, or class")
    try:
        return under.offsetof_bits(member)[1]  # type: ignore[attr-defined]
    except LookupError:
        raise
    except Exception as e:  # a designator naming nothing: drgn's LookupError
        raise MemberNotFoundError(str(e)) from None


def member_at_offset(type: Union[str, Type], offset: int) -> str:  # noqa: A002 - drgn's name
    """The member at byte ``offset`` of a struct, union or array type: ``"list.next"``,
    ``"signal.sig[0]"``, ``"next+0x4"`` inside a member, ``"f3+4 bits"`` inside a bit
    field, every member of a union that holds it (``"folio or ent.val"``), or where there
    is none: ``<padding between a and b>``, ``<padding at beginning>``,
    ``<padding at end>``, ``<end>``, ``<past end>``. An incomplete array (a flexible array
    member) holds every offset from its start on."""
    t = _type(type)
    under = t.unaliased()
    if under.kind not in _COMPOUND and under.kind != TypeKind.ARRAY:
        raise ObjectTypeError("must be compound type or array")
    return " or ".join(_at(under, offset * 8, ""))


def _bits(t: Type) -> Optional[int]:
    size = t.size
    return None if size is None else size * 8


def _dot(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def _rest(path: str, bit: int) -> str:
    """``path`` and how far into it ``bit`` is: bytes in hex, or bits when not whole."""
    if not bit:
        return path
    return f"{path}+{bit // 8:#x}" if bit % 8 == 0 else f"{path}+{bit} bits"


def _at(t: Type, bit: int, path: str) -> List[str]:
    """What holds ``bit`` of type ``t`` (typedefs removed), reached by ``path``."""
    if t.kind == TypeKind.ARRAY:
        elem = t.type  # type: ignore[attr-defined]
        esize = (elem.size or 0) * 8
        length = t.length  # type: ignore[attr-defined]
        if esize and (length is None or bit < length * esize):
            i = bit // esize
            return _at(elem.unaliased(), bit - i * esize, f"{path}[{i}]")
        end = (length or 0) * esize
        return [path + ("<end>" if bit == end else "<past end>")] if esize else [_rest(path, bit)]
    members = t.members if t.kind in _COMPOUND else None  # type: ignore[attr-defined]
    if members is None:  # a scalar: the offset into it
        return [_rest(path, bit)]
    found: List[str] = []
    for m in members:
        size = m.bit_field_size
        if size is None:
            size = _bits(m.type)
            if size is None and m.type.unaliased_kind() != TypeKind.ARRAY:
                continue  # an incomplete member other than an array holds nothing
        if m.bit_offset <= bit and (size is None or bit < m.bit_offset + size):
            sub = _dot(path, m.name) if m.name is not None else path
            if m.bit_field_size is not None:
                found.append(_rest(sub, bit - m.bit_offset))
            else:
                found.extend(_at(m.type.unaliased(), bit - m.bit_offset, sub))
            if t.kind != TypeKind.UNION:
                break
    if found:
        return found
    size = _bits(t) or 0
    if bit == size:
        return [path + "<end>"]
    if bit > size:
        return [path + "<past end>"]
    before = after = None
    for m in members:  # the nearest member starting before the bit, and after it (the first of a tie)
        if m.bit_offset < bit:
            if before is None or m.bit_offset > before.bit_offset:
                before = m
        elif after is None or m.bit_offset < after.bit_offset:
            after = m
    if before is not None and after is not None:
        what = f"<padding between {before.name or '<unnamed>'} and {after.name or '<unnamed>'}>"
    elif after is not None:
        what = "<padding at beginning>"
    else:
        what = "<padding at end>"
    return [_dot(path, what)]
