"""drgn's bit helpers (``drgn.helpers.linux.bitops``: ``for_each_set_bit``,
``for_each_clear_bit``, ``test_bit``; ``drgn.helpers.linux.bitmap``: ``bitmap_weight``)
against drgn 0.3.0 with Debian's DWARF on the same memory (see tests/helpers_compare.py).

The bitmaps are the kernel's own: the CPU masks (as arrays and as ``unsigned long *``),
``init_task.cpus_mask``, every file table's open-file and close-on-exec bitmaps (``max_fds``
bits) and the IRQ allocation bitmap (5.10 and 6.1; 6.12 keeps IRQs in a maple tree), at
sizes that end inside a word, on a word boundary and past it. The online CPUs are also
those of the guest's ``/proc/cpuinfo``.
"""

from __future__ import annotations

import re

import pytest

from kdbg.helpers.bitops import for_each_set_bit
from tests.helpers_compare import compare
from tests.helpers_support import open_dump
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES

SNIPPET = r'''
from drgn.helpers.linux.bitops import for_each_clear_bit, for_each_set_bit, test_bit
from drgn.helpers.linux.bitmap import bitmap_weight
from drgn.helpers.linux.pid import for_each_task

nr_cpu_ids = prog["nr_cpu_ids"].value_()
maps = []
for name in ("online", "possible", "present"):
    bits = prog["__cpu_%s_mask" % name].bits
    width = 8 * sizeof(bits)
    maps.append(("cpu_%s" % name, bits, [0, 1, nr_cpu_ids, 63, 64, 65, 130, width]))
    maps.append(("cpu_%s_ptr" % name, Object(prog, "unsigned long *", bits.address_), [nr_cpu_ids, 100]))
maps.append(("init_task.cpus_mask", prog["init_task"].cpus_mask.bits, [nr_cpu_ids, 64]))
tables = set()
for t in for_each_task(prog):
    if not t.files or t.files.fdt.value_() in tables:
        continue
    fdt = t.files.fdt
    tables.add(fdt.value_())
    n = fdt.max_fds.value_()
    maps.append(("open_fds:%d" % t.pid, fdt.open_fds, [n, 3, 65]))
    maps.append(("close_on_exec:%d" % t.pid, fdt.close_on_exec, [n]))
if "allocated_irqs" in prog:
    irqs = prog["allocated_irqs"]
    maps.append(("allocated_irqs", irqs, [8 * sizeof(irqs), 16, 17, 100]))

result["maps"] = [name for name, _, _ in maps]
for name, bm, sizes in maps:
    for n in sizes:
        key = "%s:%d:" % (name, n)
        result[key + "set"] = probe(lambda bm=bm, n=n: list(for_each_set_bit(bm, n)))
        result[key + "clear"] = probe(lambda bm=bm, n=n: list(for_each_clear_bit(bm, n)))
        result[key + "weight"] = probe(bitmap_weight, bm, n)
        result[key + "test"] = probe(lambda bm=bm, n=n: [i for i in range(n) if test_bit(i, bm)])
'''


@pytest.mark.parametrize("suite", SUITES)
def test_bitops_as_drgn(suite: str) -> None:
    """Every bitmap's set and clear bits, weight and ``test_bit`` of each bit equal drgn's;
    the online CPU mask holds the guest's processors."""
    theirs, differ = compare(suite, "bitops", SNIPPET)
    assert len(theirs["maps"]) >= 10
    assert differ == {}
    cpuinfo = (oracle_dump(suite).truth / "cpuinfo").read_text()
    cpus = [int(n) for n in re.findall(r"^processor\s*:\s*(\d+)", cpuinfo, re.M)]
    prog = open_dump(suite)
    online = list(for_each_set_bit(prog["__cpu_online_mask"].bits, int(prog["nr_cpu_ids"])))
    assert online == cpus and len(cpus) >= 2
