"""Finding members by name: through unnamed members, and along C member designators.

C reaches the members of an unnamed struct or union member as if they were the
enclosing type's own (``task->rcu`` in ``union { struct rcu_head rcu; ... }``); a
designator (``"se.avg.load_avg"``, ``"comm[3]"``) walks members and elements. Malformed
BTF can make an unnamed member contain itself: that is a :class:`~kdbg.errors.BTFError`,
never a hang.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, List, Optional, Tuple

from kdbg.btf import constants as K
from kdbg.errors import BTFError, MemberNotFoundError

if TYPE_CHECKING:
    from kdbg.btf.members import TypeMember
    from kdbg.btf.types import Composite, Type

__all__ = ["find_member", "member_names", "designator_offset", "DESIGNATOR"]

#: Deepest nesting of unnamed members followed.
MAX_UNNAMED = 64
#: One step of a member designator: ``.name``, ``name`` or ``[index]``.
DESIGNATOR = re.compile(r"\s*(?:\.?\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*(-?(?:0[xX][0-9a-fA-F]+|\d+))\s*\])")


def _composite_of(t: Type) -> Optional[Composite]:
    """The struct or union ``t`` is, through typedefs and qualifiers, else ``None``."""
    under = t.strip_typedefs()
    return under if under.btf_kind in (K.KIND_STRUCT, K.KIND_UNION) else None  # type: ignore[return-value]


def _cycle(t: Composite) -> BTFError:
    return BTFError(f"type id {t.id} contains itself through anonymous members")


def find_member(t: Composite, name: str) -> Optional[TypeMember]:
    """Member ``name`` of ``t``, looked for among the named members first, then inside
    unnamed struct and union members; its ``bit_offset`` is relative to ``t``."""
    return _find(t, name, 0, ())


def _find(t: Composite, name: str, base: int, path: Tuple[int, ...]) -> Optional[TypeMember]:
    if len(path) > MAX_UNNAMED or t.id in path:
        raise _cycle(t)
    members = t.members
    for m in members:
        if m.btf_name == name:
            return m.moved(base) if base else m
    for m in members:
        if not m.btf_name:
            inner = _composite_of(m.btf_type)
            if inner is not None:
                found = _find(inner, name, base + m.bit_offset, path + (t.id,))
                if found is not None:
                    return found
    return None


def member_names(t: Composite) -> List[str]:
    """Every name ``.name`` reaches in ``t``, unnamed members flattened (for completion)."""
    return _names(t, ())


def _names(t: Composite, path: Tuple[int, ...]) -> List[str]:
    if len(path) > MAX_UNNAMED or t.id in path:
        raise _cycle(t)
    out: List[str] = []
    for m in t.btf_members:
        if m.btf_name:
            out.append(m.btf_name)
        else:
            inner = _composite_of(m.btf_type)
            if inner is not None:
                out.extend(_names(inner, path + (t.id,)))
    return out


def designator_offset(t: Type, designator: str) -> Tuple[int, Type]:
    """Bit offset and type of a member designator in ``t`` (``"se.avg"``, ``"comm[3]"``)."""
    pos = 0
    bits = 0
    cur: Type = t
    text = designator.strip()
    if not text:
        raise BTFError("empty member designator")
    first = True
    while pos < len(text):
        m = DESIGNATOR.match(text, pos)
        if m is None or (first and m.group(0).lstrip().startswith("[")):
            raise BTFError(f"bad member designator {designator!r} at {text[pos:]!r}")
        first = False
        pos = m.end()
        if m.group(1) is not None:
            under = _composite_of(cur)
            if under is None:
                raise BTFError(f"{cur.type_name()!r} is not a struct or union in {designator!r}")
            mem = find_member(under, m.group(1))
            if mem is None:
                raise MemberNotFoundError(f"{under.type_name()!r} has no member {m.group(1)!r}")
            bits += mem.bit_offset
            cur = mem.type
        else:
            arr = cur.strip_typedefs()
            if arr.btf_kind != K.KIND_ARRAY:
                raise BTFError(f"{cur.type_name()!r} is not an array in {designator!r}")
            elem = arr.type  # type: ignore[attr-defined]
            size = elem.size
            if size is None:
                raise BTFError(f"cannot get size of {elem.type_name()!r} in {designator!r}")
            bits += int(m.group(2), 0) * size * 8
            cur = elem
    return bits, cur
