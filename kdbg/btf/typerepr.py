"""drgn's ``repr()`` of a type: the constructor call that would make it."""

from __future__ import annotations

from typing import Any, List

from kdbg.btf.constants import POINTER_SIZE
from kdbg.btf.kinds import TypeKind

__all__ = ["drgn_repr"]


#: drgn's constructor-form fields of a type, by kind (``prog.<kind>_type(field=..., ...)``).
_NAMED = frozenset((TypeKind.INT, TypeKind.BOOL, TypeKind.FLOAT, TypeKind.TYPEDEF))
_TAGGED = frozenset((TypeKind.STRUCT, TypeKind.UNION, TypeKind.CLASS, TypeKind.ENUM))
_COMPOUND = frozenset((TypeKind.STRUCT, TypeKind.UNION, TypeKind.CLASS))
_SIZED = _COMPOUND | {TypeKind.INT, TypeKind.BOOL, TypeKind.FLOAT}
_WRAPPING = frozenset((TypeKind.ENUM, TypeKind.TYPEDEF, TypeKind.POINTER, TypeKind.ARRAY, TypeKind.FUNCTION))


def drgn_repr(t: Any) -> str:
    """drgn's ``repr()`` of a type: the call that would make it, e.g.
    ``prog.struct_type(tag='list_head', size=16, members=(TypeMember(...), ...))`` (the
    fields drgn shows for the kind, in its order; a pointer's size only when it is not the
    platform's; members and parameters name their types as ``prog.type('...')``)."""
    kind = t.kind
    fields: List[str] = []
    if kind in _NAMED:
        fields.append(f"name={t.name!r}")
    if kind in _TAGGED:
        fields.append(f"tag={t.tag!r}")
    if kind in _SIZED:
        fields.append(f"size={t.size!r}")
    if kind is TypeKind.INT:
        fields.append(f"is_signed={t.is_signed!r}")
    if kind in _WRAPPING:
        fields.append(f"type={t.type!r}")
    if kind is TypeKind.POINTER and t.size != POINTER_SIZE:
        fields.append(f"size={t.size!r}")
    if kind is TypeKind.ARRAY:
        fields.append(f"length={t.length!r}")
    if kind in _COMPOUND:
        fields.append(f"members={t.members!r}")
    if kind is TypeKind.ENUM:
        fields.append(f"enumerators={t.enumerators!r}")
    if kind is TypeKind.FUNCTION:
        fields.append(f"parameters={t.parameters!r}")
        fields.append(f"is_variadic={t.is_variadic!r}")
    if t.qualifiers:
        fields.append(f"qualifiers={t.qualifiers!r}")
    return f"prog.{kind.name.lower()}_type({', '.join(fields)})"
