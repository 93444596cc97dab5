"""Kernel-state commands: ``dmesg`` (crash's ``log``) and ``mount`` (crash's ``mount``).

``dmesg [-t|-T]`` prints the kernel log as :manpage:`dmesg(1)` does (``-t``: no
timestamps, ``-T``: wall-clock dates);
``--json`` gives one object per record (its seq, timestamp in nanoseconds, facility, level,
caller, continuation flag, SUBSYSTEM/DEVICE context and text; a descriptor that could not
be read has ``invalid`` saying why). ``mount`` lists the mounts of the initial mount
namespace in ``/proc/mounts`` order: the ``struct mount`` and ``struct super_block``
addresses, filesystem type, source and mount point; ``--json`` the same as objects.
"""

from __future__ import annotations

import json
from typing import Dict, List

from kdbg.commands import CommandContext, command, split_args
from kdbg.errors import ExpressionError
from kdbg.program import Program

__all__ = ["mount_rows", "printk_rows"]


def _options(args: str, allowed: List[str], name: str) -> List[str]:
    words = split_args(args)
    bad = [w for w in words if w not in allowed]
    if bad:
        usage = " ".join(f"[{a}]" for a in allowed)
        raise ExpressionError(f"{name}: unknown argument {' '.join(bad)!r} (usage: {name} {usage})")
    return words


def printk_rows(prog: Program) -> List[Dict[str, object]]:
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
def dmesg_cmd(prog: Program, args: str, ctx: CommandContext) -> None:
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


def mount_rows(prog: Program) -> List[Dict[str, object]]:
    """One dict per mount: ``mount``, ``super_block`` (addresses), ``fstype``, ``source``,
    ``target``."""
    from kdbg.helpers.fs import for_each_mount, mount_dst, mount_fstype, mount_src

    return [
        {
            "mount": int(m),
            "super_block": int(m.mnt.mnt_sb),
            "fstype": mount_fstype(m).decode(errors="replace"),
            "source": mount_src(m).decode(errors="replace"),
            "target": mount_dst(m).decode(errors="replace"),
        }
        for m in for_each_mount(prog)
    ]


@command("mount", "list the mounts of the initial mount namespace", "mount [--json]")
def mount_cmd(prog: Program, args: str, ctx: CommandContext) -> None:
    """Print the mount table (``--json``: a list of objects)."""
    words = _options(args, ["--json"], "mount")
    rows = mount_rows(prog)
    if ctx.json or "--json" in words:
        ctx.out.write(json.dumps(rows) + "\n")
        return
    ctx.out.write(f"{'MOUNT':<16}  {'SUPERBLK':<16}  {'TYPE':<12} {'DEVNAME':<16} DIRNAME\n")
    for r in rows:
        ctx.out.write(f"{r['mount']:016x}  {r['super_block']:016x}  {r['fstype']:<12} "
                      f"{r['source']:<16} {r['target']}\n")
