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

from typing import Any, Dict, Iterator, Optional, Tuple

from kdbg.arch.decoder import capstone_modules, disassembler

__all__ = ["decode"]

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
