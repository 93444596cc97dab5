"""Writing C for the types of a header: names, definitions, forward declarations.

:class:`Emitter` spells each type (renaming duplicates the way bpftool does, ``x___2``,
tags and ordinary identifiers in separate namespaces), writes struct/union bodies from
their :mod:`layout plans <kdbg.btf.header.layout>`, enums with the attributes that make
``sizeof`` match, typedefs through the one declarator writer
(:class:`kdbg.btf.cdecl.Declarator`, bpftool's dialect), and emits types in libbpf's way
(a forward declaration where a definition is not needed yet).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from kdbg.btf import constants as K
from kdbg.btf.cdecl import Declarator
from kdbg.btf.header.layout import Layouts
from kdbg.btf.header.types import (
    _COMPOSITE,
    _ENUM,
    _ENUM64,
    _FLOAT,
    _FWD,
    _INT,
    _PASS,
    _PROTO,
    _STRUCT,
    _TYPEDEF,
    _UNION,
    TypeTable,
)
from kdbg.errors import BTFError

__all__ = ["Emitter"]

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
#: Typedefs that are compiler built-ins and must not be redefined (libbpf's blacklist).
_BUILTIN_TYPEDEFS = frozenset(("__builtin_va_list",))


class Emitter(Declarator):
    """The naming and emission state of one header over a :class:`TypeTable`; also its
    declarator writer (bpftool's dialect), whose base spellings it provides."""

    def __init__(self, table: TypeTable, layouts: Layouts) -> None:
        self.btf = table.btf
        self.kind, self.name, self.ref, self.size = table.kind, table.name, table.ref, table.size
        self.vlen, self.kflag, self.alen, self.items = table.vlen, table.kflag, table.alen, table.items
        self._params_of = table.params_of
        self._layout = layouts.layout
        n = table.n
        #: Anonymous enums written inline somewhere (the rest go at the end).
        self.inlined = bytearray(n)
        self._inlined = self.inlined
        self._emit = bytearray(n)
        self._fwd_emitted = bytearray(n)
        self._cname: List[Optional[str]] = [None] * n
        self._tags: Dict[str, List[object]] = {}
        self._idents: Dict[str, int] = {}
        Declarator.__init__(self, self.kind, self.ref, self.alen, None, table.params_of, True, self.btf.name)
        self._dcache = self.cache
        self._strip: List[int] = [-1] * n
        #: The text written so far, in chunks.
        self.out: List[str] = []
        self._out = self.out

    def emit(self, tid: int, cont_id: int) -> None:
        """Emit ``tid`` (inside the definition of ``cont_id``, 0 at top level)."""
        self._emit_type(tid, cont_id)

    def enum_body(self, tid: int, lvl: int) -> str:
        """An enum's definition text at nesting level ``lvl``."""
        return self._enum_body(tid, lvl)

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
        if k in _PASS:  # the most common visit
            self._emit_type(self.ref[tid], cont_id)
        elif k in (_INT, _FLOAT):
            self._emit[tid] = _EMITTED
        elif k in (_ENUM, _ENUM64):
            if cont_id == 0:
                out.append(self._enum_body(tid, 0))
                out.append(";\n\n")
            self._emit[tid] = _EMITTED
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
                out.append(self._composite_body(tid, 0))
                out.append(";\n\n")
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

    def _typedef_def(self, tid: int) -> str:
        return "typedef " + self.declare(self.ref[tid], self.c_name(tid), 0) + ";\n\n"

    def _composite_body(self, tid: int, lvl: int) -> str:
        lay = self._layout(tid)
        name = self.c_name(tid)
        head = f"{self._kw(tid)} {name} {{" if name else f"{self._kw(tid)} {{"
        if not lay.items:
            return head + "}" + lay.attrs
        ind = "\n" + "\t" * (lvl + 1)
        parts: List[str] = []
        add = parts.append
        decl = self.declare
        dcache = self._dcache
        for item in lay.items:
            if isinstance(item, str):
                add(item)
                continue
            mname, mt, _off, bsz = item
            hit = dcache.get(mt)
            if hit is not None and mname:
                add(f"{hit[0]}{mname}{hit[1]}: {bsz}" if bsz else hit[0] + mname + hit[1])
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
