"""Hash lists ended by a "nulls" marker instead of ``NULL`` (``struct hlist_nulls_head``,
``struct hlist_nulls_node``; the marker is an odd value, usually ``(bucket << 1) | 1``):
drgn's ``drgn.helpers.linux.list_nulls``.

A walk is bounded and cycle-checked (:class:`kdbg.helpers.common.Walk`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Union

from kdbg.core.object import Object, value_object
from kdbg.helpers.common import Walk, address_of_struct, describe_address, entry_info, program_cache

if TYPE_CHECKING:
    from kdbg.btf.types import Type
    from kdbg.core.program import Program

__all__ = ["hlist_nulls_empty", "hlist_nulls_for_each_entry", "is_a_nulls"]


def _offsets(prog: Program) -> tuple:
    def make() -> tuple:
        head = prog.type("struct hlist_nulls_head").strip_typedefs()
        node = prog.type("struct hlist_nulls_node").strip_typedefs()
        return head.offsetof("first"), node.offsetof("next")  # type: ignore[attr-defined]
    return program_cache(prog, "list_nulls", make)


def is_a_nulls(pos: Object) -> bool:
    """Whether ``pos`` (``struct hlist_nulls_node *``) is a nulls marker (odd), not a node."""
    return bool(int(pos) & 1)


def _first(head: Object) -> int:
    prog = head.prog_
    return prog.read_word(address_of_struct(head, "struct hlist_nulls_head") + _offsets(prog)[0])


def hlist_nulls_empty(head: Object) -> bool:
    """Whether the list at ``head`` (``struct hlist_nulls_head *``) is empty (its first
    pointer is a nulls marker)."""
    return bool(_first(head) & 1)


def nulls_addresses(head: Object) -> Iterator[int]:
    """Addresses of the nodes of the list at ``head``, in order."""
    prog = head.prog_
    addr = address_of_struct(head, "struct hlist_nulls_head")
    _first_off, next_off = _offsets(prog)
    walk = Walk(prog, f"hlist_nulls_head at {describe_address(prog, addr)}")
    read = prog.read_word
    pos = _first(head)
    while not pos & 1:
        walk.step(pos)
        yield pos
        pos = read(pos + next_off)


def hlist_nulls_for_each_entry(type: Union[str, Type], head: Object, member: str) -> Iterator[Object]:  # noqa: A002
    """Each entry of the list at ``head``, as ``type *`` (``member`` is its
    ``struct hlist_nulls_node``)."""
    prog = head.prog_
    ptr_t, off = entry_info(prog, type, member)
    for pos in nulls_addresses(head):
        yield value_object(prog, ptr_t, pos - off)
