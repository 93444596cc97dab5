"""``dmesg``: the kernel log buffer, like crash's ``log`` (a shipped plugin).

``dmesg [-t|-T]`` prints the kernel log as :manpage:`dmesg(1)` does (``-t``: no
timestamps, ``-T``: wall-clock dates); ``--json`` gives one object per record (its seq,
timestamp in nanoseconds, facility, level, caller, continuation flag, SUBSYSTEM/DEVICE
context and text; a descriptor that could not be read has ``invalid`` saying why).
"""

from __future__ import annotations

import json
from typing import Any, Dict, List

from kdbg.commands import CommandContext, command, split_args
from kdbg.errors import ExpressionError

__all__ = ["printk_rows"]


def _options(args: str, allowed: List[str], name: str) -> List[str]:
    words = split_args(args)
    bad = [w for w in words if w not in allowed]
    if bad:
        usage = " ".join(f"[{a}]" for a in allowed)
        raise ExpressionError(f"{name}: unknown argument {' '.join(bad)!r} (usage: {name} {usage})")
    return words


def printk_rows(prog: Any) -> List[Dict[str, object]]:
    """One dict per record of the kernel log (see the module documentation)."""
    from kdbg.helpers.printk import get_printk_records

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


@command("dmesg", "print the kernel log buffer (crash's log)", "dmesg [-t|-T] [--json]")
def dmesg_cmd(prog: Any, args: str, ctx: CommandContext) -> None:
    """Print the kernel log like dmesg(1); ``-t`` without timestamps, ``-T`` with dates."""
    from kdbg.helpers.printk import Timestamps, get_dmesg

    words = _options(args, ["-t", "-T", "--json"], "dmesg")
    if ctx.json or "--json" in words:
        ctx.out.write(json.dumps(printk_rows(prog)) + "\n")
        return
    if "-t" in words and "-T" in words:
        raise ExpressionError("dmesg: -t and -T exclude each other")
    stamps: Timestamps = "human" if "-T" in words else "-t" not in words
    ctx.out.write(get_dmesg(prog, timestamps=stamps).decode(errors="replace"))


