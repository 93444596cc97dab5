"""drgn's scheduler helpers that walk runqueues and entities (``rq_for_each_fair_task``,
``rq_for_each_rt_task``, ``cfs_rq_for_each_entity``, ``sched_entity_is_task``,
``sched_entity_to_task``, ``task_group_sched_entity``, ``task_group_name``, ``task_since_last_arrival_ns``,
``loadavg``, ``cpu_curr``/``idle_task``/``cpu_rq``) against drgn with Debian's DWARF on the
reference dumps of the three kernels (idle guests) and on their crash dumps (a CPU busy
panicking, runnable tasks queued)."""

from __future__ import annotations

import pytest

from tests.conftest import resolve_crash_dump
from tests.helpers_compare import mismatches
from vmcores.debian import SUITES

CPUS = "H.for_each_possible_cpu(prog)"
CASES = {
    "loadavg": "list(H.loadavg(prog))",
    "cpu_rq": f"[H.cpu_rq(prog, c).value_() for c in {CPUS}]",
    "cpu_curr": f"[H.cpu_curr(prog, c).value_() for c in {CPUS}]",
    "idle_task": f"[H.idle_task(prog, c).value_() for c in {CPUS}]",
    "fair": f"[[t.value_() for t in H.rq_for_each_fair_task(H.cpu_rq(prog, c))] for c in {CPUS}]",
    "rt": f"[[t.value_() for t in H.rq_for_each_rt_task(H.cpu_rq(prog, c))] for c in {CPUS}]",
    "entities": f"[[(se.value_(), d, cur, it) for se, d, cur, it in "
                f"H.cfs_rq_for_each_entity(H.cpu_rq(prog, c).cfs.address_of_())] for c in {CPUS}]",
    "entity_tasks": f"[[H.sched_entity_to_task(se).value_() for se, d, cur, it in "
                    f"H.cfs_rq_for_each_entity(H.cpu_rq(prog, c).cfs.address_of_()) if it] for c in {CPUS}]",
    "se_is_task": "[H.sched_entity_is_task(t.se.address_of_()) for t in H.for_each_task(prog)]",
    "se_to_task": "[H.sched_entity_to_task(t.se.address_of_()).value_() for t in H.for_each_task(prog)]",
    "since_arrival": "[H.task_since_last_arrival_ns(t) for t in H.for_each_task(prog)]",
    "task_groups": f"[[H.task_group_sched_entity(tg, c).value_() for c in {CPUS}] for tg in "
                   f"H.list_for_each_entry('struct task_group', prog['task_groups'].address_of_(), 'list')]",
    "task_group_names": "[H.task_group_name(tg) for tg in H.list_for_each_entry('struct task_group', "
                        "prog['task_groups'].address_of_(), 'list')]",
    "root_group": f"[H.task_group_sched_entity(prog['root_task_group'].address_of_(), c) .value_() for c in {CPUS}]",
    "curr_se": f"[H.sched_entity_is_task(H.cpu_rq(prog, c).cfs.curr) for c in {CPUS} if H.cpu_rq(prog, c).cfs.curr]",
}


@pytest.mark.parametrize("suite", SUITES)
def test_sched_as_drgn(suite: str) -> None:
    assert mismatches(suite, CASES) == {}


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("scenario", ["panic", "oops", "nmi"])
def test_sched_as_drgn_on_crash_dumps(suite: str, scenario: str) -> None:
    dump = resolve_crash_dump(suite, scenario, "elf-paging")
    assert mismatches(suite, CASES, core=dump.path) == {}
