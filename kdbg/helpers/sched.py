"""Scheduler state of tasks and CPUs: drgn's ``drgn.helpers.linux.sched``.

Version differences are found in BTF, never from the version string: ``task_struct.state``
became ``__state`` in 5.14, the CPU number moved into ``thread_info`` in 5.16.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, SupportsIndex

from kdbg.core.default import takes_program_or_default
from kdbg.core.object import Object
from kdbg.errors import KdbgError
from kdbg.helpers.common import deref_if_pointer, global_object, has_member, program_cache
from kdbg.helpers.percpu import per_cpu

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = [
    "cpu_curr",
    "cpu_rq",
    "get_task_state",
    "idle_task",
    "task_cpu",
    "task_on_cpu",
    "task_rq",
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
