"""Doubly-linked lists (``struct list_head``) and hash lists (``struct hlist_head``):
drgn's ``drgn.helpers.linux.list`` names and signatures.

``head`` may be a ``struct list_head *`` or a ``struct list_head`` in memory. Every walk
is bounded (see :mod:`kdbg.helpers.common`): a list that cycles without returning to its
head, or runs longer than memory could hold, raises
:class:`~kdbg.errors.ValidationError` naming the list. The ``validate_`` variants also
check that each node's ``next->prev`` points back at it, as drgn's do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Tuple, Union

from kdbg.core.conversions import NULL
from kdbg.core.object import Object, value_object
from kdbg.core.typeinfo import K_PTR, type_info
from kdbg.errors import ValidationError
from kdbg.helpers.common import Walk, address_of_struct, describe_address, entry_info

if TYPE_CHECKING:
    from kdbg.btf.types import Type
    from kdbg.core.program import Program

__all__ = [
    "hlist_empty",
    "hlist_for_each",
    "hlist_for_each_entry",
    "list_count_nodes",
    "list_empty",
    "list_first_entry",
    "list_first_entry_or_null",
    "list_for_each",
    "list_for_each_entry",
    "list_for_each_entry_reverse",
    "list_for_each_reverse",
    "list_is_singular",
    "list_last_entry",
    "list_next_entry",
    "list_prev_entry",
    "validate_list",
    "validate_list_count_nodes",
    "validate_list_for_each",
    "validate_list_for_each_entry",
]

TypeArg = Union[str, "Type"]


def _offsets(prog: Program, struct: str, a: str, b: str) -> Tuple[int, int]:
    t = prog.type(struct).strip_typedefs()
    return t.offsetof(a), t.offsetof(b)  # type: ignore[attr-defined]


def _head(head: Object) -> Tuple[Program, int, Type]:
    """``(prog, address of the list_head, type struct list_head *)``."""
    addr = address_of_struct(head, "struct list_head")
    prog = head.prog_
    ptr_t = head.type_ if type_info(head.type_).kind == K_PTR else head.address_of_().type_
    return prog, addr, ptr_t


def _addresses(head: Object, reverse: bool = False, validate: bool = False) -> Iterator[int]:
    """Addresses of the nodes of the list at ``head``, head excluded, in order."""
    prog, head_addr, _t = _head(head)
    next_off, prev_off = _offsets(prog, "struct list_head", "next", "prev")
    if reverse:
        next_off, prev_off = prev_off, next_off
    walk = Walk(prog, f"list_head at {describe_address(prog, head_addr)}")
    read = prog.read_word
    cur = head_addr
    nxt = read(cur + next_off)
    while True:
        if validate:
            back = read(nxt + prev_off)
            if back != cur:
                names = ("prev", "next") if reverse else ("next", "prev")
                raise ValidationError(
                    f"{walk.what}: node {cur:#x} {names[0]} {nxt:#x} has {names[1]} {back:#x}")
        if nxt == head_addr:
            return
        walk.step(nxt)
        yield nxt
        cur = nxt
        nxt = read(cur + next_off)


def list_empty(head: Object) -> bool:
    """Whether the list is empty (``head->next == head``)."""
    prog, addr, _t = _head(head)
    return prog.read_word(addr + _offsets(prog, "struct list_head", "next", "prev")[0]) == addr


def list_is_singular(head: Object) -> bool:
    """Whether the list has exactly one node."""
    prog, addr, _t = _head(head)
    next_off, prev_off = _offsets(prog, "struct list_head", "next", "prev")
    nxt = prog.read_word(addr + next_off)
    return nxt != addr and nxt == prog.read_word(addr + prev_off)


def list_count_nodes(head: Object) -> int:
    """The number of nodes in the list (the head not counted)."""
    return sum(1 for _ in _addresses(head))


def validate_list_count_nodes(head: Object) -> int:
    """:func:`list_count_nodes`, checking every link as :func:`validate_list` does."""
    return sum(1 for _ in _addresses(head, validate=True))


def _entry_at(head: Object, type: TypeArg, member: str, which: str) -> Object:  # noqa: A002
    prog, addr, _t = _head(head)
    ptr_t, off = entry_info(prog, type, member)
    node = prog.read_word(addr + _offsets(prog, "struct list_head", "next", "prev")[which == "prev"])
    return value_object(prog, ptr_t, node - off)


def list_first_entry(head: Object, type: TypeArg, member: str) -> Object:  # noqa: A002
    """The first entry: ``container_of(head->next, type, member)`` (the list must not be
    empty, as in the kernel)."""
    return _entry_at(head, type, member, "next")


def list_first_entry_or_null(head: Object, type: TypeArg, member: str) -> Object:  # noqa: A002
    """The first entry, or a ``NULL`` pointer of ``type *`` if the list is empty."""
    if list_empty(head):
        return NULL(head.prog_, entry_info(head.prog_, type, member)[0])
    return _entry_at(head, type, member, "next")


def list_last_entry(head: Object, type: TypeArg, member: str) -> Object:  # noqa: A002
    """The last entry: ``container_of(head->prev, type, member)``."""
    return _entry_at(head, type, member, "prev")


def _neighbour(pos: Object, member: str, which: str) -> Object:
    prog = pos.prog_
    target = pos.type_.strip_typedefs().type  # type: ignore[attr-defined]
    ptr_t, off = entry_info(prog, target, member)
    link = int(pos) + off + _offsets(prog, "struct list_head", "next", "prev")[which == "prev"]
    return value_object(prog, ptr_t, prog.read_word(link) - off)


def list_next_entry(pos: Object, member: str) -> Object:
    """The entry after ``pos`` (a pointer to an entry) on the list through ``member``."""
    return _neighbour(pos, member, "next")


def list_prev_entry(pos: Object, member: str) -> Object:
    """The entry before ``pos`` on the list through ``member``."""
    return _neighbour(pos, member, "prev")


def _nodes(head: Object, reverse: bool, validate: bool) -> Iterator[Object]:
    prog, _addr, ptr_t = _head(head)
    of_value = value_object
    for node in _addresses(head, reverse, validate):
        yield of_value(prog, ptr_t, node)


def list_for_each(head: Object) -> Iterator[Object]:
    """Each node of the list, as a ``struct list_head *``."""
    return _nodes(head, False, False)


def list_for_each_reverse(head: Object) -> Iterator[Object]:
    """Each node of the list, last first, as a ``struct list_head *``."""
    return _nodes(head, True, False)


def validate_list_for_each(head: Object) -> Iterator[Object]:
    """:func:`list_for_each`, raising :class:`ValidationError` where a node's
    ``next->prev`` does not point back at it."""
    return _nodes(head, False, True)


def _entries(type: TypeArg, head: Object, member: str, reverse: bool,  # noqa: A002
             validate: bool) -> Iterator[Object]:
    prog = head.prog_
    ptr_t, off = entry_info(prog, type, member)
    of_value = value_object
    for node in _addresses(head, reverse, validate):
        yield of_value(prog, ptr_t, node - off)


def list_for_each_entry(type: TypeArg, head: Object, member: str) -> Iterator[Object]:  # noqa: A002
    """Each entry of the list, as a ``type *``: ``member`` is the ``struct list_head``
    inside ``type`` that links them."""
    return _entries(type, head, member, False, False)


def list_for_each_entry_reverse(type: TypeArg, head: Object, member: str) -> Iterator[Object]:  # noqa: A002
    """Each entry of the list, last first."""
    return _entries(type, head, member, True, False)


def validate_list_for_each_entry(type: TypeArg, head: Object, member: str) -> Iterator[Object]:  # noqa: A002
    """:func:`list_for_each_entry`, checking every link as :func:`validate_list` does."""
    return _entries(type, head, member, False, True)


def validate_list(head: Object) -> None:
    """Raise :class:`ValidationError` unless every node's ``next->prev`` points back at it
    and the list returns to its head."""
    for _ in _addresses(head, validate=True):
        pass


# ---------------------------------------------------------------------- hlist
def hlist_empty(head: Object) -> bool:
    """Whether the hash list is empty (``head->first == NULL``)."""
    prog = head.prog_
    addr = address_of_struct(head, "struct hlist_head")
    return prog.read_word(addr + prog.type("struct hlist_head").strip_typedefs().offsetof("first")) == 0  # type: ignore[attr-defined]


def _hlist_addresses(head: Object) -> Iterator[int]:
    prog = head.prog_
    addr = address_of_struct(head, "struct hlist_head")
    first_off = prog.type("struct hlist_head").strip_typedefs().offsetof("first")  # type: ignore[attr-defined]
    next_off = prog.type("struct hlist_node").strip_typedefs().offsetof("next")  # type: ignore[attr-defined]
    walk = Walk(prog, f"hlist_head at {describe_address(prog, addr)}")
    read = prog.read_word
    node = read(addr + first_off)
    while node:
        walk.step(node)
        yield node
        node = read(node + next_off)


def hlist_for_each(head: Object) -> Iterator[Object]:
    """Each node of the hash list, as a ``struct hlist_node *``."""
    prog = head.prog_
    ptr_t = prog.type("struct hlist_node *")
    for node in _hlist_addresses(head):
        yield value_object(prog, ptr_t, node)


def hlist_for_each_entry(type: TypeArg, head: Object, member: str) -> Iterator[Object]:  # noqa: A002
    """Each entry of the hash list, as a ``type *`` (``member`` is its ``hlist_node``)."""
    prog = head.prog_
    ptr_t, off = entry_info(prog, type, member)
    for node in _hlist_addresses(head):
        yield value_object(prog, ptr_t, node - off)
