"""Types by C name: :meth:`NameLookup.lookup` (``struct task_struct``, ``unsigned long``,
``char [16]``, ``struct dma_chan#32864``), the base names of the one C parser's
declarations (:meth:`NameLookup.resolve_specifiers`) and a type finder's question
(:meth:`NameLookup.find_type`). :class:`NameLookup` is part of :class:`kdbg.btf.index.BTF`;
the rule for names several types share is :mod:`kdbg.btf.names`'."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, List, Optional, Sequence, Union

from kdbg.btf import constants as K
from kdbg.btf.cparse import Specifiers, parse_type_name
from kdbg.btf.kinds import TypeKind, TypeKindSet
from kdbg.btf.names import definitions, describe
from kdbg.btf.resolve import BTFResolver
from kdbg.btf.types import Type
from kdbg.errors import AmbiguousTypeError, TypeNotFoundError

if TYPE_CHECKING:
    pass

__all__ = ["NameLookup", "canonical_int_name"]


def canonical_int_name(words: Sequence[str]) -> Optional[str]:
    """Map C integer spellings (``unsigned long``) to the names gcc writes into BTF."""
    w = list(words)
    if not w or any(x not in ("signed", "unsigned", "short", "long", "int", "char") for x in w):
        return None
    unsigned = "unsigned" in w
    signed = "signed" in w
    longs = w.count("long")
    if "char" in w:
        if longs or "short" in w or "int" in w:
            return None
        return "unsigned char" if unsigned else ("signed char" if signed else "char")
    if "short" in w:
        return "short unsigned int" if unsigned else "short int"
    if longs == 1:
        return "long unsigned int" if unsigned else "long int"
    if longs == 2:
        return "long long unsigned int" if unsigned else "long long int"
    if longs > 2:
        return None
    return "unsigned int" if unsigned else "int"


_KEYWORD_KINDS = {
    "struct": (K.KIND_STRUCT,),
    "union": (K.KIND_UNION,),
    "enum": (K.KIND_ENUM, K.KIND_ENUM64),
}
#: What a bare name can be: ordinary identifiers first (C's rule), then tags.
_IDENT_KINDS = (K.KIND_TYPEDEF, K.KIND_INT, K.KIND_FLOAT)
_TAG_KINDS = (K.KIND_STRUCT, K.KIND_UNION, K.KIND_ENUM, K.KIND_ENUM64)

class NameLookup:
    """What :class:`~kdbg.btf.index.BTF` answers about names."""

    if TYPE_CHECKING:  # what it uses of the BTF it is part of
        _void: Type

        @property
        def last_id(self) -> int: ...
        def type(self, type_id: int) -> Type: ...
        def kind_of(self, type_id: int) -> int: ...
        def name_of(self, type_id: int) -> str: ...
        def ids_by_name(self, name: str, kinds: Optional[Iterable[int]] = None) -> List[int]: ...
        def find(self, name: str, kinds: Optional[Iterable[int]] = None) -> Optional[Type]: ...
        def float_type(self, name: str) -> Optional[Type]: ...

    def lookup(self, spec: Union[str, int], size: Optional[int] = None) -> Type:
        """Resolve a C type name: ``struct task_struct``, ``task_struct``, ``enum pid_type``,
        ``unsigned long``, ``u64``, ``struct list_head *``, ``char [16]``, ``const char *``
        (the one C parser, :mod:`kdbg.btf.cparse`).

        A name several different types share (``struct dma_chan``) resolves by the rule in
        :mod:`kdbg.btf.names`: complete definitions first, then the one of ``size`` bytes
        when the caller knows the size (a member's or variable's), else
        :class:`~kdbg.errors.AmbiguousTypeError` lists them. ``struct dma_chan#32864``, a
        bare id (``"32864"`` or ``32864``) or ``#32864`` pick one. A bare name is a typedef
        or base type, as in C; a struct/union/enum tag is accepted without its keyword when
        no typedef or base type has that name.

        Raises :class:`~kdbg.errors.TypeNotFoundError` when nothing matches.
        """
        if isinstance(spec, int):
            return self._by_id(spec, str(spec))
        if not spec.strip():
            raise TypeNotFoundError(spec, "empty type name")
        return parse_type_name(spec, BTFResolver([self]), size)  # type: ignore[list-item]

    def find_type(self, kinds: TypeKindSet, name: str) -> Optional[Type]:
        """A type finder's question (drgn's): the type of one of ``kinds`` named ``name``
        in this BTF, or ``None``; :class:`~kdbg.errors.AmbiguousTypeError` when several
        different ones remain."""
        spec = Specifiers()
        tags = [k for k in (TypeKind.STRUCT, TypeKind.UNION, TypeKind.ENUM) if k in kinds]
        for kind in tags:
            spec.tag = (kind.name.lower(), name)
            try:
                return self.resolve_specifiers(spec)
            except TypeNotFoundError:
                continue
        if kinds & {TypeKind.TYPEDEF, TypeKind.INT, TypeKind.BOOL, TypeKind.FLOAT, TypeKind.VOID}:
            spec.tag = None
            spec.typedef = name
            try:
                t = self.resolve_specifiers(spec)
            except TypeNotFoundError:
                return None
            return t if t.kind in kinds else None
        return None

    def resolve_specifiers(self, spec: Specifiers, size: Optional[int] = None) -> Type:
        """The base type a declaration's specifiers name, in this BTF (and its base), by
        the rule of :meth:`lookup`."""
        if spec.tag is None and spec.typedef is None and not spec.words:
            assert spec.pick is not None
            return self._by_id(spec.pick, spec.spelling())
        words = spec.words
        if words and any(w in ("float", "double", "__int128") for w in words):
            if "__int128" in words:
                name = "__int128 unsigned" if "unsigned" in words else "__int128"
            else:
                name = " ".join(w for w in words if w != "signed")
            # pahole before 1.21 (Debian's 5.10) wrote floating-point types as INT records
            found = self.find(name, (K.KIND_FLOAT,)) or self.float_type(name) or self.find(name, (K.KIND_INT,))
            if found is None:
                raise TypeNotFoundError(name)
            return found
        if spec.tag is not None:
            return self._lookup_base(list(spec.tag), spec.spelling(), size, spec.pick)
        if spec.typedef is not None:
            return self._lookup_base([spec.typedef], spec.spelling(), size, spec.pick)
        if words in (["signed"], ["unsigned"]):
            words = [words[0], "int"]
        return self._lookup_base(list(words), spec.spelling(), size, spec.pick)

    def _by_id(self, type_id: int, spec: str) -> Type:
        if not 0 <= type_id <= self.last_id:
            raise TypeNotFoundError(spec, f"type ids go from 0 to {self.last_id}")
        return self.type(type_id)

    def _resolve_name(self, label: str, ids: List[int], size: Optional[int], pick: Optional[int]) -> Type:
        """One type of ``ids`` (all named ``label``): ``pick`` if given, else by the rule of
        :mod:`kdbg.btf.names`; raise when none or several remain."""
        if pick is not None:
            if pick in ids:
                return self.type(pick)
            if 0 <= pick <= self.last_id:
                raise TypeNotFoundError(
                    f"{label}#{pick}", f"type id {pick} is {self.kind_name_of(pick)} {self.name_of(pick)!r}"
                )
            raise TypeNotFoundError(f"{label}#{pick}", f"type ids go from 0 to {self.last_id}")
        if len(ids) == 1:
            return self.type(ids[0])
        defs = definitions(self, ids, size)  # type: ignore[arg-type]
        if not defs:
            raise TypeNotFoundError(label)
        if len(defs) > 1:
            raise AmbiguousTypeError(label, [describe(t) for t in defs])
        return defs[0]

    def kind_name_of(self, type_id: int) -> str:
        """The kind of ``type_id`` as bpftool spells it (``STRUCT``), without decoding it."""
        kind = self.kind_of(type_id)
        return K.KIND_NAMES.get(kind, f"KIND{kind}") if type_id else "void"

    def _lookup_base(self, words: List[str], spec: str, size: Optional[int], pick: Optional[int]) -> Type:
        if not words:
            assert pick is not None
            return self._by_id(pick, spec)
        if words[0] in _KEYWORD_KINDS:
            if len(words) != 2:
                raise TypeNotFoundError(spec, f"expected '{words[0]} NAME'")
            label = f"{words[0]} {words[1]}"
            ids = self.ids_by_name(words[1], _KEYWORD_KINDS[words[0]] + (K.KIND_FWD,))
            if words[0] != "enum":
                fwd_union = words[0] == "union"
                ids = [i for i in ids if self.kind_of(i) != K.KIND_FWD or self.type(i).kflag == fwd_union]
            if not ids:
                raise TypeNotFoundError(label)
            return self._resolve_name(label, ids, size, pick)
        if words == ["void"] and pick is None:
            return self._void
        canon = canonical_int_name(words)
        name = canon if canon is not None else " ".join(words)
        if canon is None and len(words) > 1:
            raise TypeNotFoundError(spec)
        ids = self.ids_by_name(name, _IDENT_KINDS) or self.ids_by_name(name, _TAG_KINDS)
        if not ids and name == "_Bool":
            name = "bool"
            ids = self.ids_by_name(name, _IDENT_KINDS)
        if not ids:
            raise TypeNotFoundError(name)
        return self._resolve_name(name, ids, size, pick)

