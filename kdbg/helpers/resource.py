"""Resource limits: drgn's ``drgn.helpers.linux.resource``.

A task's limits are ``task->signal->rlim[RLIM_NLIMITS]``, indexed as the generic
``include/uapi/asm-generic/resource.h`` numbers them (x86-64 uses the generic ones);
``RLIM_INFINITY`` is ``~0UL``.
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Optional

from kdbg.core.object import Object
from kdbg.helpers.common import deref_if_pointer

__all__ = ["Rlimit", "task_rlimits"]

#: The generic RLIMIT_* numbering, by name without the prefix.
_NAMES = ("CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE", "MEMLOCK", "AS", "LOCKS",
          "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME")
_INFINITY = (1 << 64) - 1


class Rlimit(NamedTuple):
    """One resource limit."""

    cur: Optional[int]
    """The soft limit, ``None`` when unlimited."""
    max: Optional[int]
    """The hard limit, ``None`` when unlimited."""


def task_rlimits(task: Object) -> Dict[str, Rlimit]:
    """The task's limits by name (``"NOFILE"``, ``"STACK"``, ...)."""
    rlim = deref_if_pointer(task).signal.rlim.read_()

    def value(v: Object) -> Optional[int]:
        n = int(v) & _INFINITY
        return None if n == _INFINITY else n

    return {name: Rlimit(value(rlim[i].rlim_cur), value(rlim[i].rlim_max))
            for i, name in enumerate(_NAMES[:len(rlim)])}
