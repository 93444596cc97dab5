"""The kernel's stack depot (drgn's ``drgn.helpers.linux.stackdepot``): the stack traces
``lib/stackdepot.c`` stores once and names by a 32-bit handle (``depot_stack_handle_t``),
as KASAN, page_owner and SLUB's user tracking record them.

A handle is a ``union handle_parts``: the index of a pool (``stack_slabs[]`` before Linux
6.3, ``stack_pools[]`` since; from 6.9 ``pool_index_plus_1``, one more than the index) and
the offset of the ``struct stack_record`` in that pool, in units of 16 bytes. The pool
tables are read at their kallsyms addresses, whatever type a declaration gives them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from kdbg.core.conversions import reinterpret
from kdbg.core.object import Object
from kdbg.errors import ValidationError

if TYPE_CHECKING:
    from kdbg.core.program import Program
    from kdbg.unwind.trace import StackTrace

__all__ = ["stack_depot_fetch"]

#: Records are aligned to 1 << 4 bytes in a pool (``DEPOT_STACK_ALIGN``).
_DEPOT_STACK_ALIGN = 4
#: More frames than any record holds (``CONFIG_STACKDEPOT_MAX_FRAMES`` is at most 256).
_MAX_FRAMES = 4096


def _pool(prog: Program, parts: Object) -> Object:
    """The ``void *`` pool the handle's parts name.

    ``stack_pools`` is an array up to Linux 6.14 and a pointer to one since (allocated at
    boot, its length a boot parameter); the kallsyms symbol's extent tells which: a
    pointer's is one word."""
    word = prog.address_size()
    try:
        table = prog.symbol("stack_pools")
    except LookupError:
        base = prog.symbol("stack_slabs").address  # before 6.3: always an array
        index = int(parts.slabindex)
    else:
        try:
            index = int(parts.pool_index_plus_1) - 1
        except AttributeError:
            index = int(parts.pool_index)
        base = table.address
        if table.size is not None and table.size <= word:
            base = prog.read_word(base)
    return Object(prog, "void *", address=base + index * word)


def stack_depot_fetch(handle: Object) -> Optional[StackTrace]:
    """The stack trace stored under ``handle`` (a ``depot_stack_handle_t``), or ``None``
    when its pool is not allocated."""
    prog = handle.prog_
    parts = reinterpret("union handle_parts", handle)
    pool = _pool(prog, parts)
    if not pool:
        return None
    record = Object(prog, "struct stack_record *", pool.value_() + (int(parts.offset) << _DEPOT_STACK_ALIGN))
    size = int(record.size)
    if size > _MAX_FRAMES:
        raise ValidationError(f"stack depot record {record.value_():#x} (handle {handle.value_():#x}) says it "
                              f"holds {size} frames")
    return prog.stack_trace_from_pcs([record.entries[i].value_() for i in range(size)])
