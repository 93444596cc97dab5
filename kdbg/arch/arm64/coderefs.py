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

The constants follow the function's control flow, not its byte order: a register keeps its
constant into a branch target when every path there leaves it the same (bookworm's
``vm_commit_limit`` keeps ``sysctl_overcommit_kbytes`` in x20 across the early return
whose epilogue reloads x20, and reads ``sysctl_overcommit_ratio`` through it after the
branch), a call ends the caller-saved registers' constants, and a ``w`` register's write
ends its ``x`` register's. Code no branch of the function reaches (a jump table's targets)
starts with no constants.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Set, Tuple

from kdbg.arch.decoder import capstone_modules, disassembler

__all__ = ["adrp_references"]

_MASK = (1 << 64) - 1

#: Registers a call may change (AAPCS64: x0-x18, and the link register it writes).
_CALLER_SAVED = 19


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


def _x(reg: int) -> int:
    """The 64-bit register of *reg* (``w3`` is ``x3``'s low half); others as they are."""
    _, a = _capstone()
    if a.ARM64_REG_W0 <= reg <= a.ARM64_REG_W30:
        n = reg - a.ARM64_REG_W0
        return a.ARM64_REG_X0 + n if n <= 28 else (a.ARM64_REG_FP, a.ARM64_REG_LR)[n - 29]
    return reg


def _flow(insn: Any, n: int, index: Dict[int, int], i: int) -> Tuple[List[int], bool]:
    """``(successor indices, is a call)`` of instruction *i* of *n* (``index``: address to
    index): a branch's target inside the function, and the next one unless the branch
    always leaves."""
    capstone, a = _capstone()
    nxt = [i + 1] if i + 1 < n else []
    if insn.group(capstone.CS_GRP_RET) or insn.id in (a.ARM64_INS_BR, a.ARM64_INS_ERET):
        return [], False
    if insn.group(capstone.CS_GRP_CALL):
        return nxt, True
    if insn.group(capstone.CS_GRP_JUMP):
        targets = [index[t] for t in (int(op.imm) & _MASK for op in insn.operands if op.type == a.ARM64_OP_IMM)
                   if t in index]
        always = insn.id == a.ARM64_INS_B and insn.cc in (a.ARM64_CC_INVALID, a.ARM64_CC_AL)
        return targets[-1:] + ([] if always else nxt), False
    return nxt, False


def adrp_references(code: bytes, address: int) -> Set[int]:
    """Every address the little-endian arm64 ``code`` at ``address`` forms from an
    ``adrp``: the ``add``-immediates on it (chained) and the addresses of loads and stores
    with an immediate offset from it. Decoding stops at the first word capstone does not
    know (data in the text: a literal or a jump table)."""
    _, a = _capstone()
    insns = list(_decoder().disasm(code, address))
    n = len(insns)
    index = {insn.address: i for i, insn in enumerate(insns)}
    caller_saved = {a.ARM64_REG_X0 + r for r in range(_CALLER_SAVED)} | {a.ARM64_REG_LR}
    states: List[Optional[Dict[int, int]]] = [None] * n
    out: Set[int] = set()
    unreached = 0
    while unreached < n:
        if states[unreached] is not None:
            unreached += 1
            continue
        states[unreached] = {}
        work = [unreached]
        while work:
            i = work.pop()
            insn = insns[i]
            consts = dict(states[i] or {})
            _step(insn, consts, out)
            successors, call = _flow(insn, n, index, i)
            if call:
                for reg in caller_saved:
                    consts.pop(reg, None)
            for s in successors:
                old = states[s]
                new = consts if old is None else {r: v for r, v in old.items() if consts.get(r) == v}
                if old is None or new != old:
                    states[s] = dict(new)
                    work.append(s)
    return out


def _step(insn: Any, consts: Dict[int, int], out: Set[int]) -> None:
    """Apply one instruction to the constant registers *consts*, adding to *out* the
    addresses it forms."""
    _, a = _capstone()
    ops = insn.operands
    if insn.id == a.ARM64_INS_ADRP:
        consts[_x(ops[0].reg)] = int(ops[1].imm) & _MASK
        return
    formed = None
    if (insn.id == a.ARM64_INS_ADD and len(ops) == 3 and ops[1].type == a.ARM64_OP_REG
            and _x(ops[1].reg) in consts):
        imm = _immediate(ops[2])
        if imm is not None:
            formed = (_x(ops[0].reg), (consts[_x(ops[1].reg)] + imm) & _MASK)
            out.add(formed[1])
    else:
        for op in ops:
            if op.type == a.ARM64_OP_MEM and _x(op.mem.base) in consts and op.mem.index == 0:
                out.add((consts[_x(op.mem.base)] + int(op.mem.disp)) & _MASK)
    _read, written = insn.regs_access()
    for reg in written:
        consts.pop(_x(reg), None)
    if formed is not None:
        consts[formed[0]] = formed[1]
