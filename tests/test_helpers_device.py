"""drgn's device helpers (``drgn.helpers.linux.device``) against drgn 0.3.0 with Debian's
DWARF on the same memory (see tests/helpers_compare.py): every registered bus and class,
their private data and every device on them by name; every registered character and block
device number range; ``MAJOR``/``MINOR``/``MKDEV`` of every ``dev_t`` found and of edge
values. 5.10 links class devices through ``struct device``, 6.1 and 6.12 through
``struct device_private``; 5.10 and 6.1 still have ``bus->p``, which the helpers do not
use.
"""

from __future__ import annotations

import pytest

from tests.helpers_compare import compare
from vmcores.debian import SUITES

SNIPPET = r'''
from drgn.helpers.linux.device import (MAJOR, MINOR, MKDEV, bus_for_each_dev, bus_to_subsys, class_for_each_device,
                                       class_to_subsys, dev_name, for_each_registered_blkdev,
                                       for_each_registered_chrdev)
from drgn.helpers.linux.list import list_for_each_entry

def subsystems(kset, member):
    return [sp.member_(member).read_() for sp in list_for_each_entry(
        "struct subsys_private", prog[kset].list.address_of_(), "subsys.kobj.entry")]

buses = subsystems("bus_kset", "bus")
classes = subsystems("class_kset", "class")
result["buses"] = [b.name.string_().decode() for b in buses]
result["classes"] = [c.name.string_().decode() for c in classes]
devts = set()
for kind, items, to_subsys, each in (("bus", buses, bus_to_subsys, bus_for_each_dev),
                                     ("class", classes, class_to_subsys, class_for_each_device)):
    for item in items:
        key = "%s:%s:" % (kind, item.name.string_().decode())
        result[key + "subsys"] = probe(to_subsys, item)
        devices = list(each(item))
        result[key + "devices"] = plain(devices)
        result[key + "names"] = [probe(dev_name, d) for d in devices]
        devts.update(d.devt.value_() for d in devices)
result["null_bus"] = probe(bus_to_subsys, NULL(prog, "struct bus_type *"))
result["null_class"] = probe(class_to_subsys, NULL(prog, "struct class *"))
chrdevs = list(for_each_registered_chrdev())
result["chrdevs"] = plain(chrdevs)
result["chrdevs_prog"] = plain(list(for_each_registered_chrdev(prog)))
result["blkdevs"] = plain(list(for_each_registered_blkdev()))
result["blkdevs_prog"] = plain(list(for_each_registered_blkdev(prog)))
devts.update(dev for dev, _, _, _ in chrdevs)
values = sorted(devts) + [0, 1, (1 << 20) - 1, 1 << 20, (1 << 32) - 1]
result["devt"] = [[MAJOR(v), MINOR(v), MKDEV(MAJOR(v), MINOR(v))] for v in values]
result["devt_objects"] = [[MAJOR(d.devt), MINOR(d.devt)] for c in classes for d in class_for_each_device(c)]
result["mkdev"] = [MKDEV(1, 3), MKDEV(259, 0), MKDEV(4095, (1 << 20) - 1)]
'''


@pytest.mark.parametrize("suite", SUITES)
def test_devices_as_drgn(suite: str) -> None:
    """Every bus's and class's devices, the device numbers and their parts equal drgn's."""
    theirs, differ = compare(suite, "device", SNIPPET)
    assert len(theirs["buses"]) >= 10 and len(theirs["classes"]) >= 15 and len(theirs["chrdevs"]) >= 10
    assert sum(len(v) for k, v in theirs.items() if k.endswith(":names")) >= 50
    assert differ == {}
