"""drgn's timer helpers against drgn with Debian's DWARF on the three reference kernels:
the wheel bases' names, every timer of every CPU's wheel bases (and its callback), every
hrtimer of every CPU's clock bases. (The wheel bases are indexed by ``timer_base_names``:
on 5.10, whose BTF has no per-CPU VARs, the declaration table types ``timer_bases`` with 6.x's
three bases where the kernel has two.)"""

from __future__ import annotations

import pytest

from tests.helpers_compare import mismatches
from vmcores.debian import SUITES

CPUS = "H.for_each_possible_cpu(prog)"
CASES = {
    "timer_base_names": "list(H.timer_base_names(prog))",
    "wheel": f"[[[(t.value_(), t.function.value_(), t.expires.value_()) "
             f"for t in H.timer_base_for_each(b.address_of_())] "
             f"for b in (H.per_cpu(prog['timer_bases'], c)[i] for i in range(len(H.timer_base_names(prog))))] "
             f"for c in {CPUS}]",
    "hrtimers": f"[[[(h.value_(), h.function.value_()) for h in H.hrtimer_clock_base_for_each(cb.address_of_())]"
                f" for cb in H.per_cpu(prog['hrtimer_bases'], c).clock_base] for c in {CPUS}]",
}


@pytest.mark.parametrize("suite", SUITES)
def test_timers_as_drgn(suite: str) -> None:
    assert mismatches(suite, CASES) == {}
