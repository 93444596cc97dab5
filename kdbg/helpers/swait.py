"""Simple wait queues (``struct swait_queue_head``, its ``struct swait_queue`` waiters):
drgn's ``drgn.helpers.linux.swait``. Walks are :mod:`kdbg.helpers.list`'s."""

from __future__ import annotations

from typing import Iterator

from kdbg.core.object import Object
from kdbg.helpers.common import deref_if_pointer
from kdbg.helpers.list import list_empty, list_for_each_entry

__all__ = ["swait_active", "swait_for_each_task"]


def swait_active(wq: Object) -> bool:
    """Whether anyone waits on ``wq`` (``struct swait_queue_head *``)."""
    return not list_empty(deref_if_pointer(wq).task_list.address_of_())


def swait_for_each_task(wq: Object) -> Iterator[Object]:
    """Each waiting task, as ``struct task_struct *``."""
    for waiter in list_for_each_entry("struct swait_queue", deref_if_pointer(wq).task_list.address_of_(),
                                      "task_list"):
        yield waiter.task.read_()
