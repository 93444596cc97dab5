"""drgn's interrupt helpers (``drgn.helpers.linux.irq``) against drgn 0.3.0 with Debian's
DWARF on the same memory (see tests/helpers_compare.py), and against the guest's own
record: ``nr_irqs`` as its boot log printed it, at least as many descriptors as it
preallocated, the serial port's handler on the IRQ the log gave it, and the IDT's
page-fault and breakpoint gates at the addresses of ``asm_exc_page_fault`` and
``asm_exc_int3`` in its ``/proc/kallsyms``.

The descriptors are in a radix tree on 5.10 and 6.1 and in a maple tree on 6.12; every IRQ
number up to ``nr_irqs`` is looked up, and every descriptor's affinity, handlers, chip and
per-CPU counts compared; every one of the 256 IDT gates too. The affinity masks are
allocated for ``nr_cpu_ids`` CPUs only (``CPUMASK_OFFSTACK``), so the CPU-mask helpers
must stop there, as drgn's do.
"""

from __future__ import annotations

import re

import pytest

from kdbg.helpers.irq import gate_desc_func, irq_desc_action_names, irq_get_nr_irqs, irq_to_desc
from tests.helpers_compare import compare
from tests.helpers_support import open_dump
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES

SNIPPET = r'''
from drgn.helpers.linux.cpumask import cpumask_to_cpulist, cpumask_weight, for_each_cpu, for_each_possible_cpu
from drgn.helpers.linux.irq import (for_each_irq_desc, gate_desc_func, irq_desc_action_names, irq_desc_affinity_mask,
                                    irq_desc_chip_name, irq_desc_kstat_cpu, irq_get_nr_irqs, irq_to_desc)

nr = irq_get_nr_irqs()
result["nr_irqs"] = [nr, irq_get_nr_irqs(prog)]
descs = list(for_each_irq_desc())
result["descs"] = plain(descs)
result["descs_prog"] = plain(list(for_each_irq_desc(prog)))
result["to_desc"] = [probe(irq_to_desc, i) for i in range(nr + 2)]
result["to_desc_prog"] = [probe(irq_to_desc, prog, i) for i in (0, 4, nr + 1)]
for irq, desc in descs:
    key = "%d:" % irq
    result[key + "affinity"] = probe(irq_desc_affinity_mask, desc)
    result[key + "cpus"] = probe(lambda d=desc: list(for_each_cpu(irq_desc_affinity_mask(d))))
    result[key + "weight"] = probe(lambda d=desc: cpumask_weight(irq_desc_affinity_mask(d)))
    result[key + "cpulist"] = probe(lambda d=desc: cpumask_to_cpulist(irq_desc_affinity_mask(d)))
    result[key + "actions"] = probe(irq_desc_action_names, desc)
    result[key + "chip"] = probe(irq_desc_chip_name, desc)
    result[key + "kstat"] = [probe(irq_desc_kstat_cpu, desc, c) for c in for_each_possible_cpu(prog)]
result["gates"] = [probe(gate_desc_func, g) for g in prog["idt_table"]]
result["gates_ptr"] = [probe(gate_desc_func, prog["idt_table"][i].address_of_()) for i in (0, 3, 14, 255)]
'''


def _kallsyms(suite: str, name: str) -> int:
    text = (oracle_dump(suite).truth / "kallsyms").read_text()
    m = re.search(rf"^([0-9a-f]+) [tT] {name}$", text, re.M)
    assert m is not None, name
    return int(m.group(1), 16)


@pytest.mark.parametrize("suite", SUITES)
def test_irqs_as_drgn(suite: str) -> None:
    """Every descriptor, lookup, handler list, chip, affinity and count equals drgn's;
    the numbers and handlers are the guest's."""
    theirs, differ = compare(suite, "irq", SNIPPET)
    assert len(theirs["descs"]) >= 16 and len(theirs["gates"]) == 256
    assert differ == {}
    dmesg = (oracle_dump(suite).truth / "dmesg").read_text()
    m = re.search(r"nr_irqs: (\d+), preallocated irqs: (\d+)", dmesg)
    serial = re.search(r"ttyS0 at I/O 0x[0-9a-f]+ \(irq = (\d+),", dmesg)
    assert m is not None and serial is not None
    prog = open_dump(suite)
    assert irq_get_nr_irqs(prog) == int(m.group(1)) == theirs["nr_irqs"][0]
    assert len(theirs["descs"]) >= int(m.group(2))
    assert b"ttyS0" in irq_desc_action_names(irq_to_desc(prog, int(serial.group(1))))
    for vector, handler in ((3, "asm_exc_int3"), (14, "asm_exc_page_fault")):
        assert int(gate_desc_func(prog["idt_table"][vector])) == _kallsyms(suite, handler)
