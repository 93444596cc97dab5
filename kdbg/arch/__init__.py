"""Architecture support: virtual -> physical address translation for kernel memory.

Only x86-64 is implemented (:mod:`kdbg.arch.x86_64`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

from kdbg.arch.x86_64 import X86_64Translator

if TYPE_CHECKING:  # pragma: no cover
    from kdbg.memory.vmcoreinfo import VMCoreInfo

__all__ = ["X86_64Translator", "translator_for"]


def translator_for(
    read_phys: Callable[[int, int], bytes],
    vmcoreinfo: VMCoreInfo,
    phys_base_hint: Optional[int] = None,
    max_physical_address: Optional[int] = None,
) -> X86_64Translator:
    """The translator for the dumped machine (x86-64 is the only one supported)."""
    return X86_64Translator(read_phys, vmcoreinfo, phys_base_hint, max_physical_address)
