"""Symbol and memory commands: ``sym NAME|ADDRESS`` and ``rd [-p] [-8|-16|-32|-64] ADDRESS [COUNT]``.

Both take addresses in the one syntax of :mod:`kdbg.symbols.address` (bare or ``0x`` hex,
``0nDECIMAL``, ``SYMBOL``, ``SYMBOL+OFF``).
"""

from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from kdbg.core.program import Program
from kdbg.errors import ExpressionError, FaultError
from kdbg.symbols.address import parse_address
from kdbg.ui.commands import CommandContext, command, program_symbols, split_args

if TYPE_CHECKING:
    from kdbg.symbols.table import Symbol

__all__ = ["address_arg", "hexdump"]

_ADDRESS_HELP = ("ADDRESS is hex (ffffffff81000000 or 0x...), 0nDECIMAL, SYMBOL or "
                 "SYMBOL+OFF / SYMBOL-OFF (OFF hex or 0nDECIMAL); a word that is both a "
                 "symbol and hex (add, cafe) is the symbol, 0x forces the number")


def address_arg(prog: Program, text: str) -> int:
    """Parse a command's address argument (the one syntax, resolving names in ``prog``)."""
    return parse_address(text, program_symbols(prog))


def _sym_line(s: Symbol, offset: int = 0) -> str:
    where = s.name + (f"+{offset:#x}" if offset else "")
    if s.size is not None:
        where += f"/{s.size:#x}" if offset else f" size={s.size:#x}"
    mod = f" [{s.module}]" if s.module else ""
    return f"{s.address + offset:016x} ({s.type}) {where}{mod}"


def _sym_json(s: Symbol, offset: int = 0) -> Dict[str, object]:
    return {
        "name": s.name,
        "address": s.address,
        "type": s.type,
        "size": s.size,
        "module": s.module,
        "offset": offset,
    }


@command(
    "sym",
    "look a symbol up by name, or the symbol containing an address",
    "sym NAME|ADDRESS...  |  sym --percpu OFFSET...\n" + _ADDRESS_HELP,
)
def sym_cmd(prog: Program, args: str, ctx: CommandContext) -> None:
    """Print name, address, type letter and size (when known).

    A NAME lists every symbol of that name; anything else is an ADDRESS and prints the
    symbol containing it (an error when none does, as the kernel would print no symbol).
    ``--percpu`` takes per-CPU offsets (x86-64: the ``A`` symbols from 0).
    """
    words = split_args(args)
    percpu = "--percpu" in words
    words = [w for w in words if w != "--percpu"]
    if not words:
        raise ExpressionError("usage: sym NAME|ADDRESS... or sym --percpu OFFSET...")
    rows: List[Dict[str, object]] = []
    for w in words:
        hits: List[Tuple[Symbol, int]]
        if percpu:
            hits = [prog.symbol_table.symbolize_percpu(address_arg(prog, w))]
        else:
            found = prog.symbols(w)  # a name first: the syntax's own rule (modules' too)
            if found:
                hits = [(s, 0) for s in found]
            else:
                address = address_arg(prog, w)
                sym = prog.symbol(address)
                hits = [(sym, address - sym.address)]
        for s, off in hits:
            if ctx.json:
                rows.append(_sym_json(s, off))
            else:
                ctx.out.write(_sym_line(s, off) + "\n")
    if ctx.json:
        ctx.out.write(json.dumps(rows) + "\n")


def hexdump(data: bytes, address: int, width: int = 8, symbolize: Optional[Program] = None) -> List[str]:
    """crash-style lines: address, ``width``-byte little-endian words, ASCII."""
    fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}[width]
    per_line = 16
    out = []
    for i in range(0, len(data), per_line):
        chunk = data[i : i + per_line]
        n = len(chunk) // width
        words = struct.unpack_from(f"<{n}{fmt}", chunk)
        cells = " ".join(f"{w:0{width * 2}x}" for w in words)
        ascii_ = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        pad = " " * ((per_line // width - n) * (width * 2 + 1))
        out.append(f"{address + i:016x}:  {cells}{pad}   {ascii_}")
    return out


@command(
    "rd",
    "hex dump of kernel memory (virtual; -p physical)",
    "rd [-p] [-8|-16|-32|-64] ADDRESS [COUNT]\n" + _ADDRESS_HELP + "; COUNT is decimal or 0x hex",
)
def rd_cmd(prog: Program, args: str, ctx: CommandContext) -> None:
    """Read COUNT units (default 1) of the given width (default 64 bits) and dump them."""
    words = split_args(args)
    physical = False
    width = 8
    rest: List[str] = []
    for w in words:
        if w == "-p":
            physical = True
        elif w in ("-8", "-16", "-32", "-64"):
            width = int(w[1:]) // 8
        else:
            rest.append(w)
    if not rest or len(rest) > 2:
        raise ExpressionError("usage: rd [-p] [-8|-16|-32|-64] ADDRESS [COUNT]")
    addr = address_arg(prog, rest[0])
    try:
        count = int(rest[1], 0) if len(rest) > 1 else 1
    except ValueError:
        raise ExpressionError(f"bad count {rest[1]!r}") from None
    if not 0 < count <= 1 << 20:
        raise ExpressionError(f"count {count} out of range (1..{1 << 20})")
    size = count * width
    # Read page by page so a fault shows what was readable before it.
    data = bytearray()
    fault: Optional[FaultError] = None
    pos = addr
    end = addr + size
    while pos < end:
        step = min(end - pos, 4096 - (pos & 4095))
        try:
            data += prog.read(pos, step, physical)
        except FaultError as e:
            fault = e
            break
        pos += step
    for line in hexdump(bytes(data[: len(data) - len(data) % width]), addr, width):
        ctx.out.write(line + "\n")
    if fault is not None:
        raise fault
