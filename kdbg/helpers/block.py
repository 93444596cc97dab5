"""The block layer: disks (``struct gendisk``), partitions and requests: drgn's
``drgn.helpers.linux.block``.

Disks and partitions are the devices of ``block_class``. Since Linux 5.11 a partition (the
whole disk is partition 0) is a ``struct block_device`` whose ``bd_device`` is that
device; before, a ``struct hd_struct`` with ``__dev``; which one is read from BTF. The
partition number moved into the flags word ``__bd_flags`` in Linux 6.10. A request's
operation is the low byte of ``cmd_flags`` since Linux 4.10 (the top 3 bits before, when
``enum rq_flag_bits`` existed); odd operations write.

A blk-mq queue's busy requests are the set bits of its tags' bitmaps (``struct sbitmap``),
each the index of a request in the tags' request table: the reserved tags' bitmap counts
from 0, the normal one from ``nr_reserved_tags`` on (the kernel's ``bt_iter``).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Callable, Iterator, Optional, Tuple

from kdbg.core.conversions import cast, container_of
from kdbg.core.default import takes_program_or_default
from kdbg.core.object import Object
from kdbg.errors import KdbgError, ObjectNotFoundError
from kdbg.helpers.common import deref_if_pointer, first_global, global_object, has_member, pointer_to, program_cache
from kdbg.helpers.device import MAJOR, MINOR, MKDEV, class_for_each_device
from kdbg.helpers.format import escape_ascii_string
from kdbg.helpers.list import list_for_each_entry
from kdbg.helpers.sbitmap import sbitmap_for_each_set
from kdbg.helpers.xarray import xa_for_each

if TYPE_CHECKING:
    from kdbg.btf.types import Type
    from kdbg.core.program import Program

__all__ = [
    "bdev_partno",
    "blk_mq_rq_from_pdu",
    "blk_mq_rq_to_pdu",
    "blk_rq_bytes",
    "blk_rq_pos",
    "disk_devt",
    "disk_name",
    "for_each_disk",
    "for_each_partition",
    "nr_blockdev_pages",
    "op_is_write",
    "part_devt",
    "part_name",
    "print_disks",
    "print_partitions",
    "req_op",
    "request_queue_busy_iter",
    "rq_data_dir",
]


def disk_devt(disk: Object) -> Object:
    """The device number of ``disk`` (``struct gendisk *``), ``dev_t``."""
    d = deref_if_pointer(disk)
    return Object(d.prog_, "dev_t", MKDEV(int(d.major), int(d.first_minor)))


def disk_name(disk: Object) -> bytes:
    """The name of ``disk`` (``sda``)."""
    return deref_if_pointer(disk).disk_name.string_()


def bdev_partno(bdev: Object) -> Object:
    """The partition number of ``bdev`` (``struct block_device *``), ``u8`` (0 for the
    whole disk)."""
    b = deref_if_pointer(bdev)
    prog = b.prog_
    in_flags = program_cache(prog, "block.partno_in_flags",
                             lambda: has_member(prog, "struct block_device", "__bd_flags"))
    if in_flags:  # Linux 6.10 and later: the low byte of the flags
        return cast("u8", b.member_("__bd_flags").counter)
    return b.bd_partno.read_()


def _bdev_partitions(prog: Program) -> bool:
    """Whether partitions are ``struct block_device`` (Linux 5.11 and later)."""
    return program_cache(prog, "block.bd_device", lambda: has_member(prog, "struct block_device", "bd_device"))


def _block_devices(prog: Program) -> Iterator[Object]:
    return class_for_each_device(global_object(prog, "block_class", "struct class").address_of_())


@takes_program_or_default
def for_each_partition(prog: Program) -> Iterator[Object]:
    """Every partition (whole disks included), as ``struct block_device *`` (``struct
    hd_struct *`` before Linux 5.11)."""
    if _bdev_partitions(prog):
        for device in _block_devices(prog):
            yield container_of(device, "struct block_device", "bd_device")
    else:
        for device in _block_devices(prog):
            yield container_of(device, "struct hd_struct", "__dev")


@takes_program_or_default
def for_each_disk(prog: Program) -> Iterator[Object]:
    """Every disk, as ``struct gendisk *``."""
    if _bdev_partitions(prog):
        for part in for_each_partition(prog):
            if not int(bdev_partno(part)):
                yield part.bd_disk.read_()
    else:
        for part in for_each_partition(prog):
            if not int(part.partno):
                yield container_of(part, "struct gendisk", "part0")


@takes_program_or_default
def print_disks(prog: Program) -> None:
    """Print every disk as ``MAJOR:MINOR NAME (struct gendisk *)ADDRESS``."""
    for disk in for_each_disk(prog):
        name = escape_ascii_string(disk_name(disk), escape_backslash=True)
        print(f"{int(disk.major)}:{int(disk.first_minor)} {name} ({disk.type_.type_name()}){int(disk):#x}")


def part_devt(part: Object) -> Object:
    """The device number of ``part`` (``struct block_device *``, or ``struct hd_struct *``
    before Linux 5.11), ``dev_t``."""
    p = deref_if_pointer(part)
    try:
        return p.bd_dev.read_()
    except AttributeError:
        return p.member_("__dev").devt.read_()


def part_name(part: Object) -> bytes:
    """The name of ``part`` (``sda1``)."""
    p = deref_if_pointer(part)
    try:
        device = p.bd_device
    except AttributeError:
        device = p.member_("__dev")
    return device.kobj.name.string_()


@takes_program_or_default
def print_partitions(prog: Program) -> None:
    """Print every partition as ``MAJOR:MINOR NAME (type *)ADDRESS``."""
    for part in for_each_partition(prog):
        devt = int(part_devt(part))
        name = escape_ascii_string(part_name(part), escape_backslash=True)
        print(f"{MAJOR(devt)}:{MINOR(devt)} {name} ({part.type_.type_name()}){int(part):#x}")


@takes_program_or_default
def nr_blockdev_pages(prog: Program) -> int:
    """How many pages the block devices' page caches hold (the inodes of the bdev
    filesystem)."""
    sb = first_global(prog, ("blockdev_superblock",), "the block devices' page cache")[1]
    return sum(int(inode.i_mapping.nrpages)
               for inode in list_for_each_entry("struct inode", sb.s_inodes.address_of_(), "i_sb_list"))


def _op_scheme(prog: Program) -> Tuple[Type, Callable[[int], int], Callable[[int], bool]]:
    """``(operation enum type, cmd_flags -> operation, operation -> writes?)``."""
    def find() -> Tuple[Type, Callable[[int], int], Callable[[int], bool]]:
        try:
            prog.type("enum rq_flag_bits")
        except (KdbgError, LookupError):
            pass
        else:  # before Linux 4.10: the top 3 bits, and anything but a read writes
            return prog.type("enum req_op"), lambda flags: flags >> 61, lambda op: op != 0
        try:
            op_type = prog.type("enum req_op")
        except (KdbgError, LookupError):  # Linux 4.10 to 5.19
            op_type = prog.type("enum req_opf")
        return op_type, lambda flags: flags & 0xFF, lambda op: bool(op & 1)
    return program_cache(prog, "block.req_op", find)


def req_op(rq: Object) -> Object:
    """The operation of request ``rq`` (``struct request *``): ``enum req_op``
    (``enum req_opf`` from Linux 4.10 to 5.19)."""
    r = deref_if_pointer(rq)
    op_type, op_of, _writes = _op_scheme(r.prog_)
    return Object(r.prog_, op_type, op_of(int(r.cmd_flags)))


def op_is_write(op: Object) -> bool:
    """Whether a request operation (``enum req_op``) moves data out (writes)."""
    return _op_scheme(op.prog_)[2](int(op))


def rq_data_dir(rq: Object) -> int:
    """1 if ``rq`` writes, else 0."""
    return int(op_is_write(req_op(rq)))


def blk_rq_pos(rq: Object) -> Object:
    """The sector ``rq`` is at, ``sector_t``."""
    return deref_if_pointer(rq).member_("__sector").read_()


def blk_rq_bytes(rq: Object) -> Object:
    """The bytes left in ``rq``, ``unsigned int``."""
    return deref_if_pointer(rq).member_("__data_len").read_()


def blk_mq_rq_to_pdu(rq: Object) -> Object:
    """The driver's data right after ``rq`` (``struct request *``), ``void *``."""
    return cast("void *", rq + 1)


def blk_mq_rq_from_pdu(pdu: Object) -> Object:
    """The request whose driver data is ``pdu`` (``void *``), ``struct request *``."""
    return cast(pointer_to(pdu.prog_, "struct request"), pdu) - 1


#: Which requests :func:`request_queue_busy_iter` keeps: ``(request, tag) -> keep?``.
_Keep = Optional[Callable[[Object, int], bool]]


def _hw_contexts(q: Object) -> Iterator[Object]:
    """The hardware contexts (``struct blk_mq_hw_ctx *``) of queue *q*: an array of
    ``nr_hw_queues`` before Linux 5.18, the xarray ``hctx_table`` since."""
    if has_member(q.prog_, "struct request_queue", "queue_hw_ctx"):
        table = q.queue_hw_ctx.read_()
        for i in range(int(q.nr_hw_queues)):
            yield table[i].read_()
        return
    hctx_type = pointer_to(q.prog_, "struct blk_mq_hw_ctx")
    for _index, entry in xa_for_each(q.hctx_table.address_of_()):
        yield cast(hctx_type, entry)


def _tagged_requests(tags: Object, rqs: Object, keep: _Keep) -> Iterator[Object]:
    """The requests of *rqs* (``struct request **``) whose tags are set in *tags*
    (``struct blk_mq_tags *``): reserved tags first (bit = tag), then the normal ones
    (bit + ``nr_reserved_tags`` = tag), each kept when *keep* says so."""
    reserved = int(tags.nr_reserved_tags)
    bitmaps = [(tags.breserved_tags, 0)] if reserved else []
    for sbq, first in (*bitmaps, (tags.bitmap_tags, reserved)):
        for bit in sbitmap_for_each_set(sbq.sb.address_of_()):
            tag = first + bit
            rq = rqs[tag].read_()
            if keep is None or keep(rq, tag):
                yield rq


def request_queue_busy_iter(q: Object, tags: Optional[str] = None) -> Iterator[Object]:
    """The busy requests of blk-mq queue *q* (``struct request_queue *``), as ``struct
    request *``.

    *tags* ``"driver"``: the requests holding a driver tag (dispatched to the driver);
    ``"sched"``: those holding a scheduler tag (submitted to the I/O scheduler); the default
    is ``"sched"`` when the queue has a scheduler, else ``"driver"``, so every submitted
    request.  A bio-based queue (no tag set) has none."""
    if tags not in (None, "driver", "sched"):
        raise ValueError(f"request_queue_busy_iter: tags must be 'driver', 'sched' or None, not {tags!r}")
    q = q.read_()
    prog = q.prog_
    tag_set = q.tag_set.read_()
    if not int(tag_set):
        return
    try:  # since Linux 5.10: one set of tags (or one sbitmap) shared by every hardware context
        shared = bool(int(tag_set.flags) & int(prog["BLK_MQ_F_TAG_HCTX_SHARED"]))
    except ObjectNotFoundError:
        shared = False
    if tags != "driver" and int(q.elevator):
        yield from _scheduler_requests(q, shared)
        return
    if tags == "sched":
        return
    if shared and has_member(prog, "struct blk_mq_tag_set", "__bitmap_tags"):
        # Linux 5.10 to 5.15: every hardware context has its own tags, over one sbitmap
        for hctx in _hw_contexts(q):
            t = hctx.tags.read_()
            yield from _tagged_requests(t, t.rqs.read_(), functools.partial(_owned, "mq_hctx", int(hctx)))
        return
    all_tags = tag_set.tags.read_()
    for i in range(1 if shared else int(tag_set.nr_hw_queues)):
        t = all_tags[i].read_()
        yield from _tagged_requests(t, t.rqs.read_(), functools.partial(_owned, "q", int(q)))


def _owned(member: str, owner: int, rq: Object, tag: int) -> bool:
    """Whether *rq* (a tag set's request table entry) is a request with tag *tag* whose
    *member* (``q`` or ``mq_hctx``) is *owner*: a shared table holds other queues' too."""
    return bool(int(rq)) and int(rq.tag) == tag and int(rq.member_(member)) == owner


def _scheduler_requests(q: Object, shared: bool) -> Iterator[Object]:
    """The requests holding a scheduler tag of *q*, which has an I/O scheduler."""
    if shared and has_member(q.prog_, "struct request_queue", "sched_shared_tags"):
        t = q.sched_shared_tags.read_()  # Linux 5.16 and later: one for the whole queue
        yield from _tagged_requests(t, t.static_rqs.read_(), None)
        return
    for hctx in _hw_contexts(q):
        t = hctx.sched_tags.read_()
        # shared before 5.16: one sbitmap over each context's own requests; a set bit is
        # another context's request unless this one's is referenced
        yield from _tagged_requests(t, t.static_rqs.read_(), _referenced if shared else None)


def _referenced(rq: Object, tag: int) -> bool:
    """Whether request *rq* is referenced (its ``refcount_t ref`` is not 0)."""
    return bool(int(rq.ref.refs.counter))
