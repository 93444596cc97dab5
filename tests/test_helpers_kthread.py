"""drgn's kthread helpers (``drgn.helpers.linux.kthread``: ``task_is_kthread``,
``to_kthread``, ``kthread_data``) against drgn 0.3.0 with Debian's DWARF on the same memory
(see tests/helpers_compare.py), and against the guest: a task is a kernel thread exactly
when ``PF_KTHREAD`` is in the flags field of its ``/proc/PID/stat`` (``truth/proc-stat``).
``struct kthread`` hangs off ``set_child_tid`` on 5.10 and off ``worker_private`` on 6.1
and 6.12, so both ways are compared.
"""

from __future__ import annotations

import pytest

from kdbg.helpers.kthread import task_is_kthread
from kdbg.helpers.pid import find_task
from tests.helpers_compare import compare
from tests.helpers_support import open_dump
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES

PF_KTHREAD = 0x00200000

SNIPPET = r'''
from drgn.helpers.linux.kthread import kthread_data, task_is_kthread, to_kthread
from drgn.helpers.linux.pid import for_each_task

result["pids"] = []
for t in for_each_task(prog):
    pid = t.pid.value_()
    result["pids"].append(pid)
    result["%d:is_kthread" % pid] = task_is_kthread(t)
    if task_is_kthread(t):
        result["%d:to_kthread" % pid] = probe(to_kthread, t)
        result["%d:data" % pid] = probe(kthread_data, t)
        result["%d:threadfn" % pid] = probe(lambda t=t: to_kthread(t).threadfn)
        result["%d:cpu" % pid] = probe(lambda t=t: to_kthread(t).cpu)
'''


def _stat_flags(line: str) -> tuple:
    """``(pid, flags)`` of a ``/proc/PID/stat`` line (the name may hold spaces and ``)``)."""
    pid = int(line.split(" ", 1)[0])
    fields = line[line.rindex(")") + 2:].split()
    return pid, int(fields[6])


@pytest.mark.parametrize("suite", SUITES)
def test_kthreads_as_drgn(suite: str) -> None:
    """Every task's kthread answers equal drgn's; ``task_is_kthread`` is the guest's
    ``PF_KTHREAD``."""
    theirs, differ = compare(suite, "kthread", SNIPPET)
    kthreads = [p for p in theirs["pids"] if theirs[f"{p}:is_kthread"]]
    assert len(kthreads) >= 30 and len(theirs["pids"]) > len(kthreads)
    assert differ == {}
    prog = open_dump(suite)
    lines = (oracle_dump(suite).truth / "proc-stat").read_text().splitlines()
    stat = dict(_stat_flags(line) for line in lines if line.strip())
    assert len(stat) >= 30
    for pid, flags in stat.items():
        task = find_task(prog, pid)
        if not task:
            continue  # a kworker that went away between the snapshot and the dump
        assert task_is_kthread(task) == bool(flags & PF_KTHREAD), pid
