"""drgn's vmstat helpers against drgn with Debian's DWARF on the three reference kernels:
every node and zone statistic, every VM event, NUMA events, each zone's counters."""

from __future__ import annotations

import pytest

from tests.helpers_compare import mismatches, oracle_program
from vmcores.debian import SUITES


def _cases(suite: str) -> dict:
    prog = oracle_program(suite)
    cases = {"nr_free_pages": "H.nr_free_pages(prog)"}
    for enum, fn in (("enum node_stat_item", "global_node_page_state"),
                     ("enum zone_stat_item", "global_zone_page_state"),
                     ("enum vm_event_item", "global_vm_event_state"),
                     ("enum numa_stat_item", "global_numa_event_state")):
        names = [e.name for e in prog.type(enum).enumerators if not e.name.startswith("NR_VM_")]
        assert len(names) > 3, enum
        cases.update({f"{fn}.{n}": f"H.{fn}(prog, prog[{n!r}])" for n in names})
    zones = [e.name for e in prog.type("enum zone_type").enumerators if e.name != "__MAX_NR_ZONES"]
    for z in range(len(zones)):
        cases[f"zone_page_state.{z}"] = (f"[H.zone_page_state(prog['node_data'][0].node_zones[{z}].address_of_(), i) "
                                         "for i in range(prog['NR_VM_ZONE_STAT_ITEMS'].value_())]")
    return cases


@pytest.mark.parametrize("suite", SUITES)
def test_vmstat_as_drgn(suite: str) -> None:
    assert mismatches(suite, _cases(suite)) == {}
