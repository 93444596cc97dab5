"""ID allocators (``struct idr``, a radix tree plus a base): drgn's
``drgn.helpers.linux.idr``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, SupportsIndex, Tuple, Union

from kdbg.core.conversions import NULL, cast
from kdbg.core.integer import integer_value
from kdbg.core.object import Object
from kdbg.helpers.common import deref_if_pointer, pointer_to
from kdbg.helpers.xarray import xa_for_each, xa_load

if TYPE_CHECKING:
    from kdbg.btf.types import Type

__all__ = ["idr_find", "idr_for_each", "idr_for_each_entry"]


def _idr(idr: Object) -> Object:
    return deref_if_pointer(idr)


def idr_find(idr: Object, id: SupportsIndex) -> Object:  # noqa: A002 - drgn's name
    """The entry of ``id`` (a ``void *``; ``NULL`` if none). ``idr`` is a ``struct idr``
    or a pointer to one."""
    obj = _idr(idr)
    n = integer_value(id) - int(obj.idr_base)
    if n < 0:
        return NULL(idr.prog_, "void *")
    return xa_load(obj.idr_rt, n)


def idr_for_each(idr: Object) -> Iterator[Tuple[int, Object]]:
    """``(id, entry)`` of every allocated id, ascending; entries are ``void *``."""
    obj = _idr(idr)
    base = int(obj.idr_base)
    for index, entry in xa_for_each(obj.idr_rt):
        yield index + base, entry


def idr_for_each_entry(idr: Object, type: Union[str, Type]) -> Iterator[Tuple[int, Object]]:  # noqa: A002
    """``(id, entry)`` with each entry cast to ``type *``."""
    prog = idr.prog_
    t = pointer_to(prog, type)
    for index, entry in idr_for_each(idr):
        yield index, cast(t, entry)
