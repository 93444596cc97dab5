"""Control groups (cgroup v2): drgn's ``drgn.helpers.linux.cgroup``.

A cgroup's name and path are its kernfs node's (:mod:`kdbg.helpers.kernfs`); its parent
is the cgroup of ``self.parent``. The descendant walks are the kernel's
``css_next_child``/``css_next_descendant_pre``: siblings on ``children``/``sibling``, and
for a position that was released (``CSS_RELEASED``), the first sibling of a higher
``serial_nr``. Every walk is bounded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterator, Union

from kdbg.core.conversions import NULL, cast, container_of
from kdbg.core.default import takes_program_or_default
from kdbg.core.object import Object
from kdbg.helpers.common import Walk, describe_address, has_member, pointer_to, program_cache
from kdbg.helpers.kernfs import kernfs_name, kernfs_path, kernfs_walk
from kdbg.helpers.list import list_for_each_entry

if TYPE_CHECKING:
    import os

    from kdbg.core.program import Program

__all__ = [
    "cgroup_get_from_path",
    "cgroup_name",
    "cgroup_parent",
    "cgroup_path",
    "css_for_each_child",
    "css_for_each_descendant_pre",
    "css_next_child",
    "css_next_descendant_pre",
    "sock_cgroup_ptr",
]

Path = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
_CSS = "struct cgroup_subsys_state"


def sock_cgroup_ptr(skcd: Object) -> Object:
    """The cgroup of a socket from its ``struct sock_cgroup_data *`` (usually
    ``&sk->sk_cgrp_data``), ``struct cgroup *``: the member ``cgroup`` since Linux 5.15,
    the word ``val`` before."""
    prog = skcd.prog_
    direct = program_cache(prog, "cgroup.skcd_cgroup", lambda: has_member(prog, "struct sock_cgroup_data", "cgroup"))
    if direct:
        return skcd.cgroup.read_()
    return cast(pointer_to(prog, "struct cgroup"), skcd.val)


def cgroup_parent(cgrp: Object) -> Object:
    """The parent of ``cgrp`` (``struct cgroup *``), ``NULL`` for a root."""
    parent = cgrp.self.parent.read_()
    if int(parent):
        return container_of(parent, "struct cgroup", "self")
    return NULL(cgrp.prog_, pointer_to(cgrp.prog_, "struct cgroup"))


def cgroup_name(cgrp: Object) -> bytes:
    """The name of ``cgrp`` (``/`` for a root)."""
    return kernfs_name(cgrp.kn.read_())


def cgroup_path(cgrp: Object) -> bytes:
    """The path of ``cgrp`` in its hierarchy."""
    return kernfs_path(cgrp.kn.read_())


@takes_program_or_default
def cgroup_get_from_path(prog: Program, path: Path) -> Object:
    """The cgroup at ``path`` of the default (v2) hierarchy, ``struct cgroup *``
    (``NULL`` if there is none)."""
    kn = kernfs_walk(prog["cgrp_dfl_root"].cgrp.kn.read_(), path)
    target = kn.priv if int(kn) else kn
    return cast(pointer_to(prog, "struct cgroup"), target)


def _null_css(prog: Program) -> Object:
    return NULL(prog, pointer_to(prog, _CSS))


def css_next_child(pos: Object, parent: Object) -> Object:
    """The child of ``parent`` after ``pos`` (both ``struct cgroup_subsys_state *``;
    ``pos`` ``NULL`` for the first), or ``NULL``."""
    prog = parent.prog_
    head = int(parent.children.address_of_())
    if not int(pos):
        nxt = int(parent.children.next)
    elif not int(pos.flags) & int(prog["CSS_RELEASED"]):
        nxt = int(pos.sibling.next)
    else:
        serial = int(pos.serial_nr)
        for css in list_for_each_entry(_CSS, parent.children.address_of_(), "sibling"):
            if int(css.serial_nr) > serial:
                return css
        return _null_css(prog)
    if nxt != head:
        return container_of(Object(prog, "struct list_head *", nxt), _CSS, "sibling")
    return _null_css(prog)


def css_next_descendant_pre(pos: Object, root: Object) -> Object:
    """The descendant of ``root`` after ``pos`` in pre-order (``pos`` ``NULL`` to start,
    which gives ``root`` itself), or ``NULL``."""
    if not int(pos):
        return root
    prog = root.prog_
    child = css_next_child(_null_css(prog), pos)
    if int(child):
        return child
    walk = Walk(prog, f"ancestors of css {describe_address(prog, int(pos))}")
    while int(pos) != int(root):
        parent = pos.parent.read_()
        nxt = css_next_child(pos, parent)
        if int(nxt):
            return nxt
        pos = parent
        walk.step(int(pos))
    return _null_css(prog)


def _each(step: Callable[[Object, Object], Object], css: Object) -> Iterator[Object]:
    prog = css.prog_
    walk = Walk(prog, f"css {describe_address(prog, int(css))}")
    pos = step(_null_css(prog), css)
    while int(pos):
        walk.step(int(pos))
        yield pos
        pos = step(pos, css)


def css_for_each_child(css: Object) -> Iterator[Object]:
    """Each child of ``css`` (``struct cgroup_subsys_state *``), offline ones included."""
    return _each(css_next_child, css)


def css_for_each_descendant_pre(css: Object) -> Iterator[Object]:
    """``css`` and each of its descendants in pre-order, offline ones included."""
    return _each(css_next_descendant_pre, css)
