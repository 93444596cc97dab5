"""Symbol and memory commands: ``sym NAME|ADDRESS`` and ``rd [-p] [-8|-16|-32|-64] ADDRESS [COUNT]``."""

from __future__ import annotations

import json
import re
import struct
from typing import TYPE_CHECKING, Dict, List, Optional

from kdbg.commands import CommandContext, command, split_args
from kdbg.errors import ExpressionError, FaultError, SymbolNotFoundError
from kdbg.program import Program

if TYPE_CHECKING:
    from kdbg.symbols.table import Symbol

__all__ = ["parse_address", "hexdump"]

_ADDR = re.compile(r"^\s*([A-Za-z_.$][\w.$]*)?\s*(?:([+-])?\s*(0[xX][0-9a-fA-F]+|\d+|[0-9a-fA-F]+))?\s*$")


def parse_address(prog: Program, text: str) -> int:
    """An address from ``0xffff...``, bare hex, ``symbol`` or ``symbol+0x10``."""
    text = text.strip()
    m = _ADDR.match(text)
    if not text or m is None:
        raise ExpressionError(f"bad address {text!r}: want a number, a symbol or symbol+offset")
    name, sign, num = m.groups()
    if name is not None and num is not None and sign is None:
        raise ExpressionError(f"bad address {text!r}: want a number, a symbol or symbol+offset")
    if name is None:
        assert num is not None
        base = 16 if not num.isdigit() or len(num) > 10 else 10
        return int(num, 0) if num.lower().startswith("0x") else int(num, base)
    addr = prog.symbols.lookup(name).address
    if num is not None:
        off = int(num, 0)
        addr = addr + off if sign == "+" else addr - off
    return addr


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


@command("sym", "look a symbol up by name, or the symbol containing an address", "sym NAME|ADDRESS...")
def sym_cmd(prog: Program, args: str, ctx: CommandContext) -> None:
    """Print name, address, type letter and size (when known)."""
    words = split_args(args)
    if not words:
        raise ExpressionError("usage: sym NAME|ADDRESS...")
    rows: List[Dict[str, object]] = []
    for w in words:
        if re.match(r"^(0[xX])?[0-9a-fA-F]+$", w) and (w.lower().startswith("0x") or len(w) >= 8):
            addr = int(w, 16)
            sym, off = prog.symbols.symbolize(addr)
            hits = [(sym, off)]
        else:
            found = prog.symbols.lookup_all(w)
            if not found:
                raise SymbolNotFoundError(f"no symbol {w!r}")
            hits = [(s, 0) for s in found]
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
    "rd [-p] [-8|-16|-32|-64] ADDRESS|SYMBOL[+OFF] [COUNT]",
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
    addr = parse_address(prog, rest[0])
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
