"""drgn's sysfs helpers (``drgn.helpers.linux.sysfs``) against drgn 0.3.0 with Debian's
DWARF on the same memory (see tests/helpers_compare.py), and against the guest.

Paths in every spelling (relative, ``/sys``-absolute, doubled slashes, outside ``/sys``,
missing) are looked up as nodes, kobjects and objects. Then every entry of ``/sys/bus``,
every bus's ``devices`` and ``drivers``, ``/sys/class`` and its classes, ``/sys/module``,
``/sys/kernel`` and ``/sys/devices/system/cpu`` is listed and each entry looked up, so
each kind of holder (device, module, driver, class, bus, a bare kobject) and files
(their directory's kobject) are compared, with each kobject's ``kobject_path``. The
guest's ``/proc/modules`` says which modules ``/sys/module`` must list.
"""

from __future__ import annotations

import pytest

from kdbg.helpers.sysfs import sysfs_listdir
from tests.helpers_compare import compare
from tests.helpers_support import open_dump
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES

SNIPPET = r'''
from drgn.helpers.linux.sysfs import kobject_path, sysfs_listdir, sysfs_lookup, sysfs_lookup_kobject, sysfs_lookup_node

def look(p):
    result["node:" + p] = probe(sysfs_lookup_node, p)
    result["node_prog:" + p] = probe(sysfs_lookup_node, prog, p)
    result["kobject:" + p] = probe(sysfs_lookup_kobject, p)
    result["lookup:" + p] = probe(sysfs_lookup, prog, p)
    result["kobject_path:" + p] = probe(lambda: kobject_path(sysfs_lookup_kobject(p)))

for p in ["", "/", "/sys", "/sys/", "sys", "//sys//devices/", "/sysfs", "/proc", "/proc/sys", "devices",
          "/sys/devices/system/cpu", "devices/system/cpu/online", "kernel/mm", "kernel/mm/transparent_hugepage/enabled",
          "class/tty/ttyS0", "class/tty/ttyS0/dev", "dev/char/1:3", "bus/platform/devices", "fs/cgroup",
          "no/such/thing", "module/nothing"]:
    look(p)
    result["listdir:" + p] = probe(sysfs_listdir, p)
dirs = ["bus", "class", "module", "kernel", "devices/system/cpu"]
for bus in sysfs_listdir("bus"):
    dirs += ["bus/%s/devices" % bus.decode(), "bus/%s/drivers" % bus.decode()]
for cls in sysfs_listdir("class")[::3]:
    dirs.append("class/" + cls.decode())
for d in dirs:
    names = probe(sysfs_listdir, d)
    result["listdir:" + d] = names
    if isinstance(names, list):
        for name in names:
            look(d + "/" + name.decode())
'''


@pytest.mark.parametrize("suite", SUITES)
def test_sysfs_as_drgn(suite: str) -> None:
    """Lookups in every spelling, every bus, driver, class and module entry, equal drgn's;
    the guest's modules are listed."""
    theirs, differ = compare(suite, "sysfs", SNIPPET)
    # (6.4 made classes and buses const)
    kinds = {v[0].replace("const ", "") for k, v in theirs.items() if k.startswith("lookup:") and isinstance(v, list)}
    assert {"struct device *", "struct module_kobject *", "struct device_driver *", "struct bus_type *",
            "struct class *", "struct kobject *"} <= kinds, kinds
    assert theirs["listdir:/proc"] == "error:ValueError"
    assert theirs["kobject_path:devices"] == {"bytes": b"/sys/devices".hex()}
    assert differ == {}
    truth = oracle_dump(suite).truth
    modules = {line.split()[0].encode() for line in (truth / "modules").read_text().splitlines() if line.strip()}
    assert modules and modules <= set(sysfs_listdir(open_dump(suite), "module"))
