"""Kernel data-structure helpers, named and called as in drgn (``drgn.helpers.linux.*``).

Each submodule covers one kernel concept and lists its public names in ``__all__``;
``from kdbg.helpers import *`` brings them all. To add a module, add one
``from kdbg.helpers.X import *`` line below: ``__all__`` is assembled from the imported
submodules' ``__all__``.
"""

from types import ModuleType as _ModuleType
from typing import List as _List

from kdbg.errors import ValidationError as ValidationError
from kdbg.helpers.cpumask import *  # noqa: F401,F403
from kdbg.helpers.format import *  # noqa: F401,F403
from kdbg.helpers.fs import *  # noqa: F401,F403
from kdbg.helpers.idr import *  # noqa: F401,F403
from kdbg.helpers.list import *  # noqa: F401,F403
from kdbg.helpers.mm import *  # noqa: F401,F403
from kdbg.helpers.module import *  # noqa: F401,F403
from kdbg.helpers.percpu import *  # noqa: F401,F403
from kdbg.helpers.pid import *  # noqa: F401,F403
from kdbg.helpers.printk import *  # noqa: F401,F403
from kdbg.helpers.prog import *  # noqa: F401,F403
from kdbg.helpers.rbtree import *  # noqa: F401,F403
from kdbg.helpers.sched import *  # noqa: F401,F403
from kdbg.helpers.slab import *  # noqa: F401,F403
from kdbg.helpers.stackdepot import *  # noqa: F401,F403
from kdbg.helpers.types import *  # noqa: F401,F403
from kdbg.helpers.utsname import *  # noqa: F401,F403
from kdbg.helpers.xarray import *  # noqa: F401,F403

# isort: split
# The helper areas of issue 14's second half (mm extras, mmzone, vmstat, timekeeping, ...).
from kdbg.helpers.addrspace import *  # noqa: F401,F403
from kdbg.helpers.boot import *  # noqa: F401,F403
from kdbg.helpers.bpf import *  # noqa: F401,F403
from kdbg.helpers.hugetlb import *  # noqa: F401,F403
from kdbg.helpers.identify import *  # noqa: F401,F403
from kdbg.helpers.ioport import *  # noqa: F401,F403
from kdbg.helpers.ipc import *  # noqa: F401,F403
from kdbg.helpers.kallsyms import *  # noqa: F401,F403
from kdbg.helpers.kconfig import *  # noqa: F401,F403
from kdbg.helpers.meminfo import *  # noqa: F401,F403
from kdbg.helpers.mmzone import *  # noqa: F401,F403
from kdbg.helpers.nodemask import *  # noqa: F401,F403
from kdbg.helpers.panic import *  # noqa: F401,F403
from kdbg.helpers.registers import *  # noqa: F401,F403
from kdbg.helpers.resource import *  # noqa: F401,F403
from kdbg.helpers.sbitmap import *  # noqa: F401,F403
from kdbg.helpers.signal import *  # noqa: F401,F403
from kdbg.helpers.stack import *  # noqa: F401,F403
from kdbg.helpers.swap import *  # noqa: F401,F403
from kdbg.helpers.timekeeping import *  # noqa: F401,F403
from kdbg.helpers.timer import *  # noqa: F401,F403
from kdbg.helpers.user import *  # noqa: F401,F403
from kdbg.helpers.vmalloc import *  # noqa: F401,F403
from kdbg.helpers.vmstat import *  # noqa: F401,F403

# isort: split
# Lists, bitmaps, trees, waiting, locking, kthreads; devices, block, kernfs, cgroup, net, irq.
from kdbg.helpers.bitmap import *  # noqa: F401,F403
from kdbg.helpers.bitops import *  # noqa: F401,F403
from kdbg.helpers.block import *  # noqa: F401,F403
from kdbg.helpers.cgroup import *  # noqa: F401,F403
from kdbg.helpers.completion import *  # noqa: F401,F403
from kdbg.helpers.device import *  # noqa: F401,F403
from kdbg.helpers.irq import *  # noqa: F401,F403
from kdbg.helpers.kernfs import *  # noqa: F401,F403
from kdbg.helpers.kthread import *  # noqa: F401,F403
from kdbg.helpers.list_nulls import *  # noqa: F401,F403
from kdbg.helpers.llist import *  # noqa: F401,F403
from kdbg.helpers.locking import *  # noqa: F401,F403
from kdbg.helpers.mapletree import *  # noqa: F401,F403
from kdbg.helpers.net import *  # noqa: F401,F403
from kdbg.helpers.pci import *  # noqa: F401,F403
from kdbg.helpers.plist import *  # noqa: F401,F403
from kdbg.helpers.swait import *  # noqa: F401,F403
from kdbg.helpers.sysfs import *  # noqa: F401,F403
from kdbg.helpers.tc import *  # noqa: F401,F403
from kdbg.helpers.tcp import *  # noqa: F401,F403
from kdbg.helpers.wait import *  # noqa: F401,F403

#: Internal submodules whose names are not helpers.
_INTERNAL = {"kdbg.helpers.common"}


def _assemble() -> _List[str]:
    names = ["ValidationError"]
    for value in [*globals().values()]:  # (`list` is the list submodule here)
        if (isinstance(value, _ModuleType) and value.__name__.startswith(__name__ + ".")
                and value.__name__ not in _INTERNAL):
            names.extend(n for n in getattr(value, "__all__", ()) if n not in names)
    return names


__all__ = _assemble()
