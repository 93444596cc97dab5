"""``dev``: the registered character and block devices, as crash's ``dev``.

``dev`` lists every registered character device range (``/proc/devices``' first part, in
the kernel's hash order: :func:`kdbg.helpers.device.for_each_registered_chrdev`) with its
``cdev`` and the ``file_operations`` it opens with, then every registered block major
(:func:`~kdbg.helpers.device.for_each_registered_blkdev`) with its first ``gendisk`` and
that disk's ``block_device_operations``, ``(none)`` where there is none.  ``dev -d``: each
disk (:func:`kdbg.helpers.block.for_each_disk`) with its request queue and the requests in
flight on it, reads and writes (:func:`~kdbg.helpers.block.request_queue_busy_iter`).
``--json``: the same as data.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List

from kdbg.errors import ExpressionError, KdbgError
from kdbg.helpers.block import disk_name, for_each_disk, request_queue_busy_iter, rq_data_dir
from kdbg.helpers.device import MAJOR, for_each_registered_blkdev, for_each_registered_chrdev
from kdbg.ui.commands import CommandContext, argument, command

__all__ = ["dev_cmd", "device_rows", "disk_rows"]

#: crash's headers (``dev.c``).
HEADERS = {
    "chr": "CHRDEV    NAME                 CDEV        OPERATIONS      ",
    "blk": "BLKDEV    NAME                GENDISK      OPERATIONS      ",
    "disk": "MAJOR GENDISK            NAME       REQUEST_QUEUE      TOTAL  READ WRITE ",
}


def _symbol(prog: Any, address: int) -> str:
    found = prog.symbolize_address(address) if address else None
    if found is None:
        return f"{address:x}" if address else ""
    return found[0] if found[1] == 0 else f"{found[0]}+{found[1]}"


def device_rows(prog: Any) -> Dict[str, List[Dict[str, Any]]]:
    """``chr``: each character device range (``major``, ``minor``, ``count``, ``name``,
    ``cdev``, ``operations`` symbol); ``blk``: each block major (``major``, ``name``, its
    first ``gendisk`` or 0, ``operations``)."""
    chrdevs = []
    for dev, count, name, cdev in for_each_registered_chrdev(prog):
        ops = int(cdev.ops) if int(cdev) else 0
        chrdevs.append({"major": MAJOR(dev), "minor": dev & 0xFFFFF, "count": count,
                        "name": name.decode("utf-8", "replace"), "cdev": int(cdev), "operations": _symbol(prog, ops)})
    disks: Dict[int, Any] = {}
    for disk in for_each_disk(prog):
        disks.setdefault(int(disk.major), disk)
    blkdevs = []
    for major, name, _entry in for_each_registered_blkdev(prog):
        first = disks.get(major)
        blkdevs.append({"major": major, "name": name.decode("utf-8", "replace"),
                        "gendisk": int(first) if first is not None else 0,
                        "operations": _symbol(prog, int(first.fops)) if first is not None else ""})
    return {"chr": chrdevs, "blk": blkdevs}


def disk_rows(prog: Any) -> List[Dict[str, Any]]:
    """Each disk: ``major``, ``gendisk``, ``name``, ``request_queue`` and the requests in
    flight (``total``, ``read``, ``write``)."""
    rows = []
    for disk in for_each_disk(prog):
        queue = disk.queue.read_()
        counts = [0, 0]
        for rq in request_queue_busy_iter(queue):
            counts[rq_data_dir(rq)] += 1
        rows.append({"major": int(disk.major), "gendisk": int(disk), "name": disk_name(disk).decode("utf-8", "replace"),
                     "request_queue": int(queue), "total": sum(counts), "read": counts[0], "write": counts[1]})
    return rows


def _device_line(r: Dict[str, Any], key: str) -> str:
    cell = f"{r[key]:016x}" if r[key] else f"{'(none)':^16}"
    return f"{r['major']:4d}      {r['name']:<14} {cell}  {r['operations']}"


@command("dev", "character and block devices, disks' requests in flight (-d), as crash's dev", arguments=[
    argument("-d", dest="disks", action="store_true", help="each disk and its requests in flight"),
    argument("--json", action="store_true", help="the same as JSON"),
])
def dev_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print the devices."""
    as_json = ctx.json or args.json
    try:
        if args.disks:
            disks = disk_rows(prog)
            if as_json:
                ctx.out.write(json.dumps(disks) + "\n")
                return
            lines = [HEADERS["disk"], *(f"{r['major']:5d} {r['gendisk']:016x}   {r['name']:<10} "
                                        f"{r['request_queue']:016x} {r['total']:7d} {r['read']:5d} {r['write']:5d} "
                                        for r in disks)]
            ctx.out.write("\n".join(lines) + "\n")
            return
        rows = device_rows(prog)
    except KdbgError as e:
        raise ExpressionError(f"dev: {e}") from None
    if as_json:
        ctx.out.write(json.dumps(rows) + "\n")
        return
    lines = [HEADERS["chr"], *(_device_line(r, "cdev") for r in rows["chr"]), "",
             HEADERS["blk"], *(_device_line(r, "gendisk") for r in rows["blk"])]
    ctx.out.write("\n".join(lines) + "\n")
