"""Write BTF: re-encode kdbg types into a fresh blob, and reduce BTF to a few types.

:func:`encode` turns any list of :class:`~kdbg.btf.types.Type` objects into a valid BTF blob
(ids renumbered densely in list order, strings deduplicated into a new string section, a
24-byte header, either byte order). :func:`minimize` does what BTFGen does for CO-RE: it
keeps only the named types and everything they reference, transitively.

Pointers: by default (``pointers="full"``, BTFGen's conservative mode) the target of every
pointer is kept in full, so the reduced BTF is closed under every member access. With
``pointers="fwd"`` a named struct or union reached *only* through pointers is written as a
FWD of the same name and keyword; the result is much smaller (``struct task_struct`` keeps
its own layout, not the whole kernel behind its pointers) and is still valid BTF.

:class:`BTFEncoder` is the general writer underneath: it also takes hand-made records
(:meth:`BTFEncoder.add_raw`), writes split BTF on top of a base, and can emit the optional
layout section (``hdr_len`` 32, ``layout_off``/``layout_len`` after ``str_len``), which is
what the format tests use for kinds no kernel emits yet.

Kinds known only by their layout (:class:`~kdbg.btf.types.Opaque`) are copied byte for
byte: their own name is re-encoded but any type ids inside their data are not renumbered,
so they survive a round trip only where ids are kept (re-encoding a whole BTF).
"""

from __future__ import annotations

import struct
from typing import (
    Dict,
    FrozenSet,
    Iterable,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Set,
    Tuple,
    Union,
)

from kdbg.btf import constants as K
from kdbg.btf.decoder import Records, parse_header
from kdbg.btf.index import BTF
from kdbg.btf.members import VarSecinfo
from kdbg.btf.types import (
    Array,
    Composite,
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
    Type,
    Typedef,
    Var,
    Void,
)
from kdbg.errors import BTFError, NotFoundError

__all__ = [
    "BTFEncoder",
    "LayoutSpec",
    "Reduced",
    "closure",
    "encode",
    "minimize",
    "declared_only_ids",
    "reduce_keeping_ids",
    "reduce_btf",
    "string_offsets",
]

#: A layout section to write: kind number -> ``(info_sz, elem_sz, flags)``.
LayoutSpec = Mapping[int, Tuple[int, int, int]]


def _default_layout() -> Dict[int, Tuple[int, int, int]]:
    out: Dict[int, Tuple[int, int, int]] = {0: (0, 0, 0)}
    for kind, (isz, esz) in K.KIND_LAYOUT.items():
        out[kind] = (isz, esz, 0)
    return out


class BTFEncoder:
    """Accumulates BTF type records and writes them as one blob.

    Types are added in batches with :meth:`add_types` (each batch is numbered first, so
    records may refer forward within it) or one at a time with :meth:`add_raw`. ``base``
    makes the output split BTF: ids continue after ``base.last_id``, string offsets after
    the base's string section, and references to ids of ``base`` are written unchanged.
    """

    def __init__(self, byteorder: str = "<", base: Optional[BTF] = None) -> None:
        if byteorder not in ("<", ">"):
            raise ValueError(f"byteorder must be '<' or '>', not {byteorder!r}")
        self.byteorder = byteorder
        self.base = base
        self.start_id = base.last_id + 1 if base is not None else 1
        self._str_base = base.start_str_off + base.str_len if base is not None else 0
        self._strtab = bytearray() if base is not None else bytearray(b"\0")
        self._strings: Dict[str, int] = {"": 0}
        self._records: List[bytes] = []
        self._kinds_used: Set[int] = set()
        #: Source type id -> id in the output, for every type added with :meth:`add_types`.
        self.id_map: Dict[int, int] = {}
        self._u32 = struct.Struct(byteorder + "I")
        self._u32x2 = struct.Struct(byteorder + "II")
        self._u32x3 = struct.Struct(byteorder + "III")

    # ------------------------------------------------------------------ strings and ids
    def add_string(self, s: str) -> int:
        """The offset of ``s`` in the output's string section (added once, deduplicated)."""
        off = self._strings.get(s)
        if off is None:
            raw = s.encode("utf-8", "surrogateescape")
            if b"\0" in raw:
                raise BTFError(f"string {s!r} contains a NUL byte")
            off = self._str_base + len(self._strtab)
            self._strtab += raw + b"\0"
            self._strings[s] = off
        return off

    @property
    def next_id(self) -> int:
        """The id the next added record gets."""
        return self.start_id + len(self._records)

    def __len__(self) -> int:
        """Number of records added so far."""
        return len(self._records)

    def _ref(self, type_id: int, who: Type, what: str) -> int:
        if type_id == 0:
            return 0
        new = self.id_map.get(type_id)
        if new is not None:
            return new
        if self.base is not None and 0 < type_id <= self.base.last_id:
            return type_id
        raise BTFError(
            f"type id {who.id} ({who.kind_name} {who.btf_name!r}) {what} refers to type id "
            f"{type_id}, which is not among the encoded types"
        )

    # ------------------------------------------------------------------ records
    def add_raw(
        self,
        kind: int,
        name: Union[str, int] = "",
        size_or_type: int = 0,
        vlen: int = 0,
        kflag: bool = False,
        body: bytes = b"",
    ) -> int:
        """Append one record as given and return its id.

        ``name`` is a string (added to the string section) or a raw string offset;
        ``body`` is the bytes after the 12-byte ``struct btf_type`` in the output's byte
        order. Nothing is checked beyond what the info word can hold, so this also writes
        deliberately broken BTF for tests.
        """
        if not 0 <= kind <= 0x7F:
            raise BTFError(f"kind {kind} does not fit the info word (0..127)")
        if not 0 <= vlen <= K.BTF_MAX_VLEN:
            raise BTFError(f"vlen {vlen} does not fit the info word (0..{K.BTF_MAX_VLEN:#x})")
        name_off = name if isinstance(name, int) else self.add_string(name)
        info = (int(bool(kflag)) << 31) | (kind << 24) | vlen
        self._records.append(
            self._u32x3.pack(name_off, info, size_or_type & 0xFFFFFFFF) + bytes(body)
        )
        self._kinds_used.add(kind)
        return self.next_id - 1

    def add_types(self, types: Sequence[Type], as_fwd: Iterable[int] = ()) -> List[int]:
        """Encode ``types`` in order and return their new ids.

        Every type id they refer to must be in this batch, in an earlier batch, or in the
        base. Types whose id is in ``as_fwd`` are written as a FWD of the same name.
        """
        fwd = set(as_fwd)
        first = self.next_id
        batch: List[Type] = []
        for t in types:
            if isinstance(t, Void):
                raise BTFError("void (type id 0) has no record to encode")
            if t.id in self.id_map:
                raise BTFError(f"type id {t.id} ({t.kind_name} {t.btf_name!r}) encoded twice")
            self.id_map[t.id] = first + len(batch)
            batch.append(t)
        if first + len(batch) - 1 > K.BTF_MAX_TYPE:
            raise BTFError(f"{first + len(batch) - 1} types exceed BTF_MAX_TYPE")
        for t in batch:
            self._encode_or_fwd(t, t.id in fwd)
        return [first + i for i in range(len(batch))]

    def _encode_or_fwd(self, t: Type, as_fwd: bool) -> None:
        if as_fwd:
            if not isinstance(t, (Composite, Fwd)) or not t.btf_name:
                raise BTFError(f"only a named struct or union can become a FWD, not {t!r}")
            self.add_raw(
                K.KIND_FWD,
                t.btf_name,
                0,
                0,
                t.btf_kind == K.KIND_UNION or (isinstance(t, Fwd) and t.kflag),
            )
        else:
            self._encode(t)

    def add_same_ids(self, btf: BTF, keep: Set[int], as_fwd: Iterable[int] = ()) -> None:
        """Write every id of ``btf`` (a base BTF, into an empty encoder) at the same id:
        the types in ``keep`` encoded (those in ``as_fwd`` as a FWD of their name), every
        other id a nameless ``const void``, and ``btf``'s string section kept byte for byte,
        so that split BTF built on ``btf`` (a module's) still finds its base types and base
        strings where it expects them."""
        if btf.base is not None or self.base is not None or self._records or len(self._strtab) > 1:
            raise BTFError("add_same_ids writes a whole base BTF into an empty encoder")
        self._strtab = bytearray(btf.records.strings)
        self._strings = {text: off for off, text in sorted(btf.string_map().items(), reverse=True)}
        self._strings[""] = 0
        last = btf.last_id
        self.id_map.update((i, i) for i in range(1, last + 1))
        fwd = set(as_fwd)
        for tid in range(1, last + 1):
            if tid not in keep:
                self.add_raw(K.KIND_CONST, 0, 0)
                continue
            t = btf.type(tid)
            if isinstance(t, Datasec):
                self._encode_datasec(t, [e for e in t.entries if e.type_id in keep])
            else:
                self._encode_or_fwd(t, tid in fwd)

    def _encode_datasec(self, t: Datasec, entries: Sequence[VarSecinfo]) -> None:
        """A DATASEC with ``entries`` (all of ``t``'s, or the kept ones)."""
        pack, ref = self._u32x3.pack, self._ref
        parts = [pack(ref(e.type_id, t, f"entry {i}"), e.offset, e.size) for i, e in enumerate(entries)]
        self.add_raw(K.KIND_DATASEC, t.btf_name, t._size, len(parts), t.kflag, b"".join(parts))

    def _encode(self, t: Type) -> None:  # noqa: C901 - one branch per kind
        u32, u32x2, u32x3 = self._u32.pack, self._u32x2.pack, self._u32x3.pack
        ref = self._ref
        if isinstance(t, Int):
            data = (t.encoding << 24) | (t.bit_offset << 16) | t.bits
            self.add_raw(K.KIND_INT, t.btf_name, t._size, 0, t.kflag, u32(data))
        elif isinstance(t, Float):
            self.add_raw(K.KIND_FLOAT, t.btf_name, t._size, 0, t.kflag)
        elif isinstance(t, Array):
            body = u32x3(ref(t.type_id, t, "element"), ref(t.index_type_id, t, "index"), t.length)
            self.add_raw(K.KIND_ARRAY, t.btf_name, 0, 0, t.kflag, body)
        elif isinstance(t, Composite):
            parts = []
            src = t.btf
            for i, m in enumerate(t.btf_members):
                if t.kflag:
                    offset = (m.bitfield_size << 24) | m.bit_offset
                else:
                    offset = m.bit_offset
                    if m.type_id and src is not None and src.kind_of(m.type_id) == K.KIND_INT:
                        it = m.type
                        assert isinstance(it, Int)
                        if it.bits != it._size * 8 or it.bit_offset:
                            offset -= it.bit_offset
                name_off = self.add_string(m.btf_name)
                parts.append(u32x3(name_off, ref(m.type_id, t, f"member {i}"), offset))
            self.add_raw(t.btf_kind, t.btf_name, t._size, len(parts), t.kflag, b"".join(parts))
        elif isinstance(t, Enum):
            parts = []
            for e in t.enumerators:
                name_off = self.add_string(e.name)
                if t.is_enum64:
                    v = e.value & 0xFFFFFFFFFFFFFFFF
                    parts.append(u32x3(name_off, v & 0xFFFFFFFF, v >> 32))
                else:
                    parts.append(u32x2(name_off, e.value & 0xFFFFFFFF))
            self.add_raw(t.btf_kind, t.btf_name, t._size, len(parts), t.kflag, b"".join(parts))
        elif isinstance(t, Fwd):
            self.add_raw(K.KIND_FWD, t.btf_name, 0, 0, t.kflag)
        elif isinstance(t, FuncProto):
            parts = []
            for i, p in enumerate(t.params):
                parts.append(u32x2(self.add_string(p.btf_name), ref(p.type_id, t, f"parameter {i}")))
            if t.is_variadic:
                parts.append(u32x2(0, 0))
            self.add_raw(
                K.KIND_FUNC_PROTO,
                t.btf_name,
                ref(t.type_id, t, "return"),
                len(parts),
                t.kflag,
                b"".join(parts),
            )
        elif isinstance(t, Func):
            self.add_raw(K.KIND_FUNC, t.btf_name, ref(t.type_id, t, "prototype"), t.linkage, t.kflag)
        elif isinstance(t, Var):
            self.add_raw(K.KIND_VAR, t.btf_name, ref(t.type_id, t, "type"), 0, t.kflag, u32(t.linkage))
        elif isinstance(t, DeclTag):
            self.add_raw(
                K.KIND_DECL_TAG,
                t.btf_name,
                ref(t.type_id, t, "target"),
                0,
                t.kflag,
                u32(t.component_idx & 0xFFFFFFFF),
            )
        elif isinstance(t, Datasec):
            self._encode_datasec(t, t.entries)
        elif isinstance(t, (Pointer, Typedef, Qualified)):
            self.add_raw(t.btf_kind, t.btf_name, ref(t.type_id, t, K.KIND_NAMES[t.btf_kind]), 0, t.kflag)
        elif isinstance(t, Opaque):
            self._encode_opaque(t)
        else:  # pragma: no cover - every Type subclass is handled above
            raise BTFError(f"cannot encode {t!r}")

    def _encode_opaque(self, t: Opaque) -> None:
        src = t.btf
        if src is None:
            raise BTFError(f"cannot encode {t!r} without its BTF")
        isz, esz = src.records.record_sizes(t.btf_kind)
        body = src.records.body(t.id)
        if src.byteorder != self.byteorder:
            if isz % 4 or esz % 4:
                raise BTFError(
                    f"cannot byte-swap {t!r}: its layout ({isz}, {esz}) is not in 32-bit words"
                )
            n = len(body) // 4
            body = struct.pack(
                self.byteorder + f"{n}I", *struct.unpack(src.byteorder + f"{n}I", body)
            )
        self.add_raw(t.btf_kind, t.btf_name, t.raw_size_or_type, t.vlen, t.kflag, body)

    # ------------------------------------------------------------------ output
    def to_bytes(self, layout: Union[None, bool, LayoutSpec] = None) -> bytes:
        """The blob: header, type section, string section (and layout section if asked).

        ``layout=True`` writes the standard layout of every kind up to the highest kind
        used; a mapping writes exactly those entries (kinds missing below the highest
        one get zeros). Without a layout the header is the classic 24 bytes.
        """
        types = b"".join(self._records)
        strs = bytes(self._strtab)
        if layout is None or layout is False:
            hdr = struct.pack(
                self.byteorder + "HBBIIIII",
                K.BTF_MAGIC,
                K.BTF_VERSION,
                0,
                K.BTF_HEADER_MIN,
                0,
                len(types),
                len(types),
                len(strs),
            )
            return hdr + types + strs
        spec: Mapping[int, Tuple[int, int, int]]
        if layout is True:
            std = _default_layout()
            top = max(self._kinds_used | {K.KIND_ENUM64})
            spec = {k: v for k, v in std.items() if k <= top}
        else:
            spec = layout
        nkinds = max(spec) + 1 if spec else 0
        lay = b"".join(
            struct.pack(self.byteorder + "BBH", *spec.get(k, (0, 0, 0))) for k in range(nkinds)
        )
        str_off = len(types)
        layout_off = str_off + len(strs)
        layout_off += -layout_off % 4
        pad = layout_off - (str_off + len(strs))
        hdr = struct.pack(
            self.byteorder + "HBBIIIIIII",
            K.BTF_MAGIC,
            K.BTF_VERSION,
            0,
            K.BTF_HEADER_WITH_LAYOUT,
            0,
            len(types),
            str_off,
            len(strs),
            layout_off,
            len(lay),
        )
        return hdr + types + strs + b"\0" * pad + lay


def encode(
    types: Sequence[Type],
    byteorder: str = "<",
    base: Optional[BTF] = None,
    layout: Union[None, bool, LayoutSpec] = None,
) -> bytes:
    """Encode ``types`` (ids renumbered 1.. in list order, or after ``base``) as one blob.

    Every type they refer to must be in the list (or in ``base``). ``encode(list(btf),
    btf.byteorder)`` re-encodes a whole BTF with the same ids; ``byteorder=">"`` writes
    big-endian BTF.
    """
    enc = BTFEncoder(byteorder, base)
    enc.add_types(types)
    return enc.to_bytes(layout)


# ---------------------------------------------------------------------- reduction
def _refs(t: Type) -> List[int]:
    """Ids ``t`` refers to directly (in encoding order)."""
    if isinstance(t, Composite):
        return [m.type_id for m in t.btf_members]
    if isinstance(t, Array):
        return [t.type_id, t.index_type_id]
    if isinstance(t, FuncProto):
        return [t.type_id] + [p.type_id for p in t.params]
    if isinstance(t, Datasec):
        return [e.type_id for e in t.entries]
    if isinstance(t, (Pointer, Typedef, Qualified, Func, Var, DeclTag)):
        return [t.type_id]
    return []


def closure(btf: BTF, roots: Iterable[int], pointers: str = "full") -> Tuple[List[int], Set[int]]:
    """Ids needed to describe ``roots``: ``(ids in id order, ids to write as FWD)``.

    See the module docstring for ``pointers`` (``"full"`` or ``"fwd"``).
    """
    if pointers not in ("full", "fwd"):
        raise ValueError(f"pointers must be 'full' or 'fwd', not {pointers!r}")
    full: Set[int] = set()  # needed with their whole definition
    weak: Set[int] = set()  # reached only behind a pointer so far
    todo: List[Tuple[int, bool]] = [(r, False) for r in roots]
    while todo:
        tid, behind_ptr = todo.pop()
        if tid == 0 or tid in full:
            continue
        t = btf.type(tid)
        if behind_ptr:
            if tid in weak:
                continue
            if isinstance(t, Composite) and t.btf_name:
                weak.add(tid)
            elif isinstance(t, (Typedef, Qualified)):
                weak.add(tid)
                todo.append((t.type_id, True))
            else:
                todo.append((tid, False))
            continue
        full.add(tid)
        if pointers == "fwd" and isinstance(t, Pointer):
            todo.append((t.type_id, True))
        else:
            todo.extend((r, False) for r in _refs(t))
    ids = full | weak
    fwd = {i for i in weak - full if isinstance(btf.type(i), Composite)}
    order = sorted(i for i in ids if i > 0) + sorted((i for i in ids if i < 0), reverse=True)
    return order, fwd


class Reduced(NamedTuple):
    """A reduced BTF blob and how the source ids map onto its ids."""

    data: bytes
    id_map: Dict[int, int]
    fwd_ids: Set[int]


def _resolve_root(btf: BTF, name: Union[str, int, Type]) -> Type:
    if isinstance(name, Type):
        return name
    if isinstance(name, int):
        return btf.type(name)
    try:
        return btf.lookup(name)
    except NotFoundError:
        for kinds in ((K.KIND_FUNC,), (K.KIND_VAR,), (K.KIND_DATASEC,)):
            t = btf.find(name.strip(), kinds)
            if t is not None:
                return t
        raise


def reduce_btf(
    btf: BTF,
    type_names: Sequence[Union[str, int, Type]],
    pointers: str = "full",
    byteorder: Optional[str] = None,
) -> Reduced:
    """Like :func:`minimize` but also returns the id map (source id -> new id)."""
    roots = [_resolve_root(btf, n) for n in type_names]
    order, fwd = closure(btf, [r.id for r in roots], pointers)
    enc = BTFEncoder(byteorder or btf.byteorder)
    enc.add_types([btf.type(i) for i in order], as_fwd=fwd)
    return Reduced(enc.to_bytes(), dict(enc.id_map), fwd)


class _Offsets:
    """A name map that gives each string's offset instead of its text."""

    def __getitem__(self, off: int) -> int:
        return off


def string_offsets(records: Records, ids: Iterable[int]) -> Set[int]:
    """The string offsets the records ``ids`` refer to: their names and their members',
    enumerators' and parameters' names (offsets below ``records.start_str_off`` are the
    base's)."""
    offs = _Offsets()
    out: Set[int] = set()
    for tid in ids:
        out.add(records.name_off(tid))
        kind = records.kind(tid)
        if kind in (K.KIND_STRUCT, K.KIND_UNION):
            out.update(m[0] for m in records.members(tid, offs))
        elif kind in (K.KIND_ENUM, K.KIND_ENUM64):
            out.update(e[0] for e in records.enumerators(tid, offs))
        elif kind == K.KIND_FUNC_PROTO:
            out.update(p[0] for p in records.params(tid, offs))
    return out


def _blank_strings(data: bytes, keep: Set[int]) -> bytes:
    """``data`` (one standalone blob) with every byte of its string section zeroed but the
    strings at the offsets ``keep`` (up to their NUL): offsets stay where they were, and
    the zeros compress to nothing."""
    hdr = parse_header(data)
    start = hdr.hdr_len + hdr.str_off
    strings = data[start:start + hdr.str_len]
    out = bytearray(len(strings))
    for off in keep:
        if 0 <= off < len(strings):
            end = strings.index(b"\0", off)
            out[off:end] = strings[off:end]
    return data[:start] + bytes(out) + data[start + hdr.str_len:]


def reduce_keeping_ids(btf: BTF, roots: Iterable[int], byteorder: Optional[str] = None,
                       split: Sequence[BTF] = ()) -> bytes:
    """``btf`` reduced to ``roots`` and what they need (:func:`closure` with
    ``pointers="fwd"``) with every type at its own id and the string section at its own
    offsets (:meth:`BTFEncoder.add_same_ids`): module BTF split on the original still reads
    on top of the result. A DATASEC is kept, with the entries of the kept VARs only, when
    one of its VARs is kept (a root DATASEC brings none of its VARs: a lookup reads a
    section's entries without decoding them). Only the strings the kept types and the
    records of ``split`` (module BTF on ``btf``) name are left in the string section; the
    rest is zeroed."""
    roots = list(roots)
    datasecs = set(btf.ids((K.KIND_DATASEC,)))
    order, fwd = closure(btf, [r for r in roots if r not in datasecs], "fwd")
    enc = BTFEncoder(byteorder or btf.byteorder)
    kept = {i for i in order if i > 0}
    kept |= {sec for sec in datasecs if any(e[0] in kept for e in btf.records.secinfo(sec))}
    enc.add_same_ids(btf, kept, fwd)
    data = enc.to_bytes()
    keep = string_offsets(Records(data, "reduced BTF"), kept)
    for module in split:
        keep |= {off for off in string_offsets(module.records, module.ids()) if off < btf.str_len}
    return _blank_strings(data, keep)


def declared_only_ids(btf: BTF, reduced: bytes) -> FrozenSet[int]:
    """The ids that :func:`reduce_keeping_ids` of ``btf`` wrote as a FWD (``reduced``)
    where ``btf`` defines the type: what a reduced dump's BTF only declares."""
    records = Records(reduced, "reduced BTF")
    kinds = records.kinds()
    fwd = bytes((K.KIND_FWD,))
    out = set()
    i = kinds.find(fwd)
    while i >= 0:
        tid = records.start_id + i
        if btf.kind_of(tid) != K.KIND_FWD:
            out.add(tid)
        i = kinds.find(fwd, i + 1)
    return frozenset(out)


def minimize(
    btf: BTF,
    type_names: Sequence[Union[str, int, Type]],
    pointers: str = "full",
    byteorder: Optional[str] = None,
) -> bytes:
    """A standalone BTF blob with just ``type_names`` and everything they reference.

    Names are C type names as :meth:`BTF.lookup` takes them (``"struct task_struct"``,
    ``"u64"``, ``"struct sk_buff *"``) or names of functions, variables or data sections
    (a FUNC brings its prototype); type ids and :class:`Type` objects work too. Ids are
    renumbered densely in source id order, strings deduplicated, the byte order kept
    (or ``byteorder``). ``pointers`` is ``"full"`` or ``"fwd"`` (see the module docstring).
    """
    return reduce_btf(btf, type_names, pointers, byteorder).data
