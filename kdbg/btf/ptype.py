"""``ptype``: one type rendered as C, with each member's offset and size (pahole style).

Types are spelled as gcc writes them into BTF (``long unsigned int``, ``char *const``) and
members as BTF records them (a flexible array member as ``[0]``), as pahole shows them.

Nested anonymous structs and unions are expanded inline; offsets in comments are from
the start of the outermost type so they can be used directly with ``rd`` and ``offsetof``.
A function renders as its prototype.
"""

from __future__ import annotations

from typing import List

from kdbg.btf.cdecl import base_name
from kdbg.btf.types import Composite, Enum, Func, Type, Typedef, TypeMember
from kdbg.errors import BTFError

__all__ = ["ptype", "COMMENT_COLUMN"]

#: Column (tabs counted as 8) at which offset/size comments start.
COMMENT_COLUMN = 56
_MAX_NEST = 32


def _declaration(t: Type, name: str) -> str:
    """``name`` declared with type ``t`` as gcc spells it."""
    if t.btf is None:
        return f"void {name}".rstrip()
    return t.btf.c_declaration(t, name, dialect="gcc")


def _width(s: str) -> int:
    n = 0
    for ch in s:
        n = (n // 8 + 1) * 8 if ch == "\t" else n + 1
    return n


def _comment_line(code: str, comment: str) -> str:
    pad = max(1, COMMENT_COLUMN - _width(code))
    return f"{code}{' ' * pad}/* {comment} */"


def _size_text(t: Type) -> str:
    try:
        return str(t.sizeof())
    except BTFError:
        return "?"


def _member_comment(m: TypeMember, base_bits: int) -> str:
    bits = base_bits + m.bit_offset
    if m.bitfield_size:
        return f"{bits // 8:6}:{bits % 8:2} {_size_text(m.btf_type):>5}"
    return f"{bits // 8:6} {_size_text(m.btf_type):>5}"


def _body(t: Composite, indent: int, base_bits: int, out: List[str], depth: int) -> None:
    if depth > _MAX_NEST:
        raise BTFError(f"anonymous type nesting too deep at type id {t.id}")
    tabs = "\t" * indent
    for m in t.btf_members:
        mt = m.btf_type
        inner = mt
        if isinstance(inner, Composite) and inner.is_anonymous():
            out.append(f"{tabs}{inner.keyword} {{")
            _body(inner, indent + 1, base_bits + m.bit_offset, out, depth + 1)
            close = f"{tabs}}}{' ' + m.btf_name if m.btf_name else ''};"
            out.append(_comment_line(close, _member_comment(m, base_bits)))
            continue
        if isinstance(inner, Enum) and inner.is_anonymous():
            out.append(f"{tabs}enum {{")
            for e in inner.enumerators:
                out.append(f"{tabs}\t{e.name} = {e.value},")
            close = f"{tabs}}}{' ' + m.btf_name if m.btf_name else ''};"
            out.append(_comment_line(close, _member_comment(m, base_bits)))
            continue
        decl = _declaration(mt, m.btf_name)
        if m.bitfield_size:
            decl += f":{m.bitfield_size}"
        out.append(_comment_line(f"{tabs}{decl};", _member_comment(m, base_bits)))


def _composite(t: Composite, head: str, tail: str) -> str:
    out = [f"{head} {{"]
    _body(t, 1, 0, out, 0)
    members = len(t.btf_members)
    size = t.size
    out.append("")
    out.append(f"\t/* size: {size}, members: {members} */")
    out.append(f"}}{tail}")
    return "\n".join(out)


def _enum(t: Enum, head: str, tail: str) -> str:
    out = [f"{head} {{"]
    for e in t.enumerators:
        out.append(f"\t{e.name} = {e.value},")
    out.append(f"}}{tail}")
    return "\n".join(out)


def ptype(t: Type) -> str:
    """Render ``t`` as C: composites and enums in full, functions as prototypes."""
    if isinstance(t, Func):
        return _declaration(t, t.btf_name) + ";"
    if isinstance(t, Typedef):
        target = t.type
        if isinstance(target, Composite) and target.is_anonymous():
            return _composite(target, f"typedef {target.keyword}", f" {t.btf_name};")
        if isinstance(target, Enum) and target.is_anonymous():
            return _enum(target, "typedef enum", f" {t.btf_name};")
        return f"typedef {_declaration(target, t.btf_name)};"
    if isinstance(t, Composite):
        return _composite(t, base_name(t, "gcc"), ";")
    if isinstance(t, Enum):
        return _enum(t, base_name(t, "gcc"), ";")
    return _declaration(t, "")
