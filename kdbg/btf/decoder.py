"""The one BTF decoder: header, offsets index, strings and every record's fields.

:class:`Records` is one BTF blob (base, or split on top of a base's :class:`Records`)
seen as data: it checks the header and sections, walks the type section once to build the
offsets index (type id -> byte offset, name offset, info word), and decodes any record's
fields on demand into plain ints and tuples. It knows nothing of the type model: the model
(:mod:`kdbg.btf.index`, :mod:`kdbg.btf.types`), the C header writer and the encoder all
read records through it.

Ids are global: a split blob's ids continue after its base's last id and its string
offsets after the base's string section, as the kernel and libbpf lay them out; asking a
split :class:`Records` for a base id is answered by the base.

Record accessors that return names take a ``names`` mapping (string offset -> what the
caller wants: the model passes its string table, the header writer its own table) so
strings are resolved in the same pass that decodes the record.
"""

from __future__ import annotations

import struct
import sys
from array import array
from bisect import bisect_right
from itertools import accumulate, repeat
from operator import itemgetter
from typing import Any, Dict, List, NamedTuple, Optional, Protocol, Sequence, Tuple, Union

from kdbg.btf import constants as K
from kdbg.btf.namesearch import NameSearch, TypeSection
from kdbg.errors import BTFError

__all__ = ["BTFHeader", "KindLayout", "Names", "Records", "TypeIndex", "parse_header"]


class NameMap(Protocol):
    """What record accessors resolve name offsets with: a ``dict`` (the header writer's
    :meth:`Records.string_table`) or :class:`Names`."""

    def __getitem__(self, off: int) -> Any: ...


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


class TypeIndex(NamedTuple):
    """The offsets index: per type (in id order) its byte offset in the blob, its name
    offset and its info word. Depends only on the blob's bytes, so it can be cached."""

    offsets: array
    name_offs: array
    infos: array


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


class Records:
    """The records of one BTF blob, indexed, with accessors for every kind's fields.

    ``index`` (a cached :class:`TypeIndex`) is adopted when it fits the blob, else the
    type section is walked; :attr:`index_adopted` says which happened.
    """

    def __init__(
        self,
        data: bytes,
        name: str = "BTF",
        base: Optional[Records] = None,
        index: Optional[TypeIndex] = None,
    ) -> None:
        self.name = name
        self.data = data
        self.base = base
        hdr = parse_header(data, name)
        self.header = hdr
        self.byteorder = hdr.byteorder
        start = hdr.hdr_len
        self.strings: bytes = data[start + hdr.str_off : start + hdr.str_off + hdr.str_len]
        #: Byte offsets of the type section in :attr:`data`.
        self.type_start = start + hdr.type_off
        self.type_end = self.type_start + hdr.type_len
        self.start_id: int = base.start_id + len(base) if base is not None else 1
        self.start_str_off: int = base.start_str_off + len(base.strings) if base is not None else 0
        if base is None and hdr.str_len and self.strings[0] != 0:
            raise BTFError(
                f"{name}: string section does not start with NUL (offset {hdr.str_off}); "
                "split BTF (a module's) needs its base BTF first"
            )
        if hdr.str_len and self.strings[-1] != 0:
            raise BTFError(f"{name}: string section is not NUL-terminated")
        self.layout: Optional[Dict[int, KindLayout]] = None
        if hdr.layout_len:
            self.layout = self._parse_layout(hdr)
        info_sz, elem_sz = self._kind_sizes()
        self._info_sz, self._elem_sz = info_sz, elem_sz
        #: Every record starts on a word of :attr:`words` (all record sizes are words).
        self._aligned = not hdr.type_len % 4 and not any(x % 4 for x in info_sz + elem_sz if x > 0)
        self._words: Optional[array] = None
        self._odd_ints: Optional[Dict[int, Tuple[int, int]]] = None
        self._strmap: Dict[int, str] = {}  # a plain str -> str dict: the GC skips it
        #: String offset -> string (this blob's and its bases'), decoded on first use.
        self.names: Names = Names(
            self._strmap, name, self.strings, self.start_str_off, base.names if base is not None else None
        )
        self._strmap_done = False
        self._search: Optional[NameSearch] = None
        self.index_adopted = index is not None and self._adopt(index)
        if not self.index_adopted:
            self.index = self._walk(info_sz, elem_sz)
        self.offsets, self.name_offs, self.infos = self.index
        self.last_id = self.start_id + len(self.offsets) - 1

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

    def record_sizes(self, kind: int) -> Tuple[int, int]:
        """``(info_sz, elem_sz)``: the bytes after a ``kind`` record's 12-byte header are
        ``info_sz + vlen * elem_sz``, as this blob's index stepped over it."""
        if not 0 <= kind < 128 or self._info_sz[kind] < 0:
            raise BTFError(f"no layout known for BTF kind {kind}")
        return self._info_sz[kind], self._elem_sz[kind]

    def _adopt(self, index: TypeIndex) -> bool:
        """Use a cached index when it fits these bytes: the records it names span the type
        section exactly, and a sample of them (every 1/256th, the first and the last) holds
        the name offsets and info words it says, inside the string section. (The cache
        entry itself is checksummed and keyed by a hash of these bytes.)"""
        offs, name_offs, infos = index
        n = len(offs)
        if not (n == len(name_offs) == len(infos)):
            return False
        if n == 0:
            if self.type_end != self.type_start:
                return False
        else:
            last = infos[-1]
            kind = (last >> 24) & 0x7F
            if self._info_sz[kind] < 0 or offs[0] != self.type_start:
                return False
            if offs[-1] + 12 + self._info_sz[kind] + (last & 0xFFFFFF) * self._elem_sz[kind] != self.type_end:
                return False
            unpack = struct.Struct(self.byteorder + "II").unpack_from
            strl = self.start_str_off + len(self.strings)
            for k in list(range(0, n, max(1, n // 256))) + [n - 1]:
                if not self.type_start <= offs[k] <= self.type_end - 12:
                    return False
                if unpack(self.data, offs[k]) != (name_offs[k], infos[k]) or name_offs[k] >= strl:
                    return False
            if self.start_id + n - 1 > K.BTF_MAX_TYPE:
                return False
        self.index = index
        return True

    def _walk(self, info_sz: List[int], elem_sz: List[int]) -> TypeIndex:
        """Walk the type section once, recording each type's offset, name offset and info."""
        if not self._aligned:
            return self._walk_bytes(info_sz, elem_sz)
        ts = self.type_start
        # Fast path: the section as native u32 words, stepping in words.
        words = self.words
        assert words is not None
        far = 1 << 40  # an unknown kind steps past the end; diagnosed below
        # words per record: fixed[info >> 24] + vlen * per[info >> 24] (the kind flag is
        # bit 7 of that byte, so both tables cover all 256 values)
        fixed = [3 + (info_sz[k & 0x7F] // 4 if info_sz[k & 0x7F] >= 0 else far) for k in range(256)]
        per = [elem_sz[k & 0x7F] // 4 if elem_sz[k & 0x7F] >= 0 else 0 for k in range(256)]
        at: List[int] = []
        add = at.append
        infos: List[int] = []
        add_info = infos.append
        i = 0
        try:
            while True:  # ends with the IndexError past the last record
                info = words[i + 1]
                k = info >> 24
                add(i)
                add_info(info)
                i += fixed[k] + (info & 0xFFFFFF) * per[k]
        except IndexError:
            pass
        if i != len(words):  # a record cut short, or an unknown kind
            self._walk_bytes(info_sz, elem_sz)  # find and name the fault exactly
            raise BTFError(f"{self.name}: malformed type section")  # pragma: no cover
        if len(at) > 1:
            name_offs = array("I", itemgetter(*at)(words))  # gathered at C speed
        else:
            name_offs = array("I", [words[w] for w in at])
        index = TypeIndex(array("I", [ts + 4 * w for w in at]), name_offs, array("I", infos))
        self._check_index(index)
        return index

    def _check_index(self, index: TypeIndex) -> None:
        offs, name_offs, _infos = index
        strl = self.start_str_off + len(self.strings)
        n = len(offs)
        if n and max(name_offs) >= strl:
            i = next(j for j, x in enumerate(name_offs) if x >= strl)
            hint = "; split BTF needs its base BTF first" if self.base is None else ""
            raise BTFError(
                f"{self.name}: name offset {name_offs[i]} of type id {self.start_id + i} "
                f"(offset {offs[i]}) is past the string section ({strl} bytes){hint}"
            )
        if self.start_id + n - 1 > K.BTF_MAX_TYPE:
            raise BTFError(f"{self.name}: {self.start_id + n - 1} types exceed BTF_MAX_TYPE")

    def _walk_bytes(self, info_sz: List[int], elem_sz: List[int]) -> TypeIndex:
        """The byte-stepping walk: any section layout, exact diagnostics."""
        data = self.data
        end = self.type_end
        off = self.type_start
        unpack = struct.Struct(self.byteorder + "III").unpack_from
        offs, name_offs, infos = array("I"), array("I"), array("I")
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
        index = TypeIndex(offs, name_offs, infos)
        self._check_index(index)
        return index

    # ------------------------------------------------------------------ whole-section views
    def __len__(self) -> int:
        """Number of records in this blob (the base's not counted)."""
        return len(self.offsets)

    @property
    def words(self) -> Optional[array]:
        """The type section as native-order u32 words (``None`` if its length is not a
        multiple of 4); record ``i`` starts at word ``(offsets[i] - type_start) // 4``."""
        if self._words is None:
            ts, te = self.type_start, self.type_end
            if (te - ts) % 4:
                return None
            words = array("I")
            words.frombytes(self.data[ts:te])
            if (self.byteorder == "<") != (sys.byteorder == "little"):
                words.byteswap()
            self._words = words
        return self._words

    def kinds(self) -> bytes:
        """The kind of every record of this blob, one byte each, at C speed."""
        top = self.infos.tobytes()[3 if sys.byteorder == "little" else 0 :: 4]
        return top.translate(_KIND_BYTE)

    def layers(self) -> List[Records]:
        """This blob and its bases, base first."""
        out: List[Records] = []
        r: Optional[Records] = self
        while r is not None:
            out.append(r)
            r = r.base
        out.reverse()
        return out

    # ------------------------------------------------------------------ strings
    def string(self, off: int) -> str:
        """The NUL-terminated string at string offset ``off`` (split offsets continue the base's)."""
        return self.names[off]

    def string_map(self) -> Dict[int, str]:
        """Every string of this blob's own string section by offset, decoded in one pass.

        Offsets into the middle of a string (legal, if rare) are still resolved by
        :meth:`string`. ASCII sections (every kernel's) split at C speed.
        """
        if not self._strmap_done:
            strs = self.strings
            if strs.isascii():
                # the section ends in NUL (checked at open): drop the empty tail after it,
                # whose "offset" is the first string of a split BTF stacked on this one
                parts = strs.decode("ascii").split("\0")[:-1]
                starts = [0]
                starts.extend(accumulate(len(p) + 1 for p in parts))
                base = self.start_str_off
                if base:
                    starts = [base + x for x in starts]
                self._strmap.update(zip(starts, parts))
            self._strmap_done = True
        return self._strmap

    def ids_named(self, name: str) -> Optional[List[int]]:
        """This base blob's type ids (ascending) called ``name``, found without a name
        index (:class:`kdbg.btf.namesearch.NameSearch`); ``None`` for split BTF and when
        the search cannot tell (a non-ASCII string section): ask the name index then."""
        search = self._name_search()
        return search.ids(name) if search is not None else None

    def enum_ids_named(self, name: str) -> Optional[List[int]]:
        """This base blob's ENUM and ENUM64 ids (ascending) with an enumerator called
        ``name``, found without decoding the enums (:meth:`NameSearch.enum_ids`); ``None``
        for split BTF and when the search cannot tell."""
        search = self._name_search()
        return search.enum_ids(name) if search is not None else None

    def _name_search(self) -> Optional[NameSearch]:
        if self.base is not None:
            return None  # a module's index is cheap; a search would scan the base's strings
        if self._search is None:
            words = self.words if self._aligned else None
            section = (TypeSection(words, self.type_start, self.offsets, self.infos, self.kinds())
                       if words is not None else None)
            self._search = NameSearch(self.strings, self.name_offs, self.start_id, section)
        return self._search

    def string_table(self) -> Dict[int, str]:
        """Every string of this blob and its bases in one ``dict`` that decodes a missing
        offset on use: what bulk readers (the C header writer) subscript at dict speed."""
        table = _StringTable(self.names)
        for layer in self.layers():
            table.update(layer.string_map())
        return table

    # ------------------------------------------------------------------ one record
    def owner(self, type_id: int) -> Records:
        """The blob (this one or a base) holding ``type_id``."""
        if self.start_id <= type_id <= self.last_id:
            return self
        r: Records = self
        while type_id < r.start_id and r.base is not None:
            r = r.base
        if not r.start_id <= type_id <= r.last_id:
            raise BTFError(f"{self.name}: type id {type_id} out of range (last is {self.last_id})")
        return r

    def _u32s(self, off: int, n: int) -> Sequence[int]:
        """``n`` u32 words at byte offset ``off`` of the blob."""
        w = off - self.type_start
        words = self._words  # built by the walk or a bulk reader; not for one record
        if words is not None and not w & 3:
            w >>= 2
            return words[w : w + n]
        return struct.unpack_from(f"{self.byteorder}{n}I", self.data, off)

    def info(self, type_id: int) -> int:
        """The info word (kind, vlen, kind flag) of ``type_id``."""
        r = self.owner(type_id)
        return r.infos[type_id - r.start_id]

    def kind(self, type_id: int) -> int:
        """The kind number of ``type_id``."""
        return (self.info(type_id) >> 24) & 0x7F

    def name_off(self, type_id: int) -> int:
        """The name's string offset of ``type_id``."""
        r = self.owner(type_id)
        return r.name_offs[type_id - r.start_id]

    def head(self, type_id: int) -> Tuple[int, int, int, int]:
        """``(name offset, info, size_or_type, byte offset of the record)`` of ``type_id``."""
        r = self.owner(type_id)
        i = type_id - r.start_id
        off = r.offsets[i]
        return r.name_offs[i], r.infos[i], r._u32s(off + 8, 1)[0], off

    def check_ref(self, ref: int, who: int, what: str) -> int:
        """``ref`` unchanged, or :class:`BTFError` when it is past the last type id."""
        r = self.owner(who)
        if ref > r.last_id:
            raise BTFError(
                f"{r.name}: type id {who} {what} refers to type id {ref} past the last ({r.last_id})"
            )
        return ref

    def extra(self, type_id: int) -> int:
        """The one u32 after the record header: an INT's encoding, a VAR's linkage, a
        DECL_TAG's component index (signed: -1 is the type itself)."""
        r = self.owner(type_id)
        i = type_id - r.start_id
        v = r._u32s(r.offsets[i] + 12, 1)[0]
        if (r.infos[i] >> 24) & 0x7F == K.KIND_DECL_TAG and v >= 1 << 31:
            v -= 1 << 32
        return v

    def array(self, type_id: int) -> Tuple[int, int, int]:
        """An ARRAY's ``(element type, index type, number of elements)``."""
        r = self.owner(type_id)
        elem, index, nelems = r._u32s(r.offsets[type_id - r.start_id] + 12, 3)
        self.check_ref(elem, type_id, "ARRAY element")
        return elem, index, nelems

    def _vlen_words(self, type_id: int, per: int) -> Tuple[Records, int, Sequence[int]]:
        r = self.owner(type_id)
        i = type_id - r.start_id
        vlen = r.infos[i] & 0xFFFFFF
        return r, r.infos[i], r._u32s(r.offsets[i] + 12, per * vlen)

    def members(self, type_id: int, names: NameMap) -> List[Tuple[Any, int, int, int]]:
        """A struct's or union's members: ``(names[name offset], type id, bit offset,
        bitfield size)``. Without the kind flag, a bitfield is described by its INT's
        encoding; that is folded in, so every member reads the same."""
        r = self.owner(type_id)
        return r.members_at(type_id - r.start_id, names)

    def members_at(self, i: int, names: NameMap) -> List[Tuple[Any, int, int, int]]:
        """:meth:`members` of this blob's record ``i`` (type id ``start_id + i``)."""
        return self.members_of([i], names)[0]

    def members_of(self, records: Sequence[int], names: NameMap) -> List[List[Tuple[Any, int, int, int]]]:
        """:meth:`members` of this blob's structs and unions ``records`` (indexes from
        ``start_id``), decoded together: one gather of their member words and one ``zip``
        at C speed, then only the bitfields fixed up in Python (what a header needs)."""
        if not records:
            return []
        infos, offsets, data = self.infos, self.offsets, self.data
        if len(records) > 1:
            infs, offs = itemgetter(*records)(infos), itemgetter(*records)(offsets)
        else:
            infs, offs = (infos[records[0]],), (offsets[records[0]],)
        vlens = [x & 0xFFFFFF for x in infs]
        flat = array("I")
        flat.frombytes(b"".join([data[o + 12 : o + 12 + 12 * v] for o, v in zip(offs, vlens)]))
        if (self.byteorder == "<") != (sys.byteorder == "little"):
            flat.byteswap()
        types, bits = flat[1::3], flat[2::3]
        starts = list(accumulate(vlens, initial=0))
        last = self.last_id
        if types and max(types) > last:
            k = next(k for k, t in enumerate(types) if t > last)
            r = bisect_right(starts, k) - 1
            raise BTFError(f"{self.name}: member {k - starts[r]} of type id {self.start_id + records[r]} "
                           f"refers to type id {types[k]} past the last ({last})")
        out = list(zip(map(names.__getitem__, flat[0::3]), types, bits, repeat(0)))
        kflags = [x >> 31 for x in infs]
        for k in [k for k, o in enumerate(bits) if o >> 24]:  # kind flag: bitfield size, offset
            if kflags[bisect_right(starts, k) - 1]:
                mname, mt, o, _b = out[k]
                out[k] = (mname, mt, o & 0xFFFFFF, o >> 24)
        if not all(kflags):  # without it, a bitfield is described by its INT's encoding
            odd = self._odd_ints if self._odd_ints is not None else self.odd_ints()
            for r in [r for r, f in enumerate(kflags) if not f] if odd else ():
                for k in range(starts[r], starts[r + 1]):
                    enc = odd.get(out[k][1])
                    if enc is not None:
                        mname, mt, moff, _b = out[k]
                        out[k] = (mname, mt, moff + enc[0], enc[1])
        return [out[a:b] for a, b in zip(starts, starts[1:])]

    def odd_ints(self) -> Dict[int, Tuple[int, int]]:
        """INT types (this blob and its bases) whose encoding is a bitfield, not the whole
        int: id -> ``(bit offset, bits)``. Old pahole wrote bitfields that way."""
        if self._odd_ints is None:
            odd: Dict[int, Tuple[int, int]] = dict(self.base.odd_ints()) if self.base is not None else {}
            kinds = self.kinds()
            i = kinds.find(K.KIND_INT)
            while i >= 0:
                tid = self.start_id + i
                _n, _info, size, off = self.head(tid)
                enc = self._u32s(off + 12, 1)[0]
                bits, boff = enc & 0xFF, (enc >> 16) & 0xFF
                if bits != size * 8 or boff:
                    odd[tid] = (boff, bits)
                i = kinds.find(K.KIND_INT, i + 1)
            self._odd_ints = odd
        return self._odd_ints

    def enumerators(self, type_id: int, names: NameMap) -> List[Tuple[Any, int]]:
        """An ENUM's or ENUM64's ``(names[name offset], value)`` pairs, signed when the
        kind flag says so."""
        info = self.info(type_id)
        kflag = info >> 31
        if (info >> 24) & 0x7F == K.KIND_ENUM64:
            _r, _info, raw = self._vlen_words(type_id, 3)
            it = iter(raw)
            vals = [(names[a], (hi << 32) | lo) for a, lo, hi in zip(it, it, it)]
            if kflag:
                vals = [(n, v - (1 << 64) if v >= 1 << 63 else v) for n, v in vals]
            return vals
        _r, _info, raw = self._vlen_words(type_id, 2)
        it = iter(raw)
        vals = [(names[a], v) for a, v in zip(it, it)]
        if kflag:
            vals = [(n, v - (1 << 32) if v >= 1 << 31 else v) for n, v in vals]
        return vals

    def params(self, type_id: int, names: NameMap) -> List[Tuple[Any, int]]:
        """A FUNC_PROTO's ``(names[name offset], type id)`` pairs; a trailing ``(0, 0)``
        pair is ``...``."""
        r, _info, raw = self._vlen_words(type_id, 2)
        if raw and max(raw[1::2]) > r.last_id:
            j, ref = next((j, t) for j, t in enumerate(raw[1::2]) if t > r.last_id)
            self.check_ref(ref, type_id, f"parameter {j}")
        it = iter(raw)
        return [(names[a], t) for a, t in zip(it, it)]

    def secinfo(self, type_id: int) -> List[Tuple[int, int, int]]:
        """A DATASEC's ``(type id, offset, size)`` entries."""
        r, _info, raw = self._vlen_words(type_id, 3)
        it = iter(raw)
        out = list(zip(it, it, it))
        for j, (ref, _o, _s) in enumerate(out):
            self.check_ref(ref, type_id, f"DATASEC entry {j}")
        return out

    def body(self, type_id: int) -> bytes:
        """The bytes after the record header, as stored (kinds known only by layout)."""
        r = self.owner(type_id)
        i = type_id - r.start_id
        kind = (r.infos[i] >> 24) & 0x7F
        isz, esz = r.record_sizes(kind)
        off = r.offsets[i] + 12
        return r.data[off : off + isz + (r.infos[i] & 0xFFFFFF) * esz]


class Names:
    """String offset -> string for one blob (offsets below ``start`` are its base's),
    decoded on first use into a plain dict. It holds the section, not the blob's
    :class:`Records`, so the two make no reference cycle."""

    __slots__ = ("_map", "_name", "_strings", "_start", "_base")

    def __init__(
        self, cache: Dict[int, str], name: str, strings: bytes, start: int, base: Optional[Names]
    ) -> None:
        self._map, self._name, self._strings, self._start, self._base = cache, name, strings, start, base

    def __getitem__(self, off: int) -> str:
        try:
            return self._map[off]
        except KeyError:
            pass
        if off < self._start and self._base is not None:
            s = self._base[off]
        else:
            rel = off - self._start
            strs = self._strings
            if not 0 <= rel < len(strs):
                raise BTFError(
                    f"{self._name}: string offset {off} is past the string section "
                    f"({self._start + len(strs)} bytes)"
                )
            s = strs[rel : strs.find(b"\0", rel)].decode("utf-8", "replace")
        self._map[off] = s
        return s


class _StringTable(Dict[int, str]):
    """A plain dict of strings whose misses go to a :class:`Names` (see
    :meth:`Records.string_table`)."""

    def __init__(self, names: Names) -> None:
        super().__init__()
        self._names = names

    def __missing__(self, off: int) -> str:
        s = self._names[off]
        self[off] = s
        return s


#: bytes.translate table: info word's top byte -> kind (drops the kind flag).
_KIND_BYTE = bytes(b & 0x7F for b in range(256))
