"""drgn's remaining ``drgn.helpers.linux.mm`` helpers (``vm_commit_limit``,
``vm_memory_committed``, ``for_each_vmap_area``, ``find_vmap_area``, ``page_index``)
against drgn with Debian's DWARF on the three reference kernels (a single vmap area tree
before 6.9, per-node ones since), and ``vm_commit_limit`` against the guest's
``/proc/meminfo`` ``CommitLimit``."""

from __future__ import annotations

import re

import pytest

from kdbg.helpers.meminfo import vm_commit_limit
from tests.helpers_compare import mismatches, oracle_program
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES

AREAS = "list(H.for_each_vmap_area(prog))"
CASES = {
    "vm_commit_limit": "H.vm_commit_limit(prog)",
    "vm_memory_committed": "H.vm_memory_committed(prog)",
    "vmap_areas": "[(v.value_(), v.va_start.value_(), v.va_end.value_()) for v in H.for_each_vmap_area(prog)]",
    "find_vmap_area": f"[[H.find_vmap_area(prog, a).value_() for a in (v.va_start.value_(), v.va_end.value_() - 1, "
                      f"v.va_end.value_())] for v in {AREAS}]",
    "find_vmap_area.stacks": "[H.find_vmap_area(prog, t.stack.value_() + 100).value_() for t in H.for_each_task(prog)]",
    "find_vmap_area.none": "[H.find_vmap_area(prog, a).value_() for a in (0, prog['init_task'].address_, 2**64 - 1)]",
    "find_vmap_area.type": "H.find_vmap_area(prog, 0)",
    "page_index": "[H.page_index(H.pfn_to_page(prog, n)).value_() for n in range(0, 32000, 97)]",
    "page_index.type": "H.page_index(H.pfn_to_page(prog, 5))",
}


@pytest.mark.parametrize("suite", SUITES)
def test_mm_extras_as_drgn_and_meminfo(suite: str) -> None:
    assert mismatches(suite, CASES) == {}
    limit = re.search(r"^CommitLimit:\s+(\d+) kB", (oracle_dump(suite).truth / "meminfo").read_text(), re.M)
    assert limit is not None
    assert vm_commit_limit(oracle_program(suite)) * 4 == int(limit.group(1))
