"""How each struct and union of a C header is laid out so that gcc and clang place every
member exactly where BTF says.

For every struct and union :class:`Layouts` computes the layout gcc and clang would give
the emitted C (x86-64/LP64 rules, bitfields included) and compares it with the BTF
offsets and size: gaps get explicit padding (``long: 64;``), impossible placements make
the type ``__attribute__((packed))``, and unions larger than their members get
``__attribute__((aligned(N)))`` or a padding array.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple, Union

from kdbg.btf import constants as K
from kdbg.btf.header.types import (
    _ARRAY,
    _COMPOSITE,
    _CONST,
    _ENUM,
    _ENUM64,
    _FLOAT,
    _INT,
    _PTR,
    _RESTRICT,
    _TYPE_TAG,
    _TYPEDEF,
    _UNION,
    _VOLATILE,
    TypeTable,
)
from kdbg.errors import BTFError

__all__ = ["Layout", "Layouts"]

#: Unnamed bitfield types used for padding, smallest first: (C type, bits).
_PADS = (("char", 8), ("short", 16), ("int", 32), ("long", 64))

# A layout plan item: a member as decoded (name, type id, bit offset, bitfield size), or
# the text of a padding declaration.
_Item = Union[Tuple[str, int, int, int], str]


class Layout:
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


_IN_PROGRESS = Layout([], "", 0)


def _round_up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


class Layouts:
    """The layout plan of every struct and union of one :class:`TypeTable`, computed on
    first use, with the sizes and alignments it needs."""

    def __init__(self, table: TypeTable) -> None:
        self.btf = table.btf
        self.kind, self.ref, self.size, self.alen, self.items = (
            table.kind, table.ref, table.size, table.alen, table.items,
        )
        n = table.n
        self._layouts: Dict[int, Layout] = {}
        self._align: List[int] = [-1] * n
        self._sizes: List[int] = [-1] * n

    def sizeof(self, tid: int) -> int:
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

    def alignof(self, tid: int) -> int:
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
                r = self.layout(cur).align
            else:
                r = 1
            break
        else:  # pragma: no cover - malformed BTF
            raise BTFError(f"type chain too long at type id {tid}")
        self._align[tid] = r
        return r

    def layout(self, tid: int) -> Layout:
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
                    lay = Layout(list(mems), "", 1)
            self._layouts[tid] = lay
        return lay

    def _struct_layout(self, tid: int, packed: bool) -> Optional[Layout]:
        """Plan a struct as gcc lays it out (natural or packed), padding every gap so each
        member lands on its BTF bit offset; None when that is impossible."""
        out: List[_Item] = []
        pos = 0
        align = 8  # in bits
        sizes, aligns = self._sizes, self._align
        sizeof, alignof = self.sizeof, self.alignof
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
        return Layout(out, " __attribute__((packed))" if packed else "", align)

    def _union_layout(self, tid: int) -> Layout:
        mems = self.items[tid] or []
        sizeof, alignof = self.sizeof, self.alignof
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
        return Layout(out, attrs, align)
