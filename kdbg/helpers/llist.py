"""Lock-less lists (``struct llist_head``, ``struct llist_node``: ``NULL``-terminated,
singly linked): drgn's ``drgn.helpers.linux.llist``.

A walk is bounded and cycle-checked (:class:`kdbg.helpers.common.Walk`): a list that
loops raises :class:`~kdbg.errors.ValidationError` naming where it started.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Union

from kdbg.core.conversions import NULL, container_of
from kdbg.core.object import Object, value_object
from kdbg.helpers.common import (
    Walk,
    address_of_struct,
    deref_if_pointer,
    describe_address,
    entry_info,
    pointer_to,
    program_cache,
)

if TYPE_CHECKING:
    from kdbg.btf.types import Type
    from kdbg.core.program import Program

__all__ = [
    "llist_empty",
    "llist_first_entry",
    "llist_first_entry_or_null",
    "llist_for_each",
    "llist_for_each_entry",
    "llist_is_singular",
    "llist_next_entry",
]

TypeArg = Union[str, "Type"]


def _next_offset(prog: Program) -> int:
    return program_cache(prog, "llist.next", lambda: prog.type("struct llist_node").strip_typedefs().offsetof("next"))  # type: ignore[attr-defined]


def _first(head: Object) -> int:
    return int(deref_if_pointer(head).first)


def llist_empty(head: Object) -> bool:
    """Whether the list at ``head`` (``struct llist_head *``) is empty."""
    return not _first(head)


def llist_is_singular(head: Object) -> bool:
    """Whether the list has exactly one node."""
    first = _first(head)
    return bool(first) and not head.prog_.read_word(first + _next_offset(head.prog_))


def llist_first_entry(head: Object, type: TypeArg, member: str) -> Object:  # noqa: A002 - drgn's name
    """The first entry, ``type *`` (the list must not be empty, as in the kernel):
    ``member`` is the entry's ``struct llist_node``."""
    return container_of(deref_if_pointer(head).first, type, member)


def llist_first_entry_or_null(head: Object, type: TypeArg, member: str) -> Object:  # noqa: A002
    """The first entry, or a ``NULL`` ``type *`` when the list is empty."""
    first = deref_if_pointer(head).first
    if int(first):
        return container_of(first, type, member)
    prog = head.prog_
    return NULL(prog, pointer_to(prog, type))


def llist_next_entry(pos: Object, member: str) -> Object:
    """The entry after ``pos`` (``type *``) on its list (``NULL``'s container at the end,
    as in the kernel)."""
    return container_of(pos.member_(member).next, pos.type_.strip_typedefs().type, member)  # type: ignore[attr-defined]


def _addresses(node: Object) -> Iterator[int]:
    prog = node.prog_
    start = address_of_struct(node, "struct llist_node")
    off = _next_offset(prog)
    walk = Walk(prog, f"llist from {describe_address(prog, start)}")
    read = prog.read_word
    pos = start
    while pos:
        walk.step(pos)
        yield pos
        pos = read(pos + off)


def llist_for_each(node: Object) -> Iterator[Object]:
    """Each node from ``node`` (``struct llist_node *``, usually ``head->first``) to the
    end, as ``struct llist_node *``."""
    prog = node.prog_
    ptr_t = pointer_to(prog, "struct llist_node")
    for pos in _addresses(node):
        yield value_object(prog, ptr_t, pos)


def llist_for_each_entry(type: TypeArg, node: Object, member: str) -> Iterator[Object]:  # noqa: A002
    """Each entry from the one of ``node`` (``struct llist_node *``) to the end, as
    ``type *``."""
    prog = node.prog_
    ptr_t, off = entry_info(prog, type, member)
    for pos in _addresses(node):
        yield value_object(prog, ptr_t, pos - off)
