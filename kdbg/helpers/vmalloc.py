"""The vmalloc area: drgn's ``find_vmap_area`` and ``for_each_vmap_area``
(``drgn.helpers.linux.mm``).

Every mapping of the vmalloc area is a ``struct vmap_area``: before Linux 6.9 on the list
``vmap_area_list`` and in the red-black tree ``vmap_area_root`` (by address); since 6.9
spread over ``nr_vmap_nodes`` nodes (``vmap_nodes[]``, each with its ``busy`` list and
tree), an address's node being ``addr / vmap_zone_size % nr_vmap_nodes`` (an area may sit
in another node than its address's, so a lookup tries them all from there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from kdbg.core.conversions import NULL
from kdbg.core.default import takes_program_or_default
from kdbg.core.integer import IntegerLike, integer_value
from kdbg.core.object import Object
from kdbg.errors import NotFoundError, ValidationError
from kdbg.helpers.common import global_object
from kdbg.helpers.list import list_for_each_entry
from kdbg.helpers.rbtree import rb_find

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["find_vmap_area", "for_each_vmap_area"]

_MASK = (1 << 64) - 1


def _nodes(prog: Program) -> Object:
    """``vmap_nodes`` (``struct vmap_node *``); ObjectNotFoundError before 6.9."""
    return global_object(prog, "vmap_nodes", "struct vmap_node *").read_()


def _nr_nodes(prog: Program) -> int:
    n = int(global_object(prog, "nr_vmap_nodes", "unsigned int"))
    if not 0 < n <= 1 << 16:
        raise ValidationError(f"nr_vmap_nodes {n} is implausible")
    return n


def _cmp(address: int, va: Object) -> int:
    if address < int(va.va_start):
        return -1
    return 1 if address >= int(va.va_end) else 0


@takes_program_or_default
def find_vmap_area(prog: Program, addr: IntegerLike) -> Object:
    """The ``struct vmap_area *`` holding ``addr`` (``NULL`` if none)."""
    address = integer_value(addr) & _MASK
    try:
        nodes = _nodes(prog)
    except NotFoundError:
        return rb_find("struct vmap_area", prog["vmap_area_root"].address_of_(), "rb_node", address, _cmp)
    count = _nr_nodes(prog)
    first = address // max(int(global_object(prog, "vmap_zone_size", "unsigned int")), 1) % count
    for k in range(count):
        node = nodes[(first + k) % count]
        va = rb_find("struct vmap_area", node.busy.root.address_of_(), "rb_node", address, _cmp)
        if int(va):
            return va
    return NULL(prog, "struct vmap_area *")


@takes_program_or_default
def for_each_vmap_area(prog: Program) -> Iterator[Object]:
    """Every ``struct vmap_area *``: by address before 6.9; node by node since."""
    try:
        nodes = _nodes(prog)
    except NotFoundError:
        yield from list_for_each_entry("struct vmap_area", prog["vmap_area_list"].address_of_(), "list")
        return
    for i in range(_nr_nodes(prog)):
        yield from list_for_each_entry("struct vmap_area", nodes[i].busy.head.address_of_(), "list")
