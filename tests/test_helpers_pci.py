"""drgn's PCI helpers (``drgn.helpers.linux.pci``) against drgn 0.3.0 with Debian's DWARF
on the same memory (see tests/helpers_compare.py), and against the guest.

Every PCI device (from the PCI bus type, in every default-program form) with its name,
bridge test and PCI Express type, and every bus reached from the root buses with its
name, devices and children, are compared. The guests' QEMU PCs have no PCI Express
device, so ``pci_is_bridge`` and ``pci_pcie_type`` are also compared on ``struct pci_dev``
objects laid over ``init_task`` at each of its first 2048 bytes, whose header-type and flags bytes take
many values (types that are no ``PCI_EXP_TYPE`` included). The devices are the ones the
guest's kernel logged when it enumerated the bus (``pci 0000:00:01.1: [8086:7010] type 00``),
bridges those of header type 1 or 2.
"""

from __future__ import annotations

import re

import pytest

from kdbg.helpers.pci import for_each_pci_dev, pci_is_bridge, pci_name
from tests.helpers_compare import compare
from tests.helpers_support import open_dump
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES

SNIPPET = r'''
from drgn.helpers.linux.pci import (for_each_pci_dev, for_each_pci_root_bus, pci_bus_for_each_child,
                                    pci_bus_for_each_dev, pci_bus_name, pci_is_bridge, pci_name, pci_pcie_type)

devs = list(for_each_pci_dev())
result["devs"] = plain(devs)
result["devs_prog"] = plain(list(for_each_pci_dev(prog)))
for d in devs:
    result["dev:" + pci_name(d)] = [pci_name(d), pci_is_bridge(d), plain(pci_pcie_type(d)), d.vendor.value_(),
                                    d.device.value_()]
roots = list(for_each_pci_root_bus())
result["roots"] = plain(roots)
result["roots_prog"] = plain(list(for_each_pci_root_bus(prog)))
stack = list(roots)
while stack:
    bus = stack.pop()
    children = list(pci_bus_for_each_child(bus))
    result["bus:" + pci_bus_name(bus)] = [plain(bus), [pci_name(d) for d in pci_bus_for_each_dev(bus)],
                                          [pci_bus_name(c) for c in children]]
    stack.extend(children)
base = prog["init_task"].address_
laid = [Object(prog, "struct pci_dev *", base + k) for k in range(2048)]
result["laid_bridge"] = [probe(pci_is_bridge, d) for d in laid]
result["laid_pcie"] = [probe(pci_pcie_type, d) for d in laid]
'''

#: ``pci 0000:00:01.1: [8086:7010] type 00 ...``: the name and the header type.
_LOGGED = re.compile(r"pci ([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]): \[[0-9a-f]{4}:[0-9a-f]{4}\] "
                     r"type ([0-9a-f]{2})")


@pytest.mark.parametrize("suite", SUITES)
def test_pci_as_drgn(suite: str) -> None:
    """Devices, buses, names, bridges and PCIe types equal drgn's; the devices and
    bridges are the ones the guest's kernel logged."""
    theirs, differ = compare(suite, "pci", SNIPPET)
    assert theirs["devs"] and theirs["roots"]
    assert len({str(v) for v in theirs["laid_pcie"]}) > 3 and set(theirs["laid_bridge"]) == {True, False}
    assert differ == {}
    logged = dict(_LOGGED.findall((oracle_dump(suite).truth / "dmesg").read_text()))
    assert logged
    prog = open_dump(suite)
    assert {pci_name(d): pci_is_bridge(d) for d in for_each_pci_dev(prog)} == {
        name: int(kind, 16) in (1, 2) for name, kind in logged.items()}
