"""The order types are written in, with libbpf's ``btf_dump`` algorithm.

A struct embedding another by value comes after it, a type reached only through a
pointer needs just a forward declaration (``struct x;``), and cycles are broken with
forward declarations. :meth:`Orderer.order` visits a type and everything it needs and
appends to :attr:`Orderer.queue` the named types ready to be emitted, in order.
"""

from __future__ import annotations

from typing import List

from kdbg.btf.header.types import (
    _ARRAY,
    _COMPOSITE,
    _ENUM,
    _ENUM64,
    _FLOAT,
    _FWD,
    _INT,
    _PROTO,
    _PTR,
    _QUALS,
    _TYPEDEF,
    TypeTable,
)
from kdbg.errors import BTFError

__all__ = ["Orderer"]

_NOT_ORDERED, _ORDERING, _ORDERED = 0, 1, 2


class Orderer:
    """libbpf's ordering state over one :class:`TypeTable`."""

    def __init__(self, table: TypeTable) -> None:
        self.btf = table.btf
        self.kind, self.name, self.ref, self.items = table.kind, table.name, table.ref, table.items
        self._params_of = table.params_of
        n = table.n
        self._order = bytearray(n)
        # per type: how many structs/unions were being ordered when it was entered (-1: not)
        self._visiting: List[int] = [-1] * n
        self._ncomp = 0
        #: Named types ready to emit, in order; the caller empties it.
        self.queue: List[int] = []
        self._queue = self.queue

    def order(self, tid: int, through_ptr: bool) -> int:
        """Order ``tid`` and what it needs (``through_ptr``: reached through a pointer)."""
        return self._order_type(tid, through_ptr)

    def _order_type(self, tid: int, through_ptr: bool) -> int:
        """libbpf's ordering step, guarded: a cycle that no struct/union breaks (a typedef,
        qualifier, pointer or prototype chain back to itself) is malformed BTF."""
        order = self._order
        if order[tid] == _ORDERED:
            # done (so not being ordered: no cycle through it); most visits end here
            return 1
        if tid == 0 or self.kind[tid] in (_INT, _FLOAT):
            # refers to nothing, so never part of a cycle
            order[tid] = _ORDERED
            return 0
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
