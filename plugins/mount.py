"""``mount``: the mounts of the initial mount namespace, like crash's ``mount`` (a shipped
plugin).

In ``/proc/mounts`` order: the ``struct mount`` and ``struct super_block`` addresses,
filesystem type, source and mount point; ``--json`` the same as objects.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List

from kdbg.helpers.fs import for_each_mount, mount_dst, mount_fstype, mount_src
from kdbg.ui.commands import CommandContext, argument, command

__all__ = ["mount_rows"]


def mount_rows(prog: Any) -> List[Dict[str, object]]:
    """One dict per mount: ``mount``, ``super_block`` (addresses), ``fstype``, ``source``,
    ``target``."""
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


@command("mount", "list the mounts of the initial mount namespace", arguments=[
    argument("--json", action="store_true", help="a list of JSON objects"),
])
def mount_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print the mount table (``--json``: a list of objects)."""
    rows = mount_rows(prog)
    if ctx.json or args.json:
        ctx.out.write(json.dumps(rows) + "\n")
        return
    ctx.out.write(f"{'MOUNT':<16}  {'SUPERBLK':<16}  {'TYPE':<12} {'DEVNAME':<16} DIRNAME\n")
    for r in rows:
        ctx.out.write(f"{r['mount']:016x}  {r['super_block']:016x}  {r['fstype']:<12} "
                      f"{r['source']:<16} {r['target']}\n")
