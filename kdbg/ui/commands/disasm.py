"""``dis``: crash's disassembler, decoded by capstone (PyPI ``capstone``; kdbg's ``dis``
extra, in ``all``) from the kernel text in memory.

``dis SYMBOL|ADDRESS [COUNT]`` prints COUNT instructions (default: the whole routine when
the address is a function's start, else one); ``-r`` the routine's instructions from its
start up to and including the first at or past ADDRESS (crash's rule); ``-f`` from ADDRESS (the first instruction
at or after it, decoding from the routine's start) to the routine's end.
Each line is crash's (gdb's): ``0xADDRESS <symbol+offset>:`` and a tab, the mnemonic
padded to six and its operands, with direct ``call``/``jmp``/``jcc`` targets and
``%rip``-relative operands named as gdb names them (``0x... <schedule+54>``, offsets in
decimal). The instruction text is capstone's AT&T syntax (``movq 0x10(%rbp),%rax`` where
gdb writes ``mov``): addresses, lengths, targets and their names are gdb's.
A routine's end is the next symbol (kallsyms has no sizes) less the alignment padding
after its last instruction (trailing ``nop``s and ``int3``s), where gdb's ELF size ends.
``-l`` and ``-s`` (source lines) need DWARF and are refused in one line.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, Iterator, List, Optional, Tuple

from kdbg.errors import ExpressionError, KdbgError
from kdbg.ui.commands import CommandContext, argument, command
from kdbg.ui.commands.memory import address_arg, read_available

try:
    import capstone
except ImportError:  # pragma: no cover - the 'dis' extra is missing
    capstone = None

__all__ = ["disassemble", "dis_cmd"]

#: The longest x86 instruction.
_MAX_INSN = 15
#: How much ``dis -r``/``-f``/a whole routine reads when the symbol's size is unknown.
_MAX_ROUTINE = 1 << 16


def _label(prog: Any, address: int) -> str:
    """gdb's ``<symbol+offset>`` (decimal offset) for an address, or ``""``."""
    try:
        sym = prog.symbol(address)
    except KdbgError:
        return ""
    off = address - sym.address
    if sym.size is not None and off >= max(sym.size, 1):
        return ""
    return f"<{sym.name}+{off}>" if off else f"<{sym.name}>"


def _decoder() -> Any:
    if capstone is None:
        raise ExpressionError("dis needs capstone: pip install capstone (or kdbg's 'dis' extra)")
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    md.syntax = capstone.CS_OPT_SYNTAX_ATT
    md.detail = True
    return md


def _target(insn: Any) -> Optional[int]:
    """A direct branch's target, or a ``%rip``-relative operand's address."""
    x86 = capstone.x86
    branch = insn.group(capstone.CS_GRP_JUMP) or insn.group(capstone.CS_GRP_CALL)
    for op in insn.operands:
        if branch and op.type == x86.X86_OP_IMM:
            return int(op.imm) & ((1 << 64) - 1)
        if op.type == x86.X86_OP_MEM and op.mem.base == x86.X86_REG_RIP:
            return (insn.address + insn.size + op.mem.disp) & ((1 << 64) - 1)
    return None


def disassemble(prog: Any, address: int, size: int, count: Optional[int] = None) -> Iterator[Dict[str, Any]]:
    """Decode the instructions in ``[address, address + size)`` (at most ``count``):
    dicts of ``address``, ``size``, ``bytes``, ``mnemonic``, ``operands``, ``target``
    (a branch's or ``%rip``-relative operand's address, else ``None``) and ``text``
    (crash's line)."""
    md = _decoder()
    data, fault = read_available(prog, address, size, False)
    if not data and fault is not None:
        raise fault
    n = 0
    for insn in md.disasm(data, address):
        if count is not None and n >= count:
            return
        if insn.address + insn.size > address + len(data):
            break
        n += 1
        operands = insn.op_str.replace(", ", ",")
        target = _target(insn)
        text = f"{insn.mnemonic:<6} {operands}".rstrip() if operands else insn.mnemonic
        if target is not None:
            name = _label(prog, target)
            branch = insn.group(capstone.CS_GRP_JUMP) or insn.group(capstone.CS_GRP_CALL)
            if branch:
                text += f" {name}" if name else ""
            elif name:
                text += f"        # {target:#x} {name}"
        where = _label(prog, insn.address)
        yield {"address": insn.address, "size": insn.size, "bytes": bytes(insn.bytes).hex(),
               "mnemonic": insn.mnemonic, "operands": operands, "target": target,
               "text": f"{insn.address:#x}{' ' + where if where else ''}:\t{text}"}
    else:
        if fault is not None and (count is None or n < count):
            raise fault
        return
    if count is not None and n < count:
        raise ExpressionError(f"dis: cannot decode the instruction at {address + len(data):#x}")


def _routine(prog: Any, address: int) -> Tuple[int, int]:
    """``(start, size)`` of the text symbol containing ``address``."""
    try:
        sym = prog.symbol(address)
    except KdbgError as e:
        raise ExpressionError(f"dis: {address:#x} is in no routine: {e}") from None
    return sym.address, sym.size if sym.size is not None else _MAX_ROUTINE


def _trim_padding(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """A routine without the alignment padding after its last instruction (``nop``s and
    ``int3``s): kallsyms sizes run to the next symbol, the ELF size gdb uses does not."""
    end = len(rows)
    while end > 1 and (rows[end - 1]["mnemonic"].startswith("nop") or rows[end - 1]["mnemonic"] == "int3"):
        end -= 1
    return rows[:end]


@command("dis", "disassemble kernel text, as crash's dis (capstone)", arguments=[
    argument("address", metavar="ADDRESS|SYMBOL", help="where to start (hex, SYMBOL, SYMBOL+OFF)"),
    argument("count", metavar="COUNT", nargs="?", type=int,
             help="instructions (default: the routine from a function's start, else 1)"),
    argument("-r", dest="reverse", action="store_true",
             help="from the routine's start up to and including ADDRESS"),
    argument("-f", dest="forward", action="store_true", help="from ADDRESS to the routine's end"),
    argument("-l", dest="lines", action="store_true", help="source lines (needs DWARF: refused)"),
    argument("-s", dest="source", action="store_true", help="source listing (needs DWARF: refused)"),
    argument("--json", action="store_true", help="one JSON list of instructions"),
])
def dis_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Disassemble."""
    if args.lines or args.source:
        raise ExpressionError(f"dis {'-l' if args.lines else '-s'}: source lines need DWARF, which kdbg does not use")
    if args.reverse and args.forward:
        raise ExpressionError("dis: -r and -f exclude each other")
    if args.count is not None and args.count < 1:
        raise ExpressionError(f"dis: count {args.count} must be at least 1")
    _decoder()
    address = address_arg(prog, args.address)
    count = args.count
    rows: List[Dict[str, Any]]
    if args.reverse:
        start, _size = _routine(prog, address)
        rows = list(disassemble(prog, start, address - start + _MAX_INSN))
        # crash's rule: up to and including the first instruction at or past ADDRESS
        upto = rows[:next((i + 1 for i, r in enumerate(rows) if r["address"] >= address), len(rows))]
        rows = upto[-count:] if count is not None else upto
    elif args.forward or count is None:
        start, size = _routine(prog, address)
        if args.forward:  # decoded from the routine's start, as crash does: in step with it
            rows = [r for r in _trim_padding(list(disassemble(prog, start, size))) if r["address"] >= address]
            rows = rows[:count] if count is not None else rows
        elif start == address:
            rows = _trim_padding(list(disassemble(prog, address, size, count)))
        else:
            rows = list(disassemble(prog, address, _MAX_INSN, 1))
    else:
        rows = list(disassemble(prog, address, count * _MAX_INSN, count))
    if ctx.json or args.json:
        ctx.out.write(json.dumps(rows) + "\n")
        return
    for r in rows:
        ctx.out.write(r["text"] + "\n")
