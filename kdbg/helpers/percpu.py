"""Per-CPU variables: drgn's ``drgn.helpers.linux.percpu``.

A per-CPU variable's object (``prog["runqueues"]``) sits at its per-CPU *offset*; CPU
``n``'s copy is at that offset plus ``__per_cpu_offset[n]``, read by address from kallsyms
(no type needed).
"""

from __future__ import annotations

from typing import SupportsIndex

from kdbg.core.integer import integer_value
from kdbg.core.object import Object, reference_object, value_object
from kdbg.core.program import Program
from kdbg.core.typeinfo import K_PTR, type_info
from kdbg.errors import ObjectTypeError, SymbolNotFoundError
from kdbg.helpers.cpumask import for_each_online_cpu

__all__ = ["per_cpu", "per_cpu_ptr", "percpu_counter_sum", "percpu_counter_sum_positive"]


def per_cpu_offset(prog: object, cpu: SupportsIndex) -> int:
    """``__per_cpu_offset[cpu]``, the base of CPU ``cpu``'s per-CPU area."""

    assert isinstance(prog, Program)
    n = integer_value(cpu)
    sym = prog.symbol_table.get("__per_cpu_offset")
    if sym is None:
        raise SymbolNotFoundError("no __per_cpu_offset in the symbol table: per-CPU data unavailable")
    nr = prog.symbol_table.get("nr_cpu_ids")
    limit = prog.read_u32(nr.address) if nr is not None else 8192
    if not 0 <= n < limit:
        raise ObjectTypeError(f"CPU {n} out of range: the kernel has {limit} CPU ids (nr_cpu_ids)")
    return prog.read_u64(sym.address + 8 * n)


def per_cpu_ptr(ptr: Object, cpu: SupportsIndex) -> Object:
    """CPU ``cpu``'s copy of the per-CPU pointer ``ptr`` (the kernel's ``per_cpu_ptr``),
    a pointer of the same type."""
    if not isinstance(ptr, Object) or type_info(ptr.type_).kind != K_PTR:
        raise ObjectTypeError("per_cpu_ptr() argument must be a pointer Object")
    return value_object(ptr.prog_, ptr.type_, int(ptr) + per_cpu_offset(ptr.prog_, cpu))


def per_cpu(var: Object, cpu: SupportsIndex) -> Object:
    """CPU ``cpu``'s copy of the per-CPU variable ``var`` (a reference)."""
    if not isinstance(var, Object) or var.address_ is None:
        raise ObjectTypeError("per_cpu() argument must be a per-CPU variable (an object in memory)")
    return reference_object(var.prog_, var.type_, var.address_ + per_cpu_offset(var.prog_, cpu))


def percpu_counter_sum(fbc: Object) -> int:
    """The exact value of a ``struct percpu_counter``: its count plus every online CPU's
    delta."""

    total = int(fbc.count)
    counters = fbc.counters
    for cpu in for_each_online_cpu(fbc.prog_):
        total += int(per_cpu_ptr(counters, cpu)[0])
    return total


def percpu_counter_sum_positive(fbc: Object) -> int:
    """:func:`percpu_counter_sum`, or 0 if it is negative."""
    return max(0, percpu_counter_sum(fbc))
