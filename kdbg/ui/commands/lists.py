"""``list``: crash's linked-list walker, over kdbg's list helpers.

``list [[-o] OFFSET] [-e END] [-s TYPE[.member[,member]] [-l OFFSET]] [-x|-d] [-r]
[-h|-H] START``, as crash takes it:

* ``-H START``: START is a standalone ``struct list_head`` (``modules``); each node of the
  list after it is printed, less OFFSET (``-o module.list``: the ``struct module``);
* ``-h START``: START is a structure whose ``list_head`` is at OFFSET; START is printed
  first, then every other structure on the list;
* neither: a singly-linked list: START, then the pointer at START+OFFSET, and so on, until
  a NULL, START again, the first entry again, or an entry pointing at itself;
* ``-r`` walks a ``list_head`` list backwards (``prev``); ``-e END`` stops before END;
* ``-s TYPE`` prints each entry as a ``TYPE`` (``-s TYPE.m1,m2``: those members, crash's
  ``  m1 = value,`` lines), read at the entry less ``-l OFFSET`` (an embedded list head's
  offset) when given.

OFFSET is ``TYPE.member`` or a number of bytes (decimal, or ``0x`` hex). The ``list_head``
walks are :mod:`kdbg.helpers.list`'s, bounded as every helper walk is: a cycle that does
not return to the head, a link that cannot be read, or a list longer than memory could
hold stops the command with one line, after the entries it reached.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from kdbg.core.object import Object
from kdbg.errors import ExpressionError, KdbgError
from kdbg.helpers.common import Walk
from kdbg.helpers.list import list_for_each, list_for_each_reverse
from kdbg.symbols.address import parse_address
from kdbg.ui.commands import CommandContext, argument, command, program_symbols
from kdbg.ui.commands.structs import member_lines

__all__ = ["Entry", "list_cmd", "parse_offset", "struct_text", "write_entries"]

_MASK = (1 << 64) - 1


def _composite(prog: Any, name: str) -> Any:
    """``struct NAME``, else ``union NAME`` (crash's ``-s``/``-o`` take either)."""
    last: Optional[Exception] = None
    for kind in ("struct", "union"):
        try:
            return prog.type(f"{kind} {name}")
        except (KdbgError, LookupError) as e:
            last = e
    raise ExpressionError(f"list: no struct or union {name!r}: {last}")


def parse_offset(prog: Any, text: str) -> int:
    """crash's OFFSET: ``TYPE.member[.sub]`` (its offset in ``struct TYPE``), or a number
    of bytes (decimal, or ``0x`` hexadecimal)."""
    if text.isdigit():
        return int(text)
    if text.lower().startswith("0x"):
        try:
            return int(text, 16)
        except ValueError:
            raise ExpressionError(f"list: bad offset {text!r}") from None
    name, dot, member = text.partition(".")
    if not dot or not member:
        raise ExpressionError(f"list: bad offset {text!r} (TYPE.member or a number of bytes)")
    t = _composite(prog, name)
    try:
        return int(t.offsetof(member))
    except (KdbgError, LookupError) as e:
        raise ExpressionError(f"list: {text}: {e}") from None


def _singly(prog: Any, start: int, offset: int) -> Iterator[int]:
    """crash's first list form: START, then the pointer at each entry + OFFSET, until a
    NULL, START, the first entry reached again, or an entry that points at itself."""
    walk = Walk(prog, f"list at {start:#x}")
    yield start
    entry, first = start, None
    while True:
        nxt = prog.read_word(entry + offset)
        if nxt in (0, start, entry, first):
            return
        if first is None:
            first = nxt
        walk.step(nxt)
        yield nxt
        entry = nxt


def _entries(prog: Any, args: argparse.Namespace, start: int, offset: int) -> Iterator[int]:
    """The addresses ``list`` prints, in order."""
    if not (args.head or args.struct_head):
        if args.reverse:
            raise ExpressionError("list: -r needs a list_head list (-H or -h)")
        yield from _singly(prog, start, offset)
        return
    head_addr = start + offset if args.struct_head else start
    head = Object(prog, prog.type("struct list_head *"), value=head_addr)
    if args.struct_head:
        yield start
    walk = list_for_each_reverse if args.reverse else list_for_each
    prev = head_addr
    for node in walk(head):
        if int(node) == 0:
            link = "prev" if args.reverse else "next"
            raise ExpressionError(f"list: the list_head at {prev:#x} has a NULL {link} pointer")
        prev = int(node)
        yield (prev - offset) & _MASK


def struct_text(prog: Any, spec: str, address: int, base: Optional[int]) -> List[str]:
    """An entry as ``-s TYPE[.member[,member]]`` prints it (``list -s``, ``tree -s``)."""
    name, _, members = spec.partition(".")
    t = _composite(prog, name)
    obj = Object(prog, t, address=address)
    paths = [m for m in members.split(",") if m]
    if paths:
        return member_lines(obj, paths, base)
    return [obj.format_(integer_base=base)]


Entry = Tuple[List[str], Dict[str, Any]]
"""One entry of a walk as ``list`` and ``tree`` print it: its text lines, and its
``--json`` row."""


def write_entries(ctx: CommandContext, command: str, entries: Iterable[Entry], as_json: bool) -> None:
    """Write each of *entries* as it is reached: its lines, or with *as_json* one JSON list
    of the rows at the end.  A walk that stops on a kdbg error (a loop, a link that cannot
    be read) still writes what it reached (the rows so far), then stops the command with
    one line, ``COMMAND: why``; an :class:`ExpressionError` (already one line) passes
    through as it is."""
    rows: List[Dict[str, Any]] = []
    try:
        for lines, row in entries:
            if as_json:
                rows.append(row)
            else:
                ctx.out.write("\n".join(lines) + "\n")
    except ExpressionError:
        raise
    except KdbgError as e:
        if as_json:
            ctx.out.write(json.dumps(rows) + "\n")
        raise ExpressionError(f"{command}: {e}") from None
    if as_json:
        ctx.out.write(json.dumps(rows) + "\n")


@command("list", "walk a linked list, as crash's list", arguments=[
    argument("words", metavar="[OFFSET] START", nargs="+",
             help="OFFSET: TYPE.member or bytes of the next pointer (default 0); START: an address or symbol"),
    argument("-o", dest="offset", metavar="OFFSET", help="the offset of the next pointer (TYPE.member or bytes)"),
    argument("-e", dest="end", metavar="END", help="stop at this address"),
    argument("-s", dest="spec", metavar="TYPE[.member[,member]]", help="print each entry as TYPE (or its members)"),
    argument("-l", dest="link", metavar="OFFSET",
             help="with -s: the entries are list heads at this offset inside TYPE"),
    argument("-x", dest="hex", action="store_true", help="integers in hexadecimal (with -s)"),
    argument("-d", dest="dec", action="store_true", help="integers in decimal (with -s)"),
    argument("-r", dest="reverse", action="store_true", help="walk a list_head list backwards (prev)"),
    argument("-H", dest="head", action="store_true", help="START is a standalone list_head (not printed)"),
    argument("-h", dest="struct_head", action="store_true",
             help="START is a structure with the list_head at OFFSET (printed first)"),
    argument("--json", action="store_true", help="one JSON list of {address[, text]}"),
    argument("--help", action="help", help="show this help"),
])
def list_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print each entry's address (and with ``-s`` the entry)."""
    if len(args.words) > 2 or (len(args.words) == 2 and args.offset is not None):
        raise ExpressionError(f"list: too many arguments: {' '.join(args.words)} ([-o] OFFSET START)")
    if args.head and args.struct_head:
        raise ExpressionError("list: -H and -h exclude each other")
    if args.link is not None and args.spec is None:
        raise ExpressionError("list: -l is only used with -s")
    offset_text = args.offset if args.offset is not None else args.words[0] if len(args.words) == 2 else None
    offset = parse_offset(prog, offset_text) if offset_text is not None else 0
    link = parse_offset(prog, args.link) if args.link is not None else 0
    symbols = program_symbols(prog)
    start = parse_address(args.words[-1], symbols)
    end = parse_address(args.end, symbols) if args.end is not None else None
    base = 16 if args.hex else 10 if args.dec else None

    def entries() -> Iterator[Entry]:
        for address in _entries(prog, args, start, offset):
            if address == end:
                return
            lines = [f"{address:x}"]
            row: Dict[str, Any] = {"address": address}
            if args.spec is not None:
                lines += struct_text(prog, args.spec, address - link, base)
                row["text"] = "\n".join(lines[1:])
            yield lines, row

    write_entries(ctx, "list", entries(), ctx.json or args.json)
