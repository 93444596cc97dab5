"""``dmesg``: the kernel log buffer as :manpage:`dmesg(1)` prints it (a shipped plugin; crash's
format is ``log``, :mod:`kdbg.ui.commands.system`).

``dmesg [-t|-T]`` prints the kernel log as :manpage:`dmesg(1)` does (``-t``: no
timestamps, ``-T``: wall-clock dates); ``--json`` gives one object per record (its seq,
timestamp in nanoseconds, facility, level, caller, continuation flag, SUBSYSTEM/DEVICE
context and text; a descriptor that could not be read has ``invalid`` saying why).
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List

from kdbg.errors import ExpressionError
from kdbg.helpers.printk import Timestamps, get_dmesg, get_printk_records
from kdbg.ui.commands import CommandContext, argument, command

__all__ = ["printk_rows"]


def printk_rows(prog: Any) -> List[Dict[str, object]]:
    """One dict per record of the kernel log (see the module documentation)."""
    return [
        {
            "seq": r.seq,
            "timestamp": r.timestamp,
            "facility": r.facility,
            "level": r.level,
            "caller_tid": r.caller_tid,
            "caller_cpu": r.caller_cpu,
            "continuation": r.continuation,
            "context": {k.decode(errors="replace"): v.decode(errors="replace") for k, v in r.context.items()},
            "text": r.text.decode(errors="replace"),
            **({"invalid": r.invalid} if r.invalid is not None else {}),
        }
        for r in get_printk_records(prog)
    ]


@command("dmesg", "print the kernel log buffer as dmesg(1) does (crash's format: log)", arguments=[
    argument("-t", dest="no_time", action="store_true", help="no timestamps"),
    argument("-T", dest="human", action="store_true", help="timestamps as dates"),
    argument("--json", action="store_true", help="a list of JSON objects"),
])
def dmesg_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print the kernel log like dmesg(1); ``-t`` without timestamps, ``-T`` with dates."""
    if ctx.json or args.json:
        ctx.out.write(json.dumps(printk_rows(prog)) + "\n")
        return
    if args.no_time and args.human:
        raise ExpressionError("dmesg: -t and -T exclude each other")
    stamps: Timestamps = "human" if args.human else not args.no_time
    ctx.out.write(get_dmesg(prog, timestamps=stamps).decode(errors="replace"))


