"""The addresses x86-64 code forms: what a kernel function refers to.

The kernel is built with gcc's ``-mcmodel=kernel``: a function reaches a global either
RIP-relative (``mov rax, qword ptr [rip + 0x1234567]``, ``lea rdi, [rip + ...]``: the
address is the next instruction's plus the displacement), or through a sign-extended
32-bit absolute (``mov rdi, 0xffffffff82a1b2c0``, ``cmp rax, 0xffffffff82a1b2c0``,
``mov rax, qword ptr [rdx*8 - 0x7d5e4d40]``), which KASLR's boot-time relocation moved
with the image. :func:`rip_references` gives both kinds, decoded by capstone (PyPI
``capstone``, kdbg's ``dis`` extra): every memory operand's address that is RIP-relative
or has no base register, and every immediate operand. Callers keep the addresses inside
the kernel's data (per-CPU offsets, ``gs:[0x28]``, and plain constants fall outside it)
and intersect over several functions, as on arm64
(:func:`kdbg.arch.arm64.coderefs.adrp_references`).
"""

from __future__ import annotations

from typing import Any, Set

from kdbg.arch.decoder import capstone_modules, disassembler

__all__ = ["rip_references"]

_MASK = (1 << 64) - 1


def _decoder() -> Any:
    return disassembler("x86")


def rip_references(code: bytes, address: int) -> Set[int]:
    """Every address the x86-64 ``code`` at ``address`` names: RIP-relative and absolute
    (no base register) memory operands, and immediates. Decoding stops at the first byte
    capstone does not know (the ``int3`` padding after a function decodes, data does
    not)."""
    _, cs_x86 = capstone_modules("x86")
    out: Set[int] = set()
    for insn in _decoder().disasm(code, address):
        for op in insn.operands:
            if op.type == cs_x86.X86_OP_IMM:
                out.add(int(op.imm) & _MASK)
            elif op.type == cs_x86.X86_OP_MEM and op.mem.segment == 0:
                if op.mem.base == cs_x86.X86_REG_RIP:
                    out.add((insn.address + insn.size + int(op.mem.disp)) & _MASK)
                elif op.mem.base == 0:
                    out.add(int(op.mem.disp) & _MASK)
    return out
