"""Which type a name means when BTF has several types of that name.

Kernel BTF keeps one type per distinct definition, so a name is repeated when two
translation units define different things under it: a driver's private 16-byte
``struct dma_chan`` next to dmaengine's 112-byte one, native and compat ELF core-dump
structs, a ``typedef ZSTD_DCtx`` of a complete and of a forward-declared struct, and the
odd definition deduplication missed (two identical ``typedef u8``). The rule, applied by
:meth:`kdbg.btf.index.BTF.lookup`:

1. Complete definitions win over incomplete ones (a FWD, an enum with no enumerators, a
   typedef of an incomplete type).
2. Where the context gives a size (``lookup(spec, size=N)``: a member or variable whose
   type is this name), the definitions of that size win.
3. Definitions that are structurally the same type (same kind, name, size, and members
   whose types are themselves the same, recursively) count as one; the lowest id stands
   for them.
4. Anything left that is still more than one is ambiguous:
   :class:`~kdbg.errors.AmbiguousTypeError` lists the candidates with ids and sizes, and
   ``struct dma_chan#<id>`` (or a bare id) picks one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Sequence, Set, Tuple

from kdbg.btf.types import (
    MAX_CHAIN,
    Array,
    Composite,
    Enum,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    Ref,
    Type,
    Typedef,
)
from kdbg.errors import BTFError

if TYPE_CHECKING:
    from kdbg.btf.index import BTF

__all__ = ["is_complete", "same_type", "definitions", "MAX_COMPARISONS"]

#: Type pairs compared before two candidates are declared different (the safe answer:
#: they are then reported as ambiguous, never merged).
MAX_COMPARISONS = 4096


def is_complete(t: Type) -> bool:
    """True when ``t`` is a definition, not a declaration: not a FWD, not an enum without
    enumerators, not a typedef whose target has no size."""
    if isinstance(t, Fwd):
        return False
    if isinstance(t, Enum):
        return t.vlen > 0
    if isinstance(t, Typedef):
        return t.size is not None
    return True


def same_type(btf: BTF, a: int, b: int, budget: Optional[List[int]] = None) -> bool:
    """True when type ids ``a`` and ``b`` describe the same C type (the same layout and,
    recursively, the same types of members, elements, parameters and pointees; typedefs
    are aliases, as in C).

    A FWD matches a definition of its tag. Cycles through pointers are assumed equal
    while they are being compared, as BTF deduplication does; after
    :data:`MAX_COMPARISONS` pairs the answer is ``False``.
    """
    budget = [MAX_COMPARISONS] if budget is None else budget
    return _same(btf, a, b, set(), budget)


def _same(btf: BTF, a: int, b: int, assumed: Set[Tuple[int, int]], budget: List[int]) -> bool:
    if a == b or (a, b) in assumed:
        return True
    budget[0] -= 1
    if budget[0] < 0:
        return False
    ta, tb = _alias_target(btf.type(a)), _alias_target(btf.type(b))
    if ta.id == tb.id:
        return True
    if isinstance(ta, (Fwd, Composite)) and isinstance(tb, (Fwd, Composite)) and (
        isinstance(ta, Fwd) or isinstance(tb, Fwd)
    ):  # a declaration matches any definition of its tag (C's compatible types)
        return ta.btf_name == tb.btf_name and ta.keyword == tb.keyword
    if type(ta) is not type(tb) or ta.btf_kind != tb.btf_kind or ta.btf_name != tb.btf_name or ta.kflag != tb.kflag:
        return False
    assumed.add((a, b))
    if isinstance(ta, Int):
        assert isinstance(tb, Int)
        return (ta.size, ta.encoding, ta.bits, ta.bit_offset) == (tb.size, tb.encoding, tb.bits, tb.bit_offset)
    if isinstance(ta, Float):
        return ta.size == tb.size
    if isinstance(ta, Fwd):
        return True
    if isinstance(ta, Composite):
        assert isinstance(tb, Composite)
        if ta.size != tb.size or ta.vlen != tb.vlen:
            return False
        pairs = list(zip(ta.btf_members, tb.btf_members))  # as many: vlen compared above
        for ma, mb in pairs:
            if (ma.btf_name, ma.bit_offset, ma.bitfield_size) != (mb.btf_name, mb.bit_offset, mb.bitfield_size):
                return False
        return all(_same(btf, ma.type_id, mb.type_id, assumed, budget) for ma, mb in pairs)
    if isinstance(ta, Enum):
        assert isinstance(tb, Enum)
        return ta.size == tb.size and ta.enumerators == tb.enumerators
    if isinstance(ta, Array):
        assert isinstance(tb, Array)
        return ta.length == tb.length and _same(btf, ta.type_id, tb.type_id, assumed, budget)
    if isinstance(ta, FuncProto):
        assert isinstance(tb, FuncProto)
        pa, pb = ta.params, tb.params
        if len(pa) != len(pb) or ta.is_variadic != tb.is_variadic:
            return False
        if any(x.btf_name != y.btf_name for x, y in zip(pa, pb)):
            return False
        return _same(btf, ta.type_id, tb.type_id, assumed, budget) and all(
            _same(btf, x.type_id, y.type_id, assumed, budget) for x, y in zip(pa, pb)
        )
    if isinstance(ta, Func):
        assert isinstance(tb, Func)
        return ta.linkage == tb.linkage and _same(btf, ta.type_id, tb.type_id, assumed, budget)
    if isinstance(ta, Ref):  # pointer, typedef, qualifiers, type tag
        assert isinstance(tb, Ref)
        return _same(btf, ta.type_id, tb.type_id, assumed, budget)
    return False  # VAR, DATASEC, DECL_TAG, kinds known only by layout: never merged


def _alias_target(t: Type) -> Type:
    """``t`` with typedefs followed: a typedef is an alias in C, so ``typedef __u8 u8`` and
    ``typedef unsigned char u8`` name the same type."""
    for _ in range(MAX_CHAIN):
        if not isinstance(t, Typedef):
            return t
        t = t.type
    raise BTFError(f"typedef chain too long (cycle?) at type id {t.id}")


def definitions(btf: BTF, ids: Sequence[int], size: Optional[int] = None) -> List[Type]:
    """The distinct types ``ids`` (all of one name) can mean, by the rule in the module
    docstring, lowest id first. One element: the name is resolved; more: ambiguous."""
    types = [btf.type(i) for i in ids]
    if len(types) < 2:
        return types
    complete = [t for t in types if is_complete(t)]
    if complete:
        types = complete
    if size is not None:
        sized = [t for t in types if t.size == size]
        if sized:
            types = sized
    distinct: List[Type] = []
    for t in sorted(types, key=lambda x: x.id):
        if not any(d.btf_kind == t.btf_kind and same_type(btf, d.id, t.id) for d in distinct):
            distinct.append(t)
    return distinct


def describe(t: Type) -> Tuple[int, str, Optional[int]]:
    """``(id, kind name, size)`` of a candidate, as :class:`AmbiguousTypeError` lists it."""
    return t.id, t.kind_name, t.size
