"""drgn's NUMA node, zone and SPARSEMEM section helpers (``drgn.helpers.linux.mmzone``)
and the valid page ranges and memory-block helpers of ``drgn.helpers.linux.mm`` against
drgn with Debian's DWARF on the three reference kernels; and against the guest's
``/proc/iomem``: every page of its System RAM is in a valid page range."""

from __future__ import annotations

import re

import pytest

from kdbg.helpers.mmzone import for_each_valid_page_range
from tests.helpers_compare import mismatches, oracle_program
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES

ZONES = "[z.address_of_() for p in H.for_each_online_pgdat(prog) for z in p.node_zones]"
SECTIONS = "range(8)"
CASES = {
    "for_each_online_pgdat": "[p.value_() for p in H.for_each_online_pgdat(prog)]",
    # The value, and the pointee's type without typedefs: 6.1's DWARF declares node_data[]
    # as pg_data_t *, 5.10's and 6.12's as struct pglist_data *; the shipped declaration
    # table holds one type per global (struct pglist_data *), the same type.
    "NODE_DATA": "(lambda o: [o.value_(), o.type_.type.unaliased().type_name()])(H.NODE_DATA(prog, 0))",
    "NODE_DATA.node_id": "H.NODE_DATA(prog, 0).node_id.value_()",
    "wmarks": f"[[H.min_wmark_pages(z), H.low_wmark_pages(z), H.high_wmark_pages(z)] for z in {ZONES}]",
    "wmark_pages": f"[[H.wmark_pages(z, i) for i in range(3)] for z in {ZONES}]",
    "present_sections": "[(n, s.value_()) for n, s in H.for_each_present_section(prog)]",
    "section_flags": "[H.decode_section_flags(s) for n, s in H.for_each_present_section(prog)]",
    "section_maps": "[(H.section_mem_map_addr(s).value_(), H.section_decode_mem_map(s, n).value_()) "
                    "for n, s in H.for_each_present_section(prog)]",
    "section_map.type": "H.section_mem_map_addr(next(iter(H.for_each_present_section(prog)))[1])",
    "nr_to_section": f"[H.nr_to_section(prog, n).value_() for n in list({SECTIONS}) + [2**20, 2**40]]",
    "nr_to_section.type": "H.nr_to_section(prog, 2**40)",
    "section_nr": f"[[f(prog, n) for f in (H.present_section_nr, H.valid_section_nr, H.online_section_nr, "
                  f"H.early_section_nr)] for n in {SECTIONS}]",
    "section": f"[[f(H.nr_to_section(prog, n)) for f in (H.present_section, H.valid_section, H.online_section, "
               f"H.early_section)] for n in {SECTIONS}]",
    "pfn_to_section_nr": "[H.pfn_to_section_nr(prog, p).value_() for p in (0, 1, 32767, 32768, 2**20, 2**40)]",
    "pfn_to_section_nr.type": "H.pfn_to_section_nr(prog, 5)",
    "section_nr_to_pfn": "[H.section_nr_to_pfn(prog, n).value_() for n in (0, 1, 5, 1000)]",
    "pfn_to_section": "[H.pfn_to_section(prog, p).value_() for p in (0, 100, 32767, 40000)]",
    "valid_page_ranges": "[(s, e, m.value_()) for s, e, m in H.for_each_valid_page_range(prog)]",
    "valid_pfns": "(lambda l: [len(l), l[:3], l[-3:]])("
                  "[(p, g.value_()) for p, g in H.for_each_valid_pfn_and_page(prog)])",
    "memory_block_size_bytes": "H.memory_block_size_bytes(prog)",
    "memory_block_states": "[H.decode_memory_block_state_value(prog, 1 << i) for i in range(6)]",
    "memory_block_state.unknown": "H.decode_memory_block_state_value(prog, 3)",
    "memory_blocks": "[[b.value_(), b.start_section_nr.value_(), H.decode_memory_block_state(b)] "
                     "for b in H.for_each_memory_block(prog)]",
}


@pytest.mark.parametrize("suite", SUITES)
def test_mmzone_as_drgn_and_iomem(suite: str) -> None:
    assert mismatches(suite, CASES) == {}
    prog = oracle_program(suite)
    ranges = [(s, e) for s, e, _ in for_each_valid_page_range(prog)]
    iomem = (oracle_dump(suite).truth / "iomem").read_text()
    ram = [(int(a, 16), int(b, 16)) for a, b in re.findall(r"^([0-9a-f]+)-([0-9a-f]+) : System RAM$", iomem, re.M)]
    assert ram
    for start, end in ram:
        first, last = start >> 12, end >> 12
        assert any(s <= first and last < e for s, e in ranges), (hex(start), hex(end), ranges)
