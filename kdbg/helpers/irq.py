"""Interrupts and their descriptors (``struct irq_desc``): drgn's
``drgn.helpers.linux.irq``.

With ``CONFIG_SPARSE_IRQ`` (every distribution kernel) the descriptors are in the maple
tree ``sparse_irqs`` since Linux 6.5 and in the radix tree ``irq_desc_tree`` before; which
one is decided by which global the kernel has. ``kstat_irqs`` (per-CPU counts) became a
struct with the count in ``cnt`` in Linux 6.10; ``nr_irqs`` was renamed ``total_nr_irqs``
in Linux 7.2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, List, Optional, SupportsIndex, Tuple

from kdbg.core.conversions import cast
from kdbg.core.default import takes_program_or_default
from kdbg.core.object import Object
from kdbg.helpers.common import Walk, deref_if_pointer, describe_address, first_global, pointer_to
from kdbg.helpers.cpumask import cpumask_of
from kdbg.helpers.mapletree import mt_for_each, mtree_load
from kdbg.helpers.percpu import per_cpu
from kdbg.helpers.xarray import radix_tree_for_each, radix_tree_lookup

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = [
    "for_each_irq_desc",
    "gate_desc_func",
    "irq_desc_action_names",
    "irq_desc_affinity_mask",
    "irq_desc_chip_name",
    "irq_desc_kstat_cpu",
    "irq_get_nr_irqs",
    "irq_to_desc",
]


#: The IRQ descriptors' tree: a maple tree since 6.5, a radix tree before (each version's
#: name, newest first: :func:`~kdbg.helpers.common.first_global`).
_DESC_TREES = ("sparse_irqs", "irq_desc_tree")


@takes_program_or_default
def irq_get_nr_irqs(prog: Program) -> int:
    """How many IRQ numbers the kernel has (``nr_irqs``; ``total_nr_irqs`` since 7.2)."""
    return int(first_global(prog, ("total_nr_irqs", "nr_irqs"), "the number of IRQs")[1])


@takes_program_or_default
def irq_to_desc(prog: Program, irq: SupportsIndex) -> Object:
    """The descriptor of IRQ ``irq``, ``struct irq_desc *`` (``NULL`` if none)."""
    desc_p = pointer_to(prog, "struct irq_desc")
    name, tree = first_global(prog, _DESC_TREES, "the IRQ descriptors")
    if name == "sparse_irqs":
        return cast(desc_p, mtree_load(tree.address_of_(), irq))
    return cast(desc_p, radix_tree_lookup(tree.address_of_(), irq))


@takes_program_or_default
def for_each_irq_desc(prog: Program) -> Iterator[Tuple[int, Object]]:
    """``(IRQ number, struct irq_desc *)`` of every allocated descriptor, in IRQ order."""
    desc_p = pointer_to(prog, "struct irq_desc")
    name, tree = first_global(prog, _DESC_TREES, "the IRQ descriptors")
    if name == "sparse_irqs":
        for irq, _last, entry in mt_for_each(tree.address_of_()):
            yield irq, cast(desc_p, entry)
        return
    for irq, entry in radix_tree_for_each(tree.address_of_()):
        yield irq, cast(desc_p, entry)


def irq_desc_affinity_mask(desc: Object) -> Object:
    """The CPUs the interrupt may go to, ``struct cpumask *`` (on a uniprocessor kernel,
    which has no ``nr_cpu_ids``, CPU 0's mask)."""
    prog = desc.prog_
    if "nr_cpu_ids" not in prog:
        return cpumask_of(prog, 0)
    d = deref_if_pointer(desc)
    try:
        affinity = d.irq_common_data.affinity
    except AttributeError:  # before Linux 4.3 it was in struct irq_data
        affinity = d.irq_data.affinity
    # cpumask_var_t: an array of one struct cpumask, or a pointer (CPUMASK_OFFSTACK)
    return affinity + 0


def irq_desc_action_names(desc: Object) -> List[bytes]:
    """The names of the handlers (``struct irqaction``) on the interrupt, in order; a
    handler without a name (``chained_action``) is left out."""
    prog = desc.prog_
    action = deref_if_pointer(desc).action.read_()
    walk = Walk(prog, f"irqaction chain of irq_desc {describe_address(prog, int(action))}")
    names = []
    while int(action):
        walk.step(int(action))
        name = action.name.read_()
        if int(name):
            names.append(name.string_())
        action = action.next.read_()
    return names


def irq_desc_chip_name(desc: Object) -> Optional[bytes]:
    """The name of the interrupt controller chip of the interrupt, or ``None`` when it
    has no chip or the chip no name."""
    chip = deref_if_pointer(desc).irq_data.chip.read_()
    if not int(chip):
        return None
    name = chip.name.read_()
    return name.string_() if int(name) else None


def irq_desc_kstat_cpu(desc: Object, cpu: SupportsIndex) -> int:
    """How many times the interrupt fired on CPU ``cpu``."""
    kstat = deref_if_pointer(desc).kstat_irqs.read_()
    if not int(kstat):
        return 0
    try:
        count = kstat.cnt  # Linux 6.10 and later: struct irqstat
    except AttributeError:
        count = kstat[0]
    return int(per_cpu(count, cpu))


def gate_desc_func(gate: Object) -> Object:
    """The handler address of an x86 interrupt gate (``gate_desc`` or ``gate_desc *``),
    ``void *``."""
    g = deref_if_pointer(gate)
    address = (int(g.offset_high) << 32) | (int(g.offset_middle) << 16) | int(g.offset_low)
    return Object(g.prog_, "void *", address)
