"""The kernel's build configuration: drgn's ``drgn.helpers.linux.kconfig``.

Only a kernel built with ``CONFIG_IKCONFIG`` carries its ``.config``: gzip data between
the symbols ``kernel_config_data`` and ``kernel_config_data_end`` (Linux 5.1 and later;
before, the variable ``kernel_config_data`` wraps it in ``IKCFG_ST`` ... ``IKCFG_ED``).
Distribution kernels (Debian's among them) are built without it: then
:func:`get_kconfig` raises :class:`LookupError`, as drgn's does.
"""

from __future__ import annotations

import gzip
import types
import zlib
from typing import TYPE_CHECKING, Mapping

from kdbg.core.default import takes_program_or_default
from kdbg.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["get_kconfig"]

#: The most compressed configuration data believed (a .config is a few hundred KiB).
_MAX_SIZE = 16 << 20
_START_MAGIC = b"IKCFG_ST"
_END_MAGIC = b"IKCFG_ED"


def _raw_config(prog: Program) -> bytes:
    table = prog.symbol_table
    start = table.get("kernel_config_data")
    end = table.get("kernel_config_data_end")
    if start is None:
        raise NotFoundError("kernel configuration data not found; kernel must be compiled with "
                            "CONFIG_IKCONFIG")  # drgn's plain LookupError
    if end is not None:
        size = end.address - start.address
        address = start.address
    else:  # before 5.1: "IKCFG_ST" + gzip data + "IKCFG_ED" + NUL in one variable
        if not start.size:
            raise NotFoundError("kernel_config_data has no size and no kernel_config_data_end")
        address, size = start.address + len(_START_MAGIC), start.size - len(_START_MAGIC) - len(_END_MAGIC) - 1
    if not 0 < size <= _MAX_SIZE:
        raise ValidationError(f"kernel configuration data of {size} bytes at {address:#x} is implausible")
    data = prog.read(address, size)
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise ValidationError(f"kernel configuration data at {address:#x} is not gzip data: {e}") from None


@takes_program_or_default
def get_kconfig(prog: Program) -> Mapping[str, str]:
    """The kernel's configuration, option name to value (``get_kconfig()["CONFIG_HZ"]``
    is ``'250'``); a read-only mapping, read once per program."""
    cached = prog.cache.get("kdbg.kconfig")
    if cached is None:
        options = {}
        for line in _raw_config(prog).decode(errors="replace").splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, value = line.partition("=")
            if value:
                options[name] = value
        cached = prog.cache["kdbg.kconfig"] = types.MappingProxyType(options)
    return cached
