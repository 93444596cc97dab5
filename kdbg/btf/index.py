"""BTF as types: the type model over the one decoder, with name lookup.

A :class:`BTF` is either *base* BTF (vmlinux) or *split* BTF stacked on a base (a module's
BTF): split type ids continue after the base's last id and split string offsets continue
after the base's string section, exactly as the kernel and libbpf lay them out. The bytes
are read by :class:`kdbg.btf.decoder.Records` (one pass builds the offsets index); types
are model objects made on first use and cached, their member lists decoded on first use.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Pattern,
    Protocol,
    Sequence,
    Tuple,
    Union,
)
from typing import Type as PyType

from kdbg.btf import constants as K
from kdbg.btf.cdecl import Declarator, model_declarator
from kdbg.btf.decoder import BTFHeader, KindLayout, Records, TypeIndex, parse_header
from kdbg.btf.names import definitions, describe
from kdbg.btf.types import (
    Array,
    Composite,
    Const,
    Datasec,
    DeclTag,
    Enum,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    Opaque,
    Param,
    Pointer,
    Qualified,
    Restrict,
    Struct,
    Type,
    Typedef,
    TypeTag,
    Var,
    Void,
    Volatile,
)
from kdbg.btf.types import (
    Union as UnionType,
)
from kdbg.errors import AmbiguousTypeError, BTFError, TypeNotFoundError
from kdbg.progress import progress

__all__ = ["BTF", "BTFHeader", "IndexStore", "KindLayout", "NameIndex", "parse_header"]


#: Name lookups answered by searching (a stored name index, or the strings and records)
#: before the name index is loaded or built whole.
NAME_FINDS = 32


class NameIndex(Dict[str, Any]):
    """Type name -> ids. A unique name (nearly all) is stored as its bare id, built at C
    speed; lookups always give a list."""

    def get(self, key: str, default: Any = None) -> Any:
        v = dict.get(self, key, default)
        return [v] if isinstance(v, int) else v

    def __getitem__(self, key: str) -> List[int]:
        v = dict.__getitem__(self, key)
        return [v] if isinstance(v, int) else v


class IndexStore(Protocol):
    """Somewhere a BTF's two indexes are kept between runs (:mod:`kdbg.btf.cache`).

    Both depend only on the BTF's bytes. A :class:`BTF` asks for the offsets index when
    it opens and for the name index on the first name lookup; when it had to build the
    name index it hands both over with :meth:`save`.
    """

    def load_index(self) -> Optional[TypeIndex]:
        """The offsets index, or ``None``."""

    def load_names(self) -> Optional[Dict[str, Any]]:
        """The name index (name -> id, or list of ids for repeated names), or ``None``."""

    def save(self, index: TypeIndex, names: Dict[str, Any]) -> None:
        """Keep both indexes (never raises)."""


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
#: ``NAME#ID`` or ``#ID`` or a bare id: pick one type by id.
_PICK_RE = re.compile(r"^(.*?)\s*#\s*(\d+)$")
_QUALIFIERS: Dict[int, PyType[Qualified]] = {
    K.KIND_CONST: Const,
    K.KIND_VOLATILE: Volatile,
    K.KIND_RESTRICT: Restrict,
    K.KIND_TYPE_TAG: TypeTag,
}
_DECL_RE = re.compile(r"\s*(\*|\[\s*(\d*)\s*\]|const\b|volatile\b|restrict\b)")


class BTF:
    """Parsed BTF: base, or split on top of ``base``.

    ``data`` is the raw blob (``/sys/kernel/btf/vmlinux``, an ELF ``.BTF`` section, or
    bytes read from a vmcore). Construction validates the header and walks the type
    section once to build an offsets index; every type decodes lazily afterwards.
    """

    def __init__(
        self,
        data: bytes,
        base: Optional[BTF] = None,
        name: str = "BTF",
        store: Optional[IndexStore] = None,
    ) -> None:
        self.name = name
        self.data = bytes(data)
        self.base = base
        #: Where the indexes are kept between runs (:mod:`kdbg.btf.cache`), if anywhere.
        self.store = store
        index = store.load_index() if store is not None else None
        #: The decoder of this blob's records (:class:`kdbg.btf.decoder.Records`).
        self.records: Records = Records(self.data, name, base.records if base is not None else None, index)
        r = self.records
        self.header: BTFHeader = r.header
        self.byteorder = r.byteorder
        self.layout: Optional[Dict[int, KindLayout]] = r.layout
        self.start_id: int = r.start_id
        self.start_str_off: int = r.start_str_off
        self._cache: List[Optional[Type]] = [None] * len(r)
        self._void = Void(self)
        self._names: Optional[Dict[str, List[int]]] = None
        self._name_finds = 0
        self._enumerators: Optional[Dict[str, Tuple[int, int]]] = None
        self._ptr_index: Optional[Dict[int, int]] = None
        self._synth: Dict[int, Type] = {}
        self._synth_key: Dict[Tuple[str, int, int], int] = {}
        self._declarator: Optional[Declarator] = None

    def declarator(self) -> Declarator:
        """The C declarator writer over this BTF's types (drgn's dialect), made once."""
        if self._declarator is None:
            self._declarator = model_declarator(self)
        return self._declarator

    # ------------------------------------------------------------------ basic access
    def __len__(self) -> int:
        """Number of types in this BTF (the base's not counted)."""
        return len(self.records)

    @property
    def str_len(self) -> int:
        """Length of this BTF's own string section."""
        return len(self.records.strings)

    @property
    def last_id(self) -> int:
        """The highest type id (base ids included)."""
        return self.records.last_id

    def string(self, off: int) -> str:
        """The NUL-terminated string at string offset ``off`` (split offsets continue the base's)."""
        return self.records.names[off]

    def string_map(self) -> Dict[int, str]:
        """Every string of this BTF's own string section by offset, decoded in one pass
        (see :meth:`kdbg.btf.decoder.Records.string_map`)."""
        return self.records.string_map()

    def kind_of(self, type_id: int) -> int:
        """Kind number of ``type_id`` without decoding the type."""
        if type_id == 0:
            return K.KIND_UNKN
        if type_id < 0 and type_id in self._synth:
            return self._synth[type_id].kind
        if type_id < self.start_id and self.base is not None:
            return self.base.kind_of(type_id)
        idx = type_id - self.start_id
        infos = self.records.infos
        if not 0 <= idx < len(infos):
            raise BTFError(f"{self.name}: type id {type_id} out of range (last is {self.last_id})")
        return (infos[idx] >> 24) & 0x7F

    def name_of(self, type_id: int) -> str:
        """Name of ``type_id`` without decoding the type."""
        if type_id == 0:
            return "void"
        if type_id < 0 and type_id in self._synth:
            return self._synth[type_id].name
        if type_id < self.start_id and self.base is not None:
            return self.base.name_of(type_id)
        idx = type_id - self.start_id
        name_offs = self.records.name_offs
        if not 0 <= idx < len(name_offs):
            raise BTFError(f"{self.name}: type id {type_id} out of range (last is {self.last_id})")
        return self.string(name_offs[idx])

    def type(self, type_id: int) -> Type:
        """The type with id ``type_id`` (0 is ``void``); decoded once, then cached."""
        if type_id >= self.start_id:
            idx = type_id - self.start_id
            if idx >= len(self._cache):
                raise BTFError(f"{self.name}: type id {type_id} out of range (last is {self.last_id})")
            t = self._cache[idx]
            if t is None:
                t = self._decode(type_id)
                self._cache[idx] = t
            return t
        if type_id == 0:
            return self._void
        if type_id < 0:
            try:
                return self._synth[type_id]
            except KeyError:
                raise BTFError(f"{self.name}: no synthesized type {type_id}") from None
        if self.base is None:
            raise BTFError(f"{self.name}: type id {type_id} out of range")
        return self.base.type(type_id)

    def __iter__(self) -> Iterator[Type]:
        """Every type of this BTF in id order (the base's not included)."""
        for i in range(len(self.records)):
            yield self.type(self.start_id + i)

    def ids(self, kinds: Optional[Iterable[int]] = None) -> Iterator[int]:
        """Type ids of this BTF (optionally only of the given kinds), in order."""
        start = self.start_id
        if kinds is None:
            yield from range(start, start + len(self.records))
            return
        ks = set(kinds)
        if len(ks) == 1:  # one kind (DATASEC, ...): found at C speed in the kind bytes
            (k,) = ks
            if not (isinstance(k, int) and 0 <= k <= 0x7F):
                return  # no record has that kind
            want = bytes((k,))
            kb = self.records.kinds()
            i = kb.find(want)
            while i >= 0:
                yield start + i
                i = kb.find(want, i + 1)
            return
        for i, info in enumerate(self.records.infos):
            if (info >> 24) & 0x7F in ks:
                yield start + i

    def all_ids(self, kinds: Optional[Iterable[int]] = None) -> Iterator[int]:
        """Like :meth:`ids` but including the base's types first."""
        ks = None if kinds is None else tuple(kinds)
        if self.base is not None:
            yield from self.base.all_ids(ks)
        yield from self.ids(ks)

    # ------------------------------------------------------------------ the model
    def _decode(self, type_id: int) -> Type:
        """The model object of one record (its member lists decode later, on use)."""
        r = self.records
        name_off, info, st, off = r.head(type_id)
        kind = (info >> 24) & 0x7F
        vlen = info & 0xFFFFFF
        kflag = bool(info >> 31)
        name = self.string(name_off) if name_off else ""
        check = r.check_ref
        if kind == K.KIND_INT:
            return Int(self, type_id, name, st, r.extra(type_id))
        if kind == K.KIND_PTR:
            return Pointer(self, type_id, kind, name, kflag, check(st, type_id, "PTR"))
        if kind == K.KIND_ARRAY:
            elem, index, nelems = r.array(type_id)
            return Array(self, type_id, elem, index, nelems)
        if kind == K.KIND_STRUCT:
            return Struct(self, type_id, kind, name, kflag, st, vlen)
        if kind == K.KIND_UNION:
            return UnionType(self, type_id, kind, name, kflag, st, vlen)
        if kind in (K.KIND_ENUM, K.KIND_ENUM64):
            return Enum(self, type_id, kind, name, kflag, st, vlen)
        if kind == K.KIND_FWD:
            return Fwd(self, type_id, kind, name, kflag)
        if kind == K.KIND_TYPEDEF:
            return Typedef(self, type_id, kind, name, kflag, check(st, type_id, "TYPEDEF"))
        qual = _QUALIFIERS.get(kind)
        if qual is not None:
            return qual(self, type_id, kind, name, kflag, check(st, type_id, K.KIND_NAMES[kind]))
        if kind == K.KIND_FUNC:
            return Func(self, type_id, name, check(st, type_id, "FUNC"), vlen)
        if kind == K.KIND_FUNC_PROTO:
            return FuncProto(self, type_id, check(st, type_id, "FUNC_PROTO return"), vlen)
        if kind == K.KIND_VAR:
            return Var(self, type_id, name, check(st, type_id, "VAR"), r.extra(type_id))
        if kind == K.KIND_DATASEC:
            return Datasec(self, type_id, name, st, vlen)
        if kind == K.KIND_FLOAT:
            return Float(self, type_id, name, st)
        if kind == K.KIND_DECL_TAG:
            return DeclTag(self, type_id, name, kflag, check(st, type_id, "DECL_TAG"), r.extra(type_id))
        return Opaque(self, type_id, kind, name, kflag, st, vlen, off + 12)

    # ------------------------------------------------------------------ name index
    def _name_index(self) -> Dict[str, List[int]]:
        if self._names is None and self.store is not None:
            loaded = self.store.load_names()
            if loaded is not None:
                if not isinstance(loaded, NameIndex):
                    loaded = NameIndex(loaded)
                self._names = loaded
                return loaded
        if self._names is None:
            with progress("indexing BTF types"):
                smap = self.string_map()
                get = smap.get
                offs = self.records.name_offs
                # every type's name at C speed; offsets into the middle of a string are rare
                names_list: List[Any] = list(map(get, offs))
                if None in names_list:
                    string = self.string
                    names_list = [s if s is not None else string(o) for s, o in zip(names_list, offs)]
                ids = range(self.start_id, self.start_id + len(names_list))
                names = NameIndex(zip(names_list, ids))  # unique names: the bare id
                if len(names) != len(names_list):
                    dup = {s for s, c in Counter(names_list).items() if c > 1 and s}
                    for s in dup:
                        dict.__setitem__(names, s, [])
                    for s, i in [(s, i) for s, i in zip(names_list, ids) if s in dup]:
                        dict.__getitem__(names, s).append(i)
                dict.pop(names, "", None)
                self._names = names
                if self.store is not None:
                    self.store.save(self.records.index, names)
        return self._names

    def _ids_named(self, name: str) -> List[int]:
        """This BTF's ids of ``name``: the first :data:`NAME_FINDS` lookups search the stored
        name index (:meth:`kdbg.btf.cache.BTFIndexStore.find_name`) or else the records
        (:meth:`kdbg.btf.decoder.Records.ids_named`), the later ones build the index."""
        if self._names is None and self._name_finds < NAME_FINDS:
            find = getattr(self.store, "find_name", None)
            found = find(name) if find is not None else None
            if found is None:
                found = self.records.ids_named(name)
            if found is not None:
                self._name_finds += 1
                return list(found)
        return list(self._name_index().get(name, ()))

    def build_index(self) -> None:
        """Build the name index now (it is otherwise built on the first name lookup)."""
        self._name_index()
        if self.base is not None:
            self.base.build_index()

    def ids_by_name(self, name: str, kinds: Optional[Iterable[int]] = None) -> List[int]:
        """Ids of every type named ``name`` (this BTF, then its base), filtered by kind."""
        ids = self._ids_named(name)
        if kinds is not None:
            ks = set(kinds)
            ids = [i for i in ids if self.kind_of(i) in ks]
        if self.base is not None:
            ids = self.base.ids_by_name(name, kinds) + ids
        return ids

    def names(self) -> Iterator[str]:
        """Every distinct type name (base included)."""
        if self.base is not None:
            yield from self.base.names()
        yield from self._name_index()

    def find(self, name: str, kinds: Optional[Iterable[int]] = None) -> Optional[Type]:
        """The first type named ``name`` of one of ``kinds``; complete types win over FWD."""
        ids = self.ids_by_name(name, kinds)
        if not ids:
            return None
        for i in ids:
            if self.kind_of(i) != K.KIND_FWD:
                return self.type(i)
        return self.type(ids[0])

    def lookup(self, spec: Union[str, int], size: Optional[int] = None) -> Type:
        """Resolve a C type name: ``struct task_struct``, ``task_struct``, ``enum pid_type``,
        ``unsigned long``, ``u64``, ``struct list_head *``, ``char [16]``, ``const char *``.

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
        text = spec.strip()
        m = re.match(r"^(.*?)((?:\s*(?:\*|\[\s*\d*\s*\]|\bconst\b|\bvolatile\b|\brestrict\b))*)\s*$", text, re.S)
        if m is None:  # pragma: no cover - the pattern matches any text
            raise TypeNotFoundError(spec)
        base_text, decl = m.group(1).strip(), m.group(2)
        quals_before = []
        words = base_text.split()
        while words and words[0] in ("const", "volatile", "restrict"):
            quals_before.append(words.pop(0))
        pick: Optional[int] = None
        joined = " ".join(words)
        hm = _PICK_RE.match(joined)
        if hm is not None:
            words, pick = hm.group(1).split(), int(hm.group(2))
        elif joined.isdigit():
            words, pick = [], int(joined)
        if not words and pick is None:
            raise TypeNotFoundError(spec, "empty type name")
        t = self._lookup_base(words, spec, size, pick)
        for q in quals_before:
            t = self.qualified(t, q)
        pos = 0
        dims: List[int] = []
        while pos < len(decl):
            dm = _DECL_RE.match(decl, pos)
            if dm is None:
                break
            pos = dm.end()
            tok = dm.group(1)
            if tok == "*":
                if dims:
                    raise TypeNotFoundError(spec, "pointer to array needs parentheses")
                t = self.pointer_to(t)
            elif tok.startswith("["):
                dims.append(int(dm.group(2) or 0))
            else:
                t = self.qualified(t, tok)
        for d in reversed(dims):
            t = self.array_of(t, d)
        return t

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
        defs = definitions(self, ids, size)
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

    # ------------------------------------------------------------------ synthesized types
    def _synthesize(self, key: Tuple[str, int, int], make: Callable[[int], Type]) -> Type:
        sid = self._synth_key.get(key)
        if sid is None:
            sid = -(len(self._synth) + 1)
            self._synth[sid] = make(sid)
            self._synth_key[key] = sid
        return self._synth[sid]

    def pointer_to(self, t: Type) -> Type:
        """A pointer to ``t``: the BTF's own PTR type if it has one, else a synthesized one."""
        if self._ptr_index is None:
            idx: Dict[int, int] = {}
            for i in self.all_ids((K.KIND_PTR,)):
                ptr = self.type(i)
                assert isinstance(ptr, Pointer)
                idx.setdefault(ptr.type_id, i)
            self._ptr_index = idx
        pid = self._ptr_index.get(t.id)
        if pid is not None:
            return self.type(pid)
        return self._synthesize(("ptr", t.id, 0), lambda sid: Pointer(self, sid, K.KIND_PTR, "", False, t.id))

    def array_of(self, t: Type, length: int) -> Type:
        """An array type of ``length`` elements of ``t`` (synthesized)."""
        return self._synthesize(("array", t.id, length), lambda sid: Array(self, sid, t.id, 0, length))

    def qualified(self, t: Type, keyword: str) -> Type:
        """``t`` with a qualifier keyword applied (synthesized)."""
        cls = {"const": Const, "volatile": Volatile, "restrict": Restrict}[keyword]
        kind = {"const": K.KIND_CONST, "volatile": K.KIND_VOLATILE, "restrict": K.KIND_RESTRICT}[keyword]
        return self._synthesize((keyword, t.id, 0), lambda sid: cls(self, sid, kind, "", False, t.id))

    def function_proto(self, ret: Type, params: Sequence[Type], variadic: bool = False) -> FuncProto:
        """A prototype ``ret (params...)`` with unnamed parameters (synthesized; callers
        look for an existing FUNC_PROTO of that shape first)."""
        ids = tuple(p.id for p in params)

        def make(sid: int) -> FuncProto:
            proto = FuncProto(self, sid, ret.id, len(ids) + variadic)
            proto._params = tuple(Param("", i, self) for i in ids + ((0,) if variadic else ()))
            return proto

        key = ("proto" + "".join(f",{i}" for i in ids) + (",..." if variadic else ""), ret.id, 0)
        t = self._synthesize(key, make)
        assert isinstance(t, FuncProto)
        return t

    # ------------------------------------------------------------------ queries
    def _enumerator_index(self) -> Dict[str, Tuple[int, int]]:
        if self._enumerators is None:
            idx: Dict[str, Tuple[int, int]] = {}
            for tid in self.all_ids((K.KIND_ENUM, K.KIND_ENUM64)):
                t = self.type(tid)
                assert isinstance(t, Enum)
                for e in t.enumerators:
                    idx.setdefault(e.name, (tid, e.value))
            self._enumerators = idx
        return self._enumerators

    def constant(self, name: str) -> Tuple[Enum, int]:
        """The enum type and value of enumerator ``name`` (``PIDTYPE_PID``)."""
        hit = self._enumerator_index().get(name)
        if hit is None:
            from kdbg.errors import ObjectNotFoundError

            raise ObjectNotFoundError(f"unknown enumerator {name!r}")
        t = self.type(hit[0])
        assert isinstance(t, Enum)
        return t, hit[1]

    def function(self, name: str) -> Func:
        """The BTF FUNC named ``name`` (its prototype is ``.proto``)."""
        t = self.find(name, (K.KIND_FUNC,))
        if t is None:
            from kdbg.errors import ObjectNotFoundError

            raise ObjectNotFoundError(f"no function {name!r} in BTF")
        assert isinstance(t, Func)
        return t

    def functions(self) -> Iterator[Func]:
        """Every FUNC (base first)."""
        for tid in self.all_ids((K.KIND_FUNC,)):
            t = self.type(tid)
            assert isinstance(t, Func)
            yield t

    def variables(self) -> Iterator[Var]:
        """Every VAR (base first)."""
        for tid in self.all_ids((K.KIND_VAR,)):
            t = self.type(tid)
            assert isinstance(t, Var)
            yield t

    def functions_taking(self, arg: Union[str, Type], exact: bool = False) -> List[Tuple[Func, int]]:
        """Functions with a parameter of type ``arg`` (e.g. ``"struct sk_buff *"``).

        Returns ``(func, parameter index)`` pairs. Unless ``exact``, typedefs and qualifiers
        are ignored at every level, so ``const struct sk_buff *`` matches too.
        """
        want = self.lookup(arg) if isinstance(arg, str) else arg
        key = type_shape(want, exact)
        cache: Dict[int, str] = {}
        out = []
        for f in self.functions():
            proto = f.type
            if not isinstance(proto, FuncProto):
                continue
            for i, p in enumerate(proto.params):
                k = cache.get(p.type_id)
                if k is None:
                    k = type_shape(p.type, exact)
                    cache[p.type_id] = k
                if k == key:
                    out.append((f, i))
                    break
        return out

    def search(self, pattern: Union[str, Pattern[str]], kinds: Optional[Iterable[int]] = None) -> List[Type]:
        """Types whose name matches the regular expression ``pattern`` (``re.search``)."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        ks = None if kinds is None else set(kinds)
        out = []
        for name in sorted(set(self.names())):
            if rx.search(name):
                for tid in self.ids_by_name(name):
                    if ks is None or self.kind_of(tid) in ks:
                        out.append(self.type(tid))
        return out


def type_shape(t: Type, exact: bool = False) -> str:
    """A canonical string for comparing types structurally (see ``functions_taking``)."""
    parts: List[str] = []
    cur = t
    for _ in range(64):
        if not exact:
            cur = cur.strip_typedefs()
        if isinstance(cur, Pointer):
            parts.append("*")
            cur = cur.type
            continue
        if isinstance(cur, Array):
            parts.append(f"[{cur.length}]")
            cur = cur.type
            continue
        if exact and isinstance(cur, (Typedef,)):
            parts.append(f"typedef {cur.name}")
            break
        if exact and isinstance(cur, (Const, Volatile, Restrict, TypeTag)):
            parts.append(cur.kind_name)
            cur = cur.type
            continue
        if isinstance(cur, (Composite, Fwd)):
            parts.append(f"{cur.keyword} {cur.name}" if cur.name else f"anon#{cur.id}")
        elif isinstance(cur, Enum):
            parts.append(f"enum {cur.name}" if cur.name else f"anon#{cur.id}")
        elif isinstance(cur, FuncProto):
            parts.append(f"proto#{cur.id}")
        else:
            parts.append(cur.name or f"#{cur.id}")
        break
    return " ".join(parts)
