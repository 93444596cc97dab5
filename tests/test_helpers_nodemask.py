"""drgn's NUMA node-mask helpers against drgn with Debian's DWARF on the three reference
kernels: every ``enum node_states`` mask, each node's state, ``nr_node_ids``."""

from __future__ import annotations

import pytest

from tests.helpers_compare import mismatches
from vmcores.debian import SUITES

STATES = ["N_POSSIBLE", "N_ONLINE", "N_NORMAL_MEMORY", "N_HIGH_MEMORY", "N_MEMORY", "N_CPU"]
CASES = {
    "nr_node_ids": "H.nr_node_ids(prog)",
    "for_each_node": "list(H.for_each_node(prog))",
    "for_each_online_node": "list(H.for_each_online_node(prog))",
    "for_each_online_node.default_object": "list(H.for_each_node_state(prog['N_ONLINE']))",
    **{f"state.{s}": f"list(H.for_each_node_state(prog, prog[{s!r}]))" for s in STATES},
    **{f"mask.{s}": f"list(H.for_each_node_mask(prog['node_states'][prog[{s!r}]]))" for s in STATES},
    **{f"node_state.{n}.{s}": f"H.node_state({n}, prog[{s!r}])" for s in STATES for n in range(3)},
}


@pytest.mark.parametrize("suite", SUITES)
def test_nodemask_as_drgn(suite: str) -> None:
    assert mismatches(suite, CASES) == {}
