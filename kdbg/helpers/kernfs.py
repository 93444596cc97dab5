"""kernfs, the filesystem under sysfs and cgroupfs (``struct kernfs_node``): drgn's
``drgn.helpers.linux.kernfs``.

A node's parent is ``parent`` (``__parent`` since Linux 6.15, read from BTF); a directory's
children are the red-black tree ``dir.children`` through ``rb``; a symlink's target is
``symlink.target_kn``. The type of a node is the low 4 bits of ``flags``
(``KERNFS_TYPE_MASK``), compared with the kernel's ``enum kernfs_node_type``. Walks up,
down and through symlinks are bounded and cycle-checked.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterator, Union

from kdbg.core.conversions import NULL
from kdbg.core.object import Object
from kdbg.helpers.common import Walk, describe_address, has_member, program_cache
from kdbg.helpers.rbtree import rbtree_inorder_for_each_entry

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["kernfs_children", "kernfs_name", "kernfs_parent", "kernfs_path", "kernfs_root", "kernfs_walk"]

Path = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
#: ``KERNFS_TYPE_MASK`` (include/linux/kernfs.h).
_TYPE_MASK = 0x000F


def _parent_member(prog: Program) -> str:
    return program_cache(prog, "kernfs.parent",
                         lambda: "__parent" if has_member(prog, "struct kernfs_node", "__parent") else "parent")


def kernfs_parent(kn: Object) -> Object:
    """The parent of ``kn`` (``struct kernfs_node *``; ``NULL`` for a root)."""
    return kn.member_(_parent_member(kn.prog_)).read_()


def kernfs_root(kn: Object) -> Object:
    """The ``struct kernfs_root *`` of the hierarchy ``kn`` is in (read from its parent,
    a directory, when it has one)."""
    parent = kernfs_parent(kn)
    if int(parent):
        kn = parent
    return kn.dir.root.read_()


def kernfs_name(kn: Object) -> bytes:
    """The name of ``kn``: ``/`` for a root, ``(null)`` for ``NULL``."""
    if not int(kn):
        return b"(null)"
    return kn.name.string_() if int(kernfs_parent(kn)) else b"/"


def kernfs_path(kn: Object) -> bytes:
    """The path of ``kn`` from the root of its hierarchy (``/devices/system``)."""
    if not int(kn):
        return b"(null)"
    root = kernfs_root(kn).kn.read_()
    if int(kn) == int(root):
        return b"/"
    prog = kn.prog_
    walk = Walk(prog, f"parents of kernfs_node {describe_address(prog, int(kn))}")
    names = []
    while int(kn) != int(root):
        names.append(kn.name.string_())
        kn = kernfs_parent(kn)
        walk.step(int(kn))
    names.append(root.name.string_())
    return b"/".join(reversed(names))


def kernfs_node_is(kn: Object, node_type: str) -> bool:
    """Whether ``kn`` is of kernfs node type ``node_type`` (``"KERNFS_DIR"``)."""
    return int(kn.flags) & _TYPE_MASK == int(kn.prog_.constant(node_type))


def _follow(kn: Object) -> Object:
    """``kn``, or the node its chain of symlinks ends at."""
    walk = Walk(kn.prog_, f"symlinks from kernfs_node {describe_address(kn.prog_, int(kn))}")
    while kernfs_node_is(kn, "KERNFS_LINK"):
        kn = kn.symlink.target_kn.read_()
        walk.step(int(kn))
    return kn


def kernfs_walk(parent: Object, path: Path, follow_symlinks: bool = True) -> Object:
    """The node at ``path`` under ``parent`` (``struct kernfs_node *``), or ``NULL``.
    Symlinks on the way are followed; the last component's too unless
    ``follow_symlinks`` is false. Namespaced nodes (``ns`` set) are not matched."""
    node_p = parent.type_
    kn = parent
    for name in os.fsencode(path).split(b"/"):
        if not name:
            continue
        kn = _follow(kn)
        for child in rbtree_inorder_for_each_entry(node_p.strip_typedefs().type,  # type: ignore[attr-defined]
                                                   kn.dir.children.address_of_(), "rb"):
            if child.name.string_() == name and not int(child.ns):
                kn = child
                break
        else:
            return NULL(parent.prog_, node_p)
    return _follow(kn) if follow_symlinks else kn


def kernfs_children(kn: Object) -> Iterator[Object]:
    """The children of directory ``kn``, as ``struct kernfs_node *``, in the tree's
    order. A node that is not a directory is a :class:`ValueError`."""
    if not kernfs_node_is(kn, "KERNFS_DIR"):
        raise ValueError("not a directory")
    return rbtree_inorder_for_each_entry("struct kernfs_node", kn.dir.children.address_of_(), "rb")
