"""CPU masks: drgn's ``drgn.helpers.linux.cpumask``.

The kernel's masks are the globals ``__cpu_online_mask``, ``__cpu_possible_mask`` and
``__cpu_present_mask`` (``struct cpumask``, a bitmap of ``unsigned long``); without a
declaration for them they are typed as ``struct cpumask`` at their kallsyms address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, List, SupportsIndex

from kdbg.core.conversions import sizeof
from kdbg.core.default import takes_program_or_default
from kdbg.core.integer import integer_value
from kdbg.core.object import Object
from kdbg.errors import NotFoundError, ObjectTypeError
from kdbg.helpers.bitmap import bitmap_weight
from kdbg.helpers.bitops import for_each_set_bit
from kdbg.helpers.common import deref_if_pointer, global_object, symbols_complete, unknown_global

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = [
    "cpu_online_mask",
    "cpu_possible_mask",
    "cpu_present_mask",
    "cpumask_of",
    "cpumask_to_cpulist",
    "cpumask_weight",
    "for_each_cpu",
    "for_each_online_cpu",
    "for_each_possible_cpu",
    "for_each_present_cpu",
    "num_online_cpus",
    "num_possible_cpus",
    "num_present_cpus",
]


def _mask(prog: Program, name: str) -> Object:
    return global_object(prog, f"__cpu_{name}_mask", "struct cpumask").address_of_()


@takes_program_or_default
def cpu_online_mask(prog: Program) -> Object:
    """``&__cpu_online_mask`` (``struct cpumask *``)."""
    return _mask(prog, "online")


@takes_program_or_default
def cpu_possible_mask(prog: Program) -> Object:
    """``&__cpu_possible_mask``."""
    return _mask(prog, "possible")


@takes_program_or_default
def cpu_present_mask(prog: Program) -> Object:
    """``&__cpu_present_mask``."""
    return _mask(prog, "present")


@takes_program_or_default
def cpumask_of(prog: Program, cpu: SupportsIndex) -> Object:
    """A mask with only ``cpu`` set (a value, like the kernel's ``cpumask_of``)."""
    t = prog.type("struct cpumask")
    n = integer_value(cpu)
    size = sizeof(t)
    if not 0 <= n < 8 * size:
        raise ObjectTypeError(f"CPU {n} out of range of struct cpumask")
    return Object.from_bytes_(prog, t, (1 << n).to_bytes(size, "little"))


def _nr_cpu_ids(prog: Program) -> int:
    """The number of CPU ids, and so of a mask's valid bits (``nr_cpu_ids``; 1 on a
    uniprocessor kernel, which has none): a mask allocated for them
    (``CPUMASK_OFFSTACK``) ends there, whatever ``struct cpumask``'s size."""
    try:
        return int(prog["nr_cpu_ids"])
    except NotFoundError:
        if not symbols_complete(prog):  # exported, so rarely: a reduced dump
            raise unknown_global(prog, "nr_cpu_ids", "the number of CPU ids") from None
        return 1


def for_each_cpu(mask: Object) -> Iterator[int]:
    """The CPU numbers set in ``mask`` (``struct cpumask`` or a pointer to one), ascending,
    below ``nr_cpu_ids``."""
    return for_each_set_bit(deref_if_pointer(mask).bits, _nr_cpu_ids(mask.prog_))


def cpumask_weight(mask: Object) -> int:
    """How many CPUs ``mask`` has set (below ``nr_cpu_ids``)."""
    return bitmap_weight(deref_if_pointer(mask).bits, _nr_cpu_ids(mask.prog_))


def cpumask_to_cpulist(mask: Object) -> str:
    """``mask`` as the kernel's ``%*pbl`` prints it: ``"0-3,8,10-11"``."""
    ranges: List[str] = []
    cpus = list(for_each_cpu(mask))
    i = 0
    while i < len(cpus):
        j = i
        while j + 1 < len(cpus) and cpus[j + 1] == cpus[j] + 1:
            j += 1
        ranges.append(str(cpus[i]) if i == j else f"{cpus[i]}-{cpus[j]}")
        i = j + 1
    return ",".join(ranges)


@takes_program_or_default
def for_each_online_cpu(prog: Program) -> Iterator[int]:
    """Each online CPU number."""
    return for_each_cpu(cpu_online_mask(prog))


@takes_program_or_default
def for_each_possible_cpu(prog: Program) -> Iterator[int]:
    """Each possible CPU number."""
    return for_each_cpu(cpu_possible_mask(prog))


@takes_program_or_default
def for_each_present_cpu(prog: Program) -> Iterator[int]:
    """Each present CPU number."""
    return for_each_cpu(cpu_present_mask(prog))


@takes_program_or_default
def num_online_cpus(prog: Program) -> int:
    """The number of online CPUs."""
    return cpumask_weight(cpu_online_mask(prog))


@takes_program_or_default
def num_possible_cpus(prog: Program) -> int:
    """The number of possible CPUs."""
    return cpumask_weight(cpu_possible_mask(prog))


@takes_program_or_default
def num_present_cpus(prog: Program) -> int:
    """The number of present CPUs."""
    return cpumask_weight(cpu_present_mask(prog))
