"""BTF as types: the type model over the one decoder, with name lookup.

A :class:`BTF` is either *base* BTF (vmlinux) or *split* BTF stacked on a base (a module's
BTF): split type ids continue after the base's last id and split string offsets continue
after the base's string section, exactly as the kernel and libbpf lay them out. The bytes
are read by :class:`kdbg.btf.decoder.Records` (one pass builds the offsets index); types
are model objects made on first use and cached, their member lists decoded on first use.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Optional, Protocol, Tuple
from typing import Type as PyType

from kdbg.btf import constants as K
from kdbg.btf.cdecl import Declarator, definition, model_declarator
from kdbg.btf.decoder import BTFHeader, KindLayout, Records, TypeIndex, parse_header
from kdbg.btf.derived import Derivations
from kdbg.btf.lookup import NameLookup
from kdbg.btf.types import (
    MAX_CHAIN,
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
    Pointer,
    Qualified,
    Restrict,
    Struct,
    Type,
    Typedef,
    TypeMember,
    TypeTag,
    Var,
    Void,
    Volatile,
)
from kdbg.btf.types import (
    Union as UnionType,
)
from kdbg.errors import BTFError, ObjectNotFoundError
from kdbg.progress import progress

if TYPE_CHECKING:
    from kdbg.memory.shrunk import ShrinkRecord

__all__ = ["BTF", "BTFHeader", "ENUMERATOR_FINDS", "IndexStore", "KindLayout", "NAME_FINDS", "NameIndex",
           "parse_header", "flexible_by_rule", "old_enum_is_signed"]


#: Type name lookups answered by searching (a stored name index, or the strings and
#: records) before the name index is loaded or built whole. Measured on 6.1's BTF: a
#: search costs 0.5 ms (stored index) to 1 ms (records); the index costs 10 ms to load,
#: 51 ms to build, and 18 MB. Searching until the index would have paid for itself costs
#: at most twice the better choice; that point is 20 searches warm and 50 cold, and the
#: memory favours searching: 48 keeps ``sys`` (46 lookups) and ``kmem -i`` (44) from
#: loading it (8% less CPU and 9 MB less peak RSS than at 32), while a command that looks
#: up hundreds of names (``runq``, ``timer``) wastes at most 25-50 ms before it does.
NAME_FINDS = 48
#: Enumerator lookups answered from the enums' name words (0.46 ms each) before the
#: enumerator index is built (35 ms, 2.4 MB): about where the index pays for itself.
#: Counted apart from :data:`NAME_FINDS`: sharing one count made the 15th ``prog.constant``
#: of ``sys`` build that index after its 32 type lookups.
ENUMERATOR_FINDS = 64


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


_QUALIFIERS: Dict[int, PyType[Qualified]] = {
    K.KIND_CONST: Const,
    K.KIND_VOLATILE: Volatile,
    K.KIND_RESTRICT: Restrict,
    K.KIND_TYPE_TAG: TypeTag,
}
class BTF(NameLookup, Derivations):
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
        self._enumerator_finds = 0
        self._enumerators: Optional[Dict[str, Tuple[int, int]]] = None
        self._ptr_index: Optional[Dict[int, int]] = None
        #: The record of the ``kdbg shrink`` that reduced this BTF (``None``: not reduced).
        self.reduced_by: Optional[ShrinkRecord] = None
        self._synth: Dict[int, Type] = {}
        self._synth_key: Dict[Tuple[str, int, Optional[int]], int] = {}
        self._declarators: Dict[Tuple[str, bool], Declarator] = {}
        self._signedness: Optional[bool] = None
        self._ints: Dict[Tuple[int, bool], Type] = {}
        #: Which zero-length arrays are flexible array members, beyond BTF's rule: set by
        #: whoever assembles the program (:meth:`is_flexible`); ``None`` for the rule alone.
        self.flexible_hook: Optional[Callable[[Composite, int], Optional[bool]]] = None
        #: Makes drgn's absent ``Object`` of a type (and bit field size) for
        #: :attr:`TypeMember.object <kdbg.btf.members.TypeMember.object>`: set by the program
        #: this BTF belongs to (objects are the core's, above this layer); ``None`` outside one.
        self.object_hook: Optional[Callable[[Type, Optional[int]], Any]] = None
        #: Whether plain ``char`` is signed on the program's platform, where this BTF's
        #: encoder dropped the sign of character types (see :meth:`char_is_signed`): set by
        #: the program this BTF belongs to; ``None`` outside one (the BTF's bit is kept).
        self.platform_char_signed: Optional[bool] = None
        #: What users of this BTF derive from it once (indexes of its prototypes,
        #: qualifiers, anonymous types): kept here, so they go when the BTF goes.
        self.memo: Dict[str, Any] = {}

    def release(self) -> None:
        """Drop every type decoded or synthesized from this BTF and what was derived from
        them (its program closed). The types refer to their BTF and the BTF to them; with
        the BTF's side cut, the last reference to a type frees it at once, not at the
        cyclic collector's next run. A type used afterwards decodes again."""
        # A type and the information the object layer keeps on it refer to each other:
        # cut that too, so a type nobody holds is freed at once.
        for t in [*self._cache, *self._synth.values(), self._void]:
            if t is not None:
                t.info = None
                t.lookup = None
        self._cache = [None] * len(self._cache)
        self._void = Void(None)  # the old one refers back to this BTF
        self._synth.clear()
        self._synth_key.clear()
        self._declarators.clear()
        self._ints.clear()
        self._ptr_index = None
        self._enumerators = None
        self.memo.clear()
        self.flexible_hook = None
        self.object_hook = None

    # ------------------------------------------------------------------ C spelling
    def declarator(self, dialect: str = "drgn", with_param_names: bool = True) -> Declarator:
        """The C declarator writer over this BTF's types in ``dialect`` (see
        :mod:`kdbg.btf.cdecl`), made once per dialect."""
        key = (dialect, with_param_names)
        d = self._declarators.get(key)
        if d is None:
            d = self._declarators[key] = model_declarator(self, dialect, with_param_names)
        return d

    def c_declaration(self, t: Type, name: str, dialect: str = "drgn", with_param_names: bool = True) -> str:
        """A C declaration of ``name`` with type ``t`` (an empty name gives the type name)."""
        if isinstance(t, Func):
            return self.declarator(dialect, with_param_names).declare(t.type_id, name or t.btf_name)
        return self.declarator(dialect, with_param_names).declare(t.id, name)

    def c_name(self, t: Type, dialect: str = "drgn") -> str:
        """The C name of type ``t`` (``struct list_head *``; a FUNC's is its prototype
        declaring its name)."""
        return self.c_declaration(t, "", dialect)

    def c_definition(self, t: Type) -> str:
        """drgn's ``str()`` of ``t`` (:func:`kdbg.btf.cdecl.definition`)."""
        return definition(t)

    # ------------------------------------------------------------------ flexible arrays
    def is_flexible(self, container: Composite, index: int) -> bool:
        """Whether member ``index`` of ``container`` is a flexible array member (``T x[]``)
        rather than a zero-length array (``T x[0]``) or anything else.

        BTF writes both as arrays of length 0. :func:`flexible_by_rule` decides from BTF
        alone; :attr:`flexible_hook` (the shipped list of the members a kernel's DWARF
        declares otherwise, attached by :mod:`kdbg.target`) corrects it. A split BTF asks
        its base's hook."""
        members = container.btf_members
        if not _zero_length_array(members[index]):
            return False
        owner: Optional[BTF] = self
        while owner is not None and owner.flexible_hook is None:
            owner = owner.base
        if owner is not None and owner.flexible_hook is not None and members[index].btf_name:
            said = owner.flexible_hook(container, index)
            if said is not None:
                return said
        return flexible_by_rule(container, index)

    def char_is_signed(self, name: str, encoded: bool) -> bool:
        """The signedness of character type ``name`` whose record says ``encoded``.

        pahole before 1.20 (Debian's 5.10 BTF) wrote ``DW_ATE_signed_char`` without
        BTF's signed bit: there ``signed char`` itself reads as unsigned. On such a BTF
        ``signed char`` is signed (C says so) and plain ``char`` is what the platform's ABI
        makes it (:attr:`platform_char_signed`)."""
        if encoded or name not in ("char", "signed char") or not self._char_sign_dropped():
            return encoded
        if name == "signed char":
            return True
        b: Optional[BTF] = self
        while b is not None and b.platform_char_signed is None:
            b = b.base
        return b.platform_char_signed if b is not None and b.platform_char_signed is not None else encoded

    def _char_sign_dropped(self) -> bool:
        """Whether this BTF's ``signed char`` lacks BTF's signed bit (an encoder's bug)."""
        if self.base is not None:
            return self.base._char_sign_dropped()
        dropped = self.memo.get("char_sign_dropped")
        if dropped is None:
            ids = self.ids_by_name("signed char", (K.KIND_INT,))
            dropped = self.memo["char_sign_dropped"] = any(
                not self.type(i).encoding & K.INT_SIGNED for i in ids)  # type: ignore[attr-defined]
        return bool(dropped)

    # ------------------------------------------------------------------ enums
    @property
    def enum_signedness_known(self) -> bool:
        """Whether this BTF says which enums are signed: BTF from kernel 6.0 on marks
        signed enums with the kind flag (and has ENUM64); older BTF stores every value
        as a signed 32-bit number and has no flag. A split BTF follows its base."""
        if self.base is not None:
            return self.base.enum_signedness_known
        if self._signedness is None:
            known = self.records.kinds().find(bytes((K.KIND_ENUM64,))) >= 0
            if not known:
                infos, start = self.records.infos, self.start_id
                known = any(infos[i - start] >> 31 for i in self.ids((K.KIND_ENUM,)))
            self._signedness = known
        return self._signedness

    def enumerator_values(self, t: Enum) -> List[Tuple[str, int]]:
        """Enum ``t``'s ``(name, value)`` pairs, signed as the BTF says (see
        :attr:`enum_signedness_known`; for older BTF, :func:`old_enum_is_signed`)."""
        return self.enumerator_values_of(t.id)

    def enumerator_values_of(self, type_id: int) -> List[Tuple[str, int]]:
        """:meth:`enumerator_values` of the enum with id ``type_id``, from its record
        (without decoding it)."""
        r = self.records
        _name, info, size, _off = r.head(type_id)
        vals = r.enumerators(type_id, r.names)
        if info >> 31 or (info >> 24) & 0x7F == K.KIND_ENUM64 or self.enum_signedness_known \
                or not old_enum_is_signed(v for _, v in vals):
            return vals
        mask = (1 << (8 * (size or 4))) - 1  # an 8-byte enum's values are sign-extended u64s
        return [(n, v if v < 1 << 31 else ((v - (1 << 32)) & mask if mask > 0xFFFFFFFF else v - (1 << 32)))
                for n, v in vals]

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
            return self._synth[type_id].btf_kind
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
            return self._synth[type_id].btf_name
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

    def decoded_ids(self) -> List[int]:
        """The ids of this BTF's own types decoded so far (every type a lookup, a member, a
        pointer or a print reached), ascending: what an analysis used (``kdbg shrink
        --reduced-btf`` keeps them)."""
        start = self.start_id
        return [start + i for i, t in enumerate(self._cache) if t is not None]

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

    # ------------------------------------------------------------------ queries
    def _enumerator_index(self) -> Dict[str, Tuple[int, int]]:
        if self._enumerators is None:
            idx: Dict[str, Tuple[int, int]] = {}
            # from the records: only the enum a lookup finds is decoded (used)
            for tid in self.all_ids((K.KIND_ENUM, K.KIND_ENUM64)):
                for name, value in self.enumerator_values_of(tid):
                    idx.setdefault(name, (tid, value))
            self._enumerators = idx
        return self._enumerators

    def constant(self, name: str) -> Tuple[Enum, int]:
        """The enum type and value of enumerator ``name`` (``PIDTYPE_PID``); the first
        :data:`ENUMERATOR_FINDS` lookups find the enums holding it without the enumerator index
        (:meth:`kdbg.btf.decoder.Records.enum_ids_named`)."""
        if self._enumerators is None and self._enumerator_finds < ENUMERATOR_FINDS:
            ids = self.records.enum_ids_named(name)
            if ids is not None:
                self._enumerator_finds += 1
                for tid in ids:
                    t = self.type(tid)
                    assert isinstance(t, Enum)
                    for e in t.enumerators:
                        if e.name == name:
                            return t, e.value
                raise ObjectNotFoundError(f"unknown enumerator {name!r}")
        hit = self._enumerator_index().get(name)
        if hit is None:
            raise ObjectNotFoundError(f"unknown enumerator {name!r}")
        t = self.type(hit[0])
        assert isinstance(t, Enum)
        return t, hit[1]

    def function(self, name: str) -> Func:
        """The BTF FUNC named ``name`` (its prototype is ``.proto``)."""
        t = self.find(name, (K.KIND_FUNC,))
        if t is None:
            raise ObjectNotFoundError(f"no function {name!r} in BTF")
        assert isinstance(t, Func)
        return t


#: Smallest 32-bit pattern read as a small negative number (-65536 .. -1) in old BTF.
SMALL_NEGATIVE = 0xFFFF0000


def old_enum_is_signed(values: Iterable[int]) -> bool:
    """Whether an enum of BTF from before kernel 6.0 (no signedness; every value stored in
    32 bits) holds negative values: when one of them is a small negative number
    (``-1 .. -65536``). BTF cannot say more: ``-1`` and ``-1U`` are the same bits. Against
    Debian 5.10's DWARF this is right for 85 of the 93 enumerators stored as 2**31 and
    above (``BLK_MQ_NO_TAG = -1U``, ``INT_MIN`` in an enum without small negatives and
    8-byte enums cut to 32 bits are the misses); reading them all as unsigned, as BTF's
    encoding would suggest, is right for 20."""
    return any(v >= SMALL_NEGATIVE for v in values)


def _zero_length_array(m: TypeMember) -> bool:
    """Whether member ``m`` is an array of length 0 (BTF's ``[]`` and ``[0]``)."""
    if m.bitfield_size:
        return False
    under = m.btf_type.strip_typedefs()
    return isinstance(under, Array) and under.length == 0


def flexible_by_rule(container: Composite, index: int) -> bool:
    """The rule over BTF alone for whether member ``index`` of ``container`` is a flexible
    array member (``T x[]``) rather than a zero-length array (``T x[0]``).

    BTF writes both as arrays of length 0. C allows ``T x[]`` only as the last member of a
    struct with another member before it, so: a zero-length array that is the last member
    of a struct (an anonymous one too, as ``DECLARE_FLEX_ARRAY`` makes) with more than one
    member is flexible; in a union, before the end, or alone in its struct it is ``[0]``.
    Against Debian's DWARF this alone is right on 859 of 871 on 6.1, 1039 of 1047 on 6.12,
    289 of 796 on 5.10 (which still spelled most trailing arrays ``[0]``); the shipped list
    of exceptions corrects it (:attr:`BTF.flexible_hook`).

    An anonymous struct embedded before the end of a struct (directly, or through
    anonymous unions) cannot end in ``T x[]`` (C11 6.7.2.1p3; gcc's
    ``-Wflex-array-member-not-at-end``): there it is ``[0]`` (6.1's ``tty_struct.flow``).
    """
    members = container.btf_members
    if index != len(members) - 1 or index == 0 or container.btf_kind != K.KIND_STRUCT:
        return False
    return _zero_length_array(members[index]) and _may_end_its_object(container)


def _may_end_its_object(t: Type) -> bool:
    """Whether anonymous struct or union ``t`` is not embedded before the end of a struct
    (a named type may end any object it is in)."""
    for _ in range(MAX_CHAIN):
        btf = t.btf
        if t.btf_name or btf is None:
            return True
        users = btf.memo.get("anonymous_users")
        if users is None:
            users = btf.memo["anonymous_users"] = _member_users(btf)
        use = users.get(t.id)
        if use is None:
            return True
        parent_id, index, count = use
        parent = btf.type(parent_id)
        if parent.btf_kind == K.KIND_STRUCT and index != count - 1:
            return False
        t = parent
    return True


def _member_users(btf: BTF) -> Dict[int, Tuple[int, int, int]]:
    """Type id -> ``(struct or union id, member index, member count)`` of a member whose
    type it is (the first such member: an anonymous type has one)."""
    users: Dict[int, Tuple[int, int, int]] = {}
    names = btf.records.names
    for i in btf.ids((K.KIND_STRUCT, K.KIND_UNION)):
        ms = btf.records.members(i, names)
        for j, m in enumerate(ms):
            users.setdefault(m[1], (i, j, len(ms)))
    return users
