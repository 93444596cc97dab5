"""Virtual memory statistics: drgn's ``drgn.helpers.linux.vmstat``.

The global counters ``/proc/vmstat`` and ``/proc/meminfo`` print: ``vm_node_stat[]``
(``enum node_stat_item``), ``vm_zone_stat[]`` (``enum zone_stat_item``), ``vm_numa_event[]``
(``vm_numa_stat[]`` before 5.14; zone counters before 4.14) and the per-CPU
``vm_event_states``. Like the kernel's ``global_*_page_state()``, a counter that per-CPU
deltas not yet folded in have driven negative reads as 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kdbg.core.default import takes_program_or_default
from kdbg.core.integer import IntegerLike, integer_value
from kdbg.core.object import Object
from kdbg.errors import NotFoundError
from kdbg.helpers.common import deref_if_pointer, symbols_complete, unknown_global
from kdbg.helpers.cpumask import for_each_online_cpu
from kdbg.helpers.percpu import per_cpu

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = [
    "global_node_page_state",
    "global_numa_event_state",
    "global_vm_event_state",
    "global_zone_page_state",
    "nr_free_pages",
    "zone_page_state",
]

Item = IntegerLike


@takes_program_or_default
def global_node_page_state(prog: Program, item: Item) -> int:
    """The global value of node statistic ``item`` (``enum node_stat_item``:
    ``prog["NR_FILE_PAGES"]``)."""
    return max(int(prog["vm_node_stat"][integer_value(item)].counter), 0)


def zone_page_state(zone: Object, item: Item) -> int:
    """The value of zone statistic ``item`` (``enum zone_stat_item``) in ``zone``
    (``struct zone *``)."""
    return max(int(deref_if_pointer(zone).vm_stat[integer_value(item)].counter), 0)


@takes_program_or_default
def global_zone_page_state(prog: Program, item: Item) -> int:
    """The global value of zone statistic ``item`` (``enum zone_stat_item``:
    ``prog["NR_MLOCK"]``)."""
    return max(int(prog["vm_zone_stat"][integer_value(item)].counter), 0)


@takes_program_or_default
def nr_free_pages(prog: Program) -> int:
    """The number of free pages (``MemFree`` in pages)."""
    return global_zone_page_state(prog, prog.constant("NR_FREE_PAGES"))


@takes_program_or_default
def global_numa_event_state(prog: Program, item: Item) -> int:
    """The global value of NUMA statistic ``item`` (``enum numa_stat_item``; a zone
    statistic before Linux 4.14). Needs ``CONFIG_NUMA``."""
    for name in ("vm_numa_event", "vm_numa_stat"):  # renamed in 5.14
        try:
            array = prog[name]
        except NotFoundError:
            continue
        return int(array[integer_value(item)].counter)
    if not symbols_complete(prog):  # not a zone statistic, only unfound
        raise unknown_global(prog, "vm_numa_event", "the NUMA statistics", ("vm_numa_stat",))
    return global_zone_page_state(prog, item)


@takes_program_or_default
def global_vm_event_state(prog: Program, item: Item) -> int:
    """The sum over online CPUs of event counter ``item`` (``enum vm_event_item``:
    ``prog["PGFAULT"]``). Needs ``CONFIG_VM_EVENT_COUNTERS``."""
    states = prog["vm_event_states"]
    index = integer_value(item)
    return sum(int(per_cpu(states, cpu).event[index]) for cpu in for_each_online_cpu(prog))
