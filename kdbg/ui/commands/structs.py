"""``struct``, ``union`` and ``task``: kernel structures at an address, as crash's commands
take them, printed in drgn's C format (kdbg's printer).

``struct TYPE ADDR`` prints the ``struct TYPE`` at ``ADDR``; ``struct TYPE.m1,m2.sub ADDR``
only those members (each ``  m1 = value,``); ``struct TYPE`` (or ``-o``) the type with its
member offsets (``ptype``'s layout); ``-x``/``-d`` print integers in hex/decimal;
``ADDR -c COUNT`` the COUNT structures from ``ADDR`` on; ``-l OFFSET`` takes ``ADDR`` as the
address of the member at OFFSET (a number or ``TYPE.member``) inside the structure, as for a
``list_head`` linking it. crash's bare ``*TYPE ADDR`` is ``struct TYPE ADDR`` (or
``union``), :func:`kdbg.ui.commands.run_command` routes it here. ``union`` is the same for
unions.

``task [PID|TASK...] [-R member[,member]] [-x|-d]``: crash's header line, then the task's
whole ``task_struct`` (default: the current context, ``set``), or only the members named.
An address where no structure can be read, or a task word that names no task, is one line.
"""

from __future__ import annotations

import argparse
from typing import Any, List, Optional, Tuple

from kdbg.btf.ptype import ptype
from kdbg.core.object import Object
from kdbg.errors import ExpressionError, FaultError, KdbgError
from kdbg.helpers.common import deref_if_pointer
from kdbg.helpers.pid import resolve_task
from kdbg.symbols.address import parse_address
from kdbg.ui.commands import CommandContext, argument, command, program_symbols
from kdbg.ui.commands.context import current_task
from kdbg.ui.commands.stack import header

__all__ = ["member_lines", "print_tasks"]


def _base(args: argparse.Namespace) -> Optional[int]:
    return 16 if args.hex else 10 if args.dec else None


def _member(obj: Object, path: str) -> Object:
    value = obj
    for part in path.split("."):
        value = value.member_(part)
    return value


def member_lines(obj: Object, members: List[str], base: Optional[int]) -> List[str]:
    """``  member = value,`` for each member path (``a.b``) of *obj*, as crash lists them;
    a structure member's value spans several lines, indented under it."""
    out = []
    for path in members:
        try:
            text = _member(obj, path).format_(integer_base=base, type_name=False)
        except LookupError as e:
            raise ExpressionError(f"no member {path!r} in {obj.type_.type_name()}: {e}") from None
        out.append(f"  {path} = " + text.replace("\n", "\n  ") + ",")
    return out


def _split_spec(prog: Any, spec: str, kind: str) -> Tuple[Any, List[str]]:
    """``TYPE.m1,m2`` -> (the type, the member paths)."""
    name, _, members = spec.partition(".")
    try:
        t = prog.type(f"{kind} {name}")
    except (KdbgError, LookupError) as e:
        raise ExpressionError(f"{kind}: {e}") from None
    paths = [m for m in members.split(",") if m] if members else []
    return t, paths


def _has_type(prog: Any, name: str) -> bool:
    try:
        prog.type(name)
        return True
    except (KdbgError, LookupError):
        return False


def _offset(prog: Any, t: Any, text: str, kind: str) -> int:
    """``-l OFFSET``: a number, or ``TYPE.member`` / ``member`` of the structure."""
    if text.isdigit() or text.lower().startswith("0x"):
        return int(text, 0)
    owner, _, member = text.rpartition(".")
    ty = prog.type(f"{kind} {owner}") if owner else t
    try:
        return int(ty.offsetof(member))
    except (KdbgError, LookupError) as e:
        raise ExpressionError(f"{kind} -l: {e}") from None


def _struct(prog: Any, args: argparse.Namespace, ctx: CommandContext, kind: str) -> None:
    if kind == "struct" and not _has_type(prog, f"struct {args.spec.partition('.')[0]}") and \
            _has_type(prog, f"union {args.spec.partition('.')[0]}"):
        kind = "union"  # crash's *TYPE of a union
    t, members = _split_spec(prog, args.spec, kind)
    if args.address is None or args.offsets:
        ctx.out.write(ptype(t) + "\n")
        if args.address is None:
            return
    address = parse_address(args.address, program_symbols(prog))
    if args.member_offset is not None:
        address -= _offset(prog, t, args.member_offset, kind)
    count = args.count if args.count is not None else 1
    if count < 1:
        raise ExpressionError(f"{kind}: -c COUNT must be at least 1")
    size = t.size
    base = _base(args)
    for i in range(count):
        at = address + i * size
        obj = Object(prog, t, address=at)
        try:
            if members:
                text = "\n".join(member_lines(obj, members, base))
            else:
                text = obj.format_(integer_base=base)
        except FaultError as e:
            raise ExpressionError(f"{kind} {args.spec}: cannot read {size} bytes at {at:#x}: {e}") from None
        ctx.out.write(text + "\n")


def _struct_arguments(kind: str) -> List[Any]:
    return [
        argument("spec", metavar="TYPE[.member[,member]]", help=f"the {kind}, and only these members"),
        argument("address", metavar="ADDRESS", nargs="?", help="where it is (none: its layout with offsets)"),
        argument("-o", dest="offsets", action="store_true", help="member offsets (the layout)"),
        argument("-x", dest="hex", action="store_true", help="integers in hexadecimal"),
        argument("-d", dest="dec", action="store_true", help="integers in decimal"),
        argument("-c", dest="count", type=int, metavar="COUNT", help="this many, one after another"),
        argument("-l", dest="member_offset", metavar="OFFSET",
                 help="ADDRESS is of the member at OFFSET (a number or TYPE.member)"),
    ]


@command("struct", "a struct at an address (or its layout), as crash's struct", arguments=_struct_arguments("struct"))
def struct_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print a structure or its members."""
    _struct(prog, args, ctx, "struct")


@command("union", "a union at an address (or its layout), as crash's union", arguments=_struct_arguments("union"))
def union_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print a union or its members."""
    _struct(prog, args, ctx, "union")


@command("task", "a task's task_struct, or its members with -R (crash's task)", arguments=[
    argument("targets", metavar="PID|TASK", nargs="*", help="the tasks (default: the current context, see set)"),
    argument("-R", dest="members", metavar="MEMBER[,MEMBER]", action="append",
             help="only these members (a.b for a member's member)"),
    argument("-x", dest="hex", action="store_true", help="integers in hexadecimal"),
    argument("-d", dest="dec", action="store_true", help="integers in decimal"),
])
def task_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print task_structs."""
    if args.targets:
        tasks = [deref_if_pointer(resolve_task(prog, word)) for word in args.targets]
    else:
        try:
            tasks = [current_task(prog, ctx)]
        except KdbgError as e:
            raise ExpressionError(f"task: {e}; name a PID or task address") from None
    members = [m for group in args.members or [] for m in group.split(",") if m]
    print_tasks(tasks, members, _base(args), ctx)


def print_tasks(tasks: List[Any], members: List[str], base: Optional[int], ctx: CommandContext) -> None:
    """``task``'s output for each of *tasks*: crash's header line, then the whole
    ``task_struct`` or only *members*."""
    for i, t in enumerate(tasks):
        t = deref_if_pointer(t)
        if i:
            ctx.out.write("\n")
        ctx.out.write(header(t) + "\n")
        if members:
            ctx.out.write("\n".join(member_lines(t, members, base)) + "\n")
        else:
            ctx.out.write(t.format_(integer_base=base) + "\n")
