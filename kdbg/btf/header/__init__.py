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

The parts: :mod:`kdbg.btf.header.types` (the BTF read from the decoder into flat
per-id lists), :mod:`kdbg.btf.header.layout` (struct/union layout plans),
:mod:`kdbg.btf.header.order` (libbpf's ordering) and :mod:`kdbg.btf.header.emit`
(naming and writing C); this module drives them.
"""
from __future__ import annotations

import gc
import sys
from contextlib import contextmanager
from typing import Iterable, Iterator, List, Optional, Sequence, TextIO, Union

from kdbg.btf.header.emit import Emitter
from kdbg.btf.header.layout import Layouts
from kdbg.btf.header.order import Orderer
from kdbg.btf.header.types import _DEFINERS, _ENUM, _ENUM64, _SKIP, TypeTable
from kdbg.btf.index import BTF
from kdbg.btf.types import Type
from kdbg.errors import BTFError

__all__ = ["HeaderWriter", "dump_c", "header_c", "TypeSpec"]

#: What ``types=`` accepts: a C type name (``"struct task_struct"``), a type id or a Type.
TypeSpec = Union[str, int, Type]

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


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector: a header allocates some million tuples,
    lists and strings (none in a cycle), whose allocation would otherwise trigger
    collections that scan every one of them again and again (a tenth of the time)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class HeaderWriter:
    """Renders the types of one BTF (and its base, for split BTF) as C.

    One writer keeps the naming state of one header: :meth:`c_name` gives the spelling a
    type got in it (``x___2`` for the second ``struct x``), which lets callers write code
    against the header.
    """

    def __init__(self, btf: BTF) -> None:
        self.btf = btf
        with _collector_paused():
            self._table = TypeTable(btf)
        self._n = self._table.n
        self.kind = self._table.kind
        self.name = self._table.name
        self._orderer = Orderer(self._table)
        self._emitter = Emitter(self._table, Layouts(self._table))

    def c_name(self, type_id: int) -> str:
        """The name ``type_id`` has in this header (renamed ``x___N`` on a clash)."""
        return self._emitter.c_name(type_id)

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
        with _collector_paused():
            try:
                em = self._emitter
                out = em.out
                out.append(_PROLOGUE)
                kind = self.kind
                order, emit = self._orderer.order, em.emit
                queue = self._orderer.queue
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
                    if not em.inlined[tid]:
                        out.append(em.enum_body(tid, 0) + ";\n\n")
                out.append(_EPILOGUE)
            finally:
                if old < 20000:
                    sys.setrecursionlimit(old)
        em.out = em._out = []
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
    with _collector_paused():  # the writer's lists are freed before it runs again
        stream.writelines(HeaderWriter(btf).render(types))


def header_c(btf: BTF, types: Optional[Sequence[TypeSpec]] = None) -> str:
    """The C header :func:`dump_c` writes, as a string."""
    with _collector_paused():  # the writer's lists are freed before it runs again
        return "".join(HeaderWriter(btf).render(types))
