"""Symbol and memory commands: ``sym NAME|ADDRESS`` and crash's ``rd`` (``rd [-adDsSpuxNR]
[-8|-16|-32|-64] [-o OFFS] [-e END] ADDRESS [COUNT]``, crash's layout: address, words, ASCII).

``rd -u`` reads user memory of the current context's task (``set PID``; an address below
the kernel's half is user memory without ``-u`` too, as crash takes it), through its page
tables (:func:`kdbg.helpers.addrspace.access_remote_vm`); such addresses, like physical
ones, print right-aligned in 16 columns.  ``rd -R`` shows COUNT units up to and including
ADDRESS (crash's reverse order: the start moves back by COUNT - 1 units).

Both take addresses in the one syntax of :mod:`kdbg.symbols.address` (bare or ``0x`` hex,
``0nDECIMAL``, ``SYMBOL``, ``SYMBOL+OFF``).
"""

from __future__ import annotations

import argparse
import json
import struct
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from kdbg.core.program import Program
from kdbg.errors import ExpressionError, FaultError, KdbgError
from kdbg.helpers.addrspace import access_remote_vm
from kdbg.helpers.slab import find_containing_slab_cache
from kdbg.symbols.address import parse_address
from kdbg.ui.commands import CommandContext, argument, command, program_symbols
from kdbg.ui.commands.context import current_mm
from kdbg.ui.commands.symlist import matching_symbols, module_listing, symbol_listing

if TYPE_CHECKING:
    from kdbg.symbols.table import Symbol

__all__ = ["address_arg", "hexdump", "read_available", "symbol_lines", "symbolic"]

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


@command("sym", "look a symbol up by name or address; -l every symbol, -m a module's, -q names containing a string",
         usage="sym NAME|ADDRESS...  |  sym -l  |  sym -m MODULE  |  sym -q STRING  |  sym --percpu OFFSET...\n"
               + _ADDRESS_HELP,
         arguments=[
             argument("words", metavar="ADDRESS|SYMBOL", nargs="*", help=_ADDRESS_HELP),
             argument("-l", dest="all", action="store_true", help="every symbol, modules' between MODULE START/END"),
             argument("-m", dest="module", metavar="MODULE", help="the symbols of this module"),
             argument("-q", dest="strings", metavar="STRING", action="append", help="symbols named with STRING"),
             argument("--percpu", action="store_true", help="the words are per-CPU offsets"),
             argument("--json", action="store_true", help="the symbols as a list of JSON objects"),
         ])
def sym_cmd(prog: Program, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print name, address, type letter and size (when known).

    A NAME lists every symbol of that name; anything else is an ADDRESS and prints the
    symbol containing it (an error when none does, as the kernel would print no symbol).
    ``--percpu`` takes per-CPU offsets (x86-64: the ``A`` symbols from 0).  ``-l``,
    ``-m`` and ``-q`` list symbols as crash does (:mod:`kdbg.ui.commands.symlist`).
    """
    as_json = ctx.json or args.json
    if args.all or args.module is not None or args.strings:
        if args.words or args.percpu or sum((args.all, args.module is not None, bool(args.strings))) > 1:
            raise ExpressionError("sym: -l, -m and -q take no other words or options (usage: sym -l | sym -m MODULE "
                                  "| sym -q STRING)")
        if args.all:
            entries = symbol_listing(prog)
        elif args.module is not None:
            entries = module_listing(prog, args.module)
        else:
            entries = matching_symbols(prog, args.strings)
        if as_json:
            ctx.out.write(json.dumps([e.as_json() for e in entries]) + "\n")
        else:
            ctx.out.writelines(e.line(module_suffix=bool(args.strings)) + "\n" for e in entries)
        return
    if not args.words:
        raise ExpressionError("usage: sym NAME|ADDRESS... or sym -l, -m MODULE, -q STRING, --percpu OFFSET...")
    rows: List[Dict[str, object]] = []
    for w in args.words:
        hits: List[Tuple[Symbol, int]]
        if args.percpu:
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
            if as_json:
                rows.append(_sym_json(s, off))
            else:
                ctx.out.write(_sym_line(s, off) + "\n")
    if as_json:
        ctx.out.write(json.dumps(rows) + "\n")


def hexdump(data: bytes, address: int, width: int = 8, ascii_: bool = True, physical: bool = False,
            big_endian: bool = False) -> List[str]:
    """crash's ``rd`` lines: the address (physical ones right-aligned in 16), then 16 bytes
    as ``width``-byte words in hexadecimal, each followed by a space, then (``ascii_``) two
    spaces and the bytes as ASCII (``.`` for the unprintable)."""
    fmt = ("<>"[big_endian]) + {1: "B", 2: "H", 4: "I", 8: "Q"}[width]
    out = []
    for i in range(0, len(data), _PER_LINE):
        chunk = data[i : i + _PER_LINE]
        n = len(chunk) // width
        words = struct.unpack_from(f"{fmt[0]}{n}{fmt[1]}", chunk)
        cells = "".join(f"{w:0{width * 2}x} " for w in words)
        line = f"{_where(address + i, physical)}:  {cells}"
        if ascii_:
            pad = " " * ((_PER_LINE // width - n) * (width * 2 + 1))
            shown = b"".join(w.to_bytes(width, "little") for w in words) if big_endian else chunk
            line += pad + "  " + "".join(chr(b) if 32 <= b < 127 else "." for b in shown)
        out.append(line)
    return out


_PER_LINE = 16
#: crash's decimal cells by unit size: (signed width, unsigned width).
_DEC_WIDTH = {8: (15, 20), 4: (12, 12), 2: (5, 5), 1: (3, 3)}
#: Characters of one ``rd -a`` line.
_ASCII_LINE = 60
#: How far ``rd -a`` without a count looks for the string's end.
_ASCII_MAX = 4096


def _where(address: int, physical: bool) -> str:
    return f"{address:16x}" if physical else f"{address:016x}"


def read_available(prog: Program, address: int, size: int, physical: bool,
                   mm: Any = None) -> Tuple[bytes, Optional[FaultError]]:
    """Read page by page: what was readable before a fault, and the fault (``mm``: user
    memory of that ``struct mm_struct *``)."""
    data = bytearray()
    pos, end = address, address + size
    while pos < end:
        step = min(end - pos, 4096 - (pos & 4095))
        try:
            data += access_remote_vm(mm, pos, step) if mm is not None else prog.read(pos, step, physical)
        except FaultError as e:
            return bytes(data), e
        pos += step
    return bytes(data), None


def symbolic(prog: Program, value: int, slab: int = 0) -> Optional[str]:
    """crash's ``rd -s`` cell for a word: ``symbol`` or ``symbol+OFFSET`` (decimal) when
    the word is inside a kernel or module symbol; with ``slab`` (``-S``, ``-SS``) a slab
    object's cache as ``[cache]`` (``[value:cache]``); else ``None``."""
    if value >> 63:
        try:
            sym = prog.symbol(value)
        except KdbgError:
            sym = None
        if sym is not None and sym.type not in ("A", "a") and (sym.size is None or value - sym.address < sym.size):
            off = value - sym.address
            return sym.name + (f"+{off}" if off else "")
        if slab:
            try:
                cache = find_containing_slab_cache(prog, value)
                name = cache.name.string_().decode("utf-8", "replace") if int(cache) else None
            except KdbgError:
                name = None
            if name is not None:
                return f"[{value:x}:{name}]" if slab > 1 else f"[{name}]"
    return None


def symbol_lines(prog: Program, data: bytes, address: int, slab: int = 0, physical: bool = False) -> List[str]:
    """crash's ``rd -s`` lines (``-S``/``-SS`` with ``slab``): the 64-bit words of
    ``data``, two a line, each inside a symbol as :func:`symbolic` names it, else in hex."""
    out = []
    for i in range(0, len(data) - len(data) % 8, _PER_LINE):
        words = struct.unpack_from(f"<{min(_PER_LINE, len(data) - i) // 8}Q", data, i)
        cells = "".join(f"{symbolic(prog, w, slab) or format(w, '016x'):<16} " for w in words)
        out.append(f"{_where(address + i, physical)}:  {cells}")
    return out


def _dec_cells(data: bytes, args: argparse.Namespace, width: int) -> List[str]:
    fmt = ("<>"[args.network]) + {1: "B", 2: "H", 4: "I", 8: "Q"}[width]
    n = len(data) // width
    words = struct.unpack_from(f"{fmt[0]}{n}{fmt[1]}", data)
    signed_w, unsigned_w = _DEC_WIDTH[width]
    if args.udec:
        return [f"{w:{unsigned_w}d} " for w in words]
    bits = width * 8
    return [f"{w - (1 << bits) if w >> (bits - 1) else w:{signed_w}d} " for w in words]


def _ascii_lines(data: bytes, address: int, physical: bool) -> List[str]:
    text = "".join(chr(b) if 32 <= b < 127 else "." for b in data)
    return [f"{_where(address + i, physical)}:  {text[i:i + _ASCII_LINE]}" for i in range(0, len(text), _ASCII_LINE)]


@command("rd", "read memory, as crash's rd (hex words with ASCII; -s symbols, -a strings, -p physical)",
         arguments=[
             argument("address", metavar="ADDRESS|SYMBOL", help=_ADDRESS_HELP),
             argument("count", metavar="COUNT", nargs="?",
                      help="units to show (decimal or 0x hex; default 1, -a: to the string's end)"),
             argument("-p", dest="physical", action="store_true", help="ADDRESS is physical"),
             argument("-u", dest="user", action="store_true",
                      help="ADDRESS is a user address of the current context (set PID)"),
             argument("-R", dest="reverse", action="store_true",
                      help="reverse: COUNT units up to and including ADDRESS"),
             argument("-8", dest="width", action="store_const", const=1, help="8-bit units"),
             argument("-16", dest="width", action="store_const", const=2, help="16-bit units"),
             argument("-32", dest="width", action="store_const", const=4, help="32-bit units"),
             argument("-64", dest="width", action="store_const", const=8, help="64-bit units (the default)"),
             argument("-d", dest="dec", action="store_true", help="signed decimal"),
             argument("-D", dest="udec", action="store_true", help="unsigned decimal"),
             argument("-x", dest="no_ascii", action="store_true", help="no ASCII column"),
             argument("-s", dest="symbols", action="store_true", help="words that are symbols as symbol+offset"),
             argument("-S", dest="slab", action="count", default=0,
                      help="-s, and slab objects as [cache] (-SS: [value:cache])"),
             argument("-a", dest="ascii", action="store_true", help="ASCII characters (a string)"),
             argument("-N", dest="network", action="store_true", help="network byte order (16- and 32-bit units)"),
             argument("-o", dest="offset", metavar="OFFS", help="start OFFS bytes after ADDRESS"),
             argument("-e", dest="end", metavar="END", help="read up to END (an address)"),
             argument("--json", action="store_true", help="one JSON list of {address, value}"),
         ])
def rd_cmd(prog: Program, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Read memory and print it as crash does; what was readable before a fault, then the fault."""
    width = args.width or 8
    if (args.symbols or args.slab) and width != 8:
        raise ExpressionError("rd: -s and -S show 64-bit words only")
    if args.network and width not in (2, 4):
        raise ExpressionError("rd: -N is for 16- and 32-bit units")
    if sum(map(bool, (args.dec or args.udec, args.symbols or args.slab, args.ascii))) > 1:
        raise ExpressionError("rd: choose one of -d/-D, -s/-S and -a")
    addr = address_arg(prog, args.address)
    if args.offset is not None:
        addr += _number(args.offset, "offset")
    if args.count is not None and args.end is not None:
        raise ExpressionError("rd: give COUNT or -e END, not both")
    unit = 1 if args.ascii else width
    if args.end is not None:
        end = address_arg(prog, args.end)
        if end <= addr:
            raise ExpressionError(f"rd: -e {args.end} is not after {addr:#x}")
        count = (end - addr + unit - 1) // unit
    elif args.count is not None:
        count = _number(args.count, "count")
    else:
        count = 0 if args.ascii else 1
    if not 0 <= count <= 1 << 20 or (count == 0 and not args.ascii):
        raise ExpressionError(f"rd: count {count} out of range (1..{1 << 20})")
    if args.reverse:
        if args.end is not None:
            raise ExpressionError("rd: -R counts back from ADDRESS: give COUNT, not -e END")
        count = count or 1
        addr -= (count - 1) * unit
    mm = _user_mm(prog, ctx, args, addr)
    padded = args.physical or mm is not None
    as_json = ctx.json or args.json
    if args.ascii:
        data, fault = read_available(prog, addr, count or _ASCII_MAX, args.physical, mm)
        if not count:
            stop = next((i for i, b in enumerate(data) if not 32 <= b < 127), None)
            if stop is not None:
                data, fault = data[:stop], None
        elif 0 in data:
            data = data[:data.index(0)]
            fault = None
        if as_json:
            ctx.out.write(json.dumps({"address": addr, "string": data.decode("latin-1")}) + "\n")
        else:
            for line in _ascii_lines(data, addr, padded):
                ctx.out.write(line + "\n")
        if fault is not None:
            raise fault
        return
    data, fault = read_available(prog, addr, count * width, args.physical, mm)
    data = data[: len(data) - len(data) % width]
    if as_json:
        fmt = ("<>"[args.network]) + {1: "B", 2: "H", 4: "I", 8: "Q"}[width]
        n = len(data) // width
        values = struct.unpack_from(f"{fmt[0]}{n}{fmt[1]}", data)
        ctx.out.write(json.dumps([{"address": addr + i * width, "value": v} for i, v in enumerate(values)]) + "\n")
    elif args.symbols or args.slab:
        for line in symbol_lines(prog, data, addr, args.slab, padded):
            ctx.out.write(line + "\n")
    elif args.dec or args.udec:
        for i in range(0, len(data), _PER_LINE):
            cells = _dec_cells(data[i:i + _PER_LINE], args, width)
            ctx.out.write(f"{_where(addr + i, padded)}:  {''.join(cells)}\n")
    else:
        for line in hexdump(data, addr, width, not args.no_ascii, padded, args.network):
            ctx.out.write(line + "\n")
    if fault is not None:
        raise fault


def _user_mm(prog: Program, ctx: CommandContext, args: argparse.Namespace, addr: int) -> Any:
    """The ``struct mm_struct *`` whose user memory ``rd`` reads (``-u``, or an address
    in the lower half without ``-p``, as crash), else ``None``."""
    if args.user and args.physical:
        raise ExpressionError("rd: give -u or -p, not both")
    if not args.user and (args.physical or addr >> 63):
        return None
    return current_mm(prog, ctx, f"rd: {addr:#x} is a user address")


def _number(text: str, what: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise ExpressionError(f"rd: bad {what} {text!r} (decimal, or 0x hex)") from None
