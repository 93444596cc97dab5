"""drgn's kernfs helpers (``drgn.helpers.linux.kernfs``) against drgn 0.3.0 with Debian's
DWARF on the same memory (see tests/helpers_compare.py), and against the guest.

The whole sysfs tree is walked with ``kernfs_children`` from ``sysfs_root``, and every
node's name, path, parent and root compared; so is the cgroup hierarchy's. ``kernfs_walk``
looks up directories, files and symlinks (followed or not, on the way and at the end) and
names that do not exist. The guest's ``/proc/modules`` and ``/proc/cpuinfo`` say which
``/sys/module/*`` and ``/sys/devices/system/cpu/cpu*`` directories must be there.
"""

from __future__ import annotations

import re

import pytest

from kdbg.helpers.kernfs import kernfs_path, kernfs_walk
from tests.helpers_compare import compare
from tests.helpers_support import open_dump
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES

SNIPPET = r'''
from drgn.helpers.linux.kernfs import (kernfs_children, kernfs_name, kernfs_parent, kernfs_path, kernfs_root,
                                       kernfs_walk)

sysfs = prog["sysfs_root"].kn
cgroup = prog["cgrp_dfl_root"].kf_root.kn
for label, top in (("sysfs", sysfs), ("cgroup", cgroup)):
    rows = []
    stack = [top]
    while stack:
        kn = stack.pop()
        rows.append([kn.value_(), kernfs_name(kn), kernfs_path(kn), kernfs_parent(kn).value_(),
                     kernfs_root(kn).value_(), kn.flags.value_() & 0xF])
        children = probe(lambda kn=kn: list(kernfs_children(kn)))
        if isinstance(children, list):
            stack.extend(reversed([drgn.Object(prog, "struct kernfs_node *", c[1]) for c in children]))
        else:
            rows[-1].append(children)
    result[label] = rows
result["null_name"] = kernfs_name(NULL(prog, "struct kernfs_node *"))
result["null_path"] = kernfs_path(NULL(prog, "struct kernfs_node *"))
paths = ["", "/", "devices", "devices/system/cpu", "devices/system/cpu/cpu0", "devices/system/cpu/online",
         "/kernel//mm/", "class/tty/ttyS0", "class/tty/ttyS0/dev", "class/mem/null/subsystem", "dev/char/1:3",
         "bus/platform/devices", "module/qemu_fw_cfg", "module/qemu_fw_cfg/refcnt", "no/such/thing", "devices/nothing",
         "class/mem/null/subsystem/null", "block", "fs/cgroup", "kernel/mm/transparent_hugepage/enabled"]
for p in paths:
    result["walk:" + p] = probe(lambda p=p: kernfs_path(kernfs_walk(sysfs, p)))
    result["walk_node:" + p] = probe(kernfs_walk, sysfs, p)
    result["walk_nofollow:" + p] = probe(kernfs_walk, sysfs, p, False)
    result["walk_nofollow_kw:" + p] = probe(lambda p=p: kernfs_walk(sysfs, p, follow_symlinks=False))
result["walk_bytes"] = probe(kernfs_walk, sysfs, b"devices/system")
result["walk_cgroup"] = probe(lambda: kernfs_path(kernfs_walk(cgroup, "cgroup.procs")))
result["children_of_file"] = probe(lambda: list(kernfs_children(kernfs_walk(sysfs, "devices/system/cpu/online"))))
'''


@pytest.mark.parametrize("suite", SUITES)
def test_kernfs_as_drgn(suite: str) -> None:
    """Every sysfs and cgroupfs node's name, path, parent and root, and every lookup,
    equal drgn's; the guest's modules and CPUs are in sysfs."""
    theirs, differ = compare(suite, "kernfs", SNIPPET)
    assert len(theirs["sysfs"]) >= 2000 and len(theirs["cgroup"]) >= 10
    assert theirs["children_of_file"] == "error:ValueError"
    assert differ == {}
    prog = open_dump(suite)
    sysfs = prog["sysfs_root"].kn
    truth = oracle_dump(suite).truth
    modules = [line.split()[0] for line in (truth / "modules").read_text().splitlines() if line.strip()]
    cpus = re.findall(r"^processor\s*:\s*(\d+)", (truth / "cpuinfo").read_text(), re.M)
    assert modules and cpus
    for path in [f"module/{m}" for m in modules] + [f"devices/system/cpu/cpu{n}" for n in cpus]:
        assert kernfs_path(kernfs_walk(sysfs, path)) == b"/" + path.encode(), path
