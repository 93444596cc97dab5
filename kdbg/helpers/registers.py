"""``print_registers`` (drgn's ``drgn.helpers.common.stack``): a CPU register dump in the
layout of crash's ``bt`` exception frame (``RIP: ...  RSP: ...  RFLAGS: ...``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Mapping, Tuple

from kdbg.core.default import takes_program_or_default
from kdbg.core.platform import Architecture, PlatformFlags

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["print_registers"]

#: The registers of each row, by architecture (crash's order).
_ROWS: Dict[Architecture, Tuple[Tuple[str, ...], ...]] = {
    Architecture.X86_64: (
        ("rip", "rsp", "rflags"), ("rax", "rbx", "rcx"), ("rdx", "rsi", "rdi"), ("rbp", "r8", "r9"),
        ("r10", "r11", "r12"), ("r13", "r14", "r15"), ("cs", "ss"),
    ),
    Architecture.AARCH64: (
        ("pc", "lr", "sp"), *((f"x{n}", f"x{n - 1}", f"x{n - 2}") for n in range(29, 1, -3)),
    ),
}
#: Registers printed narrower than the word (hex digits).
_WIDTHS: Dict[str, int] = {"cs": 4, "ss": 4, "rflags": 8}


@takes_program_or_default
def print_registers(prog: Program, regs: Mapping[str, int], indent: str = "    ") -> None:
    """Print ``regs`` (named as ``StackFrame.registers()`` names them) three to a row,
    each ``NAME: value`` in hexadecimal zero-padded to the register's width; a register
    ``regs`` lacks prints as question marks. Each line starts with ``indent``."""
    platform = prog.platform
    rows = _ROWS.get(platform.arch) if platform is not None else None
    if rows is None:
        raise RuntimeError(f"Unsupported architecture: {platform.arch if platform else None}")
    default = 16 if platform.flags & PlatformFlags.IS_64_BIT else 8
    for row in rows:
        cells = []
        for reg in row:
            width = _WIDTHS.get(reg, default)
            value = f"{regs[reg]:0{width}x}" if reg in regs else "?" * width
            cells.append(f"{reg.upper():>3s}: {value}")
        print(f"{indent}{'  '.join(cells)}")
