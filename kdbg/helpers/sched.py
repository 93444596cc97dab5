"""Scheduler state of tasks and CPUs: drgn's ``drgn.helpers.linux.sched``.

Version differences are found in BTF, never from the version string: ``task_struct.state``
became ``__state`` in 5.14, the CPU number moved into ``thread_info`` in 5.16.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, List, SupportsIndex, Tuple

from kdbg.core.conversions import NULL, container_of
from kdbg.core.default import takes_program_or_default
from kdbg.core.integer import integer_value
from kdbg.core.object import Object
from kdbg.errors import KdbgError
from kdbg.helpers.cgroup import cgroup_name
from kdbg.helpers.common import deref_if_pointer, global_object, has_member, program_cache
from kdbg.helpers.cpumask import for_each_possible_cpu
from kdbg.helpers.list import list_for_each_entry
from kdbg.helpers.percpu import per_cpu, per_cpu_ptr
from kdbg.helpers.rbtree import rbtree_inorder_for_each_entry

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = [
    "cfs_rq_for_each_entity",
    "cpu_curr",
    "cpu_rq",
    "get_task_state",
    "idle_task",
    "latest_rq_clock",
    "loadavg",
    "rq_for_each_fair_task",
    "rq_for_each_rt_task",
    "sched_entity_is_task",
    "sched_entity_to_task",
    "task_cpu",
    "task_group_name",
    "task_group_sched_entity",
    "task_on_cpu",
    "task_rq",
    "task_since_last_arrival_ns",
    "task_state_to_char",
    "task_thread_info",
    "thread_group_leader",
]

# include/linux/sched.h: the state bits (the same values from 5.10 to 6.12).
TASK_UNINTERRUPTIBLE = 0x0002
TASK_REPORT = 0x007F  # RUNNING|INTERRUPTIBLE|UNINTERRUPTIBLE|STOPPED|TRACED|EXIT_DEAD|EXIT_ZOMBIE|PARKED
TASK_REPORT_IDLE = TASK_REPORT + 1
TASK_IDLE = 0x0402  # TASK_UNINTERRUPTIBLE | TASK_NOLOAD
TASK_RTLOCK_WAIT = 0x1000  # 5.15+ (TASK_STATE_MAX before: never set)
TASK_FROZEN = 0x8000  # 6.1+
#: fs/proc/array.c task_state_array, indexed by fls(state).
TASK_STATE_CHARS = "RSDTtXZPI"
_STATE_NAMES = {
    "R": "R (running)", "S": "S (sleeping)", "D": "D (disk sleep)", "T": "T (stopped)",
    "t": "t (tracing stop)", "X": "X (dead)", "Z": "Z (zombie)", "P": "P (parked)", "I": "I (idle)",
}
#: A function of the 6.1 freezer rewrite (commit f5d39b020809, "freezer,sched: Rewrite
#: core freezer logic"), which made sleeping states carry TASK_FREEZABLE and frozen tasks
#: TASK_FROZEN, and changed ``__task_state_index`` to match: its presence in kallsyms
#: says which of the two rules below the kernel uses.
_FREEZER_REWRITE_SYMBOL = "__set_task_frozen"

#: x86-64 ``THREAD_SIZE`` without KASAN, for a kernel whose own is unknown (:func:`thread_size`).
DEFAULT_THREAD_SIZE = 16384


def _state_member(prog: Program) -> str:
    return program_cache(prog, "task_state_member",
                         lambda: "__state" if has_member(prog, "struct task_struct", "__state") else "state")


def _freezer_rewrite(prog: Program) -> bool:
    def probe() -> bool:
        try:
            return prog.symbol_table.get(_FREEZER_REWRITE_SYMBOL) is not None
        except KdbgError:  # no symbols: the newer rule (it differs only for states older kernels never set)
            return True

    return program_cache(prog, "task_state_freezer_rewrite", probe)


def state_index(state: int, exit_state: int, freezer_rewrite: bool = True) -> int:
    """The kernel's ``__task_state_index``: the index into :data:`TASK_STATE_CHARS` of a
    task's ``__state`` and ``exit_state``. Since the 6.1 freezer rewrite
    (``freezer_rewrite``) a sleep that includes TASK_IDLE is ``I`` (``TASK_IDLE |
    TASK_FREEZABLE`` too) and TASK_RTLOCK_WAIT or TASK_FROZEN anywhere in it is ``D``;
    before, only exactly TASK_IDLE is ``I`` and exactly TASK_RTLOCK_WAIT ``D`` (5.15-6.0;
    5.10 never sets that bit). drgn 0.3.0 differs: it makes ``TASK_IDLE |
    TASK_FREEZABLE`` ``D`` and TASK_FROZEN and TASK_RTLOCK_WAIT ``R``."""
    report = (state | exit_state) & TASK_REPORT
    if freezer_rewrite:
        if state & TASK_IDLE == TASK_IDLE:
            report = TASK_REPORT_IDLE
        if state & (TASK_RTLOCK_WAIT | TASK_FROZEN):
            report = TASK_UNINTERRUPTIBLE
    else:
        if state == TASK_IDLE:
            report = TASK_REPORT_IDLE
        if state == TASK_RTLOCK_WAIT:
            report = TASK_UNINTERRUPTIBLE
    return report.bit_length()


def task_state_to_char(task: Object) -> str:
    """The task's state letter as ``/proc/PID/stat`` and ``ps`` show it (``R``, ``S``,
    ``D``, ``I``, ``Z``...), computed as the kernel's own ``task_state_to_char`` of its
    version (:func:`state_index`)."""
    t = deref_if_pointer(task)
    prog = t.prog_
    state = int(t.member_(_state_member(prog)))
    return TASK_STATE_CHARS[state_index(state, int(t.exit_state), _freezer_rewrite(prog))]


def get_task_state(task: Object) -> str:
    """The state letter and its name, as ``/proc/PID/status`` shows it (``"R (running)"``)."""
    c = task_state_to_char(task)
    return _STATE_NAMES.get(c, c)


def task_thread_info(task: Object) -> Object:
    """``struct thread_info *`` of the task (x86-64 keeps it at the start of the
    ``task_struct``)."""
    return deref_if_pointer(task).thread_info.address_of_()


def task_cpu(task: Object) -> int:
    """The CPU the task last ran on."""
    t = deref_if_pointer(task)
    in_thread_info = program_cache(t.prog_, "task_cpu_in_thread_info",
                                   lambda: has_member(t.prog_, "struct thread_info", "cpu"))
    return int(t.thread_info.cpu if in_thread_info else t.cpu)


def task_on_cpu(task: Object) -> bool:
    """Whether the task is running on a CPU right now."""
    return bool(deref_if_pointer(task).on_cpu)


def _runqueues(prog: Program) -> Object:
    return global_object(prog, "runqueues", "struct rq")


@takes_program_or_default
def cpu_rq(prog: Program, cpu: SupportsIndex) -> Object:
    """CPU ``cpu``'s runqueue, ``struct rq *``."""
    return per_cpu(_runqueues(prog), cpu).address_of_()


def task_rq(task: Object) -> Object:
    """The runqueue of the CPU the task last ran on."""
    return cpu_rq(task.prog_, task_cpu(task))


@takes_program_or_default
def cpu_curr(prog: Program, cpu: SupportsIndex) -> Object:
    """The task running on CPU ``cpu`` (``struct task_struct *``)."""
    return cpu_rq(prog, cpu).curr.read_()


@takes_program_or_default
def idle_task(prog: Program, cpu: SupportsIndex) -> Object:
    """CPU ``cpu``'s idle task (PID 0, ``swapper/N``)."""
    return cpu_rq(prog, cpu).idle.read_()


def thread_group_leader(task: Object) -> bool:
    """Whether the task leads its thread group (``exit_signal >= 0``, as the kernel)."""
    return int(deref_if_pointer(task).exit_signal) >= 0


#: ``avenrun[]`` is fixed point with ``FSHIFT`` (11) fraction bits.
_FSHIFT = 11


@takes_program_or_default
def loadavg(prog: Program) -> Tuple[float, float, float]:
    """The load averages over 1, 5 and 15 minutes (``/proc/loadavg``'s first three)."""
    avenrun = global_object(prog, "avenrun", "unsigned long [3]")
    one, five, fifteen = (int(avenrun[i]) / (1 << _FSHIFT) for i in range(3))
    return one, five, fifteen


def task_since_last_arrival_ns(task: Object) -> int:
    """Nanoseconds from when the task last started running (``sched_info.last_arrival``)
    to its runqueue's clock: about how long it has been in its current state. Needs
    ``CONFIG_SCHEDSTATS`` or ``CONFIG_TASK_DELAY_ACCT``."""
    t = deref_if_pointer(task)
    return int(task_rq(t).clock) - int(t.sched_info.last_arrival)


@takes_program_or_default
def latest_rq_clock(prog: Program) -> int:
    """The latest runqueue clock (``rq->clock``, ns) of any possible CPU: the scheduler's
    "now" at the moment of a dump. A CPU idle under NOHZ stops updating its own clock, so
    the clock of a sleeping task's CPU (what :func:`task_since_last_arrival_ns`, drgn's
    helper of that name and crash's ``ps -m`` measure against) can be seconds behind.
    kdbg's own helper: drgn has none."""
    return max(int(cpu_rq(prog, cpu).clock) for cpu in for_each_possible_cpu(prog))


def rq_for_each_fair_task(rq: Object) -> Iterator[Object]:
    """The tasks of the fair class (CFS/EEVDF) on runqueue ``rq`` (``struct rq *``):
    its ``cfs_tasks`` list (the tasks' ``se.group_node``)."""
    r = deref_if_pointer(rq)
    if r.type_.unaliased().has_member("cfs_tasks"):
        return list_for_each_entry("struct task_struct", r.cfs_tasks.address_of_(), "se.group_node")
    return (sched_entity_to_task(se) for se, _, _, is_task in cfs_rq_for_each_entity(r.cfs.address_of_())
            if is_task)


def rq_for_each_rt_task(rq: Object) -> Iterator[Object]:
    """The tasks of the realtime class on runqueue ``rq`` (``struct rq *``), priority
    by priority."""
    for queue in deref_if_pointer(rq).rt.active.queue:
        yield from list_for_each_entry("struct task_struct", queue.address_of_(), "rt.run_list")


def sched_entity_is_task(se: Object) -> bool:
    """Whether the scheduler entity (``struct sched_entity *``) is a task, not a task
    group (a group has a runqueue of its own, ``my_q``)."""
    s = deref_if_pointer(se)
    if not s.type_.unaliased().has_member("my_q"):  # no CONFIG_FAIR_GROUP_SCHED
        return True
    return not int(s.my_q)


def sched_entity_to_task(se: Object) -> Object:
    """The task of the scheduler entity (``struct task_struct *``; not checked: see
    :func:`sched_entity_is_task`)."""
    return container_of(se, "struct task_struct", "se")


def task_group_name(tg: Object) -> bytes:
    """The name of task group ``tg`` (``struct task_group *``): its cgroup's, or ``b""``
    when it is no cgroup's (an autogroup)."""
    cgrp = deref_if_pointer(tg).css.cgroup.read_()
    return cgroup_name(cgrp) if cgrp else b""


def task_group_sched_entity(tg: Object, cpu: SupportsIndex) -> Object:
    """The scheduler entity of task group ``tg`` (``struct task_group *``) on CPU ``cpu``
    (``struct sched_entity *``; ``NULL`` for the root group)."""
    g = deref_if_pointer(tg)
    n = integer_value(cpu)
    if g.type_.unaliased().has_member("se"):
        return g.se[n].read_()
    prog = g.prog_  # 7.2 and later: the entity sits beside the per-CPU cfs_rq
    if g.address_ == global_object(prog, "root_task_group", "struct task_group").address_:
        return NULL(prog, "struct sched_entity *")
    return container_of(per_cpu_ptr(g.cfs_rq, n), "struct cfs_tg_state", "cfs_rq").se.address_of_()


def _queued(cfs_rq: Object) -> Iterator[Tuple[Object, bool]]:
    """``(entity, is_curr)`` of a fair runqueue: its current entity first, then its
    timeline in order."""
    curr = cfs_rq.curr.read_()
    if int(curr):
        yield curr, True
    root = cfs_rq.tasks_timeline
    if root.type_.unaliased().has_member("rb_root"):  # 4.14 and later
        root = root.rb_root
    for se in rbtree_inorder_for_each_entry("struct sched_entity", root.address_of_(), "run_node"):
        yield se, False


def cfs_rq_for_each_entity(cfs_rq: Object) -> Iterator[Tuple[Object, int, bool, bool]]:
    """Every entity on a fair runqueue (``struct cfs_rq *``) and, recursively, on its task
    groups' runqueues, parents before children: ``(struct sched_entity *, depth,
    is_curr, is_task)``; ``depth`` 0 is the runqueue's own entities."""
    top = deref_if_pointer(cfs_rq)
    if top.type_.unaliased().has_member("h_curr"):
        raise NotImplementedError("cfs_rq_for_each_entity: the single-runqueue EEVDF of Linux 7.3 and later "
                                  "is not supported yet")
    has_my_q = top.prog_.type("struct sched_entity").unaliased().has_member("my_q")
    stack: List[Tuple[Iterator[Tuple[Object, bool]], int]] = [(_queued(top), 0)]
    while stack:
        entities, depth = stack[-1]
        try:
            se, is_curr = next(entities)
        except StopIteration:
            stack.pop()
            continue
        my_q = se.my_q.read_() if has_my_q else None
        yield se, depth, is_curr, not (my_q is not None and int(my_q))
        if my_q is not None and int(my_q):
            stack.append((_queued(my_q[0]), depth + 1))


def thread_size(prog: Program) -> int:
    """``THREAD_SIZE``: the size, and alignment, of a task's kernel stack
    (``prog["THREAD_SIZE"]``, else x86-64's default). For the stack walkers and the address
    identifiers; not one of drgn's helpers."""

    def find() -> int:
        try:
            return int(prog["THREAD_SIZE"])
        except LookupError:  # neither BTF nor kallsyms says
            return DEFAULT_THREAD_SIZE

    return program_cache(prog, "sched.thread_size", find)
