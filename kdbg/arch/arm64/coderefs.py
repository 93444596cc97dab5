"""The addresses arm64 code forms with ``adrp``: what a function refers to.

A kernel function reaches a global through an ``adrp`` (the global's 4 KiB page, relative
to the instruction) and then an ``add`` of the low 12 bits (its address) or a load/store
with them as the offset (its value). gcc's section anchors add one more step: ``adrp`` +
``add`` give the anchor (the first object of the section part) and a second ``add`` the
global (``add x3, x3, #0x550; add x0, x3, #0xe0`` is ``panic_cpu`` in bookworm's
``nmi_panic``). :func:`adrp_references` follows each register that holds such a constant
through ``add``-immediates until something else writes it, and gives every address formed,
decoded by capstone (PyPI ``capstone``, kdbg's ``dis`` extra). A load or store through a
constant register gives its address too, so the set also holds member addresses of the
globals the function reads (``slab_caches+0x8``): callers intersect over several functions.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Set, Tuple

from kdbg.arch.decoder import capstone_modules, disassembler

__all__ = ["adrp_references"]

_MASK = (1 << 64) - 1


def _capstone() -> Tuple[Any, Any]:
    """capstone and its arm64 constants, imported on the first decode."""
    return capstone_modules("arm64")


def _decoder() -> Any:
    return disassembler("arm64")


def _immediate(op: Any) -> Optional[int]:
    """An ``add``'s immediate operand with its shift (``#1, lsl #12``), or ``None``."""
    _, cs_arm64 = _capstone()
    if op.type != cs_arm64.ARM64_OP_IMM:
        return None
    if op.shift.type == cs_arm64.ARM64_SFT_INVALID:
        return int(op.imm)
    if op.shift.type == cs_arm64.ARM64_SFT_LSL:
        return int(op.imm) << int(op.shift.value)
    return None


def adrp_references(code: bytes, address: int) -> Set[int]:
    """Every address the little-endian arm64 ``code`` at ``address`` forms from an
    ``adrp``: the ``add``-immediates on it (chained) and the addresses of loads and stores
    with an immediate offset from it. Decoding stops at the first word capstone does not
    know (data in the text: a literal or a jump table)."""
    _, cs_arm64 = _capstone()
    consts: Dict[int, int] = {}
    out: Set[int] = set()
    for insn in _decoder().disasm(code, address):
        ops = insn.operands
        if insn.id == cs_arm64.ARM64_INS_ADRP:
            consts[ops[0].reg] = int(ops[1].imm) & _MASK
            continue
        formed = None
        if (insn.id == cs_arm64.ARM64_INS_ADD and len(ops) == 3 and ops[1].type == cs_arm64.ARM64_OP_REG
                and ops[1].reg in consts):
            imm = _immediate(ops[2])
            if imm is not None:
                formed = (ops[0].reg, (consts[ops[1].reg] + imm) & _MASK)
                out.add(formed[1])
        else:
            for op in ops:
                if op.type == cs_arm64.ARM64_OP_MEM and op.mem.base in consts and op.mem.index == 0:
                    out.add((consts[op.mem.base] + int(op.mem.disp)) & _MASK)
        _read, written = insn.regs_access()
        for reg in written:
            consts.pop(reg, None)
        if formed is not None:
            consts[formed[0]] = formed[1]
    return out
