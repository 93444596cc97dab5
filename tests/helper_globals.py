"""Declarations of the globals the printk, fs and slab helpers read, for tests, until the
shipped declaration table (``kdbg/declarations.py``) types them all.

Each is the kernel's own definition (``kernel/printk/printk.c``, ``mm/slab_common.c``,
``init/init_task.c``, ``init/version.c``). Declaring a name the table already types is
harmless: a later declaration replaces an earlier one with the same type.
"""

from __future__ import annotations

from typing import Any, List

HELPER_DECLARATIONS: List[str] = [
    "struct printk_ringbuffer *prb;",
    "struct list_head slab_caches;",
    "struct task_struct init_task;",
    "struct uts_namespace init_uts_ns;",
    "unsigned long max_pfn;",
]


def declare_helper_globals(prog: Any) -> Any:
    """Declare :data:`HELPER_DECLARATIONS` in ``prog``; returns ``prog``."""
    prog.declare(" ".join(HELPER_DECLARATIONS))
    return prog

