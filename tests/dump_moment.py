"""Whether what a crashed guest recorded still holds at the moment of its dump.

The guest's own records (its console's sysrq-t, its truth files) stop a few seconds before
the dump. These functions say for which tasks they still hold, from the guest's records and
an independent reading of the dump, never from the code under test:

* :func:`stayed_asleep` -> tids whose context-switch counts did not change across the
  sysrq-t (truth file ``switches``),
* :func:`drgn_view` -> :class:`DumpView`: what each CPU was running at the moment of the
  dump and every task's switch counts then, read by drgn + Debian's DWARF on the same dump,
* :func:`asleep_until_dump` -> tids that did not run from the sysrq-t to the dump, from
  those two records alone,
* :func:`sysrq_t_still_true` -> the sysrq-t tasks whose printed stack is still theirs,
* :func:`unchanged_since_truth` -> tids that stayed asleep from the guest's
  ``kdbg-init: recording truth`` to the dump (its ``ps.json``, ``proc-stat`` still hold
  for them), from the guest's ``dmesg`` and drgn's reading of the dump.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple, Union

from tests.stack_truth import SysrqTask, parse_sysrq_t

# the markers the crash guests write to /dev/kmsg: used when present, not required
from vmcores.oracle import Query, ask_drgn


@dataclasses.dataclass(frozen=True)
class Switches:
    """One line of the truth file ``switches``: a task's voluntary and involuntary context
    switch counts before and after the sysrq-t (None where the task was missing)."""

    pid: int
    tid: int
    vol_before: Optional[int]
    nonvol_before: Optional[int]
    vol_after: Optional[int]
    nonvol_after: Optional[int]
    comm: str


# --------------------------------------------------------------------------- switches


def parse_switches(text: str) -> Dict[int, Switches]:
    """The truth file ``switches`` (``pid tid vol_before nonvol_before vol_after
    nonvol_after comm``, ``-`` for a missing count) by tid."""
    out: Dict[int, Switches] = {}

    def num(s: str) -> Optional[int]:
        return None if s == "-" else int(s)

    for line in text.splitlines():
        f = line.split(" ", 6)
        if len(f) < 6 or not f[0].isdigit():
            continue
        out[int(f[1])] = Switches(
            int(f[0]), int(f[1]), num(f[2]), num(f[3]), num(f[4]), num(f[5]), f[6] if len(f) > 6 else ""
        )
    return out


def stayed_asleep(truth_dir: Union[str, Path]) -> Set[int]:
    """Tids whose voluntary and involuntary switch counts were the same before and after
    the sysrq-t (``<truth_dir>/switches``): they did not run in between, so the stack
    sysrq-t printed for them is the one they had throughout.  (Whether they stayed asleep
    until the dump as well: compare ``task_struct.nvcsw``/``nivcsw`` in the dump with the
    ``after`` counts.)"""
    sw = parse_switches((Path(truth_dir) / "switches").read_text())
    return {
        s.tid
        for s in sw.values()
        if s.vol_before is not None and (s.vol_before, s.nonvol_before) == (s.vol_after, s.nonvol_after)
    }


# --------------------------------------------------------------------------- the dump's moment

_L = "__import__('drgn.helpers.linux', fromlist=['x'])."
#: drgn's frames of one trace as :func:`vmcores.oracle.drgn_stack_traces` records them:
#: inline frames folded into the frame they were inlined in (the one that is not inline),
#: ``[pc, sp, interrupted, name]``, plus ``registers()`` for the first frame and every
#: interrupted one.
_FOLDED = ("[[f.pc, f.sp, bool(f.interrupted), f.name] + ([dict(f.registers())] if i == 0 or f.interrupted else [])"
           " for i, f in enumerate(prog.stack_trace(TASK)) if not f.is_inline]")
VIEW_QUERIES = (
    Query("cpus", "[{'cpu': c, 'online': c in online, 'curr': r.curr.value_(), 'curr_pid': r.curr.pid.value_(), "
                  "'stack': r.curr.stack.value_(), 'idle': idle.value_(), "
                  "'nmi_stack': [e.NMI_stack.address_, sizeof(e.NMI_stack)], "
                  f"'idle_frames': {_FOLDED.replace('TASK', 'idle')}}} "
                  f"for online in [list({_L}for_each_online_cpu(prog))] "
                  f"for c in {_L}for_each_possible_cpu(prog) "
                  f"for r in [{_L}per_cpu(prog['runqueues'], c)] "
                  f"for e in [{_L}per_cpu(prog['cea_exception_stacks'], c)[0]] "
                  f"for idle in [{_L}idle_task(prog, c)]]"),
    Query("panic_cpu", "prog['panic_cpu'].counter.value_()"),
    Query("tasks", f"[[t.pid.value_(), t.nvcsw.value_(), t.nivcsw.value_(), t.sched_info.last_arrival.value_(), "
                   f"t.on_rq.value_()] for t in {_L}for_each_task(prog)]"),
)
"""What :func:`drgn_view` asks drgn (``vmcores.oracle.ask_drgn``, cached with the dump)."""


@dataclasses.dataclass(frozen=True)
class DumpCpu:
    """One possible CPU at the moment of a dump, as drgn + DWARF read it: ``online`` (in
    ``cpu_online_mask``; ``panic()`` takes the CPUs it stops offline), ``curr`` the task it
    was running (``runqueues.curr``: its idle task when idle, else a kthread or any task),
    ``curr_pid`` that task's PID, ``stack`` that task's stack (``curr->stack``), ``idle``
    its idle task, ``idle_frames`` drgn's trace of the idle task (folded as
    :func:`vmcores.oracle.drgn_stack_traces` folds them), ``nmi_stack`` its NMI exception
    stack ``(address, size)`` (``cea_exception_stacks``)."""

    cpu: int
    online: bool
    curr: int
    curr_pid: int
    stack: int
    idle: int
    idle_frames: List[List[Any]]
    nmi_stack: Tuple[int, int]

    @property
    def busy(self) -> bool:
        """Whether the CPU was running another task than its idle task."""
        return self.curr != self.idle


@dataclasses.dataclass(frozen=True)
class DumpTask:
    """One task at the moment of a dump, as drgn + DWARF read it: its context switch
    counts, ``last_arrival`` (``sched_info.last_arrival``: the runqueue clock, in ns since
    boot as printk's timestamps, when it last got a CPU) and ``on_rq`` (queued to run:
    woken, or running)."""

    tid: int
    nvcsw: int
    nivcsw: int
    last_arrival: int
    on_rq: int


@dataclasses.dataclass(frozen=True)
class DumpView:
    """drgn's reading of a dump's moment: ``panic_cpu`` (-1: the kernel did not panic),
    ``cpus`` by number, ``tasks`` by tid, ``switches`` every task's ``(nvcsw, nivcsw)``."""

    panic_cpu: int
    cpus: Dict[int, DumpCpu]
    tasks: Dict[int, DumpTask]

    @property
    def switches(self) -> Dict[int, Tuple[int, int]]:
        """Every task's ``(nvcsw, nivcsw)`` by tid."""
        return {t.tid: (t.nvcsw, t.nivcsw) for t in self.tasks.values()}

    @property
    def running(self) -> Set[int]:
        """The addresses of the tasks on a CPU at the dump (one per CPU)."""
        return {c.curr for c in self.cpus.values()}


def drgn_view(suite: str, core: Union[str, Path]) -> DumpView:
    """drgn's :class:`DumpView` of the ELF dump *core* of *suite* (an ``elf-paging`` form:
    ``vmcores.oracle.ORACLE_FORM``; every form of one stopped guest holds the same
    memory, so the view serves them all)."""
    answers = ask_drgn(suite, Path(core), VIEW_QUERIES)
    for rec in answers.records.values():
        assert "value" in rec, rec
    cpus = {
        c["cpu"]: DumpCpu(c["cpu"], c["online"], c["curr"], c["curr_pid"], c["stack"], c["idle"], c["idle_frames"],
                          (c["nmi_stack"][0], c["nmi_stack"][1]))
        for c in answers.records["cpus"]["value"]
    }
    tasks = {row[0]: DumpTask(*row) for row in answers.records["tasks"]["value"]}
    return DumpView(answers.records["panic_cpu"]["value"], cpus, tasks)


def asleep_until_dump(truth_dir: Union[str, Path], view: DumpView) -> Set[int]:
    """Tids that did not run from the guest's sysrq-t to the dump, from independent
    records only: the guest's switch counts equal before and after the sysrq-t
    (:func:`stayed_asleep`), drgn's counts in the dump equal the ``after`` ones (a task
    switched out since would have counted it), and not on a CPU at the dump (a task woken
    since has not switched out yet, so its counts alone cannot tell)."""
    sw = parse_switches((Path(truth_dir) / "switches").read_text())
    running_pids = {c.curr_pid for c in view.cpus.values()}
    return {
        tid
        for tid in stayed_asleep(truth_dir)
        if view.switches.get(tid) == (sw[tid].vol_after, sw[tid].nonvol_after) and tid not in running_pids
    }


def sysrq_t_still_true(truth_dir: Union[str, Path], view: DumpView) -> Tuple[Dict[int, SysrqTask], Set[int]]:
    """The console's sysrq-t tasks (:func:`parse_sysrq_t`), and the tids whose printed
    trace is still their stack at the dump: printed, not ``running`` then (a task on a
    CPU has a live trace), and asleep from then to the dump (:func:`asleep_until_dump`)."""
    printed = parse_sysrq_t((Path(truth_dir) / "console.log").read_text(errors="replace"))
    asleep = asleep_until_dump(truth_dir, view)
    return printed, {tid for tid in asleep if tid in printed and not printed[tid].running}


#: What the guests' init writes to the kernel log just before recording their truth.
TRUTH_MARKER = "kdbg-init: recording truth"


def truth_marker_ns(truth_dir: Union[str, Path]) -> int:
    """The kernel's timestamp (ns since boot) of :data:`TRUTH_MARKER` in the guest's own
    ``dmesg``: everything in the truth directory was read after it."""
    m = re.search(rf"^\[\s*(\d+)\.(\d{{6}})\] {TRUTH_MARKER}$", (Path(truth_dir) / "dmesg").read_text(), re.M)
    assert m, f"no {TRUTH_MARKER!r} in {truth_dir}/dmesg"
    return int(m.group(1)) * 10**9 + int(m.group(2)) * 1000


def unchanged_since_truth(truth_dir: Union[str, Path], view: DumpView) -> Set[int]:
    """Tids that stayed asleep from before the guest recorded its truth until the dump:
    the last time they got a CPU was before :data:`TRUTH_MARKER` and they are not queued
    to run (not woken since). What the guest read of them (``ps.json``: state, CPU,
    memory) is still what the dump holds; a task that ran meanwhile (the shell reading
    /proc, kworkers, RCU) may legitimately differ in any of it."""
    marker = truth_marker_ns(truth_dir)
    return {t.tid for t in view.tasks.values() if t.last_arrival < marker and not t.on_rq}
