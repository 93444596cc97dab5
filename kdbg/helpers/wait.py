"""Wait queues (``wait_queue_head_t`` and its ``wait_queue_entry_t`` entries): drgn's
``drgn.helpers.linux.wait``.

Since Linux 4.13 the head's list is ``head`` and an entry (``wait_queue_entry_t``) links
through ``entry``; before, they were ``task_list`` and the entry type ``wait_queue_t``.
Both are told apart from BTF. Walks are :mod:`kdbg.helpers.list`'s (bounded,
cycle-checked).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Tuple

from kdbg.core.conversions import cast
from kdbg.core.object import Object
from kdbg.errors import KdbgError
from kdbg.helpers.common import deref_if_pointer, has_member, pointer_to, program_cache
from kdbg.helpers.list import list_empty, list_for_each_entry

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["waitqueue_active", "waitqueue_for_each_entry", "waitqueue_for_each_task"]


def _list(wq: Object) -> Object:
    """``&wq->head`` (``&wq->task_list`` before Linux 4.13)."""
    w = deref_if_pointer(wq)
    name = program_cache(w.prog_, "wait.head",
                         lambda: "head" if has_member(w.prog_, "struct wait_queue_head", "head") else "task_list")
    return w.member_(name).address_of_()


def _entry(prog: Program) -> Tuple[str, str]:
    def find() -> Tuple[str, str]:
        try:
            prog.type("wait_queue_entry_t")
        except (KdbgError, LookupError):
            return "wait_queue_t", "task_list"
        return "wait_queue_entry_t", "entry"
    return program_cache(prog, "wait.entry", find)


def waitqueue_active(wq: Object) -> bool:
    """Whether anyone waits on ``wq`` (``wait_queue_head_t *``)."""
    return not list_empty(_list(wq))


def waitqueue_for_each_entry(wq: Object) -> Iterator[Object]:
    """Each entry of ``wq``, as ``wait_queue_entry_t *`` (``wait_queue_t *`` before
    Linux 4.13)."""
    type_name, link = _entry(wq.prog_)
    return list_for_each_entry(type_name, _list(wq), link)


def waitqueue_for_each_task(wq: Object) -> Iterator[Object]:
    """Each waiter's ``private`` as a ``struct task_struct *`` (what it usually holds;
    an entry whose ``private`` is something else gives garbage, as in drgn)."""
    task_p = pointer_to(wq.prog_, "struct task_struct")
    for entry in waitqueue_for_each_entry(wq):
        yield cast(task_p, entry.private)
