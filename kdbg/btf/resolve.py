"""Names of C declarations resolved in BTF: :class:`BTFResolver`, the
:class:`~kdbg.btf.cparse.Resolver` over a list of BTFs, and the indexes it keeps in each
BTF's ``memo`` (its qualifier records, prototypes and anonymous types)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

from kdbg.btf import constants as K
from kdbg.btf.cparse import Specifiers
from kdbg.btf.names import same_type
from kdbg.errors import AmbiguousTypeError, KdbgError, TypeNotFoundError

if TYPE_CHECKING:
    from kdbg.btf.index import BTF
    from kdbg.btf.types import Type

__all__ = ["BTFResolver", "resolve_specifiers_in"]


_QUAL_KINDS = {"const": K.KIND_CONST, "volatile": K.KIND_VOLATILE, "restrict": K.KIND_RESTRICT}
_KEYWORD_KIND = {"struct": K.KIND_STRUCT, "union": K.KIND_UNION, "enum": K.KIND_ENUM}


def resolve_specifiers_in(btfs: Sequence[BTF], spec: Specifiers, size: Optional[int], pick_first: bool) -> Type:
    """The type ``spec`` names in the first of ``btfs`` that has it (an ambiguous name is
    an error, or its first candidate with ``pick_first``); the last BTF's
    :class:`~kdbg.errors.TypeNotFoundError` when none has it."""
    last: Optional[KdbgError] = None
    for btf in btfs:
        try:
            return btf.resolve_specifiers(spec, size)
        except AmbiguousTypeError as e:
            if pick_first:
                return btf.type(e.candidates[0][0])
            raise
        except TypeNotFoundError as e:
            last = e
    if last is None:
        raise TypeNotFoundError("type", "no BTF to resolve it in")
    raise last


class BTFResolver:
    """Names resolved in ``btfs`` (a base BTF, then split BTFs on it): a name means the
    type of the first BTF that has it; derived types are the BTF's own records of that
    shape where it has one (a PTR, CONST or FUNC_PROTO), else synthesized in the BTF the
    type comes from. Prototypes and anonymous types are looked for in :meth:`everywhere`."""

    def __init__(self, btfs: Sequence[BTF]) -> None:
        if not btfs:
            raise TypeNotFoundError("type", "no BTF to resolve the declaration's types in")
        self.btfs = list(btfs)

    def everywhere(self) -> Sequence[BTF]:
        """The BTFs existing prototypes and anonymous types are looked for in, in order:
        :attr:`btfs` (a program's resolver adds its modules' BTFs)."""
        return self.btfs

    def base(self, spec: Specifiers, size: Optional[int], pick_first: bool) -> Type:
        return resolve_specifiers_in(self.btfs, spec, size, pick_first)

    def names_type(self, word: str) -> bool:
        kinds = (K.KIND_TYPEDEF, K.KIND_INT, K.KIND_FLOAT)
        return any(b.ids_by_name(word, kinds) for b in self.btfs)

    def _owner(self, t: Type) -> BTF:
        return t.btf if t.btf is not None else self.btfs[0]

    def pointer_to(self, t: Type) -> Type:
        return self._owner(t).pointer_to(t)

    def array_of(self, t: Type, length: Optional[int]) -> Type:
        owner = self._owner(t)
        return owner.incomplete_array_of(t) if length is None else owner.array_of(t, length)

    def qualified(self, t: Type, keyword: str) -> Type:
        """The BTF's own CONST/VOLATILE/RESTRICT of ``t`` when it has one (so prototypes
        built on it match the BTF's), else a synthesized one."""
        owner = self._owner(t)
        idx = owner.memo.get("cparse.qualifiers")
        if idx is None:
            idx = {}
            head = owner.records.head
            for tid in owner.all_ids(tuple(_QUAL_KINDS.values())):  # from the records, decoding none
                _name, info, ref, _off = head(tid)
                idx.setdefault(((info >> 24) & 0x7F, ref), tid)
            owner.memo["cparse.qualifiers"] = idx
        hit = idx.get((_QUAL_KINDS[keyword], t.id))
        return owner.type(hit) if hit is not None else owner.qualified(t, keyword)

    def function_proto(self, ret: Type, params: Sequence[Type], variadic: bool) -> Type:
        """An existing FUNC_PROTO of that shape (in the last BTF any part comes from),
        else one synthesized there."""
        order = {id(b): i for i, b in enumerate(self.everywhere())}
        owner = max((self._owner(t) for t in (ret, *params)), key=lambda b: order.get(id(b), -1))
        key = (ret.id, tuple(p.id for p in params), variadic)
        if all(t.id >= 0 for t in (ret, *params)):
            hit = _proto_index(owner).get(key)
            if hit is not None:
                return owner.type(hit)
        return owner.function_proto(ret, params, variadic)

    def anonymous(self, keyword: str, members: Sequence[Tuple[str, Optional[Type]]]) -> Optional[Type]:
        """The first anonymous ``keyword`` type with these member names, one whose member
        types are the parsed ones preferred."""
        key = (_KEYWORD_KIND[keyword], tuple(n for n, _ in members))
        found = [btf.type(tid) for btf in self.everywhere() for tid in _anonymous_index(btf).get(key, ())]
        if not found or keyword == "enum":
            return found[0] if found else None
        # the type whose members have exactly the parsed types, before one whose members'
        # types are only alike (two tracepoints' btf_trace_* typedefs of one prototype)
        for t in found:
            if all(want is None or want == m.type for (_, want), m in zip(members, t.btf_members)):  # type: ignore[attr-defined]
                return t
        for t in found:
            btf = t.btf
            assert btf is not None
            if all(want is None or _same_member_type(btf, want, m.type_id)
                   for (_, want), m in zip(members, t.btf_members)):  # type: ignore[attr-defined]
                return t
        return found[0]


def _same_member_type(btf: BTF, want: Type, member_type_id: int) -> bool:
    """Whether a member of a type of ``btf`` (type id ``member_type_id``) has the type
    ``want``, which may belong to a split BTF on top of ``btf`` (a module's type, where the
    anonymous type is vmlinux's): the ids are compared in the BTF that holds both; types of
    two different split BTFs are not the same."""
    where = btf
    other = want.btf
    if other is not None and other is not btf:
        base = other.base
        while base is not None and base is not btf:
            base = base.base
        if base is None:  # want's BTF is not on top of btf: btf must be on top of want's
            b = btf.base
            while b is not None and b is not other:
                b = b.base
            if b is None:
                return False
        else:
            where = other
    return same_type(where, want.id, member_type_id)


def _anonymous_index(btf: BTF) -> Dict[Tuple[int, Tuple[str, ...]], List[int]]:
    """(kind, member or enumerator names) -> ids of this BTF's own anonymous structs,
    unions and enums."""
    idx = btf.memo.get("cparse.anonymous")
    if idx is None:
        idx = {}
        records = btf.records
        offsets = _Offsets()
        string = btf.string
        # from the records: an anonymous type is decoded when a declaration names it
        for tid in btf.ids((K.KIND_STRUCT, K.KIND_UNION, K.KIND_ENUM, K.KIND_ENUM64)):
            if btf.name_of(tid):
                continue
            kind = records.kind(tid)
            if kind in (K.KIND_ENUM, K.KIND_ENUM64):
                kind = K.KIND_ENUM
                names = tuple(string(off) for off, _v in records.enumerators(tid, offsets))
            else:
                names = tuple(string(m[0]) for m in records.members(tid, offsets))
            idx.setdefault((kind, names), []).append(tid)
        btf.memo["cparse.anonymous"] = idx
    return idx


class _Offsets:
    """A name map that gives the string offset itself (for :meth:`Records.params`)."""

    def __getitem__(self, off: int) -> int:
        return off

    def get(self, off: int, default: object = None) -> int:
        return off


def _proto_index(btf: BTF) -> Dict[Tuple[int, Tuple[int, ...], bool], int]:
    """(return id, parameter ids, variadic) -> the first FUNC_PROTO of that shape."""
    idx = btf.memo.get("cparse.prototypes")
    if idx is None:
        idx = {}
        named: Dict[Tuple[int, Tuple[int, ...], bool], int] = {}
        records = btf.records
        offsets = _Offsets()
        for tid in btf.all_ids((K.KIND_FUNC_PROTO,)):
            # straight from the records (name offsets, not names): 40,000 prototypes
            ret = records.head(tid)[2]
            params = records.params(tid, offsets)
            variadic = bool(params) and params[-1] == (0, 0)
            if variadic:
                params = params[:-1]
            key = (ret, tuple(t for _, t in params), variadic)
            # a function pointer's prototype has unnamed parameters; a function's has names
            (named if any(a for a, _ in params) else idx).setdefault(key, tid)
        for key, tid in named.items():
            idx.setdefault(key, tid)
        btf.memo["cparse.prototypes"] = idx
    return idx
