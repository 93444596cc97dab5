"""Priority-sorted lists (``struct plist_head``, ``struct plist_node``; highest priority,
the lowest ``prio``, first): drgn's ``drgn.helpers.linux.plist``.

A plist's nodes are on the ``struct list_head`` ``node_list`` of its head, so walks are
:mod:`kdbg.helpers.list`'s (bounded, cycle-checked).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Union

from kdbg.core.conversions import container_of
from kdbg.core.object import Object
from kdbg.helpers.common import deref_if_pointer
from kdbg.helpers.list import list_empty, list_for_each_entry

if TYPE_CHECKING:
    from kdbg.btf.types import Type

__all__ = [
    "plist_first_entry",
    "plist_for_each",
    "plist_for_each_entry",
    "plist_head_empty",
    "plist_last_entry",
    "plist_node_empty",
]

TypeArg = Union[str, "Type"]


def _node_list(obj: Object) -> Object:
    return deref_if_pointer(obj).node_list.address_of_()


def plist_head_empty(head: Object) -> bool:
    """Whether the plist at ``head`` (``struct plist_head *``) is empty."""
    return list_empty(_node_list(head))


def plist_node_empty(node: Object) -> bool:
    """Whether ``node`` (``struct plist_node *``) is on no plist."""
    return list_empty(_node_list(node))


def plist_first_entry(head: Object, type: TypeArg, member: str) -> Object:  # noqa: A002 - drgn's name
    """The entry of highest priority, ``type *`` (the plist must not be empty): ``member``
    is the entry's ``struct plist_node``."""
    return container_of(deref_if_pointer(head).node_list.next, type, member + ".node_list")


def plist_last_entry(head: Object, type: TypeArg, member: str) -> Object:  # noqa: A002
    """The entry of lowest priority, ``type *`` (the plist must not be empty)."""
    return container_of(deref_if_pointer(head).node_list.prev, type, member + ".node_list")


def plist_for_each(head: Object) -> Iterator[Object]:
    """Each node, highest priority first, as ``struct plist_node *``."""
    return list_for_each_entry("struct plist_node", _node_list(head), "node_list")


def plist_for_each_entry(type: TypeArg, head: Object, member: str) -> Iterator[Object]:  # noqa: A002
    """Each entry, highest priority first, as ``type *``."""
    return list_for_each_entry(type, _node_list(head), member + ".node_list")
