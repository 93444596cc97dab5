"""drgn's waiting helpers: wait queues (``drgn.helpers.linux.wait``), simple wait queues
(``.swait``) and completions (``.completion``), against drgn 0.3.0 with Debian's DWARF on
the same memory (see tests/helpers_compare.py), and against the guest's process list.

The queues are ones real tasks sleep on in the reference guests: kswapd and kcompactd on
their node's queues, the audit, OOM-reaper and KSM threads on theirs, the shell (PID 1) and
``kdbg-sleeper`` on their children's exit (``signal->wait_chldexit``) and RCU's
grace-period thread on ``rcu_state.gp_wq`` (a simple wait queue); the completions are the
kernel's global ones (some in freed init memory, whose walk faults in both debuggers) and
every kthread's ``exited`` and ``parked``. Every waiter is a task of the guest's ``ps``
with the same name.
"""

from __future__ import annotations

import json

import pytest

from tests.helpers_compare import compare
from tests.helpers_support import comm_matches
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES

SNIPPET = r'''
from drgn.helpers.linux.completion import completion_done, completion_for_each_task
from drgn.helpers.linux.kthread import task_is_kthread, to_kthread
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.swait import swait_active, swait_for_each_task
from drgn.helpers.linux.wait import waitqueue_active, waitqueue_for_each_entry, waitqueue_for_each_task

queues = []
for name in ("kauditd_wait", "oom_reaper_wait", "ksm_thread_wait", "khugepaged_wait", "log_wait"):
    if name in prog and prog[name].type_.unaliased().type_name() == "struct wait_queue_head":
        queues.append((name, prog[name].address_of_()))
pgdat = prog["node_data"][0]
queues += [("kswapd_wait", pgdat.kswapd_wait.address_of_()), ("kcompactd_wait", pgdat.kcompactd_wait.address_of_())]
signals = set()
for t in for_each_task(prog):
    if t.signal.value_() not in signals:
        signals.add(t.signal.value_())
        queues.append(("wait_chldexit:%d" % t.pid, t.signal.wait_chldexit.address_of_()))
result["queues"] = [n for n, _ in queues]
for name, wq in queues:
    result[name + ":active"] = probe(waitqueue_active, wq)
    result[name + ":entries"] = probe(lambda wq=wq: list(waitqueue_for_each_entry(wq)))
    result[name + ":tasks"] = probe(lambda wq=wq: list(waitqueue_for_each_task(wq)))
    result[name + ":pids"] = probe(lambda wq=wq: [[t.pid.value_(), t.comm.string_().decode()]
                                                  for t in waitqueue_for_each_task(wq)])

squeues = [("rcu_state.gp_wq", prog["rcu_state"].gp_wq.address_of_())]
if "s2idle_wait_head" in prog:
    squeues.append(("s2idle_wait_head", prog["s2idle_wait_head"].address_of_()))
result["squeues"] = [n for n, _ in squeues]
for name, wq in squeues:
    result[name + ":active"] = probe(swait_active, wq)
    result[name + ":tasks"] = probe(lambda wq=wq: list(swait_for_each_task(wq)))
    result[name + ":pids"] = probe(lambda wq=wq: [[t.pid.value_(), t.comm.string_().decode()]
                                                  for t in swait_for_each_task(wq)])

completions = []
for name in ("kthreadd_done", "pgdat_init_all_done_comp", "early_console_added", "setup_done",
             "i8042_aux_irq_delivered"):
    if name in prog:
        completions.append((name, prog[name].address_of_()))
for t in for_each_task(prog):
    if task_is_kthread(t) and t.pid.value_() != 2:
        k = to_kthread(t)
        completions += [("exited:%d" % t.pid, k.exited.address_of_()), ("parked:%d" % t.pid, k.parked.address_of_())]
result["completions"] = [n for n, _ in completions]
for name, c in completions:
    result[name + ":done"] = probe(completion_done, c)
    result[name + ":tasks"] = probe(lambda c=c: list(completion_for_each_task(c)))
'''


@pytest.mark.parametrize("suite", SUITES)
def test_waiting_as_drgn(suite: str) -> None:
    """Every queue's and completion's waiters as drgn's helpers give them; the sleepers
    this guest is known to have are there, and every waiter is one of its tasks."""
    theirs, differ = compare(suite, "wait", SNIPPET)
    assert len(theirs["queues"]) >= 8 and len(theirs["completions"]) >= 40
    assert differ == {}
    assert [c for _, c in theirs["kswapd_wait:pids"]] == ["kswapd0"]
    assert [p for p, _ in theirs["wait_chldexit:1:pids"]] == [1]
    assert len(theirs["rcu_state.gp_wq:pids"]) == 1
    ps = {p["pid"]: p for p in json.loads((oracle_dump(suite).truth / "ps.json").read_text())}
    waiters = [w for k, v in theirs.items() if k.endswith(":pids") and isinstance(v, list) for w in v]
    assert len(waiters) >= 5
    for pid, comm in waiters:
        assert comm_matches(ps[pid]["comm"], comm), (pid, comm, ps[pid])
