"""arm64 instructions decoded by capstone (PyPI ``capstone``, kdbg's ``dis`` extra), in
gdb's spelling as crash's ``dis`` shows them: the mnemonic, a tab, the operands, a direct
branch's destination as an address (capstone's ``#0x...`` without the ``#``).

:func:`decode` yields the dicts of :func:`kdbg.arch.x86_64.insn.decode`: ``address``,
``size``, ``bytes``, ``mnemonic``, ``operands``, ``asm``, ``branch`` and ``target`` (a
direct branch's destination: ``b``, ``bl``, ``b.cond``, ``cbz``/``cbnz``, ``tbz``/``tbnz``;
or an ``adr``/``adrp`` address).  A word capstone does not know (data in the text) is
``.inst 0x...`` as gdb shows it, and decoding goes on after it.
"""

from __future__ import annotations

import struct
from typing import Any, Dict, Iterator, Optional, Tuple

from kdbg.arch.decoder import capstone_modules, disassembler

__all__ = ["decode"]

_MASK = (1 << 64) - 1
_WORD = 4


def _capstone() -> Tuple[Any, Any]:
    """capstone and its arm64 constants, imported on the first decode."""
    return capstone_modules("arm64")


def _decoder() -> Any:
    return disassembler("arm64")


def _target(insn: Any, branch: bool) -> Optional[int]:
    _, arm64 = _capstone()
    if not branch and insn.id not in (arm64.ARM64_INS_ADR, arm64.ARM64_INS_ADRP):
        return None
    imms = [op for op in insn.operands if op.type == arm64.ARM64_OP_IMM]
    return int(imms[-1].imm) & _MASK if imms else None


def decode(code: bytes, address: int, bug_bytes: int = 0) -> Iterator[Dict[str, Any]]:
    """The instructions of ``code`` (whole 32-bit words) at ``address`` in order
    (``bug_bytes`` is x86's: ignored)."""
    capstone, _ = _capstone()
    md = _decoder()
    for offset in range(0, len(code) - len(code) % _WORD, _WORD):
        word = code[offset:offset + _WORD]
        at = address + offset
        insn = next(md.disasm(word, at), None)
        if insn is None:
            (value,) = struct.unpack("<I", word)
            yield {"address": at, "size": _WORD, "bytes": word.hex(), "mnemonic": ".inst",
                   "operands": f"{value:#010x}", "asm": f".inst\t{value:#010x}", "branch": False, "target": None}
            continue
        branch = bool(insn.group(capstone.CS_GRP_JUMP) or insn.group(capstone.CS_GRP_CALL))
        target = _target(insn, branch)
        operands = insn.op_str
        if target is not None:
            operands = operands.replace(f"#{target:#x}", f"{target:#x}")
        yield {"address": at, "size": _WORD, "bytes": word.hex(), "mnemonic": insn.mnemonic, "operands": operands,
               "asm": f"{insn.mnemonic}\t{operands}" if operands else insn.mnemonic, "branch": branch,
               "target": target}
