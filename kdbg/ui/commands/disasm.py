"""``dis``: crash's disassembler, decoded by capstone (PyPI ``capstone``; kdbg's ``dis``
extra, in ``all``) from the kernel text in memory, with the dumped machine's decoder
(:func:`kdbg.arch.instruction_decoder`: x86-64 in gdb's AT&T spelling, arm64 in gdb's).

``dis -u ADDRESS [COUNT]``: user text of the current context (``set PID``), read through
its page tables, without symbols (COUNT instructions, default 1; ``-r``/``-f`` do not
apply). ``dis -b NUM``: skip NUM bytes after each ``ud2`` for the rest of the session
(crash's, for old kernels' ``BUG()`` data; x86-64 only); ``dis -b`` alone shows it.

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

from kdbg.arch import X86_64, instruction_decoder
from kdbg.core.platform import machine_of
from kdbg.errors import ExpressionError, KdbgError
from kdbg.ui.commands import CommandContext, argument, command
from kdbg.ui.commands.context import current_mm
from kdbg.ui.commands.memory import address_arg, read_available

__all__ = ["disassemble", "dis_cmd"]

#: The longest instruction (x86's; arm64's are 4 bytes).
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


def _decoder(prog: Any) -> Any:
    decode, why = instruction_decoder(machine_of(prog))
    if decode is None:
        raise ExpressionError(f"dis: {why}")
    return decode


def disassemble(prog: Any, address: int, size: int, count: Optional[int] = None, mm: Any = None,
                bug_bytes: int = 0) -> Iterator[Dict[str, Any]]:
    """Decode the instructions in ``[address, address + size)`` (at most ``count``;
    ``mm``: user memory of that ``struct mm_struct *``, shown without symbols): the
    architecture decoder's dicts (:func:`kdbg.arch.instruction_decoder`: ``address``,
    ``size``, ``bytes``, ``mnemonic``, ``operands``, ``target``, ...) with ``text``,
    crash's line."""
    decode = _decoder(prog)
    data, fault = read_available(prog, address, size, False, mm)
    if not data and fault is not None:
        raise fault
    label = (lambda _a: "") if mm is not None else (lambda a: _label(prog, a))
    n = 0
    for insn in decode(data, address, bug_bytes):
        if count is not None and n >= count:
            return
        if insn["address"] + insn["size"] > address + len(data):
            break
        n += 1
        text = insn.pop("asm")
        branch = insn.pop("branch")
        target = insn["target"]
        if target is not None:
            name = label(target)
            if branch:
                text += f" {name}" if name else ""
            elif name and machine_of(prog) == X86_64:
                text += f"        # {target:#x} {name}"
        where = label(insn["address"])
        insn["text"] = f"{insn['address']:#x}{' ' + where if where else ''}:\t{text}"
        yield insn
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



@command("dis", "disassemble kernel text (-u: user text), as crash's dis (capstone)", arguments=[
    argument("address", metavar="ADDRESS|SYMBOL", nargs="?", help="where to start (hex, SYMBOL, SYMBOL+OFF)"),
    argument("count", metavar="COUNT", nargs="?", type=int,
             help="instructions (default: the routine from a function's start, else 1)"),
    argument("-r", dest="reverse", action="store_true",
             help="from the routine's start up to and including ADDRESS"),
    argument("-f", dest="forward", action="store_true", help="from ADDRESS to the routine's end"),
    argument("-u", dest="user", action="store_true",
             help="ADDRESS is a user address of the current context (set PID); -r and -f do not apply"),
    argument("-b", dest="bug_bytes", metavar="NUM", nargs="?", const=-1, type=int,
             help="bytes to skip after each ud2 for the rest of the session (x86-64); alone: show it"),
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
    if args.bug_bytes is not None:
        if machine_of(prog) != X86_64:
            raise ExpressionError(f"dis -b: bytes after ud2 are x86-64's; this is {machine_of(prog)}")
        if args.bug_bytes == -1:
            if args.address is not None:
                raise ExpressionError("dis -b: give NUM (dis -b NUM ADDRESS), or -b alone to show it")
            ctx.out.write(f"encoded bytes being skipped after ud2a: {ctx.settings.bug_bytes}\n")
            return
        if args.bug_bytes < 0:
            raise ExpressionError(f"dis -b: {args.bug_bytes} bytes cannot be skipped")
        ctx.settings.bug_bytes = args.bug_bytes
        if args.address is None:
            return
    if args.address is None:
        raise ExpressionError("dis: give an ADDRESS or SYMBOL (usage: dis [-rfu] [-b NUM] ADDRESS [COUNT])")
    _decoder(prog)
    count = args.count
    bug = ctx.settings.bug_bytes
    rows: List[Dict[str, Any]]
    if args.user:
        try:
            address = int(args.address, 16)
        except ValueError:
            raise ExpressionError(f"dis -u: {args.address!r} is not a hexadecimal user address") from None
        n = count or 1
        rows = list(disassemble(prog, address, n * _MAX_INSN, n, current_mm(prog, ctx, "dis -u"), bug))
        _write(ctx, args, rows)
        return
    address = address_arg(prog, args.address)
    if args.reverse:
        start, _size = _routine(prog, address)
        rows = list(disassemble(prog, start, address - start + _MAX_INSN, bug_bytes=bug))
        # crash's rule: up to and including the first instruction at or past ADDRESS
        upto = rows[:next((i + 1 for i, r in enumerate(rows) if r["address"] >= address), len(rows))]
        rows = upto[-count:] if count is not None else upto
    elif args.forward or count is None:
        start, size = _routine(prog, address)
        if args.forward:  # decoded from the routine's start, as crash does: in step with it
            rows = [r for r in _trim_padding(list(disassemble(prog, start, size, bug_bytes=bug)))
                    if r["address"] >= address]
            rows = rows[:count] if count is not None else rows
        elif start == address:
            rows = _trim_padding(list(disassemble(prog, address, size, count, bug_bytes=bug)))
        else:
            rows = list(disassemble(prog, address, _MAX_INSN, 1, bug_bytes=bug))
    else:
        rows = list(disassemble(prog, address, count * _MAX_INSN, count, bug_bytes=bug))
    _write(ctx, args, rows)


def _write(ctx: CommandContext, args: argparse.Namespace, rows: List[Dict[str, Any]]) -> None:
    if ctx.json or args.json:
        ctx.out.write(json.dumps(rows) + "\n")
        return
    for r in rows:
        ctx.out.write(r["text"] + "\n")
