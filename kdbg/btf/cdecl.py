"""C spelling of BTF types: type names and declarators (``int (*fn[4])(void *)``)."""

from __future__ import annotations

from typing import List

from kdbg.btf.types import (
    MAX_CHAIN,
    Array,
    Composite,
    Enum,
    Func,
    FuncProto,
    Fwd,
    Pointer,
    Qualified,
    Type,
    TypeTag,
    Void,
)
from kdbg.errors import BTFError

__all__ = ["type_name", "declaration", "base_name", "proto_params"]


def base_name(t: Type) -> str:
    """The name of a non-derived type (``struct list_head``, ``struct <anonymous>``, ``u64``)."""
    if isinstance(t, Void):
        return "void"
    if isinstance(t, (Composite, Fwd)):
        return f"{t.keyword} {t.name}" if t.name else f"{t.keyword} <anonymous>"
    if isinstance(t, Enum):
        return f"enum {t.name}" if t.name else "enum <anonymous>"
    return t.name or f"<{t.kind_name.lower()} {t.id}>"


def proto_params(p: FuncProto, with_names: bool = True) -> str:
    """The parenthesised parameter list of a prototype, ``(void)`` when empty."""
    parts: List[str] = []
    for prm in p.params:
        parts.append(declaration(prm.type, prm.name if with_names else ""))
    if p.is_variadic:
        parts.append("...")
    return "(" + (", ".join(parts) if parts else "void") + ")"


def declaration(t: Type, name: str = "", with_param_names: bool = True) -> str:
    """Declare ``name`` with type ``t`` in C; an empty name gives the type name."""
    inner = name
    cur = t
    prefix_quals: List[str] = []
    for _ in range(MAX_CHAIN):
        if isinstance(cur, TypeTag):
            cur = cur.type
            continue
        if isinstance(cur, Qualified):
            target = cur.type
            while isinstance(target, Qualified):
                target = target.type
            if isinstance(target, Pointer):
                inner = f"{cur.keyword} {inner}" if inner else cur.keyword
            else:
                prefix_quals.append(cur.keyword)
            cur = cur.type
            continue
        if isinstance(cur, Pointer):
            target = cur.type
            while isinstance(target, Qualified):
                target = target.type
            inner = "*" + inner
            if isinstance(target, (Array, FuncProto)):
                inner = f"({inner})"
            cur = cur.type
            continue
        if isinstance(cur, Array):
            inner = f"{inner}[{cur.length}]"
            cur = cur.type
            continue
        if isinstance(cur, FuncProto):
            inner = inner + proto_params(cur, with_param_names)
            cur = cur.type
            continue
        if isinstance(cur, Func):
            cur = cur.type
            continue
        base = " ".join(dict.fromkeys(prefix_quals)) + " " + base_name(cur) if prefix_quals else base_name(cur)
        if not inner:
            return base
        if inner.startswith("["):
            return f"{base} {inner}"
        return f"{base} {inner}"
    raise BTFError(f"declarator chain too long (cycle?) at type id {t.id}")


def type_name(t: Type) -> str:
    """The C name of a type as drgn prints it (``struct list_head *``, ``char [16]``)."""
    if isinstance(t, Func):
        return declaration(t.type, t.name)
    return declaration(t, "")
