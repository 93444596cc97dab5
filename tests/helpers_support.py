"""Support for the helper tests: the questions put to the drgn oracle about its own
helpers, the dump forms they run on, and how a guest's ``/proc`` comm compares with a
task's.

Every global the tests name (``init_task``, ``prb``, ``slab_caches``, the per-CPU
``runqueues`` even on Debian 5.10, whose BTF has no VARs, and the globals of modules such
as ``qemu_fw_cfg``'s ``fw_cfg_rev``) is typed by the shipped declaration table
(``kdbg.declarations.DeclarationTable.shipped``), as users get it; tests never declare
them.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import List, Tuple

import kdbg
from kdbg.core.program import Program
from tests.conftest import resolve_dump
from vmcores.oracle import Query


def comm_matches(proc_comm: str, task_comm: str) -> bool:
    """Whether ``/proc``'s comm is the task's: equal, or the task's 15-character prefix of
    a longer kthread name, or a kworker's name plus its workqueue as the kernel's
    ``wq_worker_comm()`` appends it: ``+events`` while the worker runs a work item,
    ``-events`` while it waits (so a worker busy when ``/proc`` was read shows ``+``)."""
    if proc_comm == task_comm:
        return True
    if not proc_comm.startswith(task_comm):
        return False
    return len(task_comm) == 15 or proc_comm[len(task_comm)] in "+-"


_H = "drgn.helpers.linux."

#: drgn's own helpers on the same dump (run by ``vmcores.oracle.ask_drgn``).
ORACLE_QUERIES: List[Query] = [
    Query("helpers.tasks", f"[(t.pid.value_(), t.comm.string_().decode(), t.real_parent.tgid.value_(), "
                           f"{_H}task_state_to_char(t), {_H}get_task_state(t), {_H}task_cpu(t)) "
                           f"for t in {_H}for_each_task(prog, idle=True)]"),
    Query("helpers.cpus", f"[{_H}cpumask_to_cpulist({_H}cpu_online_mask(prog)), "
                          f"{_H}cpumask_to_cpulist({_H}cpu_possible_mask(prog)), "
                          f"{_H}cpumask_to_cpulist({_H}cpu_present_mask(prog)), {_H}num_online_cpus(prog)]"),
    Query("helpers.pids", f"[p.value_() for p in {_H}for_each_pid(prog)]"),
    Query("helpers.cpu_curr", f"[({_H}cpu_curr(prog, c).value_(), {_H}idle_task(prog, c).value_()) "
                              f"for c in {_H}for_each_possible_cpu(prog)]"),
    Query("helpers.worker_pools", f"[(i, p.value_()) for i, p in {_H}idr_for_each(prog['worker_pool_idr'])]"),
    Query("helpers.timerqueue", f"[n.value_() for c in {_H}for_each_possible_cpu(prog) for b in "
                                f"{_H}per_cpu(prog['hrtimer_bases'], c).clock_base for n in "
                                f"{_H}rbtree_inorder_for_each(b.active.rb_root.rb_root.address_of_())]"),
    Query("helpers.vmap_areas", f"[v.va_start.value_() for v in {_H}rbtree_inorder_for_each_entry("
                                f"'struct vmap_area', prog['vmap_area_root'].address_of_(), 'rb_node')] "
                                f"if 'vmap_area_root' in prog else None"),
    Query("helpers.vmap_nodes", f"[v.va_start.value_() for i in range(prog['nr_vmap_nodes'].value_()) for v in "
                                f"{_H}rbtree_inorder_for_each_entry('struct vmap_area', "
                                f"prog['vmap_nodes'][i].busy.root.address_of_(), 'rb_node')] "
                                f"if 'vmap_nodes' in prog else None"),
    Query("helpers.modules_list", f"[m.value_() for m in {_H}list_for_each_entry('struct module', "
                                  f"prog['modules'].address_of_(), 'list')]"),
    Query("helpers.percpu_counter", f"{_H}percpu_counter_sum(prog['vm_committed_as'])"),
]


#: The dump forms the helper tests run on: QEMU's ELF and kdump, and makedumpfile -d 31.
HELPER_FORMS = [("elf", "qemu"), ("kdump-zlib", "qemu"), ("kdump-d31", "makedumpfile")]


def helper_dumps(filtered_trixie: bool = True) -> List[Tuple[str, str, str]]:
    """``(suite, form, tool)`` of every helper-test dump. makedumpfile 1.7.2 (Debian's)
    predates Linux 6.12's page types: filtering (-d 31) without a vmlinux it drops 6.12's
    slab pages as if free, so slab-backed tests leave that dump out (``filtered_trixie=False``)
    and test its clear error instead."""
    from vmcores.debian import SUITES

    return [(s, f, t) for s in SUITES for f, t in HELPER_FORMS
            if filtered_trixie or not (s == "trixie" and f == "kdump-d31")]


@functools.cache
def open_program(path: Path) -> Program:
    """kdbg's program of the dump at *path* (opened once per test session)."""
    return kdbg.open_core(str(path))


def open_dump(suite: str, form: str = "kdump-zlib", tool: str = "qemu") -> Program:
    """The Program of a reference dump, opened once per test session."""
    return open_program(resolve_dump(suite, form, tool).path)


def dump_ids(d: Tuple[str, str, str]) -> str:
    """A test id for ``(suite, form, tool)``."""
    return "-".join(d)
