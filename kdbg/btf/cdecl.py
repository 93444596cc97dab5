"""C spelling of types: type names, declarators (``int (*fn[4])(void *)``), definitions.

:class:`Declarator` is the one declarator writer. It walks a type graph given as three
id-indexed sequences (kind, referenced id, array length) plus two callbacks (the spelling
of a base type, a prototype's parameters), so it serves both the type model
(``Type.type_name()``, ``ptype``; over a :class:`~kdbg.btf.index.BTF`) and the C header
writer (its flat per-id lists, where speed matters). Spelling is an option, never a
rewrite of text already written. The dialects:

* ``drgn`` (``Type.type_name()``, ``str(type)``, the object printer): C's names of the
  integer types (``unsigned long``), ``char * const``, parameters named, qualifiers
  outermost first, ``()`` for a prototype with only ``...`` (as drgn writes it);
* ``gcc`` (``ptype``, pahole's layout): the names gcc writes into BTF
  (``long unsigned int``), ``char *const`` and ``(...)``, otherwise as ``drgn``;
* ``bpftool`` (:mod:`kdbg.btf.header`): qualifiers innermost first and none on function
  types, as ``bpftool btf dump format c`` writes them; no parameter names, and ``()``
  for a prototype with only ``...``.

An incomplete array (length ``None``) is written ``[]``. This module sees types only
through their BTF fields (``btf_kind``, ``btf_name``), so it depends on no type class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Protocol, Sequence, Set, Tuple

from kdbg.btf import constants as K
from kdbg.btf.kinds import C_SPELLINGS
from kdbg.errors import BTFError

if TYPE_CHECKING:
    from kdbg.btf.index import BTF
    from kdbg.btf.types import Type

__all__ = ["Declarator", "model_declarator", "base_name", "definition", "DIALECTS", "MAX_NESTING"]

#: The spellings :func:`model_declarator` writes (see the module docstring).
DIALECTS = ("drgn", "gcc")

#: Deepest nesting of prototypes in parameters (``void (*)(void (*)(...))``) before
#: declaring a cycle; real code nests a few levels.
MAX_NESTING = 64
#: Longest pointer/array/qualifier chain of one declarator.
MAX_CHAIN = 1024

_PTR, _ARRAY, _PROTO, _FUNC, _TYPE_TAG = K.KIND_PTR, K.KIND_ARRAY, K.KIND_FUNC_PROTO, K.KIND_FUNC, K.KIND_TYPE_TAG
_QUAL_KW = {K.KIND_VOLATILE: "volatile", K.KIND_CONST: "const", K.KIND_RESTRICT: "restrict"}
_QUALS = frozenset((K.KIND_VOLATILE, K.KIND_CONST, K.KIND_RESTRICT, K.KIND_TYPE_TAG))
_QUAL_WORDS = frozenset(("const", "volatile", "restrict"))
_TAGGED = {K.KIND_STRUCT: "struct", K.KIND_UNION: "union", K.KIND_ENUM: "enum", K.KIND_ENUM64: "enum"}

#: The order C programmers (and drgn) write qualifiers in, whatever BTF's chain order.
_QUAL_ORDER = ("const", "volatile", "restrict")


def _qualify(kw: str, inner: str, bpftool: bool) -> str:
    """``inner`` (a pointer declarator's tail) under qualifier ``kw``: in front as BTF
    chains it for bpftool, else among the qualifiers already there in C's order."""
    if not inner:
        return kw
    if bpftool:
        return f"{kw} {inner}"
    words = inner.split(" ")
    n = 0
    while n < len(words) and words[n] in _QUAL_WORDS:
        n += 1
    quals = sorted(set(words[:n]) | {kw}, key=_QUAL_ORDER.index)
    return " ".join(quals + words[n:])


class IdMap(Protocol):
    """Anything indexable by type id: a list over all ids, or a view computing each."""

    def __getitem__(self, tid: int) -> int: ...


#: ``base(type id, nesting level) -> (spelling, same at every level)``.
BaseSpelling = Callable[[int, int], Tuple[str, bool]]
#: ``params(prototype id) -> [(name, type id), ...]``, a trailing ``("", 0)`` being ``...``.
ParamList = Callable[[int], Sequence[Tuple[str, int]]]


class Declarator:
    """Writes C declarators over one type graph, caching each type's ``(left, right)``
    halves (a declaration of ``x`` is ``left + "x" + right``).

    The base spelling and parameter list come as callbacks, or from a subclass that
    overrides :meth:`_base` and :meth:`_param_list` (the header's emitter does: a
    callback bound to an object holding this declarator would make a reference cycle,
    and its per-id lists would then wait for the garbage collector).
    """

    def __init__(
        self,
        kind: IdMap,
        ref: IdMap,
        length: IdMap,
        base: Optional[BaseSpelling] = None,
        params: Optional[ParamList] = None,
        bpftool: bool = False,
        name: str = "BTF",
        pointer_space: bool = False,
    ) -> None:
        self.kind = kind
        self.ref = ref
        self.length = length
        self._base_cb = base
        self._params_cb = params
        self.bpftool = bpftool
        self.pointer_space = pointer_space  # drgn's `char * const`, gcc's `char *const`
        self.what = name  # the BTF, for messages
        #: type id -> ``(left, right)``, for declarators whose spelling is context-free.
        self.cache: Dict[int, Tuple[str, str]] = {}
        self._active: Set[int] = set()  # prototypes being written (cycle detection)

    def _base(self, tid: int, lvl: int) -> Tuple[str, bool]:
        """The spelling of base type ``tid`` at nesting level ``lvl`` and whether it is the
        same at every level (given to the constructor, or overridden by a subclass)."""
        if self._base_cb is None:
            raise NotImplementedError("Declarator needs a base spelling")
        return self._base_cb(tid, lvl)

    def _param_list(self, tid: int) -> Sequence[Tuple[str, int]]:
        """Prototype ``tid``'s ``(name, type id)`` pairs, ``("", 0)`` last for ``...``."""
        if self._params_cb is None:
            raise NotImplementedError("Declarator needs a parameter list")
        return self._params_cb(tid)

    def _skip_quals(self, tid: int) -> int:
        kind, ref = self.kind, self.ref
        for _ in range(MAX_CHAIN):
            if kind[tid] not in _QUALS:
                return tid
            tid = ref[tid]
        raise BTFError(f"{self.what}: qualifier chain too long at type id {tid}")

    def split(self, tid: int, lvl: int = 0) -> Tuple[str, str]:
        """``(left, right)`` such that ``left + name + right`` declares ``name``."""
        hit = self.cache.get(tid)
        if hit is not None:
            return hit
        text, cacheable = self._walk(tid, lvl, "\0")
        left, right = text.split("\0")
        if cacheable:
            self.cache[tid] = (left, right)
        return left, right

    def _walk(self, tid: int, lvl: int, inner: str) -> Tuple[str, bool]:
        """Declare ``inner`` (a name, ``""``, or the ``"\0"`` placeholder of :meth:`split`)
        with type ``tid``; also whether the text is the same at every nesting level."""
        kind, ref = self.kind, self.ref
        quals: List[str] = []
        pending: List[str] = []  # qualifiers of an array: C gives them to its element
        cacheable = True
        bpftool = self.bpftool
        cur = tid
        for _ in range(MAX_CHAIN):
            k = kind[cur]
            if k == _PTR:
                nxt = ref[cur]
                if self.pointer_space and inner.split(" ", 1)[0].rstrip("\0") in _QUAL_WORDS:
                    inner = "* " + inner
                else:
                    inner = "*" + inner
                if kind[self._skip_quals(nxt)] in (_ARRAY, _PROTO):
                    inner = f"({inner})"
                cur = nxt
            elif k in _QUAL_KW:
                nxt = ref[cur]
                under = kind[self._skip_quals(nxt)]
                kw = _QUAL_KW[k]
                if under == _PTR:
                    inner = _qualify(kw, inner, bpftool)
                elif under == _ARRAY and not bpftool:
                    pending.append(kw)
                elif not bpftool or (under != _PROTO and kw not in quals):
                    quals.append(kw)
                cur = nxt
            elif k in (_TYPE_TAG, _FUNC):
                cur = ref[cur]
            elif k == _ARRAY:
                n = self.length[cur]
                inner = f"{inner}[]" if n is None else f"{inner}[{n}]"
                cur = ref[cur]
                element = kind[self._skip_quals(cur)]
                if pending and element == _PTR:
                    for kw in pending:
                        inner = _qualify(kw, inner, bpftool)
                    pending = []
                elif pending and element != _ARRAY:
                    quals += pending
                    pending = []
            elif k == _PROTO:
                params, same = self._params(cur, lvl)
                cacheable = cacheable and same
                inner = inner + params
                cur = ref[cur]
            else:
                base, same = self._base(cur, lvl)
                cacheable = cacheable and same
                break
        else:
            raise BTFError(f"{self.what}: declarator chain too long (cycle?) at type id {tid}")
        if quals:
            if bpftool:
                quals.reverse()
            else:
                quals.sort(key=_QUAL_ORDER.index)
            base = " ".join(dict.fromkeys(quals)) + " " + base
        return (f"{base} {inner}" if inner else base), cacheable

    def _params(self, tid: int, lvl: int) -> Tuple[str, bool]:
        """A prototype's parenthesised parameter list and whether it is context-free."""
        if tid in self._active or len(self._active) >= MAX_NESTING:
            raise BTFError(f"function prototype id {tid} contains itself")
        self._active.add(tid)
        try:
            return self._param_text(tid, lvl)
        finally:
            self._active.discard(tid)

    def _param_text(self, tid: int, lvl: int) -> Tuple[str, bool]:
        params = list(self._param_list(tid))
        variadic = bool(params) and params[-1][1] == 0 and not params[-1][0]
        if variadic:
            params = params[:-1]
        if not params:
            if not variadic:
                return "(void)", True
            return ("()" if self.bpftool or self.pointer_space else "(...)"), True
        parts = []
        same = True
        named = not self.bpftool
        for pname, pt in params:
            if named:
                parts.append(self._walk(pt, lvl, pname)[0])
                continue
            left, right = self.split(pt, lvl)
            if pt not in self.cache:
                same = False
            parts.append((left + right).rstrip())
        if variadic:
            parts.append("...")
        return "(" + ", ".join(parts) + ")", same

    def declare(self, tid: int, name: str, lvl: int = 0) -> str:
        """A declaration of ``name`` with type ``tid``; an empty name gives the type name."""
        if not self.bpftool:
            return self._walk(tid, lvl, name)[0]
        left, right = self.split(tid, lvl)
        if name:
            return left + name + right
        return (left + right).rstrip()


# ---------------------------------------------------------------------- the type model
def base_name(t: Type, dialect: str = "drgn") -> str:
    """The name of a non-derived type (``struct list_head``, ``struct <anonymous>``,
    ``unsigned long``; ``long unsigned int`` in the ``gcc`` dialect)."""
    k = t.btf_kind
    if k == K.KIND_UNKN:
        return "void"
    kw = _TAGGED.get(k)
    if kw is None and k == K.KIND_FWD:
        kw = "union" if t.kflag else "struct"
    if kw is not None:
        return f"{kw} {t.btf_name}" if t.btf_name else f"{kw} <anonymous>"
    if k == K.KIND_INT and dialect == "drgn":
        return C_SPELLINGS.get(t.btf_name, t.btf_name)
    return t.btf_name or f"<{t.kind_name.lower()} {t.id}>"


class _View:
    """One field of every type of a BTF, by id (synthesized ids included), for
    :class:`Declarator`."""

    __slots__ = ("_get",)

    def __init__(self, get: Callable[[int], Any]) -> None:
        self._get = get

    def __getitem__(self, tid: int) -> Any:
        return self._get(tid)


def model_declarator(btf: BTF, dialect: str = "drgn", with_param_names: bool = True) -> Declarator:
    """A :class:`Declarator` over the types of ``btf`` in ``dialect`` (``drgn`` or
    ``gcc``); the BTF keeps one per dialect (:meth:`kdbg.btf.index.BTF.declarator`)."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown C dialect {dialect!r} (one of {', '.join(DIALECTS)})")
    typ = btf.type

    def ref(tid: int) -> int:
        return getattr(typ(tid), "type_id", 0)

    def length(tid: int) -> Optional[int]:
        return getattr(typ(tid), "length", 0)

    def params(tid: int) -> Sequence[Tuple[str, int]]:
        p = typ(tid).raw_params  # type: ignore[attr-defined]
        if with_param_names:
            return [(x.btf_name, x.type_id) for x in p]
        return [("", x.type_id) if x.type_id else (x.btf_name, 0) for x in p]

    def base(tid: int, _lvl: int) -> Tuple[str, bool]:
        return base_name(typ(tid), dialect), True

    return Declarator(_View(lambda i: typ(i).btf_kind), _View(ref), _View(length), base, params, name=btf.name,
                      pointer_space=dialect == "drgn")


def _composite_or_enum(t: Type) -> bool:
    return t.btf_kind in _TAGGED


def definition(t: Type) -> str:
    """drgn's ``str()`` of a type: a struct, union or enum with its body (anonymous types
    nested inline, tab-indented), ``typedef T name`` for a typedef, else its name."""
    btf = t.btf
    assert btf is not None
    under = t.unqualified()
    if under.btf_kind == K.KIND_TYPEDEF:
        quals = btf.c_name(t)[: -len(btf.c_name(under))] if t is not under else ""
        return quals + _typedef(under)
    if _composite_or_enum(under) and under.is_complete():
        quals = btf.c_name(t)[: -len(btf.c_name(under))] if t is not under else ""
        return quals + _body(under, 0)
    return btf.c_name(t)


def _typedef(t: Type) -> str:
    """drgn's ``typedef T name``, an anonymous struct, union or enum ``T`` with its body."""
    btf = t.btf
    assert btf is not None
    target: Type = t.ref  # type: ignore[attr-defined]
    inner = target.unqualified()
    if _composite_or_enum(inner) and not inner.btf_name and inner.is_complete():
        quals = btf.c_name(target)[: -len(btf.c_name(inner))] if target is not inner else ""
        return f"typedef {quals}{_body(inner, 0)} {t.btf_name}"
    return "typedef " + btf.c_declaration(target, t.btf_name, with_param_names=False)


def _body(t: Type, indent: int) -> str:
    btf = t.btf
    assert btf is not None
    tabs = "\t" * (indent + 1)
    head = btf.c_name(t) if t.btf_name else _TAGGED[t.btf_kind]
    lines = [head + " {"]
    if t.btf_kind in (K.KIND_ENUM, K.KIND_ENUM64):
        lines += [f"{tabs}{e.name} = {e.value}," for e in t.enumerators]  # type: ignore[attr-defined]
    else:
        for m in t.members:  # type: ignore[attr-defined]
            mt = m.type
            inner = mt.unqualified()
            if _composite_or_enum(inner) and not inner.btf_name and inner.is_complete():
                quals = btf.c_name(mt)[: -len(btf.c_name(inner))] if mt is not inner else ""
                decl = quals + _body(inner, indent + 1) + (" " + m.btf_name if m.btf_name else "")
            else:
                decl = btf.c_declaration(mt, m.btf_name, with_param_names=False)
            if m.bitfield_size:
                decl += f" : {m.bitfield_size}"
            lines.append(f"{tabs}{decl};")
    lines.append("\t" * indent + "}")
    return "\n".join(lines)
