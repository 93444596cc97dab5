"""Lazy BTF parser: one pass builds a type-id -> offset index, types decode on first use.

A :class:`BTF` is either *base* BTF (vmlinux) or *split* BTF stacked on a base (a module's
BTF): split type ids continue after the base's last id and split string offsets continue
after the base's string section, exactly as the kernel and libbpf lay them out.
"""

from __future__ import annotations

import re
import struct
import sys
from array import array
from collections import Counter
from itertools import accumulate
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Pattern,
    Sequence,
    Tuple,
    Union,
)

from kdbg.btf import constants as K
from kdbg.btf.names import definitions, describe
from kdbg.btf.types import (
    Array,
    Composite,
    Const,
    Datasec,
    DeclTag,
    Enum,
    Enumerator,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    Member,
    Opaque,
    Param,
    Pointer,
    Restrict,
    Struct,
    Type,
    Typedef,
    TypeTag,
    Var,
    VarSecinfo,
    Void,
    Volatile,
)
from kdbg.btf.types import (
    Union as UnionType,
)
from kdbg.errors import AmbiguousTypeError, BTFError, TypeNotFoundError

__all__ = ["BTF", "BTFHeader", "KindLayout", "NameIndex"]


class NameIndex(Dict[str, Any]):
    """Type name -> ids. A unique name (nearly all) is stored as its bare id, built at C
    speed; lookups always give a list."""

    def get(self, key: str, default: Any = None) -> Any:
        v = dict.get(self, key, default)
        return [v] if isinstance(v, int) else v

    def __getitem__(self, key: str) -> List[int]:
        v = dict.__getitem__(self, key)
        return [v] if isinstance(v, int) else v


class KindLayout(NamedTuple):
    """One entry of the optional layout section: how to step over a kind."""

    info_sz: int
    elem_sz: int
    flags: int


class BTFHeader(NamedTuple):
    """The decoded ``struct btf_header``; offsets are relative to the end of the header."""

    magic: int
    version: int
    flags: int
    hdr_len: int
    type_off: int
    type_len: int
    str_off: int
    str_len: int
    layout_off: int
    layout_len: int
    byteorder: str  # "<" or ">"


def parse_header(data: Union[bytes, memoryview], what: str = "BTF") -> BTFHeader:
    """Decode and check a BTF header; raise :class:`BTFError` naming what is wrong."""
    n = len(data)
    if n < K.BTF_HEADER_MIN:
        raise BTFError(f"{what}: truncated header ({n} bytes, need {K.BTF_HEADER_MIN})")
    magic_le = struct.unpack_from("<H", data, 0)[0]
    if magic_le == K.BTF_MAGIC:
        bo = "<"
    elif struct.unpack_from(">H", data, 0)[0] == K.BTF_MAGIC:
        bo = ">"
    else:
        raise BTFError(f"{what}: bad magic {bytes(data[0:2]).hex()} at offset 0 (want 9feb/eb9f)")
    magic, version, flags, hdr_len = struct.unpack_from(bo + "HBBI", data, 0)
    if version != K.BTF_VERSION:
        raise BTFError(f"{what}: unsupported version {version} at offset 2 (want 1)")
    if hdr_len < K.BTF_HEADER_MIN:
        raise BTFError(f"{what}: hdr_len {hdr_len} at offset 4 is below the minimum 24")
    if hdr_len > n:
        raise BTFError(f"{what}: hdr_len {hdr_len} at offset 4 runs past the data ({n} bytes)")
    type_off, type_len, str_off, str_len = struct.unpack_from(bo + "IIII", data, 8)
    layout_off = layout_len = 0
    if hdr_len >= K.BTF_HEADER_WITH_LAYOUT:
        layout_off, layout_len = struct.unpack_from(bo + "II", data, 24)
    body = n - hdr_len
    for fname, off, length, hoff in (
        ("type", type_off, type_len, 8),
        ("string", str_off, str_len, 16),
        ("layout", layout_off, layout_len, 24),
    ):
        if off + length > body:
            raise BTFError(
                f"{what}: {fname} section [{off}, +{length}) (header offset {hoff}) "
                f"runs past the data ({body} bytes after the header)"
            )
    if type_off % 4:
        raise BTFError(f"{what}: type section offset {type_off} is not 4-byte aligned")
    if type_off < str_off < type_off + type_len or str_off < type_off < str_off + str_len:
        raise BTFError(f"{what}: type and string sections overlap")
    return BTFHeader(
        magic, version, flags, hdr_len, type_off, type_len, str_off, str_len,
        layout_off, layout_len, bo,
    )




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
_DECL_RE = re.compile(r"\s*(\*|\[\s*(\d*)\s*\]|const\b|volatile\b|restrict\b)")


class BTF:
    """Parsed BTF: base, or split on top of ``base``.

    ``data`` is the raw blob (``/sys/kernel/btf/vmlinux``, an ELF ``.BTF`` section, or
    bytes read from a vmcore). Construction validates the header and walks the type
    section once to build an offsets index; every type decodes lazily afterwards.
    """

    def __init__(self, data: bytes, base: Optional[BTF] = None, name: str = "BTF") -> None:
        self.name = name
        self.data = bytes(data)
        self.base = base
        hdr = parse_header(self.data, name)
        self.header = hdr
        self.byteorder = hdr.byteorder
        bo = hdr.byteorder
        start = hdr.hdr_len
        self._strs = self.data[start + hdr.str_off : start + hdr.str_off + hdr.str_len]
        self._type_start = start + hdr.type_off
        self._type_end = self._type_start + hdr.type_len
        self.start_id: int = base.start_id + len(base) if base is not None else 1
        self.start_str_off: int = base.start_str_off + base.str_len if base is not None else 0
        if base is None and hdr.str_len and self._strs[0] != 0:
            raise BTFError(
                f"{name}: string section does not start with NUL (offset {hdr.str_off}); "
                "split BTF (a module's) needs its base BTF first"
            )
        if hdr.str_len and self._strs[-1] != 0:
            raise BTFError(f"{name}: string section is not NUL-terminated")
        self.layout: Optional[Dict[int, KindLayout]] = None
        if hdr.layout_len:
            self.layout = self._parse_layout(hdr)
        self._u32 = struct.Struct(bo + "I")
        self._u32x2 = struct.Struct(bo + "II")
        self._u32x3 = struct.Struct(bo + "III")
        self._offs = array("I")
        self._name_offs = array("I")
        self._infos = array("I")
        self._index()
        self._cache: List[Optional[Type]] = [None] * len(self._offs)
        self._void = Void(self)
        self._names: Optional[Dict[str, List[int]]] = None
        self._str_cache: Dict[int, str] = {}
        self._strmap_done = False
        self._enumerators: Optional[Dict[str, Tuple[int, int]]] = None
        self._ptr_index: Optional[Dict[int, int]] = None
        self._synth: Dict[int, Type] = {}
        self._synth_key: Dict[Tuple[str, int, int], int] = {}

    # ------------------------------------------------------------------ construction
    def _parse_layout(self, hdr: BTFHeader) -> Dict[int, KindLayout]:
        if hdr.layout_len % 4:
            raise BTFError(f"{self.name}: layout section length {hdr.layout_len} is not a multiple of 4")
        base = hdr.hdr_len + hdr.layout_off
        out: Dict[int, KindLayout] = {}
        for kind in range(hdr.layout_len // 4):
            info_sz, elem_sz, flags = struct.unpack_from(hdr.byteorder + "BBH", self.data, base + 4 * kind)
            out[kind] = KindLayout(info_sz, elem_sz, flags)
        return out

    def _kind_sizes(self) -> Tuple[List[int], List[int]]:
        """Per kind (0..127): fixed extra bytes and bytes per vlen element; -1 if unknown."""
        sizes: Dict[int, Tuple[int, int]] = dict(K.KIND_LAYOUT)
        if self.layout is not None:
            for kind, lay in self.layout.items():
                if kind:
                    sizes[kind] = (lay.info_sz, lay.elem_sz)
        info_sz = [sizes.get(k, (-1, -1))[0] for k in range(128)]
        elem_sz = [sizes.get(k, (-1, -1))[1] for k in range(128)]
        return info_sz, elem_sz

    def _index(self) -> None:
        """Walk the type section once, recording each type's offset, name offset and info."""
        info_sz, elem_sz = self._kind_sizes()
        ts, te = self._type_start, self._type_end
        if (te - ts) % 4 or any(x % 4 for x in info_sz + elem_sz if x > 0):
            self._index_bytes(info_sz, elem_sz)
            return
        # Fast path: the section as native u32 words, stepping in words.
        words = array("I")
        words.frombytes(self.data[ts:te])
        if (self.byteorder == "<") != (sys.byteorder == "little"):
            words.byteswap()
        far = 1 << 40  # an unknown kind steps past the end; diagnosed below
        isz = [x // 4 if x >= 0 else far for x in info_sz]
        esz = [x // 4 if x >= 0 else 0 for x in elem_sz]
        at: List[int] = []
        add = at.append
        nwords = len(words)
        i = 0
        try:
            while i < nwords:
                info = words[i + 1]
                k = (info >> 24) & 0x7F
                add(i)
                i += 3 + isz[k] + (info & 0xFFFFFF) * esz[k]
        except IndexError:
            pass  # a record cut short by the section end: diagnosed below
        if i != nwords:
            self._index_bytes(info_sz, elem_sz)  # find and name the fault exactly
            raise BTFError(f"{self.name}: malformed type section")  # pragma: no cover
        self._offs = array("I", [ts + 4 * w for w in at])
        self._name_offs = array("I", [words[w] for w in at])
        self._infos = array("I", [words[w + 1] for w in at])
        self._check_index()

    def _check_index(self) -> None:
        strl = self.start_str_off + len(self._strs)
        n = len(self._offs)
        if n and max(self._name_offs) >= strl:
            i = next(j for j, x in enumerate(self._name_offs) if x >= strl)
            hint = "; split BTF needs its base BTF first" if self.base is None else ""
            raise BTFError(
                f"{self.name}: name offset {self._name_offs[i]} of type id {self.start_id + i} "
                f"(offset {self._offs[i]}) is past the string section ({strl} bytes){hint}"
            )
        if self.start_id + n - 1 > K.BTF_MAX_TYPE:
            raise BTFError(f"{self.name}: {self.start_id + n - 1} types exceed BTF_MAX_TYPE")

    def _index_bytes(self, info_sz: List[int], elem_sz: List[int]) -> None:
        """The byte-stepping walk: any section layout, exact diagnostics."""
        data = self.data
        end = self._type_end
        off = self._type_start
        unpack = self._u32x3.unpack_from
        offs = self._offs = array("I")
        name_offs = self._name_offs = array("I")
        infos = self._infos = array("I")
        start_id = self.start_id
        n = 0
        while off < end:
            if off + 12 > end:
                raise BTFError(
                    f"{self.name}: truncated type id {start_id + n} at offset {off} "
                    f"(type section ends at {end})"
                )
            name_off, info, _ = unpack(data, off)
            kind = (info >> 24) & 0x7F
            isz = info_sz[kind]
            if isz < 0:
                raise BTFError(
                    f"{self.name}: unknown BTF kind {kind} at type id {start_id + n} "
                    f"(offset {off}) and no layout section describes it"
                )
            offs.append(off)
            name_offs.append(name_off)
            infos.append(info)
            off += 12 + isz + (info & 0xFFFFFF) * elem_sz[kind]
            n += 1
        if off != end:
            raise BTFError(
                f"{self.name}: type id {start_id + n - 1} at offset {offs[-1]} runs past the "
                f"type section end {end} (vlen {infos[-1] & 0xFFFFFF})"
            )
        self._check_index()

    # ------------------------------------------------------------------ basic access
    def __len__(self) -> int:
        """Number of types in this BTF (the base's not counted)."""
        return len(self._offs)

    @property
    def str_len(self) -> int:
        """Length of this BTF's own string section."""
        return len(self._strs)

    @property
    def last_id(self) -> int:
        """The highest type id (base ids included)."""
        return self.start_id + len(self._offs) - 1

    def string(self, off: int) -> str:
        """The NUL-terminated string at string offset ``off`` (split offsets continue the base's)."""
        try:
            return self._str_cache[off]
        except KeyError:
            pass
        if off < self.start_str_off:
            assert self.base is not None
            s = self.base.string(off)
        else:
            rel = off - self.start_str_off
            if rel >= len(self._strs):
                raise BTFError(
                    f"{self.name}: string offset {off} is past the string section "
                    f"({self.start_str_off + len(self._strs)} bytes)"
                )
            nul = self._strs.find(b"\0", rel)
            s = self._strs[rel:nul].decode("utf-8", "replace")
        self._str_cache[off] = s
        return s

    def string_map(self) -> Dict[int, str]:
        """Every string of this BTF's own string section by offset, decoded in one pass.

        Offsets into the middle of a string (legal, if rare) are still resolved by
        :meth:`string`. ASCII sections (every kernel's) split at C speed.
        """
        if not self._strmap_done:
            strs = self._strs
            if strs.isascii():
                # the section ends in NUL (checked at open): drop the empty tail after it,
                # whose "offset" is the first string of a split BTF stacked on this one
                parts = strs.decode("ascii").split("\0")[:-1]
                starts = [0]
                starts.extend(accumulate(len(p) + 1 for p in parts))
                base = self.start_str_off
                if base:
                    starts = [base + x for x in starts]
                self._str_cache.update(zip(starts, parts))
            self._strmap_done = True
        return self._str_cache

    def kind_of(self, type_id: int) -> int:
        """Kind number of ``type_id`` without decoding the type."""
        if type_id == 0:
            return K.KIND_UNKN
        if type_id < self.start_id:
            assert self.base is not None
            return self.base.kind_of(type_id)
        if type_id < 0 and type_id in self._synth:
            return self._synth[type_id].kind
        idx = type_id - self.start_id
        if idx >= len(self._infos) or idx < 0:
            raise BTFError(f"{self.name}: type id {type_id} out of range (last is {self.last_id})")
        return (self._infos[idx] >> 24) & 0x7F

    def name_of(self, type_id: int) -> str:
        """Name of ``type_id`` without decoding the type."""
        if type_id == 0:
            return "void"
        if type_id < self.start_id:
            if type_id < 0 and type_id in self._synth:
                return self._synth[type_id].name
            assert self.base is not None
            return self.base.name_of(type_id)
        idx = type_id - self.start_id
        if idx >= len(self._name_offs):
            raise BTFError(f"{self.name}: type id {type_id} out of range (last is {self.last_id})")
        return self.string(self._name_offs[idx])

    def type(self, type_id: int) -> Type:
        """The type with id ``type_id`` (0 is ``void``); decoded once, then cached."""
        if type_id >= self.start_id:
            idx = type_id - self.start_id
            if idx >= len(self._cache):
                raise BTFError(f"{self.name}: type id {type_id} out of range (last is {self.last_id})")
            t = self._cache[idx]
            if t is None:
                t = self._decode(type_id, idx)
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
        for i in range(len(self._offs)):
            yield self.type(self.start_id + i)

    def ids(self, kinds: Optional[Iterable[int]] = None) -> Iterator[int]:
        """Type ids of this BTF (optionally only of the given kinds), in order."""
        start = self.start_id
        if kinds is None:
            yield from range(start, start + len(self._offs))
            return
        ks = set(kinds)
        for i, info in enumerate(self._infos):
            if (info >> 24) & 0x7F in ks:
                yield start + i

    def all_ids(self, kinds: Optional[Iterable[int]] = None) -> Iterator[int]:
        """Like :meth:`ids` but including the base's types first."""
        ks = None if kinds is None else tuple(kinds)
        if self.base is not None:
            yield from self.base.all_ids(ks)
        yield from self.ids(ks)

    # ------------------------------------------------------------------ decoding
    def _check_ref(self, ref: int, who: int, what: str) -> int:
        if ref > self.last_id:
            raise BTFError(
                f"{self.name}: type id {who} {what} refers to type id {ref} past the last "
                f"({self.last_id})"
            )
        return ref

    def _decode(self, type_id: int, idx: int) -> Type:
        off = self._offs[idx]
        name_off = self._name_offs[idx]
        info = self._infos[idx]
        st = self._u32.unpack_from(self.data, off + 8)[0]
        kind = (info >> 24) & 0x7F
        vlen = info & 0xFFFFFF
        kflag = bool(info >> 31)
        name = self.string(name_off) if name_off else ""
        body = off + 12
        if kind == K.KIND_INT:
            data = self._u32.unpack_from(self.data, body)[0]
            return Int(self, type_id, name, st, data)
        if kind == K.KIND_PTR:
            return Pointer(self, type_id, kind, name, kflag, self._check_ref(st, type_id, "PTR"))
        if kind == K.KIND_ARRAY:
            elem, index, nelems = self._u32x3.unpack_from(self.data, body)
            self._check_ref(elem, type_id, "ARRAY element")
            return Array(self, type_id, elem, index, nelems)
        if kind == K.KIND_STRUCT:
            return Struct(self, type_id, kind, name, kflag, st, vlen, body)
        if kind == K.KIND_UNION:
            return UnionType(self, type_id, kind, name, kflag, st, vlen, body)
        if kind in (K.KIND_ENUM, K.KIND_ENUM64):
            return Enum(self, type_id, kind, name, kflag, st, vlen, body)
        if kind == K.KIND_FWD:
            return Fwd(self, type_id, kind, name, kflag)
        if kind == K.KIND_TYPEDEF:
            return Typedef(self, type_id, kind, name, kflag, self._check_ref(st, type_id, "TYPEDEF"))
        if kind in (K.KIND_CONST, K.KIND_VOLATILE, K.KIND_RESTRICT, K.KIND_TYPE_TAG):
            cls = {
                K.KIND_CONST: Const,
                K.KIND_VOLATILE: Volatile,
                K.KIND_RESTRICT: Restrict,
                K.KIND_TYPE_TAG: TypeTag,
            }[kind]
            return cls(self, type_id, kind, name, kflag, self._check_ref(st, type_id, K.KIND_NAMES[kind]))
        if kind == K.KIND_FUNC:
            return Func(self, type_id, name, self._check_ref(st, type_id, "FUNC"), vlen)
        if kind == K.KIND_FUNC_PROTO:
            return FuncProto(self, type_id, self._check_ref(st, type_id, "FUNC_PROTO return"), vlen, body)
        if kind == K.KIND_VAR:
            linkage = self._u32.unpack_from(self.data, body)[0]
            return Var(self, type_id, name, self._check_ref(st, type_id, "VAR"), linkage)
        if kind == K.KIND_DATASEC:
            return Datasec(self, type_id, name, st, vlen, body)
        if kind == K.KIND_FLOAT:
            return Float(self, type_id, name, st)
        if kind == K.KIND_DECL_TAG:
            comp = struct.unpack_from(self.byteorder + "i", self.data, body)[0]
            return DeclTag(self, type_id, name, kflag, self._check_ref(st, type_id, "DECL_TAG"), comp)
        return Opaque(self, type_id, kind, name, kflag, st, vlen, body)

    def _decode_members(self, t: Composite) -> Tuple[Member, ...]:
        unpack = self._u32x3.unpack_from
        data = self.data
        out = []
        last = self.last_id
        for i in range(t.vlen):
            name_off, ref, offset = unpack(data, t._off + 12 * i)
            if ref > last:
                raise BTFError(
                    f"{self.name}: member {i} of type id {t.id} refers to type id {ref} "
                    f"past the last ({last})"
                )
            name = self.string(name_off) if name_off else ""
            if t.kflag:
                bits, bitsz = offset & 0xFFFFFF, offset >> 24
            else:
                bits, bitsz = offset, 0
                if ref and self.kind_of(ref) == K.KIND_INT:
                    it = self.type(ref)
                    assert isinstance(it, Int)
                    if it.bits != it._size * 8 or it.bit_offset:
                        bits += it.bit_offset
                        bitsz = it.bits
            out.append(Member(name, ref, bits, bitsz, self))
        return tuple(out)

    def _decode_enumerators(self, t: Enum) -> Tuple[Enumerator, ...]:
        out = []
        data = self.data
        if t.is_enum64:
            unpack = self._u32x3.unpack_from
            for i in range(t.vlen):
                name_off, lo, hi = unpack(data, t._off + 12 * i)
                v = (hi << 32) | lo
                if t.kflag and v >= 1 << 63:
                    v -= 1 << 64
                out.append(Enumerator(self.string(name_off), v))
        else:
            unpack2 = self._u32x2.unpack_from
            for i in range(t.vlen):
                name_off, v = unpack2(data, t._off + 8 * i)
                if t.kflag and v >= 1 << 31:
                    v -= 1 << 32
                out.append(Enumerator(self.string(name_off), v))
        return tuple(out)

    def _decode_params(self, t: FuncProto) -> Tuple[Param, ...]:
        unpack = self._u32x2.unpack_from
        out = []
        for i in range(t._vlen):
            name_off, ref = unpack(self.data, t._off + 8 * i)
            self._check_ref(ref, t.id, f"parameter {i}")
            out.append(Param(self.string(name_off) if name_off else "", ref, self))
        return tuple(out)

    def _decode_secinfo(self, t: Datasec) -> Tuple[VarSecinfo, ...]:
        unpack = self._u32x3.unpack_from
        out = []
        for i in range(t._vlen):
            ref, off, size = unpack(self.data, t._off + 12 * i)
            self._check_ref(ref, t.id, f"DATASEC entry {i}")
            out.append(VarSecinfo(ref, off, size, self))
        return tuple(out)

    # ------------------------------------------------------------------ name index
    def _name_index(self) -> Dict[str, List[int]]:
        if self._names is None:
            smap = self.string_map()
            get = smap.get
            offs = self._name_offs
            # every type's name at C speed; offsets into the middle of a string are rare
            names_list: List[Any] = [get(o) for o in offs]
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
        return self._names

    def build_index(self) -> None:
        """Build the name index now (it is otherwise built on the first name lookup)."""
        self._name_index()
        if self.base is not None:
            self.base.build_index()

    def ids_by_name(self, name: str, kinds: Optional[Iterable[int]] = None) -> List[int]:
        """Ids of every type named ``name`` (this BTF, then its base), filtered by kind."""
        ids = list(self._name_index().get(name, ()))
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
