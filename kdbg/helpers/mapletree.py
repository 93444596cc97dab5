"""Maple trees (``struct maple_tree``, Linux 6.1 and later): drgn's
``drgn.helpers.linux.mapletree``.

An entry that is a node is an ``xa_node``-style tagged pointer: the node
(``struct maple_node``, 256-byte aligned) in the high bits and its type in bits 3-6
(``maple_leaf_64`` 1, ``maple_range_64`` 2, ``maple_arange_64`` 3). A node holds
``pivots`` (the last index of each slot but the last) and ``slots``; how many slots are in
use (``ma_data_end``) is the metadata's ``end`` for an allocation-range node or when the
last pivot is 0, else all of them (minus one when the last pivot is the node's maximum).
The node layout is read from BTF; a node is read in one piece. Walks are bounded
(:class:`kdbg.helpers.common.Walk`, and at most :data:`MAX_HEIGHT` levels): a corrupt tree
raises :class:`~kdbg.errors.ValidationError` naming it.

On a kernel without maple trees (before 6.1) there is no ``struct maple_tree`` to pass:
asking for one fails as it does in drgn (``LookupError`` for the type, ``AttributeError``
for a member such as ``mm_struct.mm_mt``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, List, SupportsIndex, Tuple

from kdbg.core.conversions import sizeof
from kdbg.core.integer import integer_value
from kdbg.core.object import Object, value_object
from kdbg.core.platform import PlatformFlags
from kdbg.errors import ValidationError
from kdbg.helpers.common import Walk, address_of_struct, describe_address, program_cache
from kdbg.helpers.xarray import XA_ZERO_ENTRY

if TYPE_CHECKING:
    from kdbg.btf.types import Type
    from kdbg.core.program import Program

__all__ = ["mt_for_each", "mtree_load"]

#: ``MAPLE_HEIGHT_MAX`` (include/linux/maple_tree.h).
MAX_HEIGHT = 31
_NODE_MASK = 255
_LEAF_64, _RANGE_64, _ARANGE_64 = 1, 2, 3


class _Kind:
    """Where one node type keeps its pivots, slots and metadata end."""

    __slots__ = ("pivots", "npivots", "slots", "end")

    def __init__(self, node: Type, member: str) -> None:
        bits, pivot_t = node.offsetof_bits(member + ".pivot")  # type: ignore[attr-defined]
        self.pivots: int = bits // 8
        self.npivots: int = pivot_t.strip_typedefs().length
        self.slots: int = node.offsetof(member + ".slot")  # type: ignore[attr-defined]
        self.end: int = node.offsetof(member + ".meta.end")  # type: ignore[attr-defined]


class _Layout:
    __slots__ = ("root", "size", "range64", "arange64", "void_p", "word", "order", "ulong_max")

    def __init__(self, prog: Program) -> None:
        node = prog.type("struct maple_node").strip_typedefs()
        self.root: int = prog.type("struct maple_tree").strip_typedefs().offsetof("ma_root")  # type: ignore[attr-defined]
        self.size = sizeof(node)
        self.range64 = _Kind(node, "mr64")
        self.arange64 = _Kind(node, "ma64")
        self.void_p: Type = prog.type("void *")
        self.word = sizeof(prog.type("unsigned long"))
        self.order = "little" if prog.platform.flags & PlatformFlags.IS_LITTLE_ENDIAN else "big"
        self.ulong_max = (1 << (8 * self.word)) - 1


def _layout(prog: Program) -> _Layout:
    return program_cache(prog, "mapletree", lambda: _Layout(prog))


def _is_node(entry: int) -> bool:
    return entry & 3 == 2 and entry > 4096


class _Node:
    """One node read: ``pivots``, ``slots`` (``end + 1`` of each are in use) and ``leaf``."""

    __slots__ = ("address", "pivots", "slots", "end", "leaf")

    def __init__(self, prog: Program, lay: _Layout, entry: int, node_max: int, what: str) -> None:
        self.address = entry & ~_NODE_MASK
        kind_number = (entry >> 3) & 0xF
        if kind_number == _ARANGE_64:
            kind = lay.arange64
        elif kind_number in (_RANGE_64, _LEAF_64):
            kind = lay.range64
        else:
            raise NotImplementedError(f"{what}: node {self.address:#x} of maple_type {kind_number}, "
                                      "which kdbg does not read (as drgn does not)")
        raw = prog.read(self.address, lay.size)
        w, order = lay.word, lay.order
        self.pivots: List[int] = [int.from_bytes(raw[kind.pivots + k * w:kind.pivots + (k + 1) * w], order)  # type: ignore[arg-type]
                                  for k in range(kind.npivots)]
        self.slots: List[int] = [int.from_bytes(raw[kind.slots + k * w:kind.slots + (k + 1) * w], order)  # type: ignore[arg-type]
                                 for k in range(kind.npivots + 1)]
        meta_end = raw[kind.end]
        if kind_number == _ARANGE_64 or not self.pivots[-1]:
            end = meta_end
        elif self.pivots[-1] == node_max:
            end = kind.npivots - 1
        else:
            end = kind.npivots
        if end > kind.npivots:
            raise ValidationError(f"{what}: node {self.address:#x} says it uses {end + 1} slots of "
                                  f"{kind.npivots + 1}")
        self.end = end
        self.leaf = kind_number < _RANGE_64


def _root(mt: Object) -> Tuple[Program, _Layout, int, str]:
    prog = mt.prog_
    lay = _layout(prog)
    addr = address_of_struct(mt, "struct maple_tree")
    return prog, lay, prog.read_word(addr + lay.root), f"maple_tree at {describe_address(prog, addr)}"


def _child(entry: int, what: str, parent: int) -> int:
    """A child of an inner node: an encoded node (the node's address, its type in bits
    3-6 and ``MAPLE_ENODE_NULL``, bit 2; only the root also has bit 1)."""
    if entry & ~_NODE_MASK < 4096:
        raise ValidationError(f"{what}: node {parent:#x} has a child {entry:#x} that is not a node")
    return entry


def mtree_load(mt: Object, index: SupportsIndex, *, advanced: bool = False) -> Object:
    """The entry at ``index`` of ``mt`` (``struct maple_tree *``), a ``void *`` (``NULL``
    if none). Unless ``advanced``, a zero entry (``XA_ZERO_ENTRY``) is ``NULL``."""
    i = integer_value(index)
    prog, lay, entry, what = _root(mt)
    if not _is_node(entry):
        return value_object(prog, lay.void_p, entry if i == 0 else 0)
    node_max = lay.ulong_max
    for _level in range(MAX_HEIGHT + 1):
        node = _Node(prog, lay, entry, node_max, what)
        offset = node.end
        for k in range(node.end):
            if node.pivots[k] >= i:
                node_max = node.pivots[k]
                offset = k
                break
        entry = node.slots[offset]
        if node.leaf:
            if not advanced and entry == XA_ZERO_ENTRY:
                entry = 0
            return value_object(prog, lay.void_p, entry)
        entry = _child(entry, what, node.address)
    raise ValidationError(f"{what}: deeper than {MAX_HEIGHT} levels")


def mt_for_each(mt: Object, *, advanced: bool = False) -> Iterator[Tuple[int, int, Object]]:
    """``(first index, last index, entry)`` of every entry of ``mt`` (``struct maple_tree
    *``) in index order; both indices inclusive, entries ``void *``. Unless ``advanced``,
    zero entries are skipped."""
    prog, lay, entry, what = _root(mt)
    void_p = lay.void_p
    if not _is_node(entry):
        if entry:
            yield 0, 0, value_object(prog, void_p, entry)
        return
    walk = Walk(prog, what)
    stack: List[Tuple[int, int, int, int]] = [(entry, 0, lay.ulong_max, 0)]
    while stack:
        entry, low, high, depth = stack.pop()
        if depth > MAX_HEIGHT:
            raise ValidationError(f"{what}: deeper than {MAX_HEIGHT} levels")
        node = _Node(prog, lay, entry, high, what)
        walk.step(node.address)
        firsts = [low] + [p + 1 for p in node.pivots[:node.end]]
        lasts = node.pivots[:node.end] + [high]
        if node.leaf:
            for first, last, slot in zip(firsts, lasts, node.slots[:node.end + 1]):
                if slot and (advanced or slot != XA_ZERO_ENTRY):
                    yield first, last, value_object(prog, void_p, slot)
        else:
            for first, last, slot in reversed(list(zip(firsts, lasts, node.slots[:node.end + 1]))):
                stack.append((_child(slot, what, node.address), first, last, depth + 1))
