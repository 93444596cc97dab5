"""x86-64 instructions decoded by capstone (PyPI ``capstone``, kdbg's ``dis`` extra), in
gdb's AT&T spelling as crash's ``dis`` shows them.

:func:`decode` yields one dict per instruction: ``address``, ``size``, ``bytes`` (hex),
``mnemonic``, ``operands`` (capstone's AT&T text without the blank after commas, as gdb
writes them), ``asm`` (the mnemonic padded to six and the operands), ``branch`` (a
direct or indirect jump or call) and ``target``: a direct branch's destination or a
``%rip``-relative operand's address, else ``None``.  ``bug_bytes``: bytes skipped after
each ``ud2`` (crash's ``dis -b``: the data old kernels' ``BUG()`` put after it).
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, Iterator, Optional, Tuple

from kdbg.arch.decoder import capstone_modules, disassembler

__all__ = ["decode", "first_bit_set"]

#: ``$imm,disp(%rdi)`` of a locked ``or`` (AT&T operands as :func:`decode` gives them).
_SET_BIT_OPERANDS = re.compile(r"\$(0x[0-9a-f]+|\d+),(-?0x[0-9a-f]+|-?\d+)?\(%rdi\)")

_MASK = (1 << 64) - 1


def _capstone() -> Tuple[Any, Any]:
    """capstone and its x86 constants, imported on the first decode."""
    return capstone_modules("x86")


def _decoder() -> Any:
    return disassembler("x86", att=True)


def _target(insn: Any, branch: bool) -> Optional[int]:
    _, x86 = _capstone()
    for op in insn.operands:
        if branch and op.type == x86.X86_OP_IMM:
            return int(op.imm) & _MASK
        if op.type == x86.X86_OP_MEM and op.mem.base == x86.X86_REG_RIP:
            return (insn.address + insn.size + op.mem.disp) & _MASK
    return None


def decode(code: bytes, address: int, bug_bytes: int = 0) -> Iterator[Dict[str, Any]]:
    """The instructions of ``code`` at ``address`` in order, up to the first that does not
    decode or does not fit."""
    capstone, x86 = _capstone()
    md = _decoder()
    offset = 0
    while offset < len(code):
        restart = None
        for insn in md.disasm(code[offset:], address + offset):
            branch = bool(insn.group(capstone.CS_GRP_JUMP) or insn.group(capstone.CS_GRP_CALL))
            operands = insn.op_str.replace(", ", ",")
            yield {"address": insn.address, "size": insn.size, "bytes": bytes(insn.bytes).hex(),
                   "mnemonic": insn.mnemonic, "operands": operands,
                   "asm": f"{insn.mnemonic:<6} {operands}".rstrip() if operands else insn.mnemonic,
                   "branch": branch, "target": _target(insn, branch)}
            if bug_bytes and insn.id == x86.X86_INS_UD2:
                restart = insn.address - address + insn.size + bug_bytes
                break
        if restart is None:
            return
        offset = restart


def first_bit_set(instructions: Iterable[Dict[str, Any]]) -> Optional[int]:
    """The bit number that the first locked ``or`` of one bit into memory at ``%rdi`` sets
    (x86's ``set_bit(nr, addr)`` for a constant ``nr``, as in ``set_tsk_thread_flag(t, nr)``
    with the flags at ``addr``: ``lock orb $0x2,(%rdi)`` sets bit 1, ``lock orb $0x1,1(%rdi)``
    bit 8), or ``None`` when there is none before a ``ret`` or ``jmp``."""
    for insn in instructions:
        mnemonic = insn["mnemonic"]
        if mnemonic.startswith(("ret", "jmp")):
            return None
        match = _SET_BIT_OPERANDS.fullmatch(insn["operands"])
        if match is None or not mnemonic.startswith("lock or"):
            continue
        imm, disp = int(match.group(1), 0), int(match.group(2) or "0", 0)
        if imm and imm & (imm - 1) == 0:
            return disp * 8 + imm.bit_length() - 1
    return None
