"""C spelling of BTF types: type names and declarators (``int (*fn[4])(void *)``)."""

from __future__ import annotations

from typing import Dict, List, Tuple

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

#: Deepest nesting of prototypes in parameters (``void (*)(void (*)(...))``) before
#: declaring a cycle; real code nests a few levels.
MAX_NESTING = 64
_active: Dict[Tuple[int, int], int] = {}  # prototypes being rendered (cycle detection)
_memo: Dict[Tuple[int, int, bool], str] = {}  # their parameter lists, per outermost call


def _nested_params(p: FuncProto, with_names: bool) -> str:
    """``proto_params`` inside a declarator: a prototype that contains itself (only
    malformed BTF does that) is a :class:`BTFError`, and a shared one is rendered once."""
    key = (id(p.btf), p.id)
    done = _memo.get(key + (with_names,))
    if done is not None:
        return done
    if key in _active or len(_active) >= MAX_NESTING:
        raise BTFError(f"function prototype id {p.id} contains itself")
    _active[key] = 1
    try:
        text = proto_params(p, with_names)
    finally:
        del _active[key]
        if not _active:
            _memo.clear()
    if _active:
        _memo[key + (with_names,)] = text
    return text


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
            target = cur.type.unqualified()
            if isinstance(target, Pointer):
                inner = f"{cur.keyword} {inner}" if inner else cur.keyword
            else:
                prefix_quals.append(cur.keyword)
            cur = cur.type
            continue
        if isinstance(cur, Pointer):
            target = cur.type.unqualified()
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
            inner = inner + _nested_params(cur, with_param_names)
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
