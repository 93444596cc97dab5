"""Overcommit accounting: drgn's ``vm_commit_limit`` and ``vm_memory_committed``
(``drgn.helpers.linux.mm``), ``/proc/meminfo``'s ``CommitLimit`` and ``Committed_AS``.

The limit is ``sysctl_overcommit_kbytes`` when set, else ``sysctl_overcommit_ratio`` per
cent of the RAM not reserved for HugeTLB, plus the swap; what is committed is the per-CPU
counter ``vm_committed_as``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kdbg.core.default import takes_program_or_default
from kdbg.helpers.hugetlb import hugetlb_total_pages
from kdbg.helpers.mm import memory_map, totalram_pages
from kdbg.helpers.percpu import percpu_counter_sum_positive

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["vm_commit_limit", "vm_memory_committed"]


@takes_program_or_default
def vm_commit_limit(prog: Program) -> int:
    """The limit on committed address space in pages (``CommitLimit``)."""
    kbytes = int(prog["sysctl_overcommit_kbytes"])
    if kbytes:
        allowed = kbytes >> (memory_map(prog).page_shift - 10)
    else:
        allowed = (totalram_pages(prog) - hugetlb_total_pages(prog)) * int(prog["sysctl_overcommit_ratio"]) // 100
    return allowed + int(prog["total_swap_pages"])


@takes_program_or_default
def vm_memory_committed(prog: Program) -> int:
    """Committed address space in pages (``Committed_AS``)."""
    return percpu_counter_sum_positive(prog["vm_committed_as"])
