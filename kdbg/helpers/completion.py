"""Completions (``struct completion``): drgn's ``drgn.helpers.linux.completion``.

Its waiters are on ``completion->wait``: a simple wait queue since Linux 5.7, a wait
queue before; which one is read from BTF (the member's type).
"""

from __future__ import annotations

from typing import Iterator

from kdbg.core.object import Object
from kdbg.helpers.common import deref_if_pointer, is_struct
from kdbg.helpers.swait import swait_for_each_task
from kdbg.helpers.wait import waitqueue_for_each_task

__all__ = ["completion_done", "completion_for_each_task"]


def completion_done(completion: Object) -> bool:
    """Whether ``completion`` (``struct completion *``) has been completed (``done``
    is not 0): drgn's name, whose documentation says "has any waiters"."""
    return bool(deref_if_pointer(completion).done)


def completion_for_each_task(completion: Object) -> Iterator[Object]:
    """Each task waiting for ``completion``, as ``struct task_struct *``."""
    wait = deref_if_pointer(completion).wait
    if is_struct(wait.type_, "struct swait_queue_head"):
        return swait_for_each_task(wait.address_of_())
    return waitqueue_for_each_task(wait.address_of_())
