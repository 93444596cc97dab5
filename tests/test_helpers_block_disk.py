"""drgn's block-layer helpers on real disks with I/O in flight (``vmcores.disk``), against
drgn 0.3.0 with Debian's DWARF on the same dump and against what the guest's kernel said.

The guest has two throttled virtio-blk disks: ``vda`` (an MBR with ``vda1`` and ``vda2``,
one hardware queue, the ``mq-deadline`` scheduler) and ``vdb`` (no partitions, two
hardware queues, no scheduler), and O_DIRECT ``dd`` readers and writers whose requests wait
in QEMU's throttle at the dump moment. drgn reads the ``elf-paging`` form; kdbg reads the
``elf`` and ``kdump-zlib`` forms of the same stopped guest.

* ``request_queue_busy_iter`` (default, ``"driver"`` and ``"sched"`` tags) gives the same
  requests in the same order as drgn's, and each request's tag, operation, direction,
  sector, size and partition are drgn's, and so is ``str(req_op(rq))`` (``req_op``'s
  docstring example, ``(enum req_op)REQ_OP_WRITE``) of each. The kernel's ``/sys/block/*/inflight`` counts
  the requests that hold a driver tag: their number on each disk, split into reads and
  writes, and the number on ``vda1``, lie within what the guest's own inflight files
  printed in its last snapshots before the stop (``truth/inflight``), and there were some.
  A request's partition is ``rq->part``: the device it was submitted to since Linux 5.11,
  the partition its sector lies in on 5.10 (which counts two whole-disk readers inside
  ``vda1`` there, as the guest's 5.10 ``vda1/inflight`` does).
  Where there is a scheduler (``vda``), the default is the scheduler-tagged requests,
  which include the driver-tagged ones; where there is none, the default is the
  driver-tagged ones and no request holds a scheduler tag. drgn 0.3.0 numbers the *reserved* tags'
  bitmap from ``nr_reserved_tags`` and the normal one from 0, the reverse of the kernel's
  ``bt_iter``; kdbg follows the kernel. virtio-blk reserves no tags (checked here), so the
  two agree on these disks.
* ``sbitmap_for_each_set`` of each disk's driver-tag bitmaps equals drgn's (set bits).
* ``for_each_disk``, ``for_each_partition``, ``disk_name``, ``disk_devt``, ``part_name``,
  ``part_devt``, ``bdev_partno``, ``print_disks``, ``print_partitions`` and
  ``nr_blockdev_pages`` equal drgn's, and the disks and partitions with their device
  numbers and sizes are the guest's ``/proc/partitions``; the partition numbers are sysfs's
  ``partition`` files.
* crash's ``dev -d`` (its disks and their requests in flight, reads and writes) is what
  those helpers give, where crash 8.0.2 answers (:data:`DEV_D_SUITES`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from tests.conftest import resolve_disk_dump
from tests.helpers_compare import compare, kdbg_result
from tests.helpers_support import open_program
from vmcores.crash_oracle import ask_crash
from vmcores.debian import SUITES
from vmcores.disk import read_inflight

SNIPPET = r'''
import contextlib, io
from drgn.helpers.linux.block import (bdev_partno, blk_rq_bytes, blk_rq_pos, disk_devt, disk_name, for_each_disk,
                                      for_each_partition, nr_blockdev_pages, part_devt, part_name, print_disks,
                                      print_partitions, req_op, request_queue_busy_iter, rq_data_dir)
from drgn.helpers.linux.sbitmap import sbitmap_for_each_set

bdev_parts = prog.type("struct block_device").has_member("bd_device")
result["disks"] = [[disk_name(d).decode(), plain(disk_devt(d)), d.value_(), plain(d.queue.elevator)]
                   for d in for_each_disk(prog)]
result["partitions"] = [[part_name(p).decode(), plain(part_devt(p)), p.value_(),
                         plain(bdev_partno(p)) if bdev_parts else p.partno.value_(),
                         (p.bd_nr_sectors.value_() if p.type_.type.has_member("bd_nr_sectors")
                          else p.nr_sects.value_())]
                        for p in for_each_partition(prog)]
result["nr_blockdev_pages"] = probe(nr_blockdev_pages, prog)
for name, fn in (("print_disks", print_disks), ("print_partitions", print_partitions)):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        fn(prog)
    result[name] = out.getvalue()

def request(rq):
    part = rq.part.read_()
    return [rq.value_(), rq.tag.value_(), rq.internal_tag.value_(), plain(req_op(rq)), rq_data_dir(rq),
            plain(blk_rq_pos(rq)), plain(blk_rq_bytes(rq)), part_name(part).decode() if part else None]

for d in for_each_disk(prog):
    name = disk_name(d).decode()
    q = d.queue
    for tags in (None, "driver", "sched"):
        result[f"busy:{name}:{tags}"] = [request(rq) for rq in request_queue_busy_iter(q, tags)]
        result[f"busy_default_prog:{name}:{tags}"] = [rq.value_() for rq in request_queue_busy_iter(q, tags=tags)]
    # req_op's docstring example (>>> req_op(rq) prints (enum req_op)REQ_OP_WRITE), on every request
    result[f"req_op_str:{name}"] = [str(req_op(rq)) for rq in request_queue_busy_iter(q)]
    set_tags = q.tag_set.tags
    result[f"reserved:{name}"] = [set_tags[i].nr_reserved_tags.value_() for i in range(q.tag_set.nr_hw_queues)]
    result[f"hw_queues:{name}"] = q.nr_hw_queues.value_()
    result[f"sbitmap:{name}"] = [list(sbitmap_for_each_set(set_tags[i].bitmap_tags.sb.address_of_()))
                                 for i in range(q.tag_set.nr_hw_queues)]
'''


def _partitions(truth: Path) -> List[List[Any]]:
    """``/proc/partitions`` as ``[name, major, minor, 1K blocks]``."""
    out = []
    for line in (truth / "partitions").read_text().splitlines()[1:]:
        if line.strip():
            major, minor, blocks, name = line.split()
            out.append([name, int(major), int(minor), int(blocks)])
    return out


def _sysfs(truth: Path) -> Dict[Tuple[str, str], str]:
    """``truth/block``: ``{(disk or disk/part, file): value}``."""
    out = {}
    for line in (truth / "block").read_text().splitlines():
        where, what, value = line.split(" ", 2)
        out[(where, what)] = value.strip()
    return out


def _window(truth: Path) -> Dict[str, Tuple[Tuple[int, int], Tuple[int, int], Tuple[int, int]]]:
    """Per device, the (min, max) of reads, writes and their sum over the guest's
    ``KDBG-INFLIGHT`` lines (the last ones before QEMU stopped it)."""
    lines = read_inflight((truth / "console.log").read_text(errors="replace"))
    assert len(lines) >= 5, lines
    out = {}
    for dev in ("vda", "vdb", "vda1"):
        reads = [d[dev][0] for _, d in lines]
        writes = [d[dev][1] for _, d in lines]
        sums = [r + w for r, w in zip(reads, writes, strict=True)]
        out[dev] = ((min(reads), max(reads)), (min(writes), max(writes)), (min(sums), max(sums)))
    return out


@pytest.mark.parametrize("kdbg_form", ["elf", "kdump-zlib"])
@pytest.mark.parametrize("suite", SUITES)
def test_busy_requests_and_disks_as_drgn_and_the_guest(suite: str, kdbg_form: str) -> None:
    """Busy requests, disks and partitions equal drgn's and the guest's own counts."""
    oracle = resolve_disk_dump(suite, "elf-paging")
    ours_dump = resolve_disk_dump(suite, kdbg_form)
    theirs, differ = compare(suite, "block_disk", SNIPPET, core=oracle.path, kdbg_core=ours_dump.path)
    assert differ == {}

    truth = oracle.truth
    # disks and partitions: the guest's /proc/partitions (sizes in 1K blocks) and sysfs
    parts = [[name, devt >> 20, devt & 0xFFFFF, sectors // 2] for name, (_t, devt), _a, _n, sectors
             in theirs["partitions"]]
    assert sorted(parts) == sorted(_partitions(truth))
    sysfs = _sysfs(truth)
    for name, _devt, _address, partno, _sectors in theirs["partitions"]:
        where = name if (name, "dev") in sysfs else f"{name[:3]}/{name}"
        assert int(sysfs.get((where, "partition"), "0")) == (partno[1] if isinstance(partno, list) else partno)
    disks = {name: elevator[1] for name, _devt, _address, elevator in theirs["disks"]}
    assert sorted(disks) == ["vda", "vdb"] and disks["vda"] and not disks["vdb"]  # both kinds of tags
    assert any(bits for name in disks for bits in theirs[f"sbitmap:{name}"])  # sbitmap_for_each_set on set bits
    for name, has_elevator in disks.items():
        assert ("[none]" not in sysfs[(name, "queue/scheduler")]) == bool(has_elevator), name
        assert theirs[f"hw_queues:{name}"] == len(sysfs[(name, "mq")].split()), name

    # busy requests: within the guest's inflight counts around the dump moment
    window = _window(truth)
    for name in ("vda", "vdb"):
        assert theirs[f"reserved:{name}"] and not any(theirs[f"reserved:{name}"])
        # the kernel's inflight files count the requests that hold a driver tag
        driver = theirs[f"busy:{name}:driver"]
        reads = sum(1 for rq in driver if rq[4] == 0)
        (rlo, rhi), (wlo, whi), (lo, hi) = window[name]
        assert lo >= 1, f"{name}: the guest had nothing in flight: {window[name]}"
        assert lo <= len(driver) <= hi and rlo <= reads <= rhi and wlo <= len(driver) - reads <= whi, (name, driver)
        # every request holds a scheduler tag first where there is a scheduler; the default is all of them
        busy = theirs[f"busy:{name}:None"]
        assert busy == (theirs[f"busy:{name}:sched"] if disks[name] else driver)
        assert {rq[0] for rq in driver} <= {rq[0] for rq in busy}
        assert theirs[f"busy:{name}:sched"] if disks[name] else not theirs[f"busy:{name}:sched"]
    writes = [op for name in ("vda", "vdb") for op in theirs[f"req_op_str:{name}"] if "WRITE" in op]
    assert writes and all(op.startswith("(enum req_op") and op.endswith(")REQ_OP_WRITE") for op in writes), writes
    on_vda1 = [rq for rq in theirs["busy:vda:driver"] if rq[7] == "vda1"]
    (_r, _w, (lo, hi)) = window["vda1"]
    assert lo >= 1 and lo <= len(on_vda1) <= hi


def test_a_bad_tags_argument_is_one_line() -> None:
    """``tags`` other than None, "driver" or "sched" is refused in one line."""
    dump = resolve_disk_dump("bookworm", "kdump-zlib")
    snippet = r'''
from drgn.helpers.linux.block import for_each_disk, request_queue_busy_iter
try:
    list(request_queue_busy_iter(next(for_each_disk(prog)).queue, "both"))
except ValueError as e:
    result["error"] = str(e)
'''
    ours = kdbg_result(open_program(dump.path), snippet)
    assert ours["error"] == "request_queue_busy_iter: tags must be 'driver', 'sched' or None, not 'both'"


#: crash 8.0.2's ``dev -d`` is compared where it answers: it cannot open 6.12
#: (``vmcores.crash_oracle.CRASH_CANNOT_OPEN``) and on the 5.10 disk dump printed nothing in
#: 300 s (``sys`` answers there in under two minutes).
DEV_D_SUITES = ["bookworm"]


@pytest.mark.parametrize("suite", DEV_D_SUITES)
def test_dev_d_data_as_crash(suite: str) -> None:
    """What crash's ``dev -d`` prints of each disk (major, gendisk, name, request queue,
    requests in flight, reads, writes) is kdbg's: the disks of ``for_each_disk`` and
    their driver-tagged requests from ``request_queue_busy_iter``."""
    oracle = resolve_disk_dump(suite, "elf")
    lines = ask_crash(suite, oracle.path, ["dev -d"])["dev -d"].splitlines()
    assert lines[0].split() == ["MAJOR", "GENDISK", "NAME", "REQUEST_QUEUE", "TOTAL", "READ", "WRITE"], lines
    theirs = [line.split() for line in lines[1:] if line.strip()]
    snippet = r'''
from drgn.helpers.linux.block import disk_name, for_each_disk, request_queue_busy_iter, rq_data_dir
result["disks"] = []
for d in for_each_disk(prog):
    busy = [rq_data_dir(rq) for rq in request_queue_busy_iter(d.queue, "driver")]
    result["disks"].append([str(d.major.value_()), f"{d.value_():x}", disk_name(d).decode(), f"{d.queue.value_():x}",
                            str(len(busy)), str(busy.count(0)), str(busy.count(1))])
'''
    ours = kdbg_result(open_program(resolve_disk_dump(suite, "kdump-zlib").path), snippet)["disks"]
    assert sorted(ours) == sorted(theirs) and len(ours) == 2 and all(int(d[4]) for d in ours)
