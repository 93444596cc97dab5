"""drgn's swap and HugeTLB helpers against drgn with Debian's DWARF on the three reference
kernels, and against the guest's ``/proc/meminfo`` (``SwapTotal``, ``SwapFree``,
``HugePages_Total``, ``HugePages_Free``, ``Hugepagesize``; the guests have no swap and no
huge pages reserved, and say so)."""

from __future__ import annotations

import re

import pytest

from kdbg.helpers.hugetlb import for_each_hstate, huge_page_size, hugetlb_total_usage
from kdbg.helpers.swap import swap_total_usage
from tests.helpers_compare import mismatches, oracle_program
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES

CASES = {
    "for_each_swap_info": "[si.value_() for si in H.for_each_swap_info(prog)]",
    "swap_total_usage": "list(H.swap_total_usage(prog))",
    "swap_used": "H.swap_total_usage(prog).used_pages",
    "total_swapcache_pages": "H.total_swapcache_pages(prog)",
    "for_each_hstate": "[h.value_() for h in H.for_each_hstate(prog)]",
    "hstate_names": "[h.name.string_().decode() for h in H.for_each_hstate(prog)]",
    "huge_page_size": "[H.huge_page_size(h).value_() for h in H.for_each_hstate(prog)]",
    "huge_page_size.type": "H.huge_page_size(next(iter(H.for_each_hstate(prog))))",
    "hugetlb_total_pages": "H.hugetlb_total_pages(prog)",
    "hugetlb_total_usage": "list(H.hugetlb_total_usage(prog))",
}


def _meminfo(suite: str) -> dict:
    text = (oracle_dump(suite).truth / "meminfo").read_text()
    return {k: int(v) for k, v in re.findall(r"^(\w+):\s+(\d+)", text, re.M)}


@pytest.mark.parametrize("suite", SUITES)
def test_swap_hugetlb_as_drgn_and_guest(suite: str) -> None:
    assert mismatches(suite, CASES) == {}
    prog = oracle_program(suite)
    info = _meminfo(suite)
    swap = swap_total_usage(prog)
    assert (swap.pages * 4, swap.free_pages * 4) == (info["SwapTotal"], info["SwapFree"])
    huge = hugetlb_total_usage(prog)
    default = [h for h in for_each_hstate(prog) if int(huge_page_size(h)) == info["Hugepagesize"] * 1024]
    assert len(default) == 1
    assert (int(default[0].nr_huge_pages), int(default[0].free_huge_pages)) == (
        info["HugePages_Total"], info["HugePages_Free"])
    assert huge.pages * 4 == info["Hugetlb"]
