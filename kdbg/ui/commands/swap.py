"""``swap``: the swap devices, as crash's ``swap`` prints them.

One line per swap device in use (:func:`kdbg.helpers.swap.for_each_swap_info`): the
``swap_info_struct`` address, ``PARTITION`` or ``FILE``, its size and the space in use in
KiB (``/proc/swaps``' ``Size`` and ``Used``), the percentage in use (integer division, as
crash), the priority and the path.  ``--json``: the same as data.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List

from kdbg.helpers.swap import for_each_swap_info, swap_file_path, swap_is_file, swap_usage_in_pages
from kdbg.ui.commands import CommandContext, argument, command

__all__ = ["swap_cmd", "swap_rows"]

#: crash's header line (``memory.c``); the columns below sit as crash 8.0.2 puts them.
HEADER = "SWAP_INFO_STRUCT    TYPE       SIZE       USED     PCT  PRI  FILENAME"


def swap_rows(prog: Any) -> List[Dict[str, Any]]:
    """Every swap device in use: address, type, size and use in KiB, priority, path."""
    kib = int(prog["PAGE_SIZE"]) // 1024
    rows = []
    for si in for_each_swap_info(prog):
        size = int(si.pages) * kib
        used = swap_usage_in_pages(si) * kib
        rows.append({"swap_info_struct": int(si), "type": "FILE" if swap_is_file(si) else "PARTITION",
                     "size_kib": size, "used_kib": used, "pct": used * 100 // size if size else 0,
                     "priority": int(si.prio), "filename": swap_file_path(si).decode("utf-8", "replace")})
    return rows


@command("swap", "the swap devices, as crash's swap", arguments=[
    argument("--json", action="store_true", help="the swap devices as JSON"),
])
def swap_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print the swap devices."""
    rows = swap_rows(prog)
    if ctx.json or args.json:
        ctx.out.write(json.dumps(rows) + "\n")
        return
    lines = [HEADER]
    for r in rows:
        lines.append(f"{r['swap_info_struct']:16x}  {r['type']:^9} {str(r['size_kib']) + 'k':^10} "
                     f"{str(r['used_kib']) + 'k':^10} {r['pct']:3d}%  {r['priority']:3d}  {r['filename']}")
    ctx.out.write("\n".join(lines) + "\n")
