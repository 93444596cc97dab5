"""Kernel threads: drgn's ``drgn.helpers.linux.kthread``.

A kthread's ``struct kthread`` hangs off its task: ``task->worker_private`` since Linux
5.17, ``task->set_child_tid`` from 4.10 (which added ``free_kthread_struct``), and before
that ``task->vfork_done`` points at its ``exited`` completion. Which applies is read from
BTF and kallsyms.
"""

from __future__ import annotations

from kdbg.core.conversions import cast, container_of
from kdbg.core.object import Object
from kdbg.helpers.common import deref_if_pointer, has_member, program_cache

__all__ = ["kthread_data", "task_is_kthread", "to_kthread"]

#: ``PF_KTHREAD`` (include/linux/sched.h, unchanged since 2.6.27).
PF_KTHREAD = 0x00200000


def to_kthread(task: Object) -> Object:
    """The ``struct kthread *`` of ``task`` (``struct task_struct *``; meaningful for a
    kernel thread only, see :func:`task_is_kthread`)."""
    t = deref_if_pointer(task)
    prog = t.prog_

    def where() -> str:
        if has_member(prog, "struct task_struct", "worker_private"):
            return "worker_private"
        return "set_child_tid" if "free_kthread_struct" in prog else "vfork_done"

    member = program_cache(prog, "kthread.where", where)
    if member == "vfork_done":
        return container_of(t.vfork_done, "struct kthread", "exited")
    return cast("struct kthread *", t.member_(member))


def kthread_data(task: Object) -> Object:
    """The ``data`` the kthread was created with (``void *``)."""
    return to_kthread(task).data.read_()


def task_is_kthread(task: Object) -> bool:
    """Whether ``task`` is a kernel thread (``PF_KTHREAD``)."""
    return bool(int(deref_if_pointer(task).flags) & PF_KTHREAD)
