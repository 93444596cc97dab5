"""``dev``: the registered character and block devices, as crash's ``dev``.

``dev`` lists every registered character device range (``/proc/devices``' first part, in
the kernel's hash order: :func:`kdbg.helpers.device.for_each_registered_chrdev`) with its
``cdev`` and the ``file_operations`` it opens with, then every registered block major
(:func:`~kdbg.helpers.device.for_each_registered_blkdev`) with its first ``gendisk`` and
that disk's ``block_device_operations``, ``(none)`` where there is none.  ``dev -d``: each
disk (:func:`kdbg.helpers.block.for_each_disk`) with its request queue and the requests in
flight on it, reads and writes (:func:`~kdbg.helpers.block.request_queue_busy_iter`).
``dev -p``: the PCI buses and devices as crash's ``do_pci2`` walks them: each root bus
(:func:`kdbg.helpers.pci.for_each_root_bus`) with its devices (``PCI DEV DO:BU:SL.FN CLASS
PCI_ID TYPE``, the type crash's word for the device's PCI Express type, which a
conventional PCI device reads as 0, ``ENDPOINT``, and `` [BRIDGE]`` for a bridge), then
its child buses depth first, each with its bridge first.
``--json``: the same as data.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List

from kdbg.errors import ExpressionError
from kdbg.helpers.block import disk_name, for_each_disk, request_queue_busy_iter, rq_data_dir
from kdbg.helpers.device import MAJOR, for_each_registered_blkdev, for_each_registered_chrdev
from kdbg.helpers.pci import (
    PCI_EXP_TYPE,
    for_each_pci_root_bus,
    pci_bus_for_each_child,
    pci_bus_for_each_dev,
    pci_bus_name,
    pci_is_bridge,
    pci_name,
)
from kdbg.ui.commands import CommandContext, argument, centred, command

__all__ = ["dev_cmd", "device_rows", "disk_rows", "pci_rows"]

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


def _pci_device(dev: Any) -> Dict[str, Any]:
    value = (int(dev.pcie_flags_reg) & 0xF0) >> 4 if dev.type_.type.has_member("pcie_flags_reg") else None
    kind = ""
    if value is not None:
        kind = PCI_EXP_TYPE(value).name if value in PCI_EXP_TYPE.__members__.values() else ""
    if pci_is_bridge(dev):
        kind += " [BRIDGE]"
    return {"pci_dev": int(dev), "name": pci_name(dev), "class": f"{int(dev.member_('class')) >> 8:04x}",
            "pci_id": f"{int(dev.vendor):x}:{int(dev.device):x}", "type": kind if value is not None or kind else None}


def _pci_bus(bus: Any, parent: int) -> Dict[str, Any]:
    self_ = bus.self.read_()
    devices = [_pci_device(self_)] if int(self_) else []
    devices += [_pci_device(d) for d in pci_bus_for_each_dev(bus)]
    return {"pci_bus": int(bus), "parent": parent, "name": pci_bus_name(bus), "devices": devices,
            "children": [_pci_bus(child, int(bus)) for child in pci_bus_for_each_child(bus)]}


def pci_rows(prog: Any) -> List[Dict[str, Any]]:
    """Each PCI root bus: ``pci_bus``, ``name``, ``devices`` (``pci_dev``, ``name``,
    ``class``, ``pci_id``, ``type``; a child bus's bridge first) and ``children`` (buses
    with their ``parent``), as crash walks them."""
    return [_pci_bus(bus, 0) for bus in for_each_pci_root_bus(prog)]


def _pci_device_lines(devices: List[Dict[str, Any]]) -> List[str]:
    typed = any(d["type"] is not None for d in devices)
    head = (f"  {centred('PCI DEV', 16, False)} {centred('DO:BU:SL.FN', 12, False)} {centred('CLASS', 6, False)} "
            f"{centred('PCI_ID', 9, False)}")
    out = [head + (f" {centred('TYPE', 10, False)}" if typed else "")]
    for d in devices:
        line = (f"  {d['pci_dev']:<16x} {centred(d['name'], 12, False)} {centred(d['class'], 6, False)} "
                f"{centred(d['pci_id'], 9, False)}")
        out.append(line + (f" {centred(d['type'] or '', 10, False)}" if typed else ""))
    return out


def _pci_child_lines(bus: Dict[str, Any]) -> List[str]:
    out = []
    for child in bus["children"]:
        out += [f"  {centred('PCI BUS', 16, False)} {centred('PARENT BUS', 16, False)}",
                f"  {child['pci_bus']:<16x} {child['parent']:<16x}", *_pci_device_lines(child["devices"]), ""]
        out += _pci_child_lines(child)
    return out


def pci_lines(roots: List[Dict[str, Any]]) -> List[str]:
    """crash's ``dev -p`` lines of :func:`pci_rows`."""
    out = []
    for root in roots:
        out += [f"{centred('ROOT BUS', 16, False)} {centred('BUSNAME', 7, False)}",
                f"{root['pci_bus']:<16x} {centred(root['name'], 7, False)}",
                *_pci_device_lines(root["devices"]), *_pci_child_lines(root), ""]
    return out


def _device_line(r: Dict[str, Any], key: str) -> str:
    cell = f"{r[key]:016x}" if r[key] else f"{'(none)':^16}"
    return f"{r['major']:4d}      {r['name']:<14} {cell}  {r['operations']}"


@command("dev", "character and block devices, disks' requests in flight (-d), PCI devices (-p), as crash's dev",
         arguments=[
    argument("-d", dest="disks", action="store_true", help="each disk and its requests in flight"),
    argument("-p", dest="pci", action="store_true", help="the PCI buses and their devices"),
    argument("--json", action="store_true", help="the same as JSON"),
])
def dev_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print the devices."""
    as_json = ctx.json or args.json
    if args.disks and args.pci:
        raise ExpressionError("dev: give one of -d and -p")
    if args.pci:
        roots = pci_rows(prog)
        ctx.out.write((json.dumps(roots) if as_json else "\n".join(pci_lines(roots)).rstrip("\n")) + "\n")
        return
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
    if as_json:
        ctx.out.write(json.dumps(rows) + "\n")
        return
    lines = [HEADERS["chr"], *(_device_line(r, "cdev") for r in rows["chr"]), "",
             HEADERS["blk"], *(_device_line(r, "gendisk") for r in rows["blk"])]
    ctx.out.write("\n".join(lines) + "\n")
