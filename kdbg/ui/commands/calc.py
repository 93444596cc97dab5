"""crash's calculators and page-table commands: ``eval``, ``ascii``, ``btop``, ``ptob``, ``ptov``, ``vtop``, ``pte``.

``eval [-b] EXPRESSION``: crash's integer expressions (``+ - * / % & | ^ << >>``,
parentheses, ``~``; numbers decimal, ``0x`` hex, or hex where a letter makes it obvious,
with ``k``/``m``/``g`` suffixes; symbols are their addresses), printed as crash prints
them: hexadecimal (with ``(16388KB)`` for whole kilo-, mega- or gigabytes), decimal (and
the signed value when the top bit is set), octal, 64-bit binary, and with ``-b`` the bits
set. ``ascii VALUE...`` shows hex values as the characters they hold (little-endian, as
in memory); with no value, crash's ASCII chart. ``btop ADDRESS...`` and ``ptob PFN...``
convert between bytes and page frames with the kernel's page size; ``ptov PHYSICAL...``
gives the direct map's virtual address (:func:`kdbg.helpers.mm.phys_to_virt`).
``vtop ADDRESS...`` shows the kernel page-table walk of each address level by level as
crash prints it on the dump's machine (the one walker:
:func:`kdbg.helpers.addrspace.page_table_walk`; the levels' names and lines, x86-64's or
arm64's, from :func:`kdbg.arch.vtop_walk_lines`), the leaf entry's flags, and the
``struct page`` of the frame; ``pte ENTRY...`` decodes entries as crash's ``pte`` does
(:func:`kdbg.arch.pte_fields`: the frame and swap layout by the translator's rules,
:func:`kdbg.helpers.addrspace.page_table_leaf`).
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any, List, Tuple

from kdbg.arch import PteFields, page_table_level_names, pte_fields, vtop_walk_lines
from kdbg.core.platform import machine_of
from kdbg.errors import ExpressionError, KdbgError
from kdbg.helpers.addrspace import page_table_leaf, page_table_walk
from kdbg.helpers.mm import PFN_PHYS, PHYS_PFN, memory_map, page_flag_names, pfn_to_page, phys_to_virt
from kdbg.helpers.swap import swap_file_path
from kdbg.ui.commands import CommandContext, argument, command

__all__ = ["crash_number", "evaluate"]

_MASK = (1 << 64) - 1
_SUFFIX = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_TOKEN = re.compile(r"\s*(<<|>>|[-+*/%&|^~()]|[A-Za-z0-9_.$]+)")
#: Binary operators by C precedence (lowest first).
_LEVELS = [("|",), ("^",), ("&",), ("<<", ">>"), ("+", "-"), ("*", "/", "%")]


def crash_number(word: str) -> int:
    """A number as crash reads it: ``0x`` hex, decimal digits, or hex where its letters
    make it obvious; a ``k``/``m``/``g`` suffix multiplies. ``ValueError`` otherwise."""
    text, mult = word, 1
    if text and text[-1].lower() in _SUFFIX and len(text) > 1:
        text, mult = text[:-1], _SUFFIX[text[-1].lower()]
    if text.lower().startswith("0x"):
        return int(text[2:], 16) * mult
    if text.isdigit():
        return int(text) * mult
    if re.fullmatch(r"[0-9a-fA-F]+", text) and text[0].isdigit():
        return int(text, 16) * mult
    raise ValueError(word)


class _Parser:
    def __init__(self, prog: Any, text: str) -> None:
        self.prog = prog
        self.text = text
        self.tokens: List[str] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                if text[pos:].strip():
                    raise ExpressionError(f"eval: cannot read {text[pos:].strip()!r} in {text!r}")
                break
            self.tokens.append(m.group(1))
            pos = m.end()
        self.pos = 0

    def peek(self) -> str:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ""

    def take(self) -> str:
        tok = self.peek()
        if not tok:
            raise ExpressionError(f"eval: {self.text!r} ends too early")
        self.pos += 1
        return tok

    def parse(self) -> int:
        value = self.binary(0)
        if self.peek():
            raise ExpressionError(f"eval: unexpected {self.peek()!r} in {self.text!r}")
        return value

    def binary(self, level: int) -> int:
        if level == len(_LEVELS):
            return self.unary()
        value = self.binary(level + 1)
        while self.peek() in _LEVELS[level]:
            op = self.take()
            right = self.binary(level + 1)
            value = _apply(op, value, right, self.text)
        return value

    def unary(self) -> int:
        tok = self.take()
        if tok == "~":
            return ~self.unary() & _MASK
        if tok == "-":
            return -self.unary() & _MASK
        if tok == "+":
            return self.unary()
        if tok == "(":
            value = self.binary(0)
            if self.take() != ")":
                raise ExpressionError(f"eval: missing ')' in {self.text!r}")
            return value
        try:
            return crash_number(tok) & _MASK
        except ValueError:
            pass
        try:
            return int(self.prog.symbol(tok).address)
        except (KdbgError, LookupError):
            raise ExpressionError(f"eval: {tok!r} is neither a number nor a symbol") from None


def _apply(op: str, a: int, b: int, text: str) -> int:
    if op in ("/", "%") and b == 0:
        raise ExpressionError(f"eval: division by zero in {text!r}")
    result = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a // b,
              "%": lambda: a % b, "&": lambda: a & b, "|": lambda: a | b, "^": lambda: a ^ b,
              "<<": lambda: a << b if b < 64 else 0, ">>": lambda: a >> b}[op]()
    return result & _MASK


def evaluate(prog: Any, text: str) -> int:
    """The 64-bit value of a crash ``eval`` expression."""
    return _Parser(prog, text).parse()


def _shorthand(value: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if value and value % size == 0:
            return f"  ({value // size}{unit})"
    return "  "


def eval_lines(value: int, bits: bool) -> List[str]:
    """crash's ``eval`` output for a 64-bit value."""
    dec = f"{value}  " + (f"({value - (1 << 64)})" if value >> 63 else "")
    lines = [f"hexadecimal: {value:x}{_shorthand(value)}", f"    decimal: {dec}", f"      octal: {value:o}",
             f"     binary: {value:064b}"]
    if bits:
        lines.append("   bits set: " + "".join(f"{i} " for i in range(63, -1, -1) if value >> i & 1))
    return lines


@command("eval", "evaluate an integer expression, as crash's eval", arguments=[
    argument("expression", metavar="EXPRESSION", nargs="+", help="e.g. 16m + 0x1000, (1 << 27), jiffies + 8"),
    argument("-b", dest="bits", action="store_true", help="also list the bits set"),
    argument("-l", dest="long", action="store_true", help="64-bit operands (always: kdbg is 64-bit)"),
    argument("--json", action="store_true", help="one JSON object"),
])
def eval_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print the value in crash's radixes."""
    value = evaluate(prog, " ".join(args.expression))
    if ctx.json or args.json:
        ctx.out.write(json.dumps({"value": value, "signed": value - (1 << 64) if value >> 63 else value,
                                  "bits": [i for i in range(64) if value >> i & 1]}) + "\n")
        return
    ctx.out.write("\n".join(eval_lines(value, args.bits)) + "\n")


#: crash's ASCII chart, as ``ascii`` with no argument prints it.
ASCII_CHART = r"""
      0    1   2   3   4   5   6   7
    +-------------------------------
  0 | NUL DLE  SP  0   @   P   '   p
  1 | SOH DC1  !   1   A   Q   a   q
  2 | STX DC2  "   2   B   R   b   r
  3 | ETX DC3  #   3   C   S   c   s
  4 | EOT DC4  $   4   D   T   d   t
  5 | ENQ NAK  %   5   E   U   e   u
  6 | ACK SYN  &   6   F   V   f   v
  7 | BEL ETB  `   7   G   W   g   w
  8 |  BS CAN  (   8   H   X   h   x
  9 |  HT  EM  )   9   I   Y   i   y
  A |  LF SUB  *   :   J   Z   j   z
  B |  VT ESC  +   ;   K   [   k   {
  C |  FF  FS  ,   <   L   \   l   |
  D |  CR  GS  _   =   M   ]   m   }
  E |  SO  RS  .   >   N   ^   n   ~
  F |  SI  US  /   ?   O   -   o  DEL

"""


def _hex_words(words: List[str], cmd: str) -> List[Tuple[str, int]]:
    out = []
    for w in words:
        try:
            out.append((w, int(w[2:] if w.lower().startswith("0x") else w, 16)))
        except ValueError:
            raise ExpressionError(f"{cmd}: {w!r} is not a hexadecimal value") from None
        if out[-1][1] >> 64:
            raise ExpressionError(f"{cmd}: {w!r} is wider than 64 bits")
    return out


@command("ascii", "hex values as the characters they hold (no value: an ASCII chart), as crash's ascii",
         arguments=[argument("values", metavar="VALUE", nargs="*", help="hexadecimal values")])
def ascii_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Translate values to characters."""
    if not args.values:
        ctx.out.write(ASCII_CHART)
        return
    for word, value in _hex_words(args.values, "ascii"):
        data = value.to_bytes(8, "little").rstrip(b"\0")
        text = "".join(chr(b) if 32 <= b < 127 else f"<{b:x}>" for b in data)
        ctx.out.write(f"{word}: {text}\n")


@command("btop", "bytes to page frame number, as crash's btop",
         arguments=[argument("addresses", metavar="ADDRESS", nargs="+", help="hexadecimal addresses")])
def btop_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """``ADDRESS: PFN`` in hex."""
    for _word, value in _hex_words(args.addresses, "btop"):
        ctx.out.write(f"{value:x}: {int(PHYS_PFN(prog, value)):x}\n")


@command("ptob", "page frame number to bytes, as crash's ptob",
         arguments=[argument("pfns", metavar="PFN", nargs="+", help="decimal, or 0x hex")])
def ptob_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """``PFN: ADDRESS`` in hex."""
    for w in args.pfns:
        try:
            pfn = crash_number(w)
        except ValueError:
            raise ExpressionError(f"ptob: {w!r} is not a number") from None
        ctx.out.write(f"{pfn:x}: {int(PFN_PHYS(prog, pfn)):x}\n")


@command("ptov", "physical address to the direct map's virtual address, as crash's ptov", arguments=[
    argument("addresses", metavar="PHYSICAL", nargs="+", help="hexadecimal physical addresses"),
    argument("--json", action="store_true", help="one JSON list of {virtual, physical}"),
])
def ptov_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """crash's ``VIRTUAL  PHYSICAL`` table."""
    rows = []
    for _word, phys in _hex_words(args.addresses, "ptov"):
        try:
            rows.append((int(phys_to_virt(prog, phys)) & _MASK, phys))
        except KdbgError as e:
            raise ExpressionError(f"ptov: {phys:#x}: {e}") from None
    if ctx.json or args.json:
        ctx.out.write(json.dumps([{"virtual": v, "physical": p} for v, p in rows]) + "\n")
        return
    ctx.out.write(f"{'VIRTUAL':<16}  {'PHYSICAL':<16}\n")
    for v, p in rows:
        ctx.out.write(f"{v:<16x}  {p:<16x}\n")


def _vtop_lines(prog: Any, address: int) -> List[str]:
    machine, vmci = machine_of(prog), prog.vmcoreinfo
    pgd_va, entries = page_table_walk(prog, address)
    shift, _at, entry = entries[-1]
    leaf = page_table_leaf(prog, shift, entry)
    fields = pte_fields(machine, vmci, entry, shift, lambda _s: leaf)
    if leaf.physical is None or not fields.present:
        level = page_table_level_names(machine, vmci, [sh for sh, _a, _e in entries])[-1]
        raise ExpressionError(f"vtop: {address:x} is not mapped (the {level} entry is {entry:x})")
    size = leaf.span
    phys = leaf.physical | (address & (size - 1))
    out = [f"{'VIRTUAL':<16}  {'PHYSICAL':<16}", f"{address:<16x}  {phys:<16x}", ""]
    out += vtop_walk_lines(machine, vmci, pgd_va, entries, leaf.physical, size,
                           lambda pa: int(phys_to_virt(prog, pa)) & _MASK)
    out += ["", *_pte_table(entry, fields), ""]
    try:
        page = pfn_to_page(prog, int(PHYS_PFN(prog, phys)))
        out += [PAGE_HEADER, page_line(prog, page, phys & ~((1 << memory_map(prog).page_shift) - 1))]
    except KdbgError:
        pass  # no struct page (memory the kernel does not manage)
    return out


#: crash's header of ``struct page`` lines (``vtop``, ``files -p``, ``kmem -p``).
PAGE_HEADER = "      PAGE       PHYSICAL      MAPPING       INDEX CNT FLAGS"


def page_line(prog: Any, page: Any, phys: int) -> str:
    """crash's line of a ``struct page *`` at physical address *phys*: the page, the
    physical address (padded to the digits of the highest), mapping, index, reference
    count, flags in hexadecimal and by name."""
    flags = int(page.flags)
    names = ",".join(n[3:] if n.startswith("PG_") else n for n in page_flag_names(prog, flags))
    mm = memory_map(prog)
    width = len(f"{(mm.max_pfn << mm.page_shift) - 1:x}")
    return (f"{int(page):x}  {phys:<{width}x} {int(page.mapping):>16x} {int(page.index):>8x} "
            f"{int(page._refcount.counter):>2d} {flags:x} {names}").rstrip()


@command("vtop", "kernel virtual to physical address with the page-table walk, as crash's vtop", arguments=[
    argument("addresses", metavar="ADDRESS", nargs="+", help="hexadecimal kernel virtual addresses"),
    argument("--json", action="store_true", help="one JSON list of {virtual, physical, entries}"),
])
def vtop_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Translate and show the walk."""
    blocks: List[Any] = []
    for _word, va in _hex_words(args.addresses, "vtop"):
        try:
            if ctx.json or args.json:
                pgd_va, entries = page_table_walk(prog, va)
                blocks.append({"virtual": va, "pgd": pgd_va,
                               "entries": [{"shift": sh, "address": at, "entry": e} for sh, at, e in entries]})
            else:
                blocks.append(_vtop_lines(prog, va))
        except ExpressionError:
            raise
        except KdbgError as e:
            raise ExpressionError(f"vtop: {va:x}: {e}") from None
    if ctx.json or args.json:
        ctx.out.write(json.dumps(blocks) + "\n")
        return
    ctx.out.write("\n\n".join("\n".join(b) for b in blocks) + "\n")


def _center(text: str, width: int, right: bool) -> str:
    """crash's ``mkstring(CENTER|LJUST)`` (``right``: ``CENTER|RJUST``, the odd blank on
    the left)."""
    extra = max(width - len(text), 0)
    left = (extra + 1) // 2 if right else extra // 2
    return " " * left + text + " " * (extra - left)


def _swap_device(prog: Any, kind: int) -> str:
    """The path of swap device *kind* (``swap_info[kind]``)."""
    if kind >= int(prog["nr_swapfiles"]):
        raise ExpressionError(f"pte: swap type {kind} is no swap device (nr_swapfiles is {int(prog['nr_swapfiles'])})")
    return swap_file_path(prog["swap_info"][kind]).decode("utf-8", "replace")


def _pte_table(entry: int, fields: PteFields) -> List[str]:
    """crash's two lines of a present entry (or of zero): ``PTE  PHYSICAL  FLAGS``."""
    text = f"{entry:x}"
    w1 = max(len(text), 3)
    phys = f"{fields.physical or 0:x}"
    w2 = max(len(phys), 8)
    flags = "|".join(fields.flags) if entry else "no mapping"
    return [f"{_center('PTE', w1, False)}  {_center('PHYSICAL', w2, False)}  FLAGS",
            f"{_center(text, w1, True)}  {_center(phys, w2, True)}  ({flags})"]


def _pte_fields(prog: Any, entry: int) -> PteFields:
    """``entry`` decoded as a leaf of the smallest pages by the target machine's rules."""
    return pte_fields(machine_of(prog), prog.vmcoreinfo, entry, None, lambda shift: page_table_leaf(prog, shift, entry))


def pte_lines(prog: Any, entry: int) -> List[str]:
    """crash's ``pte ENTRY`` (its ``<machine>_translate_pte``): a present entry's physical
    page and flags, a swap entry's device and offset, ``(no mapping)`` for zero."""
    fields = _pte_fields(prog, entry)
    if not fields.present and entry:
        if fields.swap is None:
            raise ExpressionError(f"pte: {entry:x} is neither present nor a swap entry")
        kind, offset = fields.swap
        text = f"{entry:x}"
        w1 = max(len(text), 3)
        device, off = _swap_device(prog, kind), str(offset)
        w2, w3 = max(len(device), 4), max(len(off), 6)
        return [f"{_center('PTE', w1, False)}  {_center('SWAP', w2, False)}  {_center('OFFSET', w3, False)}",
                f"{_center(text, w1, True)}  {_center(device, w2, True)}  {_center(off, w3, True)}"]
    return _pte_table(entry, fields)


@command("pte", "decode a page-table entry, as crash's pte", arguments=[
    argument("entries", metavar="PTE", nargs="+", help="hexadecimal page-table entries"),
    argument("--json", action="store_true", help="one JSON list of {pte, present, physical, flags, swap, offset}"),
])
def pte_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Decode page-table entries."""
    words = _hex_words(args.entries, "pte")
    if ctx.json or args.json:
        rows = []
        for _w, e in words:
            f = _pte_fields(prog, e)
            kind, offset = f.swap if f.swap is not None else (None, None)
            rows.append({"pte": e, "present": f.present, "physical": None if f.swap else f.physical or 0,
                         "flags": f.flags, "swap": _swap_device(prog, kind) if kind is not None else None,
                         "offset": offset})
        ctx.out.write(json.dumps(rows) + "\n")
        return
    blocks = [pte_lines(prog, e) for _w, e in words]
    ctx.out.write("\n".join(line for b in blocks for line in b) + "\n")
