"""What crash says about a task, shared by its commands (``ps``, ``foreach``, ``set``,
``task``): crash's two-letter state (``RU``, ``IN``, ``UN`` ...), whether the task is a
kernel thread, and the task selectors that ``ps`` and ``foreach`` take (a PID, a task
address, a command name or ``'pattern'``, ``kernel``/``user``, ``active``, a state).
"""

from __future__ import annotations

import fnmatch
from typing import Any, Callable, List

from kdbg.errors import ExpressionError, ObjectNotFoundError, ObjectTypeError
from kdbg.helpers.common import deref_if_pointer
from kdbg.helpers.pid import resolve_task
from kdbg.helpers.sched import task_cpu, task_on_cpu, task_state_to_char

__all__ = ["CRASH_STATES", "LONG_STATES", "PF_KTHREAD", "context_lines", "crash_state", "is_kthread", "select_tasks",
           "task_selector"]

#: crash's state names (``task.c``'s ``task_state_string``) for ``/proc``'s letters.
CRASH_STATES = {"R": "RU", "S": "IN", "D": "UN", "I": "ID", "T": "ST", "t": "TR", "Z": "ZO", "X": "DE",
                "P": "PA"}
#: ``include/linux/sched.h``: the task is a kernel thread (the same bit since Linux 2.6.x).
PF_KTHREAD = 0x00200000


def crash_state(task: Any) -> str:
    """crash's two-letter state of *task* (``RU``, ``IN``, ``UN``, ``ID``, ``ZO`` ...)."""
    c = task_state_to_char(task)
    return CRASH_STATES.get(c, c)


def is_kthread(task: Any) -> bool:
    """Whether *task* is a kernel thread (``PF_KTHREAD``; a zombie without ``mm`` is not)."""
    return bool(int(deref_if_pointer(task).flags) & PF_KTHREAD)


def _comm(task: Any) -> str:
    return str(deref_if_pointer(task).comm.string_().decode("utf-8", "replace"))


def task_selector(prog: Any, word: str, command: str) -> Callable[[Any], bool]:
    """A predicate on ``struct task_struct`` Objects for one of crash's task words: decimal
    digits are a PID, a hexadecimal word that names a task its address, ``kernel``,
    ``user``, ``active``, a state name (``RU``, ``IN``, ``UN`` ...), a ``'pattern'``
    (shell wildcards; crash's quotes kept by the caller, or the shell's already removed:
    a word with ``*``, ``?`` or ``[``) or a command name."""
    if word.isdigit():
        pid = int(word)
        return lambda t: int(t.pid) == pid
    if word == "kernel":
        return is_kthread
    if word == "user":
        return lambda t: not is_kthread(t)
    if word == "active":
        return task_on_cpu
    if word in CRASH_STATES.values():
        return lambda t: crash_state(t) == word
    if word.startswith("'") and word.endswith("'") and len(word) > 2 or any(c in word for c in "*?["):
        pattern = word[1:-1] if word.startswith("'") and word.endswith("'") else word
        return lambda t: fnmatch.fnmatchcase(_comm(t), pattern)
    if all(c in "0123456789abcdefABCDEFx" for c in word) and len(word) >= 8:
        try:
            address = int(resolve_task(prog, word))
        except (ObjectNotFoundError, ObjectTypeError) as e:
            raise ExpressionError(f"{command}: {e}") from None
        return lambda t: int(t.address_of_()) == address
    return lambda t: _comm(t) == word


def select_tasks(prog: Any, tasks: List[Any], words: List[str], command: str) -> List[Any]:
    """The *tasks* that any of *words* selects (all of them when there are no words)."""
    if not words:
        return tasks
    preds = [task_selector(prog, w, command) for w in words]
    return [t for t in tasks if any(p(deref_if_pointer(t)) for p in preds)]


#: crash's long state names (``set``, ``task`` headers) for its two-letter ones.
LONG_STATES = {"RU": "TASK_RUNNING", "IN": "TASK_INTERRUPTIBLE", "UN": "TASK_UNINTERRUPTIBLE", "ID": "TASK_IDLE",
               "ST": "TASK_STOPPED", "TR": "TASK_TRACED", "ZO": "EXIT_ZOMBIE", "DE": "EXIT_DEAD",
               "PA": "TASK_PARKED"}


def context_lines(task: Any, panic: bool, sysrq: bool = False, same_pid: int = 1) -> List[str]:
    """crash's context display (``set``): ``PID``, ``COMMAND``, ``TASK`` with its
    ``THREAD_INFO`` (x86-64 keeps it at the start of the ``task_struct``), ``CPU``, ``STATE``
    with crash's mark of a task on a CPU: ``(SYSRQ)`` when a sysrq crashed the kernel
    (*sysrq*), else ``(PANIC)`` for the task that crashed it, ``(ACTIVE)`` for the others.
    *same_pid* tasks sharing the PID (the idle tasks' 0) add crash's ``(1 of N)``."""
    t = deref_if_pointer(task)
    addr = int(t.address_of_())
    st = crash_state(t)
    active = task_on_cpu(t) or panic
    mark = " (SYSRQ)" if active and sysrq else " (PANIC)" if panic else " (ACTIVE)" if active else ""
    return [
        f"    PID: {int(t.pid)}",
        f'COMMAND: "{_comm(t)}"',
        f"   TASK: {addr:x}  {f'(1 of {same_pid})  ' if same_pid > 1 else ''}"
        f"[THREAD_INFO: {int(t.thread_info.address_of_()):x}]",
        f"    CPU: {task_cpu(t)}",
        f"  STATE: {LONG_STATES.get(st, st)}{mark}",
    ]
