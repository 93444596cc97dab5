"""Traffic control: drgn's ``drgn.helpers.linux.tc``.

A device's root queueing disciplines are ``dev->qdisc`` (egress) and, when the device has
an ingress queue, that queue's ``qdisc_sleeping``. Their children are in the hash table
``qdisc_hash`` of the device the root's queue belongs to (``root->dev_queue->dev``) since
Linux 4.7, and in a list through the root's ``list`` before. A handle's major number is
its upper 16 bits. Every walk is bounded.
"""

from __future__ import annotations

from typing import Iterator, SupportsIndex

from kdbg.core.conversions import NULL
from kdbg.core.integer import integer_value
from kdbg.core.object import Object
from kdbg.helpers.common import deref_if_pointer, has_member, pointer_to, program_cache
from kdbg.helpers.list import hlist_for_each_entry, list_for_each_entry

__all__ = ["qdisc_lookup"]


def _children(root: Object, hashed: bool) -> Iterator[Object]:
    """The qdiscs ``root`` (``struct Qdisc *``) reaches: its device's hash table, or its
    own list on kernels before the table."""
    if not hashed:
        yield from list_for_each_entry("struct Qdisc", root.list.address_of_(), "list")
        return
    table = root.dev_queue.dev.qdisc_hash
    for i in range(len(table)):
        yield from hlist_for_each_entry("struct Qdisc", table[i].address_of_(), "hash")


def qdisc_lookup(dev: Object, major: SupportsIndex) -> Object:
    """The queueing discipline of ``dev`` (``struct net_device *``) whose handle has
    major number ``major`` (``tc``'s ``10:`` is ``0x10``), ``struct Qdisc *`` (``NULL``
    if none): the roots first, each followed by the qdiscs it reaches."""
    prog = dev.prog_
    handle = integer_value(major) << 16
    d = deref_if_pointer(dev)
    roots = [d.qdisc.read_()]
    ingress = d.ingress_queue.read_()
    if int(ingress):
        roots.append(ingress.qdisc_sleeping.read_())
    hashed = program_cache(prog, "tc.qdisc_hash", lambda: has_member(prog, "struct net_device", "qdisc_hash"))
    for root in roots:
        if int(root.handle) == handle:
            return root
        for qdisc in _children(root, hashed):
            if int(qdisc.handle) == handle:
                return qdisc
    return NULL(prog, pointer_to(prog, "struct Qdisc"))
