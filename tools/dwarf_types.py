"""DWARF types as small trees of tuples (:data:`DType`), written by :mod:`tools.dwarf_globals`
from a DIE and read here: as a C declaration (:func:`c_declaration`, typedef names kept:
``pid_t``, ``atomic_t``), as a canonical string for comparing types (:func:`canonical`) and
as DWARF's byte size (:func:`dwarf_size`). Knows nothing of kdbg.
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

__all__ = ["DType", "normalize", "c_declaration", "canonical", "dwarf_size"]

#: A type as a tuple tree: ``("base"|"typedef"|"struct"|"union"|"enum", name, size)``
#: (an anonymous struct or union adds its members ``((name, T, bit size), ...)``, an
#: anonymous enum its enumerator names),
#: ``("void",)``, ``("ptr", T)``, ``("const"|"volatile"|"restrict", T)``,
#: ``("array", length or None, T)``, ``("func", ret, (param, ...), variadic)``.
DType = Tuple[Any, ...]


def _has_anonymous(t: DType) -> bool:
    """Whether ``t`` holds an anonymous type C cannot spell (one without its members)."""
    k = t[0]
    if k in ("base", "typedef", "struct", "union", "enum"):
        if k not in ("struct", "union", "enum") or t[1]:
            return False
        if len(t) < 4:
            return True
        return k != "enum" and any(_has_anonymous(m[1]) for m in t[3])
    if k == "void":
        return False
    if k == "ptr" or k in ("const", "volatile", "restrict"):
        return _has_anonymous(t[1])
    if k == "array":
        return _has_anonymous(t[2])
    if k == "func":
        return _has_anonymous(t[1]) or any(_has_anonymous(p) for p in t[2])
    return True


def normalize(t: DType) -> DType:
    """Qualifiers of an array moved onto its elements (C's rule), those of a function
    dropped, repeated qualifiers merged; applied at every level."""
    k = t[0]
    if k in ("const", "volatile", "restrict"):
        inner = normalize(t[1])
        if inner[0] == "array":
            return ("array", inner[1], normalize((k, inner[2])))
        if inner[0] == "func":
            return inner
        if inner[0] == k:
            return inner
        if inner[0] in ("const", "volatile", "restrict"):
            # one canonical order for stacked qualifiers: const outside volatile outside restrict
            order = ("const", "volatile", "restrict")
            quals = {k}
            cur = inner
            while cur[0] in order:
                quals.add(cur[0])
                cur = cur[1]
            for q in reversed(order):
                if q in quals:
                    cur = (q, cur)
            return cur
        return (k, inner)
    if k == "ptr":
        return ("ptr", normalize(t[1]))
    if k == "array":
        return ("array", t[1], normalize(t[2]))
    if k == "func":
        return ("func", normalize(t[1]), tuple(normalize(p) for p in t[2]), t[3])
    return t


def _base_spelling(t: DType) -> str:
    k = t[0]
    if k == "void":
        return "void"
    if k == "enum" and not t[1]:
        return "enum { " + ", ".join(t[3]) + " }"
    if k in ("struct", "union") and not t[1]:
        members = " ".join(_declare(normalize(mt), mname) + (f" : {bits}" if bits else "") + ";"
                           for mname, mt, bits in t[3])  # fmt: skip
        return f"{k} {{ {members} }}"
    if k in ("base", "typedef"):
        return str(t[1])
    return f"{k} {t[1]}"


def _declare(t: DType, inner: str) -> str:
    """``t`` declaring ``inner`` (a name or an abstract declarator) in C."""
    quals: List[str] = []
    for _ in range(256):
        k = t[0]
        if k == "ptr":
            inner = "*" + inner
            nxt = t[1]
            under = nxt
            while under[0] in ("const", "volatile", "restrict"):
                under = under[1]
            if under[0] in ("array", "func"):
                inner = f"({inner})"
            t = nxt
        elif k in ("const", "volatile", "restrict"):
            under = t[1]
            while under[0] in ("const", "volatile", "restrict"):
                under = under[1]
            if under[0] == "ptr":
                inner = f"{k} {inner}" if inner else k
            else:
                quals.append(k)
            t = t[1]
        elif k == "array":
            inner = f"{inner}[{'' if t[1] is None else t[1]}]"
            t = t[2]
        elif k == "func":
            params = [_declare(p, "").strip() for p in t[2]]
            if t[3]:
                params.append("...")
            inner = f"{inner}({', '.join(params) or 'void'})"
            t = t[1]
        else:
            base = _base_spelling(t)
            if quals:
                base = " ".join(dict.fromkeys(quals)) + " " + base
            if not inner:
                return base
            return f"{base} {inner}"
    raise ValueError("type chain too deep")


def c_declaration(t: DType, name: str) -> Optional[str]:
    """``struct list_head modules;``: the C declaration of ``name``, ``None`` when a type
    in it has no name C could use (an anonymous struct, union or enum)."""
    if _has_anonymous(t):
        return None
    return _declare(normalize(t), name) + ";"


def canonical(t: DType) -> str:
    """A canonical spelling for comparing types (independent of any C declarator writer):
    ``ptr(const(char))``, ``array(16,char)``, ``func(int;ptr(struct device),...)``; an
    array of unknown length is ``array(0,...)`` as BTF stores it."""
    t = normalize(t)
    k = t[0]
    if k == "void":
        return "void"
    if k in ("base", "typedef"):
        return str(t[1])
    if k in ("struct", "union", "enum"):
        if t[1]:
            return f"{k} {t[1]}"
        if len(t) < 4:
            return f"{k} <anonymous>"
        if k == "enum":
            return "enum {" + ",".join(t[3]) + "}"
        inner = ",".join(f"{n}:{canonical(mt)}" + (f":{b}" if b else "") for n, mt, b in t[3])
        return f"{k} {{{inner}}}"
    if k in ("ptr", "const", "volatile", "restrict"):
        return f"{k}({canonical(t[1])})"
    if k == "array":
        return f"array({t[1] or 0},{canonical(t[2])})"
    if k == "func":
        params = [canonical(p) for p in t[2]] + (["..."] if t[3] else [])
        return f"func({canonical(t[1])};{','.join(params)})"
    raise ValueError(f"unknown type node {t!r}")


def dwarf_size(t: DType) -> Optional[int]:
    """The byte size DWARF gives ``t`` (``None`` for void, functions, incomplete types)."""
    k = t[0]
    if k in ("base", "typedef", "struct", "union", "enum"):
        return t[2]
    if k == "ptr":
        return 8
    if k in ("const", "volatile", "restrict"):
        return dwarf_size(t[1])
    if k == "array":
        inner = dwarf_size(t[2])
        if inner is None:
            return None
        return (t[1] or 0) * inner
    return None


