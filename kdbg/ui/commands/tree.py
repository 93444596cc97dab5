"""crash's ``tree``: the entries of a red-black tree, an XArray (radix tree) or a maple
tree, over kdbg's tree helpers (:mod:`kdbg.helpers.rbtree`, :mod:`kdbg.helpers.xarray`,
:mod:`kdbg.helpers.mapletree`).

``tree [-t rbtree|radix|xarray|maple] [-r OFFSET] [-o OFFSET] [-s TYPE[.member[,member]]]
[-x|-d] [-l] [-p] [-N] START``, as crash takes it:

* ``-t rbtree`` (the default; ``rb``): START is a ``struct rb_root`` (``-N``: an ``rb_node``,
  the root's node); each node is printed less ``-o OFFSET`` (the ``rb_node``'s offset in
  its structure), in crash's order: pre-order (a node, its left subtree, its right), or
  in order with ``-l``; ``-p`` adds each node's ``position: root/l/r``;
* ``-t radix``/``xarray`` (``ra``, ``x``): START is a ``struct xarray`` (a 4.20+
  ``radix_tree_root``: crash 8.0.2 refuses ``-t radix`` on such kernels, kdbg walks it as
  the XArray it is); each present entry is printed, in index order; ``-p`` adds its
  ``index:`` and crash's ``position: root/SLOT/...`` (the slot at each level, top first);
* ``-t maple`` (``m``; Linux 6.1 and later): START is a ``struct maple_tree`` (``-r
  mm_struct.mm_mt`` on an ``mm_struct``: its VMAs); each present entry, in index order
  (crash's ``-p`` positions and ``-v`` node dump are not shown: ``-p`` and ``-N`` are
  refused in one line);
* ``-r OFFSET``: START is a structure holding the root at OFFSET (``TYPE.member`` or bytes);
* ``-s TYPE``: each entry printed as a ``TYPE`` (or its members), as ``list -s`` prints.

A tree whose links loop, run deeper than a red-black tree can, or cannot be read stops
the command with one line after the entries it reached (the helpers' bounded walks).
``--json``: a list of ``{"address"[, "position"|"index"][, "text"]}``.
"""

from __future__ import annotations

import argparse
from typing import Any, Dict, Iterator, List, Optional, Tuple

from kdbg.core.object import Object
from kdbg.errors import ExpressionError
from kdbg.helpers.mapletree import mt_for_each
from kdbg.helpers.rbtree import rb_parent, rbtree_inorder_for_each, rbtree_preorder_for_each
from kdbg.helpers.xarray import xa_for_each
from kdbg.symbols.address import parse_address
from kdbg.ui.commands import CommandContext, argument, command, program_symbols
from kdbg.ui.commands.lists import Entry, parse_offset, struct_text, write_entries

__all__ = ["tree_cmd"]

_KINDS = {"rbtree": "rbtree", "rb": "rbtree", "radix": "xarray", "ra": "xarray", "xarray": "xarray",
          "x": "xarray", "maple": "maple", "m": "maple"}


def _position(node: Object) -> str:
    """crash's ``root/l/r`` of a node: the turns from the root down to it (its parents,
    :func:`kdbg.helpers.rbtree.rb_parent`)."""
    turns: List[str] = []
    while True:
        parent = rb_parent(node)
        if not int(parent):
            return "/".join(["root", *reversed(turns)])
        turns.append("l" if int(parent.rb_left) == int(node) else "r")
        if len(turns) > 128:
            raise ExpressionError(f"tree: the parents of {int(node):#x} loop: not a red-black tree")
        node = parent


def _rbtree(prog: Any, start: int, args: argparse.Namespace) -> Iterator[Tuple[int, Optional[str]]]:
    """``(node address, position)`` in crash's order."""
    if args.node:
        root = Object(prog, "struct rb_root", value={"rb_node": start})
    else:
        root = Object(prog, "struct rb_root", address=start)
    walk = rbtree_inorder_for_each if args.linear else rbtree_preorder_for_each
    for node in walk(root):
        yield int(node), _position(node) if args.position else None


def _xarray(prog: Any, start: int, args: argparse.Namespace) -> Iterator[Tuple[int, Optional[str]]]:
    """``(entry, index)`` in index order."""
    if args.node:
        raise ExpressionError("tree -N: a radix tree or XArray starts at its root (no -N)")
    xa = Object(prog, "struct xarray", address=start)
    levels: List[int] = []
    mask = 0
    if args.position:
        head = int(xa.xa_head)
        if head & 3 == 2 and head > 4096:  # xa_is_node: a tree of nodes under the head
            chunk = (prog.type("struct xa_node").member("slots").type.length or 64).bit_length() - 1
            top = int(Object(prog, "struct xa_node", address=head - 2).shift)
            levels = list(range(top, -1, -chunk))
            mask = (1 << chunk) - 1
    for index, entry in xa_for_each(xa):
        where = None
        if args.position:
            where = f"{index}  position: " + "/".join(["root", *(str((index >> s) & mask) for s in levels)])
        yield int(entry), where


def _maple(prog: Any, start: int, args: argparse.Namespace) -> Iterator[Tuple[int, Optional[str]]]:
    """``(entry, None)`` in index order."""
    if args.node or args.position:
        raise ExpressionError("tree -t maple: -N and -p are not shown for maple trees (START is a struct maple_tree)")
    try:
        prog.type("struct maple_tree")
    except LookupError:
        raise ExpressionError("tree -t maple: this kernel has no maple trees (Linux 6.1 and later)") from None
    for _first, _last, entry in mt_for_each(Object(prog, "struct maple_tree", address=start)):
        yield int(entry), None


@command("tree", "walk a red-black tree, an XArray (radix tree) or a maple tree, as crash's tree", arguments=[
    argument("start", metavar="START", help="the root (-r: a structure holding it; -N: a node), address or symbol"),
    argument("-t", dest="kind", metavar="TYPE", default="rbtree", help="rbtree (default), radix, xarray or maple"),
    argument("-r", dest="root_offset", metavar="OFFSET", help="START holds the root at OFFSET (TYPE.member or bytes)"),
    argument("-o", dest="offset", metavar="OFFSET", help="rbtree: the rb_node's offset in its structure"),
    argument("-s", dest="spec", metavar="TYPE[.member[,member]]", help="print each entry as TYPE (or its members)"),
    argument("-x", dest="hex", action="store_true", help="integers in hexadecimal (with -s)"),
    argument("-d", dest="dec", action="store_true", help="integers in decimal (with -s)"),
    argument("-l", dest="linear", action="store_true", help="rbtree: in order (smallest first)"),
    argument("-p", dest="position", action="store_true", help="each entry's position (rbtree) or index"),
    argument("-N", dest="node", action="store_true", help="START is the root's first node, not the root"),
    argument("--json", action="store_true", help="one JSON list of {address[, position|index][, text]}"),
])
def tree_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print each entry's address (with ``-s`` the entry, with ``-p`` its position)."""
    kind = _KINDS.get(args.kind)
    if kind is None:
        raise ExpressionError(f"tree -t: unknown tree type {args.kind!r} (rbtree, radix, xarray or maple)")
    if kind != "rbtree" and (args.offset is not None or args.linear):
        raise ExpressionError("tree: -o and -l are for red-black trees")
    if args.hex and args.dec:
        raise ExpressionError("tree: give -x or -d, not both")
    if args.root_offset is not None and args.node:
        raise ExpressionError("tree: -r names where a root is; -N starts at a node")
    try:
        start = parse_address(args.start, program_symbols(prog))
        if args.root_offset is not None:
            start += parse_offset(prog, args.root_offset)
        offset = parse_offset(prog, args.offset) if args.offset is not None else 0
    except ExpressionError as e:
        raise ExpressionError(str(e) if str(e).startswith("tree") else f"tree: {e}") from None
    except ValueError as e:
        raise ExpressionError(f"tree: {e}") from None
    base = 16 if args.hex else 10 if args.dec else None
    label = "position" if kind == "rbtree" else "index"
    walk = {"rbtree": _rbtree, "xarray": _xarray, "maple": _maple}[kind]

    def entries() -> Iterator[Entry]:
        for entry, where in walk(prog, start, args):
            address = entry - offset
            lines = [f"{address:x}"]
            row: Dict[str, Any] = {"address": address}
            if where is not None:
                lines.append(f"  {label}: {where}")
                row[label] = where if kind == "rbtree" else int(where.split()[0])
            if args.spec is not None:
                lines += struct_text(prog, args.spec, address, base)
                row["text"] = "\n".join(lines[1 + (where is not None):])
            yield lines, row

    write_entries(ctx, "tree", entries(), ctx.json or args.json)
