"""crash's ``runq`` on the reference dumps and the panic dumps of 5.10, 6.1 and 6.12: the
panic task is the current task of the CPU the kernel's own report names, the queues are
drgn's (with Debian's DWARF, on the ELF dump of the same guest), the text is Debian's crash
8.0.2's byte for byte where it opens the dump (:mod:`vmcores.crash_oracle`); a patched run
queue (a memory overlay) lists queued tasks with the kernel's priorities.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest

import kdbg
from kdbg.helpers.percpu import per_cpu
from kdbg.helpers.pid import find_task, for_each_task
from kdbg.ui.commands import CommandContext, run_command
from tests.cli_support import kdbg_commands
from tests.conftest import resolve_crash_dump, resolve_dump
from tests.memory_overlay import overlay
from tests.oracle_exprs import drgn_answers_at
from tests.stack_truth import parse_panic
from vmcores.crash_oracle import CRASH_WRONG_TASKS, ask_crash, crash_can_open
from vmcores.debian import SUITES

pytestmark = pytest.mark.timeout(1800)

FORM = "kdump-zlib"


# ------------------------------------------------------------------------------- runq

RUNQ_DUMPS = [(s, sc) for s in SUITES for sc in (None, "panic")]


@pytest.mark.parametrize("suite, scenario", RUNQ_DUMPS, ids=lambda x: str(x))
def test_runq(suite: str, scenario: Any) -> None:
    """Each CPU's run queue and current task: the panic task is the current task of the
    CPU the kernel's own report names; drgn's runqueues; crash byte for byte."""
    if scenario is None:
        dump = resolve_dump(suite, FORM, "qemu")
        path, truth = dump.path, dump.truth
    else:
        c = resolve_crash_dump(suite, scenario, FORM)
        path, truth = c.path, c.truth
    r = kdbg_commands(path, "runq", "runq -t", "runq --json")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines(keepends=True)
    rows = json.loads(lines[-1])
    cpus = len(rows)
    text, stamps = "".join(lines[:7 * cpus - 1]), "".join(lines[7 * cpus - 1:-1])
    if scenario is not None:
        report = parse_panic((truth / "console.log").read_text(errors="replace"))
        mine = text.split("\n\n")[report.cpu].splitlines()[1]
        assert re.match(rf'  CURRENT: PID: {report.pid} +TASK: [0-9a-f]+  COMMAND: "{re.escape(report.comm)}"$', mine)
    drgn = drgn_answers_at(suite, scenario, {
        "rq": "[(prog['runqueues'].address_of_().value_() + prog['__per_cpu_offset'][c].value_(), "
              "__import__('drgn.helpers.linux.percpu', fromlist=['x']).per_cpu(prog['runqueues'], c).curr.value_()) "
              "for c in __import__('drgn.helpers.linux.cpumask', fromlist=['x']).for_each_possible_cpu(prog)]",
        # queued: on a run queue (task_struct.on_rq == TASK_ON_RQ_QUEUED) and not its CPU's current task
        "queued": "sorted([__import__('drgn.helpers.linux.sched', fromlist=['x']).task_cpu(t), t.value_()] "
                  "for t in __import__('drgn.helpers.linux.pid', fromlist=['x']).for_each_task(prog) "
                  "if t.on_rq.value_() == 1 and t.value_() != __import__('drgn.helpers.linux.sched', "
                  "fromlist=['x']).cpu_curr(prog, __import__('drgn.helpers.linux.sched', fromlist=['x'])"
                  ".task_cpu(t)).value_())",
    })
    assert [(row["rq"], row["current"]) for row in rows] == [tuple(x) for x in drgn["rq"]]
    queued = sorted([row["cpu"], task] for row in rows for task in row["rt"] + row["cfs"])
    assert queued == drgn["queued"]
    if not crash_can_open(suite):
        return
    if suite in CRASH_WRONG_TASKS and queued:
        # crash 8.0.2 misses tasks of 6.1's PID hash and prints a queue of them as
        # "[no tasks queued]" (a fresh panic build queued a kworker): drgn decides above
        return
    theirs = ask_crash(suite, path, ["runq", "runq -t"]).outputs
    assert text == theirs["runq"] and stamps == theirs["runq -t"]


def test_runq_lists_queued_tasks() -> None:
    """A patched copy of the dump's run queue of CPU 0 (a memory overlay): init's
    sched_entity alone in the CFS tree, a migration thread's rt entity alone on its
    priority's list: both listed under their queue with the kernel's priority (init is
    nice 0: 120; migration/N is SCHED_FIFO 99: 0)."""
    prog = kdbg.open_core(str(resolve_dump("bullseye", FORM, "qemu").path))
    rq = per_cpu(prog["runqueues"], 0)
    init = find_task(prog, 1)
    mig = next(t for t in for_each_task(prog) if t.comm.string_() == b"migration/0")
    mem = overlay(prog)
    node = int(init.se.run_node.address_of_())
    mem.patches[int(rq.cfs.tasks_timeline.rb_root.rb_node.address_of_())] = node.to_bytes(8, "little")
    mem.patches[node] = (1).to_bytes(8, "little") + bytes(16)  # black, no parent, no children
    head = int(rq.rt.active.queue[int(mig.prio)].address_of_())
    link = int(mig.rt.run_list.address_of_())
    mem.patches[head] = link.to_bytes(8, "little") * 2
    mem.patches[link] = head.to_bytes(8, "little") * 2
    out = io.StringIO()
    run_command(prog, "runq", CommandContext(out=out))
    cpu0 = out.getvalue().split("\n\n")[0].splitlines()
    assert cpu0[3] == f'     [  0] PID: {int(mig.pid):<5d}  TASK: {int(mig):x}  COMMAND: "migration/0"', cpu0
    assert cpu0[5] == f'     [120] PID: 1      TASK: {int(init):x}  COMMAND: "init"', cpu0


