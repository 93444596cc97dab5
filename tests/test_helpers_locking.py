"""drgn's locking helpers (``drgn.helpers.linux.locking``: ``mutex_owner``,
``rwsem_locked``, ``rwsem_owner``) against drgn 0.3.0 with Debian's DWARF on the same
memory (see tests/helpers_compare.py).

The locks are the kernel's global mutexes and read-write semaphores and every task's
``cred_guard_mutex`` and ``mmap_lock``. The guests hold none at dump time, but a
semaphore's owner word keeps its last reader (tagged), so ``rwsem_owner`` has real
answers to compare.
"""

from __future__ import annotations

import pytest

from tests.helpers_compare import compare
from vmcores.debian import SUITES

SNIPPET = r'''
from drgn.helpers.linux.locking import mutex_owner, rwsem_locked, rwsem_owner
from drgn.helpers.linux.pid import for_each_task

mutexes = []
for name in ("module_mutex", "cgroup_mutex", "cpu_add_remove_lock", "text_mutex", "slab_mutex", "pcpu_alloc_mutex",
             "event_mutex", "tty_mutex", "dpm_list_mtx", "clocksource_mutex", "kernfs_mutex", "sparse_irq_lock",
             "prepare_lock", "jump_label_mutex", "pm_mutex", "system_transition_mutex", "kprobe_mutex", "rtnl_mutex",
             "audit_cmd_mutex"):
    if name in prog and prog[name].type_.unaliased().type_name() == "struct mutex":
        mutexes.append((name, prog[name].address_of_()))
sems = []
for name in ("namespace_sem", "bus_type_sem", "uts_sem", "pci_bus_sem", "crypto_alg_sem", "leds_list_lock",
             "asymmetric_key_parsers_sem", "pci_acpi_companion_lookup_sem", "pernet_ops_rwsem",
             "cgroup_threadgroup_rwsem", "shrinker_rwsem", "umhelper_sem"):
    if name in prog and prog[name].type_.unaliased().type_name() == "struct rw_semaphore":
        sems.append((name, prog[name].address_of_()))
sems.append(("init_mm.mmap_lock", prog["init_mm"].mmap_lock.address_of_()))
seen = set()
for t in for_each_task(prog):
    if t.signal.value_() not in seen:
        seen.add(t.signal.value_())
        mutexes.append(("cred_guard_mutex:%d" % t.pid, t.signal.cred_guard_mutex.address_of_()))
    if t.mm and t.mm.value_() not in seen:
        seen.add(t.mm.value_())
        sems.append(("mmap_lock:%d" % t.pid, t.mm.mmap_lock.address_of_()))
result["mutexes"] = [n for n, _ in mutexes]
result["sems"] = [n for n, _ in sems]
for name, m in mutexes:
    result[name + ":owner"] = probe(mutex_owner, m)
for name, s in sems:
    result[name + ":locked"] = probe(rwsem_locked, s)
    result[name + ":bool"] = probe(lambda s=s: bool(rwsem_locked(s)))
    result[name + ":owner"] = probe(rwsem_owner, s)
'''


@pytest.mark.parametrize("suite", SUITES)
def test_locks_as_drgn(suite: str) -> None:
    """Every mutex's owner and every semaphore's state and owner equal drgn's."""
    theirs, differ = compare(suite, "locking", SNIPPET)
    assert len(theirs["mutexes"]) >= 10 and len(theirs["sems"]) >= 8
    assert any(theirs[f"{n}:owner"][1] for n in theirs["sems"])
    assert differ == {}
