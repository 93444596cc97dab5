"""Kernel data-structure helpers, named and called as in drgn (``drgn.helpers.linux.*``).

Each submodule covers one kernel concept and lists its public names in ``__all__``;
``from kdbg.helpers import *`` brings them all. To add a module: one
``from kdbg.helpers.X import *`` line below and its name in ``_MODULES``.
"""

from kdbg.errors import ValidationError
from kdbg.helpers import list as _list
from kdbg.helpers.list import *  # noqa: F401,F403

_MODULES = [_list]

__all__ = ["ValidationError"] + [name for m in _MODULES for name in m.__all__]
