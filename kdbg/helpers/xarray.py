"""XArrays and radix trees (a radix tree is an XArray since Linux 4.20): drgn's
``drgn.helpers.linux.xarray`` and ``.radixtree``.

The node layout (``struct xa_node``: ``shift``, ``slots[XA_CHUNK_SIZE]``) is read from
BTF. A walk checks that each child's ``shift`` is its parent's minus ``XA_CHUNK_SHIFT`` (so
it always ends) and counts nodes against the memory-size limit; a broken tree raises
:class:`~kdbg.errors.ValidationError` naming the node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, SupportsIndex, Tuple

from kdbg.core.integer import integer_value
from kdbg.core.object import Object, value_object
from kdbg.errors import ObjectTypeError, ValidationError
from kdbg.helpers.common import Walk, address_of_struct, describe_address, program_cache

if TYPE_CHECKING:
    from kdbg.btf.types import Type
    from kdbg.core.program import Program

__all__ = [
    "radix_tree_for_each",
    "radix_tree_lookup",
    "xa_for_each",
    "xa_is_value",
    "xa_is_zero",
    "xa_load",
    "xa_to_value",
]

#: ``XA_ZERO_ENTRY`` (``xa_mk_internal(257)``) and ``XA_RETRY_ENTRY`` (``xa_mk_internal(256)``).
XA_ZERO_ENTRY = (257 << 2) | 2
XA_RETRY_ENTRY = (256 << 2) | 2


class _Layout:
    __slots__ = ("head", "shift", "slots", "chunk", "chunk_shift", "void_p")

    def __init__(self, prog: Program) -> None:
        xa = prog.type("struct xarray").strip_typedefs()
        node = prog.type("struct xa_node").strip_typedefs()
        self.head: int = xa.offsetof("xa_head")  # type: ignore[attr-defined]
        self.shift: int = node.offsetof("shift")  # type: ignore[attr-defined]
        self.slots: int = node.offsetof("slots")  # type: ignore[attr-defined]
        _bits, slots_t = node.offsetof_bits("slots")  # type: ignore[attr-defined]
        self.chunk: int = slots_t.strip_typedefs().length
        self.chunk_shift = self.chunk.bit_length() - 1
        self.void_p: Type = prog.type("void *")


def _layout(prog: Program) -> _Layout:
    return program_cache(prog, "xarray", lambda: _Layout(prog))


def _is_node(entry: int) -> bool:
    return entry & 3 == 2 and entry > 4096


def _is_sibling(entry: int, lay: _Layout) -> bool:
    return entry & 3 == 2 and entry < (((lay.chunk - 1) << 2) | 2)


def _xa_address(xa: Object) -> int:
    return address_of_struct(xa, "struct xarray")


def _node_shift(prog: Program, lay: _Layout, node: int, expect: int, what: str) -> int:
    shift = prog.read_u8(node + lay.shift)
    if shift % lay.chunk_shift or shift >= 64 or (expect >= 0 and shift != expect):
        want = f"{expect}" if expect >= 0 else f"a multiple of {lay.chunk_shift} below 64"
        raise ValidationError(f"{what}: node {node:#x} has shift {shift}, expected {want}")
    return shift


def _slots(prog: Program, lay: _Layout, node: int) -> Tuple[int, ...]:
    raw = prog.read(node + lay.slots, 8 * lay.chunk)
    return tuple(int.from_bytes(raw[i:i + 8], "little") for i in range(0, len(raw), 8))


def _load(xa: Object, index: int, advanced: bool) -> int:
    prog = xa.prog_
    lay = _layout(prog)
    addr = _xa_address(xa)
    what = f"xarray at {describe_address(prog, addr)}"
    entry = prog.read_word(addr + lay.head)
    if _is_node(entry):
        node = entry - 2
        shift = _node_shift(prog, lay, node, -1, what)
        if index >> shift >= lay.chunk:
            return 0
        while True:
            offset = (index >> shift) & (lay.chunk - 1)
            entry = prog.read_word(node + lay.slots + 8 * offset)
            if _is_sibling(entry, lay):
                entry = prog.read_word(node + lay.slots + 8 * (entry >> 2))
            if not (_is_node(entry) and shift):
                break
            node = entry - 2
            shift = _node_shift(prog, lay, node, shift - lay.chunk_shift, what)
    elif index:
        return 0
    if not advanced and entry == XA_ZERO_ENTRY:
        return 0
    return entry


def xa_load(xa: Object, index: SupportsIndex, *, advanced: bool = False) -> Object:
    """The entry at ``index`` (a ``void *``; ``NULL`` if none). ``xa`` is a
    ``struct xarray`` or a pointer to one. Unless ``advanced``, a zero entry is ``NULL``."""
    i = integer_value(index)
    if i < 0:
        raise ObjectTypeError(f"xarray index must not be negative: {i}")
    entry = _load(xa, i, advanced)
    return value_object(xa.prog_, _layout(xa.prog_).void_p, entry)


def _each(xa: Object, advanced: bool) -> Iterator[Tuple[int, int]]:
    prog = xa.prog_
    lay = _layout(prog)
    addr = _xa_address(xa)
    what = f"xarray at {describe_address(prog, addr)}"
    head = prog.read_word(addr + lay.head)
    if not _is_node(head):
        if head and (advanced or head != XA_ZERO_ENTRY):
            yield 0, head
        return
    walk = Walk(prog, what)

    def visit(node: int, shift: int, base: int) -> Iterator[Tuple[int, int]]:
        walk.step(node)
        for i, entry in enumerate(_slots(prog, lay, node)):
            if not entry:
                continue
            index = base + (i << shift)
            if _is_node(entry) and shift:
                child = entry - 2
                yield from visit(child, _node_shift(prog, lay, child, shift - lay.chunk_shift, what), index)
            elif _is_sibling(entry, lay):
                continue
            elif advanced or entry not in (XA_ZERO_ENTRY, XA_RETRY_ENTRY):
                yield index, entry

    top = head - 2
    yield from visit(top, _node_shift(prog, lay, top, -1, what), 0)


def xa_for_each(xa: Object, *, advanced: bool = False) -> Iterator[Tuple[int, Object]]:
    """``(index, entry)`` of every present entry in ascending index order; entries are
    ``void *``. Unless ``advanced``, zero and retry entries are skipped."""
    prog = xa.prog_
    void_p = _layout(prog).void_p
    for index, entry in _each(xa, advanced):
        yield index, value_object(prog, void_p, entry)


def xa_is_value(entry: Object) -> bool:
    """Whether ``entry`` holds an integer value (``xa_mk_value``) rather than a pointer."""
    return bool(int(entry) & 1)


def xa_to_value(entry: Object) -> Object:
    """The integer a value entry holds (``unsigned long``)."""
    return Object(entry.prog_, "unsigned long", int(entry) >> 1)


def xa_is_zero(entry: Object) -> bool:
    """Whether ``entry`` is ``XA_ZERO_ENTRY`` (reserved; reads as ``NULL``)."""
    return int(entry) == XA_ZERO_ENTRY


def radix_tree_lookup(root: Object, index: SupportsIndex) -> Object:
    """The entry at ``index`` of a radix tree (``struct radix_tree_root``, an XArray)."""
    return xa_load(root, index)


def radix_tree_for_each(root: Object) -> Iterator[Tuple[int, Object]]:
    """``(index, entry)`` of every entry of a radix tree."""
    return xa_for_each(root)
