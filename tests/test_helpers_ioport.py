"""drgn's ``for_each_resource`` and ``task_rlimits`` against drgn with Debian's DWARF on
the three reference kernels; the memory resource tree against the guest's own
``/proc/iomem`` (every line: depth, start, end, name, in order)."""

from __future__ import annotations

import re
from typing import List, Tuple

import pytest

from kdbg.helpers.ioport import for_each_resource
from tests.helpers_compare import mismatches, oracle_program
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES

CASES = {
    "iomem": "[(r.value_(), r.start.value_(), r.end.value_(), r.name.string_().decode()) "
             "for r in H.for_each_resource(prog['iomem_resource'].address_of_())]",
    "ioport": "[(r.value_(), r.start.value_(), r.end.value_(), r.name.string_().decode()) "
              "for r in H.for_each_resource(prog['ioport_resource'].address_of_())]",
    "subtree": "[r.value_() for r in H.for_each_resource(prog['iomem_resource'].child)]",
    "rlimits": "{t.pid.value_(): {k: list(v) for k, v in H.task_rlimits(t).items()} for t in H.for_each_task(prog)}",
}


def _proc_iomem(suite: str) -> List[Tuple[int, int, int, str]]:
    out = []
    for line in (oracle_dump(suite).truth / "iomem").read_text().splitlines():
        m = re.match(r"( *)([0-9a-f]+)-([0-9a-f]+) : (.*)", line)
        assert m, line
        out.append((len(m.group(1)) // 2, int(m.group(2), 16), int(m.group(3), 16), m.group(4)))
    return out


@pytest.mark.parametrize("suite", SUITES)
def test_resources_as_drgn_and_proc_iomem(suite: str) -> None:
    assert mismatches(suite, CASES) == {}
    prog = oracle_program(suite)
    root = prog["iomem_resource"].address_of_()
    ours = []
    for r in list(for_each_resource(root))[1:]:
        depth, p = 0, r.parent.read_()
        while int(p) != int(root):
            depth, p = depth + 1, p.parent.read_()
        ours.append((depth, int(r.start), int(r.end), r.name.string_().decode()))
    assert ours == _proc_iomem(suite)
