"""BPF objects: drgn's ``drgn.helpers.linux.bpf``.

Programs, maps, links and BTF objects are in the kernel's IDRs ``prog_idr``, ``map_idr``,
``link_idr`` (5.8 and later) and ``btf_idr``; a cgroup's attached programs are per
attach type in ``cgrp->bpf.progs[]`` (an ``hlist`` of ``struct bpf_prog_list`` since 6.0,
a ``list_head`` before) and the effective ones in the ``bpf_prog_array``
``cgrp->bpf.effective[]``, NULL-terminated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, SupportsIndex

from kdbg.core.conversions import cast
from kdbg.core.default import takes_program_or_default
from kdbg.core.integer import IntegerLike, integer_value
from kdbg.core.object import Object
from kdbg.errors import ValidationError
from kdbg.helpers.common import deref_if_pointer, has_member, node_limit
from kdbg.helpers.idr import idr_find, idr_for_each
from kdbg.helpers.list import hlist_for_each_entry, list_for_each_entry

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = [
    "bpf_btf_for_each",
    "bpf_link_for_each",
    "bpf_map_by_id",
    "bpf_map_for_each",
    "bpf_prog_by_id",
    "bpf_prog_for_each",
    "bpf_prog_used_maps",
    "cgroup_bpf_prog_for_each",
    "cgroup_bpf_prog_for_each_effective",
]

AttachType = IntegerLike


def _each(prog: Program, idr: str, type_name: str) -> Iterator[Object]:
    t = prog.type(type_name)
    for _, entry in idr_for_each(prog[idr].address_of_()):
        yield cast(t, entry)


@takes_program_or_default
def bpf_btf_for_each(prog: Program) -> Iterator[Object]:
    """Every BTF object the kernel has (``struct btf *``): vmlinux's, the modules', and
    those loaded by programs."""
    return _each(prog, "btf_idr", "struct btf *")


@takes_program_or_default
def bpf_link_for_each(prog: Program) -> Iterator[Object]:
    """Every BPF link (``struct bpf_link *``; Linux 5.8 and later)."""
    return _each(prog, "link_idr", "struct bpf_link *")


@takes_program_or_default
def bpf_map_for_each(prog: Program) -> Iterator[Object]:
    """Every BPF map (``struct bpf_map *``)."""
    return _each(prog, "map_idr", "struct bpf_map *")


@takes_program_or_default
def bpf_prog_for_each(prog: Program) -> Iterator[Object]:
    """Every BPF program (``struct bpf_prog *``)."""
    return _each(prog, "prog_idr", "struct bpf_prog *")


def cgroup_bpf_prog_for_each(cgrp: Object, bpf_attach_type: AttachType) -> Iterator[Object]:
    """The BPF programs of attach type ``bpf_attach_type`` (``enum cgroup_bpf_attach_type``;
    ``enum bpf_attach_type`` before 5.15) attached to cgroup ``cgrp`` (``struct cgroup *``),
    as ``struct bpf_prog *``; none without ``CONFIG_CGROUP_BPF``."""
    c = deref_if_pointer(cgrp)
    prog = c.prog_
    if not has_member(prog, "struct cgroup", "bpf") or not has_member(prog, "struct cgroup_bpf", "progs"):
        return
    head = c.bpf.progs[integer_value(bpf_attach_type)].address_of_()
    if has_member(prog, "struct cgroup_bpf", "progs[0].first"):  # 6.0 and later
        entries = hlist_for_each_entry("struct bpf_prog_list", head, "node")
    else:
        entries = list_for_each_entry("struct bpf_prog_list", head, "node")
    for pl in entries:
        yield pl.prog.read_()


def cgroup_bpf_prog_for_each_effective(cgrp: Object, bpf_attach_type: AttachType) -> Iterator[Object]:
    """The BPF programs in effect for attach type ``bpf_attach_type`` on cgroup ``cgrp``
    (its own and its ancestors'), in the order they run, as ``struct bpf_prog *``."""
    c = deref_if_pointer(cgrp)
    prog = c.prog_
    if not has_member(prog, "struct cgroup", "bpf") or not has_member(prog, "struct cgroup_bpf", "effective"):
        return
    array = c.bpf.effective[integer_value(bpf_attach_type)].read_()
    if not int(array):
        return
    items = array.items
    for i in range(node_limit(prog)):
        p = items[i].prog.read_()
        if not int(p):
            return
        yield p
    raise ValidationError(f"bpf_prog_array at {int(array):#x} is not NULL-terminated")


def bpf_prog_used_maps(bpf_prog: Object) -> Iterator[Object]:
    """The maps BPF program ``bpf_prog`` uses (``struct bpf_map *``)."""
    aux = deref_if_pointer(bpf_prog).aux.read_()
    maps = aux.used_maps.read_()
    return (maps[i].read_() for i in range(int(aux.used_map_cnt)))


@takes_program_or_default
def bpf_prog_by_id(prog: Program, id: SupportsIndex) -> Object:  # noqa: A002 - drgn's name
    """The BPF program of ID ``id`` (``struct bpf_prog *``, ``NULL`` if none)."""
    return cast("struct bpf_prog *", idr_find(prog["prog_idr"].address_of_(), id))


@takes_program_or_default
def bpf_map_by_id(prog: Program, id: SupportsIndex) -> Object:  # noqa: A002 - drgn's name
    """The BPF map of ID ``id`` (``struct bpf_map *``, ``NULL`` if none)."""
    return cast("struct bpf_map *", idr_find(prog["map_idr"].address_of_(), id))
