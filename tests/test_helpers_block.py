"""drgn's block-layer helpers (``drgn.helpers.linux.block``) against drgn 0.3.0 with
Debian's DWARF on the same memory (see tests/helpers_compare.py).

The reference guests have no disk (QEMU runs with ``-nodefaults`` and an initramfs), so
the walks (``for_each_disk``, ``for_each_partition``, the ``print_*`` output,
``nr_blockdev_pages``) are compared on empty block classes, and the per-object helpers
(``disk_name``, ``disk_devt``, ``bdev_partno``, ``part_devt``, ``part_name``,
``req_op``, ``rq_data_dir``, ``blk_rq_pos``, ``blk_rq_bytes``, ``blk_mq_rq_to/from_pdu``)
on objects laid over real kernel memory (``init_task``, ``init_mm``, and the code of
``schedule``, whose bytes differ from member to member): that compares which members
they read, at which offsets and as which types, with drgn's DWARF. Each kernel
has its own layout: ``struct hd_struct`` partitions on 5.10, ``struct block_device`` with
``bd_partno`` on 6.1 and with ``__bd_flags`` on 6.12, ``enum req_opf`` on 5.10.
``op_is_write`` is compared on every request operation the kernel's enum names.
"""

from __future__ import annotations

import pytest

from tests.helpers_compare import compare
from vmcores.debian import SUITES

SNIPPET = r'''
import contextlib, io
from drgn.helpers.linux.block import (bdev_partno, blk_mq_rq_from_pdu, blk_mq_rq_to_pdu, blk_rq_bytes, blk_rq_pos,
                                      disk_devt, disk_name, for_each_disk, for_each_partition, nr_blockdev_pages,
                                      op_is_write, part_devt, part_name, print_disks, print_partitions, req_op,
                                      rq_data_dir)

result["disks"] = probe(lambda: list(for_each_disk()))
result["disks_prog"] = probe(lambda: list(for_each_disk(prog)))
result["partitions"] = probe(lambda: list(for_each_partition(prog)))
result["nr_blockdev_pages"] = probe(nr_blockdev_pages, prog)
for name, fn in (("print_disks", print_disks), ("print_partitions", print_partitions)):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        fn(prog)
    result[name] = out.getvalue()

bdev_parts = prog.type("struct block_device").has_member("bd_device")
part_type = "struct block_device *" if bdev_parts else "struct hd_struct *"
for where in ("init_task", "init_mm", "schedule"):
    address = prog.symbol(where).address
    disk = Object(prog, "struct gendisk *", address)
    part = Object(prog, part_type, address)
    bdev = Object(prog, "struct block_device *", address)
    rq = Object(prog, "struct request *", address)
    result[where + ":disk_name"] = probe(disk_name, disk)
    result[where + ":disk_devt"] = probe(disk_devt, disk)
    result[where + ":part_devt"] = probe(part_devt, part)
    result[where + ":part_name"] = probe(part_name, part)
    if part_type == "struct block_device *":
        result[where + ":bdev_partno"] = probe(bdev_partno, bdev)
    result[where + ":req_op"] = probe(req_op, rq)
    result[where + ":rq_data_dir"] = probe(rq_data_dir, rq)
    result[where + ":blk_rq_pos"] = probe(blk_rq_pos, rq)
    result[where + ":blk_rq_bytes"] = probe(blk_rq_bytes, rq)
    result[where + ":to_pdu"] = probe(blk_mq_rq_to_pdu, rq)
    result[where + ":from_pdu"] = probe(blk_mq_rq_from_pdu, Object(prog, "void *", address))
    result[where + ":round_trip"] = probe(lambda rq=rq: blk_mq_rq_from_pdu(blk_mq_rq_to_pdu(rq)))

try:
    op_type = prog.type("enum req_op")
except LookupError:
    op_type = prog.type("enum req_opf")
result["ops"] = [[e.name, op_is_write(Object(prog, op_type, e.value))] for e in op_type.enumerators]
result["ops_by_name"] = [[e.name, op_is_write(prog[e.name])] for e in op_type.enumerators]
'''


@pytest.mark.parametrize("suite", SUITES)
def test_block_as_drgn(suite: str) -> None:
    """The (empty) disk and partition walks and every per-object block helper equal
    drgn's."""
    theirs, differ = compare(suite, "block", SNIPPET)
    assert len(theirs["ops"]) >= 8 and any(w for _, w in theirs["ops"]) and not all(w for _, w in theirs["ops"])
    code = [theirs[f"schedule:{h}"] for h in ("disk_devt", "part_devt", "req_op", "blk_rq_pos", "blk_rq_bytes")]
    assert all(isinstance(v, list) and v[1] for v in code), code
    assert differ == {}
