"""The C header writer's view of a BTF: flat per-id lists read from the decoder.

:class:`TypeTable` holds, for every type id of a BTF and its bases, what writing C needs
(kind, name, referenced id, size, vlen, kind flag, array length or int encoding, and
members, enumerators or parameters as tuples), read once from
:class:`kdbg.btf.decoder.Records`; the layout planner (:mod:`kdbg.btf.header.layout`),
the orderer (:mod:`kdbg.btf.header.order`) and the emitter (:mod:`kdbg.btf.header.emit`)
index these lists directly, which is what makes a 126k-type header fast. Prototypes are
read on first use (:meth:`TypeTable.params_of`): most are used only by FUNCs, which are
not emitted.
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

from kdbg.btf import constants as K
from kdbg.btf.decoder import Records
from kdbg.btf.index import BTF

__all__ = ["TypeTable"]

_INT, _PTR, _ARRAY = K.KIND_INT, K.KIND_PTR, K.KIND_ARRAY
_STRUCT, _UNION, _ENUM, _ENUM64 = K.KIND_STRUCT, K.KIND_UNION, K.KIND_ENUM, K.KIND_ENUM64
_FWD, _TYPEDEF = K.KIND_FWD, K.KIND_TYPEDEF
_VOLATILE, _CONST, _RESTRICT, _TYPE_TAG = (
    K.KIND_VOLATILE, K.KIND_CONST, K.KIND_RESTRICT, K.KIND_TYPE_TAG,
)
_FUNC, _PROTO, _VAR, _DATASEC, _FLOAT, _DECL_TAG = (
    K.KIND_FUNC, K.KIND_FUNC_PROTO, K.KIND_VAR, K.KIND_DATASEC, K.KIND_FLOAT, K.KIND_DECL_TAG,
)
_DEFINERS = frozenset((_STRUCT, _UNION, _ENUM, _ENUM64, _FWD, _TYPEDEF))
_COMPOSITE = frozenset((_STRUCT, _UNION))
_REF1 = frozenset((_PTR, _TYPEDEF, _CONST, _VOLATILE, _RESTRICT, _TYPE_TAG))
_QUALS = frozenset((_VOLATILE, _CONST, _RESTRICT, _TYPE_TAG))
_PASS = frozenset((_PTR, _ARRAY, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG))
#: Kinds this writer never emits (and never decodes the bodies of).
_SKIP = frozenset((_FUNC, _VAR, _DATASEC, _DECL_TAG, K.KIND_LOC_PARAM, K.KIND_LOC_PROTO,
                   K.KIND_LOCSEC))

#: Kinds whose bodies are decoded on first use (prototypes) or never (the rest).
_LAZY_KINDS = _SKIP | {_PROTO}
#: bytes.translate table: kind -> 1 when :class:`TypeTable` reads its record up front.
_WANTED = bytes(0 if k in _LAZY_KINDS else 1 for k in range(256))


class TypeTable:
    """Flat per-id lists of one BTF (base ids included), for writing C."""

    def __init__(self, btf: BTF) -> None:
        self.btf = btf
        n = btf.last_id + 1
        #: Number of ids (the last id + 1).
        self.n = n
        self.kind: List[int] = [0] * n
        self.name: List[str] = [""] * n
        self.ref: List[int] = [0] * n
        self.size: List[int] = [0] * n
        self.vlen: List[int] = [0] * n
        self.kflag: List[bool] = [False] * n
        #: An ARRAY's length, an INT's encoding word.
        self.alen: List[int] = [0] * n
        #: members: (name, type, bit offset, bitfield size); enumerators: (name, value);
        #: params: (name, type)
        self.items: List[Optional[List[Any]]] = [None] * n
        self._strings = btf.records.string_table()
        self._decode_all()

    def _decode_all(self) -> None:
        """Flat per-id lists of what the header needs, from the decoder's records."""
        for layer in self.btf.records.layers():
            self._decode_layer(layer)

    def _decode_layer(self, rec: Records) -> None:
        start = rec.start_id
        kinds = rec.kinds()
        self.kind[start : start + len(kinds)] = kinds
        S = self._strings
        offs, name_offs, infos = rec.index
        name, vlen_l, kflag_l = self.name, self.vlen, self.kflag
        ref, size, alen, items = self.ref, self.size, self.alen, self.items
        check, last = rec.check_ref, rec.last_id
        words, ts = rec.words, rec.type_start
        head = rec.head
        enumerators, array_of, extra = rec.enumerators, rec.array, rec.extra
        comps: List[int] = []
        ref_kinds = _REF1
        # the records this writer reads (about a third of a kernel's: no FUNC, no prototype
        # until used), found at C speed in the kind bytes
        wanted = kinds.translate(_WANTED)
        i = wanted.find(1)
        while i >= 0:
            k = kinds[i]
            tid = start + i
            noff = name_offs[i]
            if noff:
                name[tid] = S[noff]
            info = infos[i]
            vlen_l[tid] = info & 0xFFFFFF
            kflag_l[tid] = bool(info >> 31)
            # size_or_type, read only for these records
            st = words[((offs[i] - ts) >> 2) + 2] if words is not None else head(tid)[2]
            if k in ref_kinds:
                ref[tid] = st if st <= last else check(st, tid, K.KIND_NAMES[k])
            elif k in _COMPOSITE:
                size[tid] = st
                comps.append(i)
            elif k in (_ENUM, _ENUM64):
                size[tid] = st
                items[tid] = enumerators(tid, S)
            elif k == _ARRAY:
                elem, _index, nelems = array_of(tid)
                ref[tid] = elem
                alen[tid] = nelems
            elif k in (_INT, _FLOAT):
                size[tid] = st
                if k == _INT:
                    alen[tid] = extra(tid)  # the int encoding word
            i = wanted.find(1, i + 1)
        for i, mems in zip(comps, rec.members_of(comps, S)):
            items[start + i] = mems

    def params_of(self, tid: int) -> List[Tuple[str, int]]:
        """A FUNC_PROTO's parameters, decoded on first use (most are used only by FUNCs,
        which are not emitted); sets its return type in ``ref`` too."""
        p = self.items[tid]
        if p is None:
            rec = self.btf.records
            self.ref[tid] = rec.check_ref(rec.head(tid)[2], tid, "FUNC_PROTO return")
            p = rec.params(tid, self._strings)
            self.items[tid] = p
        return p
