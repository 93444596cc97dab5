"""Write BTF as a compilable C header, like ``bpftool btf dump file F format c`` (vmlinux.h).

The output is a complete header: ``__VMLINUX_H__`` guard, the clang
``preserve_access_index`` pragma (guarded by ``BPF_NO_PRESERVE_ACCESS_INDEX`` and
``__clang__``), then every type in dependency order. Types are ordered with libbpf's
``btf_dump`` algorithm: a struct embedding another by value comes after it, a type reached
only through a pointer needs just a forward declaration (``struct x;``), and cycles are
broken with forward declarations.

Unlike bpftool 7.1, the layout is exact: for every struct and union the layout gcc and clang
would give the emitted C is computed (x86-64/LP64 rules, bitfields included) and compared
with the BTF offsets and size; gaps get explicit padding (``long: 64;``), impossible
placements make the type ``__attribute__((packed))``, and unions larger than their members
get ``__attribute__((aligned(N)))`` or a padding array. Enums whose BTF size is not 4 get
``__attribute__((packed))`` or ``__attribute__((mode(...)))`` so ``sizeof`` matches.

Duplicate names are renamed the way bpftool does (``x___2``), tags (struct/union/enum) and
ordinary identifiers (typedefs, enumerators) in separate namespaces. FUNC, VAR, DATASEC
and DECL_TAG are not emitted; TYPE_TAGs are dropped.

The decoder's records (:class:`kdbg.btf.decoder.Records`) are read into flat per-id
lists, prototypes only FUNCs use are never decoded, and declarator strings are cached
per type id.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, Iterable, List, Optional, Sequence, TextIO, Tuple, Union

from kdbg.btf import constants as K
from kdbg.btf.cdecl import Declarator
from kdbg.btf.decoder import Records
from kdbg.btf.parser import BTF
from kdbg.btf.types import Type
from kdbg.errors import BTFError

__all__ = ["HeaderWriter", "dump_c", "header_c", "TypeSpec"]

#: What ``types=`` accepts: a C type name (``"struct task_struct"``), a type id or a Type.
TypeSpec = Union[str, int, Type]

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

_NOT_ORDERED, _ORDERING, _ORDERED = 0, 1, 2
_NOT_EMITTED, _EMITTING, _EMITTED = 0, 1, 2

_C_INTS = frozenset((
    "char", "signed char", "unsigned char", "short", "short int", "short unsigned int",
    "unsigned short", "int", "unsigned int", "signed int", "unsigned", "long", "long int",
    "long unsigned int", "unsigned long", "long long", "long long int",
    "long long unsigned int", "unsigned long long", "__int128", "__int128 unsigned",
    "unsigned __int128", "_Bool",
))
_C_FLOATS = frozenset(("float", "double", "long double", "_Float16", "_Float32", "_Float64",
                       "_Float128", "__float128"))
_INT_BY_SIZE = {1: "char", 2: "short", 4: "int", 8: "long", 16: "__int128"}
_FLOAT_BY_SIZE = {2: "_Float16", 4: "float", 8: "double", 16: "long double"}
_MODE_BY_SIZE = {1: "QI", 2: "HI", 4: "SI", 8: "DI"}
#: Unnamed bitfield types used for padding, smallest first: (C type, bits).
_PADS = (("char", 8), ("short", 16), ("int", 32), ("long", 64))
#: Typedefs that are compiler built-ins and must not be redefined (libbpf's blacklist).
_BUILTIN_TYPEDEFS = frozenset(("__builtin_va_list",))

_PROLOGUE = """#ifndef __VMLINUX_H__
#define __VMLINUX_H__

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#ifdef __clang__
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
#endif
#endif

"""
_EPILOGUE = """#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#ifdef __clang__
#pragma clang attribute pop
#endif
#endif

#endif /* __VMLINUX_H__ */
"""

# A layout plan item: a member as decoded (name, type id, bit offset, bitfield size), or
# the text of a padding declaration.
_Item = Union[Tuple[str, int, int, int], str]


class _Layout:
    """How one struct/union is emitted: items in order plus the attributes it needs."""

    __slots__ = ("items", "attrs", "align")

    def __init__(self, items: List[_Item], attrs: str, align: int) -> None:
        self.items = items
        self.attrs = attrs
        self.align = align


#: Gaps longer than this (in bits) are padded with a char array, not one bitfield per word.
_BIG_GAP = 1 << 20


def _pad_items(cur: int, end: int, out: List[_Item]) -> None:
    """Unnamed bitfields covering bits [cur, end); each one fits its own storage unit, so
    gcc and clang place it exactly at ``cur`` whether or not the struct is packed.
    An absurdly large gap (only malformed BTF has one) becomes a named char array so the
    header stays small."""
    if end - cur > _BIG_GAP:
        first = (cur + 7) // 8
        _pad_items(cur, first * 8, out)
        out.append(f"unsigned char __kdbg_gap{len(out)}[{end // 8 - first}]")
        cur = end // 8 * 8
    while cur < end:
        room = 64 - cur % 64
        bits = min(room, end - cur)
        for name, unit in _PADS:
            if cur % unit + bits <= unit:
                out.append(f"{name}: {bits}")
                break
        cur += bits


_IN_PROGRESS = _Layout([], "", 0)


def _round_up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


class HeaderWriter:
    """Renders the types of one BTF (and its base, for split BTF) as C.

    One writer keeps the naming state of one header: :meth:`c_name` gives the spelling a
    type got in it (``x___2`` for the second ``struct x``), which lets callers write code
    against the header.
    """

    def __init__(self, btf: BTF) -> None:
        self.btf = btf
        n = btf.last_id + 1
        self._n = n
        self.kind: List[int] = [0] * n
        self.name: List[str] = [""] * n
        self.ref: List[int] = [0] * n
        self.size: List[int] = [0] * n
        self.vlen: List[int] = [0] * n
        self.kflag: List[bool] = [False] * n
        self.alen: List[int] = [0] * n
        # members: (name, type, bit offset, bitfield size); enumerators: (name, value);
        # params: (name, type)
        self.items: List[Optional[List[Any]]] = [None] * n
        self._strings = btf.records.strtab
        for layer in btf.records.layers():
            layer.string_map()
        self._decode_all()
        self._inlined = bytearray(n)
        self._order = bytearray(n)
        # per type: how many structs/unions were being ordered when it was entered (-1: not)
        self._visiting: List[int] = [-1] * n
        self._ncomp = 0
        self._emit = bytearray(n)
        self._fwd_emitted = bytearray(n)
        self._queue: List[int] = []
        self._cname: List[Optional[str]] = [None] * n
        self._tags: Dict[str, List[object]] = {}
        self._idents: Dict[str, int] = {}
        self._declarator = Declarator(
            self.kind, self.ref, self.alen, self._base, self._params_of, bpftool=True, name=btf.name
        )
        self._dcache = self._declarator.cache
        self._decl = self._declarator.declare
        self._layouts: Dict[int, _Layout] = {}
        self._align: List[int] = [-1] * n
        self._sizes: List[int] = [-1] * n
        self._strip: List[int] = [-1] * n
        self._out: List[str] = []

    # ------------------------------------------------------------------ decoding
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
        names = [S[o] for o in name_offs]
        self.name[start : start + len(names)] = names
        self.vlen[start : start + len(infos)] = [i & 0xFFFFFF for i in infos]
        self.kflag[start : start + len(infos)] = [bool(i >> 31) for i in infos]
        ref, size, alen, items = self.ref, self.size, self.alen, self.items
        head, check = rec.head, rec.check_ref
        members, enumerators, array_of, extra = rec.members, rec.enumerators, rec.array, rec.extra
        skip = _LAZY_KINDS
        ref_kinds = _REF1
        for i in [i for i, k in enumerate(kinds) if k not in skip]:
            k = kinds[i]
            tid = start + i
            if k in ref_kinds:
                ref[tid] = check(head(tid)[2], tid, K.KIND_NAMES[k])
            elif k in _COMPOSITE:
                size[tid] = head(tid)[2]
                items[tid] = members(tid, S)
            elif k in (_ENUM, _ENUM64):
                size[tid] = head(tid)[2]
                items[tid] = enumerators(tid, S)
            elif k == _ARRAY:
                elem, _index, nelems = array_of(tid)
                ref[tid] = elem
                alen[tid] = nelems
            elif k in (_INT, _FLOAT):
                size[tid] = head(tid)[2]
                if k == _INT:
                    alen[tid] = extra(tid)  # the int encoding word

    def _params_of(self, tid: int) -> List[Tuple[str, int]]:
        """A FUNC_PROTO's parameters, decoded on first use (most are used only by FUNCs,
        which are not emitted); sets its return type in ``ref`` too."""
        p = self.items[tid]
        if p is None:
            rec = self.btf.records
            self.ref[tid] = rec.check_ref(rec.head(tid)[2], tid, "FUNC_PROTO return")
            p = rec.params(tid, self._strings)
            self.items[tid] = p
        return p

    # ------------------------------------------------------------------ names
    def c_name(self, type_id: int) -> str:
        """The name ``type_id`` has in this header (renamed ``x___N`` on a clash)."""
        c = self._cname[type_id]
        if c is not None:
            return c
        k = self.kind[type_id]
        name = self.name[type_id]
        if not name:
            c = ""
        elif k in (_STRUCT, _UNION, _ENUM, _ENUM64, _FWD):
            c = self._tag_name(type_id, k, name)
        elif k == _TYPEDEF:
            c = name if name in _BUILTIN_TYPEDEFS else self._ident_name(name)
        else:
            c = name
        self._cname[type_id] = c
        return c

    def _tag_name(self, tid: int, k: int, name: str) -> str:
        if k == _FWD:
            kw = "union" if self.kflag[tid] else "struct"
            complete = False
        elif k in (_ENUM, _ENUM64):
            kw = "enum"
            complete = self.vlen[tid] > 0
        else:
            kw = "union" if k == _UNION else "struct"
            complete = True
        entry = self._tags.get(name)
        if entry is None:
            self._tags[name] = [kw, tid if complete else 0, 1]
            return name
        if entry[0] == kw and (not complete or not entry[1]):
            if complete:
                entry[1] = tid
            return name
        cnt = entry[2]
        assert isinstance(cnt, int)
        while True:
            cnt += 1
            cand = f"{name}___{cnt}"
            if cand not in self._tags:
                break
        entry[2] = cnt
        self._tags[cand] = [kw, tid if complete else 0, 1]
        return cand

    def _ident_name(self, name: str) -> str:
        cnt = self._idents.get(name, 0) + 1
        self._idents[name] = cnt
        if cnt == 1:
            return name
        cand = f"{name}___{cnt}"
        while cand in self._idents:
            cnt += 1
            cand = f"{name}___{cnt}"
        self._idents[name] = cnt
        self._idents[cand] = 1
        return cand

    # ------------------------------------------------------------------ sizes and layout
    def _sizeof(self, tid: int) -> int:
        r = self._sizes[tid]
        if r >= 0:
            return r
        kind = self.kind
        cur = tid
        mult = 1
        for _ in range(K.BTF_MAX_TYPE):
            k = kind[cur]
            if k == _ARRAY:
                mult *= self.alen[cur]
                cur = self.ref[cur]
            elif k in (_TYPEDEF, _CONST, _VOLATILE, _RESTRICT, _TYPE_TAG):
                cur = self.ref[cur]
            elif k == _PTR:
                r = 8 * mult
                break
            else:
                r = self.size[cur] * mult
                break
        else:  # pragma: no cover - malformed BTF
            raise BTFError(f"type chain too long at type id {tid}")
        self._sizes[tid] = r
        return r

    def _alignof(self, tid: int) -> int:
        r = self._align[tid]
        if r >= 0:
            return r
        kind = self.kind
        cur = tid
        for _ in range(K.BTF_MAX_TYPE):
            k = kind[cur]
            if k in (_ARRAY, _TYPEDEF, _CONST, _VOLATILE, _RESTRICT, _TYPE_TAG):
                cur = self.ref[cur]
                continue
            if k == _PTR:
                r = 8
            elif k in (_INT, _FLOAT):
                sz = self.size[cur]
                r = sz if sz in (1, 2, 4, 8, 16) else 1
            elif k in (_ENUM, _ENUM64):
                sz = self.size[cur]
                r = sz if sz in (1, 2, 4, 8) else 4
            elif k in _COMPOSITE:
                r = self._layout(cur).align
            else:
                r = 1
            break
        else:  # pragma: no cover - malformed BTF
            raise BTFError(f"type chain too long at type id {tid}")
        self._align[tid] = r
        return r

    def _layout(self, tid: int) -> _Layout:
        lay = self._layouts.get(tid)
        if lay is _IN_PROGRESS:
            raise BTFError(f"{self.btf.name}: struct/union type id {tid} contains itself")
        if lay is None:
            self._layouts[tid] = _IN_PROGRESS
            if self.kind[tid] == _UNION:
                lay = self._union_layout(tid)
            else:
                lay = self._struct_layout(tid, False) or self._struct_layout(tid, True)
                if lay is None:  # members overlap: no C layout reproduces it
                    mems = self.items[tid] or []
                    lay = _Layout(list(mems), "", 1)
            self._layouts[tid] = lay
        return lay

    def _struct_layout(self, tid: int, packed: bool) -> Optional[_Layout]:
        """Plan a struct as gcc lays it out (natural or packed), padding every gap so each
        member lands on its BTF bit offset; None when that is impossible."""
        out: List[_Item] = []
        pos = 0
        align = 8  # in bits
        sizes, aligns = self._sizes, self._align
        sizeof, alignof = self._sizeof, self._alignof
        for m in self.items[tid]:  # type: ignore[union-attr]
            mname, mt, off, bsz = m
            if off < pos:
                return None
            if bsz:
                if not packed:
                    unit = sizes[mt]
                    if unit < 0:
                        unit = sizeof(mt)
                    a = aligns[mt]
                    if a < 0:
                        a = alignof(mt)
                    unit *= 8
                    a *= 8
                    if unit == 0 or off % a + bsz > unit:
                        return None
                    if mname and a > align:
                        align = a
                if pos < off:
                    _pad_items(pos, off, out)
                out.append(m)
                pos = off + bsz
                continue
            if off & 7:
                return None
            if packed:
                a = 8
            else:
                a = aligns[mt]
                if a < 0:
                    a = alignof(mt)
                a *= 8
                if a > align:
                    align = a
            if off % a:
                return None
            if pos < off:
                if (pos + a - 1) // a * a < off:
                    _pad_items(pos, off, out)
            elif pos > off:
                return None
            out.append(m)
            sz = sizes[mt]
            if sz < 0:
                sz = sizeof(mt)
            pos = off + sz * 8
        align //= 8
        size = self.size[tid] * 8
        if pos > size or size % (align * 8):
            return None
        if _round_up(pos, align * 8) < size:
            _pad_items(pos, size, out)
        return _Layout(out, " __attribute__((packed))" if packed else "", align)

    def _union_layout(self, tid: int) -> _Layout:
        mems = self.items[tid] or []
        sizeof, alignof = self._sizeof, self._alignof
        out: List[_Item] = list(mems)
        biggest = 0
        align = 1
        for mname, mt, _off, bsz in mems:
            sz = (bsz + 7) // 8 if bsz else sizeof(mt)
            if sz > biggest:
                biggest = sz
            if mname or not bsz:
                a = alignof(mt)
                if a > align:
                    align = a
        size = self.size[tid]
        attrs = ""
        if size % align or biggest > size:
            attrs = " __attribute__((packed))"
            align = 1
            natural = biggest
        else:
            natural = _round_up(biggest, align)
        if natural < size:
            a = align
            while a < size and _round_up(biggest, a) < size:
                a *= 2
            if _round_up(biggest, a) == size and not attrs:
                attrs = f" __attribute__((aligned({a})))"
                align = a
            else:
                out.append(f"unsigned char __kdbg_pad[{size}]")
        return _Layout(out, attrs, align)

    # ------------------------------------------------------------------ ordering (libbpf)
    def _order_type(self, tid: int, through_ptr: bool) -> int:
        """libbpf's ordering step, guarded: a cycle that no struct/union breaks (a typedef,
        qualifier, pointer or prototype chain back to itself) is malformed BTF."""
        visiting = self._visiting
        prev = visiting[tid]
        comp = self.kind[tid] in _COMPOSITE
        if prev == self._ncomp and not comp:
            raise BTFError(f"{self.btf.name}: type id {tid} refers back to itself (cycle)")
        visiting[tid] = self._ncomp
        if comp:
            self._ncomp += 1
        try:
            return self._order_step(tid, through_ptr)
        finally:
            if comp:
                self._ncomp -= 1
            visiting[tid] = prev

    def _order_step(self, tid: int, through_ptr: bool) -> int:
        state = self._order[tid]
        if state == _ORDERED:
            return 1
        k = self.kind[tid]
        if state == _ORDERING:
            if k in _COMPOSITE and through_ptr and self.name[tid]:
                return 0
            raise BTFError(f"{self.btf.name}: unsatisfiable type cycle at type id {tid}")
        if k in (_INT, _FLOAT) or tid == 0:
            self._order[tid] = _ORDERED
            return 0
        if k == _PTR:
            r = self._order_type(self.ref[tid], True)
            self._order[tid] = _ORDERED
            return r
        if k == _ARRAY:
            return self._order_type(self.ref[tid], False)
        if k in _COMPOSITE:
            named = bool(self.name[tid])
            if through_ptr and named:
                return 0
            order = self._order
            order[tid] = _ORDERING
            for m in self.items[tid]:  # type: ignore[union-attr]
                if order[m[1]] != _ORDERED:
                    self._order_type(m[1], False)
            if named:
                self._queue.append(tid)
            self._order[tid] = _ORDERED
            return 1
        if k in (_ENUM, _ENUM64, _FWD):
            # Anonymous enums are emitted inline where used; the ones never used are
            # emitted at the end (render), so their constants are still defined.
            if self.name[tid]:
                self._queue.append(tid)
            self._order[tid] = _ORDERED
            return 1
        if k == _TYPEDEF:
            strong = self._order_type(self.ref[tid], through_ptr)
            if through_ptr and not strong:
                return 0
            self._queue.append(tid)
            self._order[tid] = _ORDERED
            return 1
        if k in _QUALS:
            return self._order_type(self.ref[tid], through_ptr)
        if k == _PROTO:
            params = self._params_of(tid)
            strong = self._order_type(self.ref[tid], through_ptr) > 0
            for p in params:
                if self._order_type(p[1], through_ptr) > 0:
                    strong = True
            return int(strong)
        self._order[tid] = _ORDERED
        return 0

    # ------------------------------------------------------------------ emission (libbpf)
    def _emit_type(self, tid: int, cont_id: int) -> None:
        est = self._emit[tid]
        if est == _EMITTED:
            return
        k = self.kind[tid]
        out = self._out
        if est == _EMITTING:
            if self._fwd_emitted[tid]:
                return
            if k in _COMPOSITE:
                if tid == cont_id:
                    return
                if not self.name[tid]:
                    raise BTFError(f"{self.btf.name}: anonymous struct/union loop at type id {tid}")
                out.append(f"{self._kw(tid)} {self.c_name(tid)};\n\n")
                self._fwd_emitted[tid] = 1
            elif k == _TYPEDEF:
                if self.name[tid] not in _BUILTIN_TYPEDEFS:
                    out.append(self._typedef_def(tid))
                self._fwd_emitted[tid] = 1
            return
        if k in (_INT, _FLOAT):
            self._emit[tid] = _EMITTED
        elif k in (_ENUM, _ENUM64):
            if cont_id == 0:
                out.append(self._enum_body(tid, 0) + ";\n\n")
            self._emit[tid] = _EMITTED
        elif k in _PASS:
            self._emit_type(self.ref[tid], cont_id)
        elif k == _FWD:
            out.append(f"{self._kw(tid)} {self.c_name(tid)};\n\n")
            self._emit[tid] = _EMITTED
        elif k == _TYPEDEF:
            self._emit[tid] = _EMITTING
            self._emit_type(self.ref[tid], tid)
            if not self._fwd_emitted[tid] and self.name[tid] not in _BUILTIN_TYPEDEFS:
                out.append(self._typedef_def(tid))
            self._emit[tid] = _EMITTED
        elif k in _COMPOSITE:
            self._emit[tid] = _EMITTING
            named = bool(self.name[tid])
            if cont_id == 0 or not named:
                new_cont = tid if named else cont_id
                emit, strip, fwd, kind = self._emit, self._strip, self._fwd_emitted, self.kind
                for m in self.items[tid]:  # type: ignore[union-attr]
                    st = strip[m[1]]
                    if st < 0:
                        st = self._strip_of(m[1])
                    e = emit[st]
                    if e == _EMITTED or (e == _NOT_EMITTED and fwd[st] and kind[st] in _COMPOSITE):
                        continue  # defined, or a struct already declared: nothing to do
                    self._emit_type(st, new_cont)
            elif not self._fwd_emitted[tid] and tid != cont_id:
                out.append(f"{self._kw(tid)} {self.c_name(tid)};\n\n")
                self._fwd_emitted[tid] = 1
            if cont_id == 0:
                out.append(self._composite_body(tid, 0) + ";\n\n")
                self._emit[tid] = _EMITTED
            else:
                self._emit[tid] = _NOT_EMITTED
        elif k == _PROTO:
            params = self._params_of(tid)
            self._emit_type(self.ref[tid], cont_id)
            for p in params:
                self._emit_type(p[1], cont_id)

    def _strip_of(self, tid: int) -> int:
        """The type emission reaches through pointers, arrays and qualifiers."""
        kind, ref = self.kind, self.ref
        cur = tid
        for _ in range(1024):
            k = kind[cur]
            if k in _PASS:
                cur = ref[cur]
            else:
                self._strip[tid] = cur
                return cur
        raise BTFError(f"{self.btf.name}: reference chain too long at type id {tid}")

    def _kw(self, tid: int) -> str:
        k = self.kind[tid]
        if k == _FWD:
            return "union" if self.kflag[tid] else "struct"
        if k in (_ENUM, _ENUM64):
            return "enum"
        return "union" if k == _UNION else "struct"

    # ------------------------------------------------------------------ rendering
    def _typedef_def(self, tid: int) -> str:
        return "typedef " + self._decl(self.ref[tid], self.c_name(tid), 0) + ";\n\n"

    def _composite_body(self, tid: int, lvl: int) -> str:
        lay = self._layout(tid)
        name = self.c_name(tid)
        head = f"{self._kw(tid)} {name} {{" if name else f"{self._kw(tid)} {{"
        if not lay.items:
            return head + "}" + lay.attrs
        ind = "\n" + "\t" * (lvl + 1)
        parts: List[str] = []
        add = parts.append
        decl = self._decl
        dcache = self._dcache
        for item in lay.items:
            if isinstance(item, str):
                add(item)
                continue
            mname, mt, _off, bsz = item
            hit = dcache.get(mt)
            if hit is not None and mname:
                d = hit[0] + mname + hit[1]
            else:
                d = decl(mt, mname, lvl + 1)
            add(f"{d}: {bsz}" if bsz else d)
        return f"{head}{ind}{(';' + ind).join(parts)};\n{chr(9) * lvl}}}{lay.attrs}"

    def _enum_attrs(self, tid: int) -> str:
        size = self.size[tid]
        vals = [v for _, v in self.items[tid] or ()]
        lo = min(vals, default=0)
        hi = max(vals, default=0)
        if self.kind[tid] == _ENUM and not self.kflag[tid]:
            lo = 0  # values were decoded unsigned
        # The size gcc/clang give the enum naturally and with __attribute__((packed)).
        if lo >= -(1 << 31) and hi < (1 << 32) and not (lo < 0 and hi >= 1 << 31):
            natural = 4
        else:
            natural = 8
        packed = 8
        for nbytes in (1, 2, 4):
            bits = nbytes * 8
            if (lo >= -(1 << (bits - 1)) and hi < 1 << (bits - 1)) or (lo >= 0 and hi < 1 << bits):
                packed = nbytes
                break
        if size == natural:
            return ""
        if size == packed:
            return " __attribute__((packed))"
        mode = _MODE_BY_SIZE.get(size)
        return f" __attribute__((mode({mode})))" if mode else ""

    def _enum_value(self, tid: int, v: int) -> str:
        if -(1 << 31) <= v < (1 << 31):
            return str(v)
        if v < 0:
            if v == -(1 << 63):
                return "(-9223372036854775807LL - 1)"
            return f"{v}LL"
        if v < (1 << 32) and self.kind[tid] == _ENUM:
            return f"{v}U"
        if v < (1 << 63):
            return f"{v}LL"
        return f"{v}ULL"

    def _enum_body(self, tid: int, lvl: int) -> str:
        name = self.c_name(tid)
        vals = self.items[tid] or []
        if not vals:
            return f"enum {name}"
        if not name:
            self._inlined[tid] = 1
        head = f"enum {name} {{" if name else "enum {"
        ind = "\n" + "\t" * (lvl + 1)
        parts = [head]
        add = parts.append
        idents = self._idents
        for en, v in vals:
            if en in idents:
                en = self._ident_name(en)
            else:
                idents[en] = 1
            if -0x80000000 <= v <= 0x7FFFFFFF:
                add(f"{ind}{en} = {v},")
            else:
                add(f"{ind}{en} = {self._enum_value(tid, v)},")
        add("\n" + "\t" * lvl + "}" + self._enum_attrs(tid))
        return "".join(parts)

    def _int_name(self, tid: int) -> str:
        name = self.name[tid]
        if name in _C_INTS:
            return name
        size = self.size[tid]
        enc = (self.alen[tid] >> 24) & 0x0F
        if enc & K.INT_BOOL and size == 1:
            return "_Bool"
        base = _INT_BY_SIZE.get(size, "int")
        if size == 1:
            return "signed char" if enc & K.INT_SIGNED else "unsigned char"
        return base if enc & K.INT_SIGNED else f"unsigned {base}"

    def _base(self, tid: int, lvl: int) -> Tuple[str, bool]:
        """The base type spelling and whether it is the same at every nesting level."""
        if tid == 0:
            return "void", True
        k = self.kind[tid]
        if k in _COMPOSITE:
            if self.name[tid]:
                return f"{self._kw(tid)} {self.c_name(tid)}", True
            return self._composite_body(tid, lvl), False
        if k in (_ENUM, _ENUM64):
            if self.name[tid]:
                return f"enum {self.c_name(tid)}", True
            return self._enum_body(tid, lvl), False
        if k == _TYPEDEF:
            return self.c_name(tid), True
        if k == _FWD:
            return f"{self._kw(tid)} {self.c_name(tid)}", True
        if k == _INT:
            return self._int_name(tid), True
        if k == _FLOAT:
            name = self.name[tid]
            if name in _C_FLOATS:
                return name, True
            return _FLOAT_BY_SIZE.get(self.size[tid], "double"), True
        return "void", True

    # ------------------------------------------------------------------ driving
    def _resolve(self, spec: TypeSpec) -> int:
        if isinstance(spec, Type):
            return spec.id
        if isinstance(spec, int):
            if not 0 <= spec < self._n:
                raise BTFError(f"{self.btf.name}: type id {spec} out of range")
            return spec
        t = self.btf.lookup(spec)
        if t.id < 0:
            raise BTFError(f"{spec!r} is not a type in {self.btf.name}")
        return t.id

    def roots(self, types: Optional[Iterable[TypeSpec]] = None) -> List[int]:
        """Type ids a header starts from: ``types`` resolved, or every type of this BTF
        (for split BTF only the split part: base types come in as they are needed)."""
        if types is not None:
            return [self._resolve(t) for t in types]
        # Every definition is a root of its own; pointers, arrays, qualifiers and
        # prototypes add nothing that is not reached from those (FUNCs are not emitted).
        kind = self.kind
        return [tid for tid in range(self.btf.start_id, self._n) if kind[tid] in _DEFINERS]

    def render(self, types: Optional[Iterable[TypeSpec]] = None) -> List[str]:
        """The header as a list of text chunks (join them, or write them in order)."""
        ids = self.roots(types)
        old = sys.getrecursionlimit()
        if old < 20000:
            sys.setrecursionlimit(20000)
        try:
            out = self._out
            out.append(_PROLOGUE)
            kind = self.kind
            order, emit = self._order_type, self._emit_type
            queue = self._queue
            anon_enums: List[int] = []
            for tid in ids:
                k = kind[tid]
                if k in _SKIP:
                    continue
                if (k in (_ENUM, _ENUM64)) and not self.name[tid]:
                    anon_enums.append(tid)
                    continue
                order(tid, False)
                if queue:
                    for q in queue:
                        emit(q, 0)
                    queue.clear()
            # Anonymous enums nothing emitted uses: top-level, for their constants.
            for tid in anon_enums:
                if not self._inlined[tid]:
                    out.append(self._enum_body(tid, 0) + ";\n\n")
            out.append(_EPILOGUE)
        finally:
            if old < 20000:
                sys.setrecursionlimit(old)
        self._out = []
        return out


def dump_c(btf: BTF, types: Optional[Sequence[TypeSpec]] = None,
           out: Optional[TextIO] = None) -> None:
    """Write a C header for ``btf`` to ``out`` (default ``sys.stdout``).

    ``types`` limits it to those types (C names such as ``"struct task_struct"`` or
    ``"u64"``, type ids, or :class:`~kdbg.btf.types.Type` objects) and everything they
    need; by default every type is emitted (for split BTF: the split types plus the base
    types they use).
    """
    stream = out if out is not None else sys.stdout
    stream.writelines(HeaderWriter(btf).render(types))


def header_c(btf: BTF, types: Optional[Sequence[TypeSpec]] = None) -> str:
    """The C header :func:`dump_c` writes, as a string."""
    return "".join(HeaderWriter(btf).render(types))
