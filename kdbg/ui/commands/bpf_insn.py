"""BPF instructions as crash's ``bpf -t``/``-T`` prints them (crash's ``dump_xlated_plain``
and ``print_bpf_insn``, which follow the kernel's ``kernel/bpf/disasm.c`` and bpftool).

Each instruction is ``% 4d: (CODE) TEXT``; a 64-bit immediate load takes two slots and
names a map by its ID (``map[id:N]``) where its value is a map's address; a helper call
is ``call NAME#IMM``, NAME from the kernel's ``func_id_str[]`` for a helper ID, else the
kernel function at ``__bpf_call_base + IMM`` (the verifier's inlined calls), else
``unknown``.  With *opcodes* (``-T``) each is followed by its bytes.
"""

from __future__ import annotations

import struct
from typing import Any, Callable, Dict, List, Optional

from kdbg.errors import KdbgError

__all__ = ["xlated_lines"]

_CLASS = ["ld", "ldx", "st", "stx", "alu", "jmp", "BUG", "alu64"]
_ALU = {0x0: "+=", 0x1: "-=", 0x2: "*=", 0x3: "/=", 0x4: "|=", 0x5: "&=", 0x6: "<<=", 0x7: ">>=", 0x8: "neg",
        0x9: "%=", 0xa: "^=", 0xb: "=", 0xc: "s>>=", 0xd: "endian"}
_SIZE = {0: "u32", 1: "u16", 2: "u8", 3: "u64"}
_JMP = {0x0: "jmp", 0x1: "==", 0x2: ">", 0xa: "<", 0x3: ">=", 0xb: "<=", 0x4: "&", 0x5: "!=", 0x6: "s>",
        0xc: "s<", 0x7: "s>=", 0xd: "s<=", 0x8: "call", 0x9: "exit"}
_LD_IMM_DW = 0x18
_PSEUDO_CALL = 1


def _hex(raw: bytes) -> str:
    """bpftool's ``fprint_hex`` of one 8-byte instruction."""
    return " ".join(f"{b:02x}" for b in raw)


def helper_namer(prog: Any) -> Callable[[int, int], str]:
    """``name(src_reg, imm)`` of a call instruction, as crash's ``__func_get_name``."""
    try:
        max_id = int(prog.constant("__BPF_FUNC_MAX_ID"))
    except (KdbgError, LookupError):
        max_id = 0
    cache: Dict[int, str] = {}

    def name(src: int, imm: int) -> str:
        if src == _PSEUDO_CALL:
            return f"{imm:+d}"
        if imm in cache:
            return cache[imm]
        found = "unknown"
        try:
            if 0 <= imm < max_id:
                table = prog.symbol("func_id_str").address
                ptr = prog.read_u64(table + 8 * imm)
                found = prog.read_c_string(ptr).decode(errors="replace") if ptr else ""
            else:
                target = (prog.symbol("__bpf_call_base").address + imm) & (1 << 64) - 1
                sym = prog.symbol(target)
                if sym.address == target:
                    found = sym.name
        except (KdbgError, LookupError):
            pass
        cache[imm] = found
        return found

    return name


def _text(insn: bytes, nxt: Optional[bytes], maps: Dict[int, int], call: Callable[[int, int], str]) -> str:
    code, regs, off, imm = struct.unpack("<BBhi", insn)
    dst, src = regs & 0xF, regs >> 4
    cls = code & 7
    op = code >> 4
    size = _SIZE[(code >> 3) & 3]
    mode = code & 0xE0
    head = f"({code:02x})"
    if cls in (4, 7):  # alu, alu64
        u32 = "(u32) " if cls == 4 else ""
        if op == 0xD:
            if cls == 7:
                return f"BUG_alu64_{code:02x}"
            return f"{head} r{dst} = {'be' if code & 8 else 'le'}{imm} r{dst}"
        if op == 0x8:
            return f"{head} r{dst} = {u32}-r{dst}"
        if code & 8:
            return f"{head} {u32}r{dst} {_ALU.get(op, '')} {u32}r{src}"
        return f"{head} {u32}r{dst} {_ALU.get(op, '')} {u32}{imm}"
    if cls == 3:  # stx
        if mode == 0x60:
            return f"{head} *({size} *)(r{dst} {off:+d}) = r{src}"
        if mode == 0xC0:
            return f"{head} lock *({size} *)(r{dst} {off:+d}) += r{src}"
        return f"BUG_{code:02x}"
    if cls == 2:  # st
        if mode != 0x60:
            return f"BUG_st_{code:02x}"
        return f"{head} *({size} *)(r{dst} {off:+d}) = {imm}"
    if cls == 1:  # ldx
        if mode != 0x60:
            return f"BUG_ldx_{code:02x}"
        return f"{head} r{dst} = *({size} *)(r{src} {off:+d})"
    if cls == 0:  # ld
        if mode == 0x20:
            return f"{head} r0 = *({size} *)skb[{imm}]"
        if mode == 0x40:
            return f"{head} r0 = *({size} *)skb[r{src} + {imm}]"
        if code == _LD_IMM_DW:
            high = struct.unpack_from("<i", nxt or bytes(8), 4)[0] if nxt else 0
            full = ((high & 0xFFFFFFFF) << 32) | (imm & 0xFFFFFFFF)
            return f"{head} r{dst} = " + (f"map[id:{maps[full]}]" if full in maps else f"{full:#x}")
        return f"BUG_ld_{code:02x}"
    if cls == 5:  # jmp
        if op == 0x8:
            if src == _PSEUDO_CALL:
                return f"{head} call pc{call(src, imm)}"
            return f"{head} call {call(src, imm)}#{imm}"
        if code == 0x05:
            return f"{head} goto pc{off:+d}"
        if code == 0x95:
            return f"{head} exit"
        if code & 8:
            return f"{head} if r{dst} {_JMP.get(op, '')} r{src} goto pc{off:+d}"
        return f"{head} if r{dst} {_JMP.get(op, '')} {imm & 0xFFFFFFFF:#x} goto pc{off:+d}"
    return f"{head} {_CLASS[cls]}"


def xlated_lines(data: bytes, maps: Dict[int, int], call: Callable[[int, int], str], opcodes: bool) -> List[str]:
    """crash's lines of the translated instructions *data* (``struct bpf_insn``s);
    *maps*: map address -> ID; *call*: :func:`helper_namer`; *opcodes*: ``-T``'s bytes."""
    out: List[str] = []
    n = len(data) // 8
    i = 0
    while i < n:
        insn = data[8 * i: 8 * i + 8]
        double = insn[0] == _LD_IMM_DW
        nxt = data[8 * i + 8: 8 * i + 16] if double and i + 1 < n else None
        out.append(f"{i: 4d}: {_text(insn, nxt, maps, call)}")
        if opcodes:
            out.append("       " + _hex(insn) + (" " + _hex(nxt) if nxt else ""))
        i += 2 if double else 1
    return out
