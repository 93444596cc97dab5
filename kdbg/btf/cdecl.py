"""C spelling of BTF types: type names and declarators (``int (*fn[4])(void *)``).

:class:`Declarator` is the one declarator writer. It walks a type graph given as three
id-indexed sequences (kind, referenced id, array length) plus two callbacks (the spelling
of a base type, a prototype's parameters), so it serves both the type model (ptype,
``Type.type_name()``; views over a :class:`~kdbg.btf.index.BTF`) and the C header writer
(its flat per-id lists, where speed matters). Two dialects:

* the default, drgn's and pahole's: parameters named, qualifiers outermost first,
  ``(...)`` for a prototype with only ``...``;
* ``bpftool=True``, the C header's (:mod:`kdbg.btf.header`): qualifiers innermost first
  and none on function types, as ``bpftool btf dump format c`` writes them; no parameter
  names, and ``()`` for a prototype with only ``...``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Protocol, Sequence, Set, Tuple

from kdbg.btf import constants as K
from kdbg.btf.types import Composite, Enum, Func, FuncProto, Fwd, Type, Void
from kdbg.errors import BTFError

if TYPE_CHECKING:
    from kdbg.btf.index import BTF

__all__ = ["Declarator", "model_declarator", "type_name", "declaration", "base_name", "proto_params", "MAX_NESTING"]

#: Deepest nesting of prototypes in parameters (``void (*)(void (*)(...))``) before
#: declaring a cycle; real code nests a few levels.
MAX_NESTING = 64
#: Longest pointer/array/qualifier chain of one declarator.
MAX_CHAIN = 1024

_PTR, _ARRAY, _PROTO, _FUNC, _TYPE_TAG = K.KIND_PTR, K.KIND_ARRAY, K.KIND_FUNC_PROTO, K.KIND_FUNC, K.KIND_TYPE_TAG
_QUAL_KW = {K.KIND_VOLATILE: "volatile", K.KIND_CONST: "const", K.KIND_RESTRICT: "restrict"}
_QUALS = frozenset((K.KIND_VOLATILE, K.KIND_CONST, K.KIND_RESTRICT, K.KIND_TYPE_TAG))

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
    ) -> None:
        self.kind = kind
        self.ref = ref
        self.length = length
        self._base_cb = base
        self._params_cb = params
        self.bpftool = bpftool
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
        cacheable = True
        bpftool = self.bpftool
        cur = tid
        for _ in range(MAX_CHAIN):
            k = kind[cur]
            if k == _PTR:
                nxt = ref[cur]
                inner = "*" + inner
                if kind[self._skip_quals(nxt)] in (_ARRAY, _PROTO):
                    inner = f"({inner})"
                cur = nxt
            elif k in _QUAL_KW:
                nxt = ref[cur]
                under = kind[self._skip_quals(nxt)]
                kw = _QUAL_KW[k]
                if under == _PTR:
                    inner = f"{kw} {inner}" if inner else kw
                elif not bpftool or (under != _PROTO and kw not in quals):
                    quals.append(kw)
                cur = nxt
            elif k in (_TYPE_TAG, _FUNC):
                cur = ref[cur]
            elif k == _ARRAY:
                inner = f"{inner}[{self.length[cur]}]"
                cur = ref[cur]
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
            return ("()" if self.bpftool else "(...)"), True
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
def base_name(t: Type) -> str:
    """The name of a non-derived type (``struct list_head``, ``struct <anonymous>``, ``u64``)."""
    if isinstance(t, Void):
        return "void"
    if isinstance(t, (Composite, Fwd)):
        return f"{t.keyword} {t.name}" if t.name else f"{t.keyword} <anonymous>"
    if isinstance(t, Enum):
        return f"enum {t.name}" if t.name else "enum <anonymous>"
    return t.name or f"<{t.kind_name.lower()} {t.id}>"


class _View:
    """One field of every type of a BTF, by id (synthesized ids included), for
    :class:`Declarator`."""

    __slots__ = ("_get",)

    def __init__(self, get: Callable[[int], int]) -> None:
        self._get = get

    def __getitem__(self, tid: int) -> int:
        return self._get(tid)


def model_declarator(btf: BTF, with_param_names: bool = True) -> Declarator:
    """A :class:`Declarator` over the types of ``btf`` (drgn's dialect); ``BTF.declarator()``
    keeps one."""
    typ = btf.type

    def ref(tid: int) -> int:
        return getattr(typ(tid), "type_id", 0)

    def length(tid: int) -> int:
        return getattr(typ(tid), "length", 0)

    def params(tid: int) -> Sequence[Tuple[str, int]]:
        p = typ(tid)
        assert isinstance(p, FuncProto)
        if with_param_names:
            return [(x.name, x.type_id) for x in p.raw_params]
        return [("", x.type_id) if x.type_id else (x.name, 0) for x in p.raw_params]

    def base(tid: int, _lvl: int) -> Tuple[str, bool]:
        return base_name(typ(tid)), True

    return Declarator(_View(lambda i: typ(i).kind), _View(ref), _View(length), base, params, name=btf.name)


def _model_declarator(t: Type, with_param_names: bool = True) -> Declarator:
    btf = t.btf
    if btf is not None and with_param_names:
        return btf.declarator()
    if btf is None:  # void without a BTF: nothing to walk
        return Declarator(_View(lambda _i: K.KIND_UNKN), _View(lambda _i: 0), _View(lambda _i: 0),
                          lambda _i, _l: ("void", True), lambda _i: [])
    return model_declarator(btf, with_param_names)


def declaration(t: Type, name: str = "", with_param_names: bool = True) -> str:
    """Declare ``name`` with type ``t`` in C; an empty name gives the type name."""
    return _model_declarator(t, with_param_names).declare(t.id, name)


def proto_params(p: FuncProto, with_names: bool = True) -> str:
    """The parenthesised parameter list of a prototype, ``(void)`` when empty."""
    return _model_declarator(p, with_names)._params(p.id, 0)[0]


def type_name(t: Type) -> str:
    """The C name of a type as drgn prints it (``struct list_head *``, ``char [16]``)."""
    if isinstance(t, Func):
        return declaration(t.type, t.name)
    return declaration(t, "")
