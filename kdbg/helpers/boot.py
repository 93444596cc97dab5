"""How the kernel was booted: drgn's ``drgn.helpers.linux.boot``.

The KASLR offset and the paging depth come from VMCOREINFO (``KERNELOFFSET``,
``NUMBER(pgtable_l5_enabled)``), which every vmcore and a live kernel's
``/sys/kernel/vmcoreinfo`` carry; without it, from the kernel itself: ``_text`` against
its link address, and the ``__pgtable_l5_enabled`` variable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kdbg.arch import text_link_address
from kdbg.core.default import takes_program_or_default
from kdbg.core.platform import machine_of
from kdbg.errors import ObjectNotFoundError

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["kaslr_offset", "pgtable_l5_enabled"]


@takes_program_or_default
def kaslr_offset(prog: Program) -> int:
    """The kernel image's KASLR offset (0 when KASLR is off)."""
    info = prog.vmcoreinfo
    if info is not None and info.get("KERNELOFFSET") is not None:
        return info.kerneloffset
    text = prog.symbol_table.get("_text")
    link = text_link_address(machine_of(prog), info)
    if text is None or link is None:
        raise ObjectNotFoundError("kaslr_offset: neither VMCOREINFO's KERNELOFFSET nor the symbol _text is known")
    return text.address - link


@takes_program_or_default
def pgtable_l5_enabled(prog: Program) -> bool:
    """Whether the kernel runs with 5-level page tables."""
    info = prog.vmcoreinfo
    if info is not None and info.get("NUMBER(pgtable_l5_enabled)") is not None:
        return info.pgtable_l5_enabled
    sym = prog.symbol_table.get("__pgtable_l5_enabled")
    if sym is None:
        return False  # 4.17 and earlier, or CONFIG_X86_5LEVEL=n: always 4 levels
    return bool(prog.read_u32(sym.address))
