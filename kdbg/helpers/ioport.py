"""I/O resources: drgn's ``drgn.helpers.linux.ioport``.

The kernel's resource trees (``iomem_resource`` for ``/proc/iomem``, ``ioport_resource``
for ``/proc/ioports``) are ``struct resource`` nodes linked by ``child`` and ``sibling``.
"""

from __future__ import annotations

from typing import Iterator, List

from kdbg.core.object import Object
from kdbg.helpers.common import Walk, address_of_struct, describe_address

__all__ = ["for_each_resource"]


def for_each_resource(root: Object) -> Iterator[Object]:
    """``root`` and every resource below it, depth first, children in ``sibling`` order
    (the order ``/proc/iomem`` lists them), as ``struct resource *``. ``root`` is a
    ``struct resource *`` (or a ``struct resource`` in memory)."""
    prog = root.prog_
    start = address_of_struct(root, "struct resource")
    walk = Walk(prog, f"resource tree at {describe_address(prog, start)}")
    node = Object(prog, "struct resource *", start)
    yield node
    stack: List[Object] = [node.child.read_()]
    while stack:
        node = stack[-1]
        if not int(node):
            stack.pop()
            continue
        walk.step(int(node))
        yield node
        stack[-1] = node.sibling.read_()
        stack.append(node.child.read_())
