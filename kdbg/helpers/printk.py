"""The kernel log buffer: drgn's ``drgn.helpers.linux.printk`` names and signatures.

Linux 5.10 and later keep the log in the lockless ring buffer of
``kernel/printk/printk_ringbuffer.c`` (``prb``, a ``struct printk_ringbuffer *``): a ring
of descriptors (``desc_ring.descs``, each a ``state_var`` holding the record's id and its
state in the top two bits, plus the logical positions ``text_blk_lpos`` of its text), a
parallel array of ``struct printk_info`` (sequence number, timestamp, level, caller id,
device info) and a ring of text data blocks (``text_data_ring``, each block an
``unsigned long`` id followed by the text). Records are read from the oldest descriptor id
(``tail_id``) to the newest (``head_id``) the way the kernel's own readers read them:

* a descriptor whose state is ``desc_committed`` or ``desc_finalized`` and whose id matches
  is a record; ``desc_reusable`` (its text may be overwritten) and ``desc_reserved`` (a
  writer was still filling it) are passed over, as are records whose text the writer
  failed to store (``FAILED_LPOS``), as the kernel passes over them;
* a data block that wraps past the end of the ring keeps its text at the ring's start
  (``get_data()``'s wrapping case); a data-less record (``NO_LPOS``) is an empty line;
* continuation lines (``pr_cont``) are already appended to their record by the kernel
  (``prb_reserve_in_last``); a continuation that could not be appended is its own record
  with :attr:`PrintkRecord.continuation` set, printed on its own line as the kernel does.

A descriptor that makes no sense (text positions the kernel would reject, a sequence
number that belongs to another slot, a data block holding another record's id, a text
longer than its block) is not guessed at: it comes back as a record whose
:attr:`PrintkRecord.invalid` says why (its text empty), and :func:`get_dmesg` prints one
line marking it as skipped. A ring whose head and tail ids are further apart than it has
descriptors, or whose sizes are absurd, raises :class:`~kdbg.errors.ValidationError`.
Every loop is bounded by the number of descriptors.

Unlike drgn's, :func:`get_dmesg` prefixes every line of a multi-line record with the
record's timestamp, as the kernel's ``syslog()`` (and so ``dmesg(1)``) does.
"""

from __future__ import annotations

import sys
import time
from typing import IO, TYPE_CHECKING, Dict, List, Literal, NamedTuple, Optional, Tuple, Union

from kdbg.core.default import takes_program_or_default
from kdbg.errors import FaultError, NotFoundError, ObjectNotFoundError, ValidationError
from kdbg.helpers.common import describe_address
from kdbg.helpers.timekeeping import timekeeper

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["PrintkRecord", "get_dmesg", "get_printk_records", "print_dmesg"]

Timestamps = Union[bool, Literal["human"]]

# kernel/printk/printk_ringbuffer.h (unsigned long is 64 bits on x86-64).
_SV_BITS = 64
_FLAGS_SHIFT = _SV_BITS - 2
_ID_MASK = (1 << _FLAGS_SHIFT) - 1
_ULONG_MASK = (1 << _SV_BITS) - 1
_FAILED_LPOS = 0x1
_NO_LPOS = 0x3
_ID_SIZE = 8  # sizeof(struct prb_data_block.id)
#: Sanity bounds on the ring's geometry: the kernel's log_buf_len is at most 2 GiB
#: (``LOG_BUF_LEN_MAX``) and there is one descriptor per 32 bytes of text on average.
_MAX_SIZE_BITS = 31
_MAX_COUNT_BITS = 26


class PrintkRecord(NamedTuple):
    """One record of the kernel log (drgn's fields, plus :attr:`invalid`)."""

    text: bytes
    """Message text (no trailing newline; may hold newlines of a multi-line message)."""
    facility: int
    """:manpage:`syslog(3)` facility."""
    level: int
    """Log level (0, ``KERN_EMERG``, to 7, ``KERN_DEBUG``)."""
    seq: int
    """Sequence number."""
    timestamp: int
    """Timestamp in nanoseconds (the kernel's ``local_clock()`` when it was logged)."""
    caller_tid: Optional[int]
    """Thread id of the task that logged it, when logged from task context."""
    caller_cpu: Optional[int]
    """CPU that logged it, when logged outside task context (an interrupt)."""
    continuation: bool
    """Whether this record continues the previous one (``LOG_CONT``)."""
    context: Dict[bytes, bytes]
    """``SUBSYSTEM`` and ``DEVICE`` of a ``dev_printk()`` message (``/dev/kmsg``'s keys)."""
    invalid: Optional[str] = None
    """kdbg: why this descriptor could not be read as a record (then :attr:`text` is
    empty and the other fields are what the descriptor held); ``None`` for a good one."""


def _caller_id(caller_id: int) -> Tuple[Optional[int], Optional[int]]:
    if caller_id & 0x80000000:
        return None, caller_id & 0x7FFFFFFF
    return caller_id, None


class _Layout:
    """Offsets (and bitfield positions) of what is read from the raw arrays."""

    def __init__(self, prog: Program) -> None:
        desc = prog.type("struct prb_desc").strip_typedefs()
        info = prog.type("struct printk_info").strip_typedefs()
        self.desc_size = desc.sizeof()
        self.info_size = info.sizeof()
        self.sv = desc.offsetof("state_var")  # type: ignore[attr-defined]
        lpos = desc.offsetof("text_blk_lpos")  # type: ignore[attr-defined]
        blk = prog.type("struct prb_data_blk_lpos").strip_typedefs()
        self.begin = lpos + blk.offsetof("begin")  # type: ignore[attr-defined]
        self.next = lpos + blk.offsetof("next")  # type: ignore[attr-defined]
        self.seq = info.offsetof("seq")  # type: ignore[attr-defined]
        self.ts = info.offsetof("ts_nsec")  # type: ignore[attr-defined]
        self.text_len = info.offsetof("text_len")  # type: ignore[attr-defined]
        self.facility = info.offsetof("facility")  # type: ignore[attr-defined]
        self.flags = self._bits(info, "flags")
        self.level = self._bits(info, "level")
        self.caller_id: Optional[int] = info.offsetof("caller_id") if info.has_member("caller_id") else None  # type: ignore[attr-defined]
        self.subsystem: Optional[Tuple[int, int]] = None
        self.device: Optional[Tuple[int, int]] = None
        if info.has_member("dev_info"):
            dev = info.offsetof("dev_info")  # type: ignore[attr-defined]
            dt = info.member("dev_info").type.strip_typedefs()
            for name in ("subsystem", "device"):
                m = dt.member(name)
                setattr(self, name, (dev + m.offset, m.type.sizeof()))
        try:
            self.log_cont = prog.constant("LOG_CONT").value_()
        except NotFoundError:
            self.log_cont = 8

    @staticmethod
    def _bits(info: object, name: str) -> Tuple[int, int]:
        m = info.member(name)  # type: ignore[attr-defined]
        return m.bit_offset, (m.bitfield_size or 8 * m.type.sizeof())


def _u64(buf: bytes, off: int) -> int:
    return int.from_bytes(buf[off:off + 8], "little")


def _field(buf: bytes, base: int, where: Tuple[int, int]) -> int:
    """A bitfield ``(bit offset, bits)`` of the structure at ``base`` in ``buf``."""
    bit, bits = where
    first = base + bit // 8
    raw = int.from_bytes(buf[first:first + (bit % 8 + bits + 7) // 8], "little")
    return (raw >> (bit % 8)) & ((1 << bits) - 1)


def _cstring(raw: bytes) -> bytes:
    end = raw.find(b"\0")
    return raw if end < 0 else raw[:end]


class _Ring:
    """The ring buffer ``prb`` points to, its arrays read once."""

    def __init__(self, prog: Program) -> None:
        self.prog = prog
        try:
            prb = prog["prb"]
        except NotFoundError as e:
            raise ObjectNotFoundError(
                "no 'prb' (the lockless printk ring buffer of Linux 5.10 and later): "
                f"kdbg reads only that log buffer ({e})") from None
        self.where = f"printk ring buffer at {describe_address(prog, int(prb))}"
        if not int(prb):
            raise ValidationError(f"{self.where}: prb is NULL")
        rb = prb[0].read_()
        dr = rb.desc_ring
        tr = rb.text_data_ring
        self.count_bits = int(dr.count_bits)
        self.size_bits = int(tr.size_bits)
        if not 0 < self.count_bits <= _MAX_COUNT_BITS or not 0 < self.size_bits <= _MAX_SIZE_BITS:
            raise ValidationError(
                f"{self.where}: implausible geometry (desc_ring.count_bits {self.count_bits}, "
                f"text_data_ring.size_bits {self.size_bits})")
        self.count = 1 << self.count_bits
        self.size = 1 << self.size_bits
        self.head_id = int(dr.head_id.counter) & _ULONG_MASK
        self.tail_id = int(dr.tail_id.counter) & _ULONG_MASK
        lay = self.layout = _Layout(prog)
        self.descs_addr = int(dr.descs)
        self.infos_addr = int(dr.infos)
        self.data_addr = int(tr.data)
        self.descs = self._read(self.descs_addr, self.count * lay.desc_size, "descriptor array")
        self.infos = self._read(self.infos_addr, self.count * lay.info_size, "info array")
        self.data = self._read(self.data_addr, self.size, "text data ring")

    def _read(self, address: int, size: int, what: str) -> bytes:
        try:
            return self.prog.read(address, size)
        except FaultError as e:
            raise ValidationError(f"{self.where}: cannot read its {what} ({size} bytes): {e}") from None

    def span(self) -> int:
        """How many descriptor ids lie from the tail to the head, both included."""
        if (self.head_id | self.tail_id) & ~_ID_MASK:
            raise ValidationError(
                f"{self.where}: head id {self.head_id:#x} or tail id {self.tail_id:#x} "
                "has state bits set")
        n = ((self.head_id - self.tail_id) & _ID_MASK) + 1
        if n > self.count:
            raise ValidationError(
                f"{self.where}: tail id {self.tail_id:#x} and head id {self.head_id:#x} are "
                f"{n} descriptors apart, more than the ring's {self.count}")
        return n

    def text(self, desc_id: int, begin: int, end: int, text_len: int) -> Tuple[Optional[bytes], Optional[str]]:
        """``(text, None)``, ``(None, None)`` for a record the kernel skips too (its data
        lost), or ``(None, reason)`` for positions the kernel would reject
        (``get_data()``)."""
        if begin & 1 and end & 1:  # data-less
            if begin == _NO_LPOS and end == _NO_LPOS:
                return b"", None
            if begin == _FAILED_LPOS and end == _FAILED_LPOS:
                return None, None
            return None, f"bad data-less text positions {begin:#x}..{end:#x}"
        size = self.size
        wraps = self.size_bits
        if begin >> wraps == end >> wraps and begin < end:
            block = begin & (size - 1)
            data_size = end - begin
        elif ((begin + size) & _ULONG_MASK) >> wraps == end >> wraps:
            block = 0  # a wrapping block keeps its data at the start of the ring
            data_size = end & (size - 1)
        else:
            return None, f"illegal text positions {begin:#x}..{end:#x}"
        if begin % _ID_SIZE or end % _ID_SIZE:
            return None, f"misaligned text positions {begin:#x}..{end:#x}"
        if data_size < _ID_SIZE or block + data_size > size:
            return None, f"text block of {data_size} bytes at {begin:#x}..{end:#x} is impossible"
        blk_id = _u64(self.data, block)
        if blk_id & _ID_MASK != desc_id:
            return None, f"its text block holds record id {blk_id:#x} (overwritten)"
        data_size -= _ID_SIZE
        if text_len > data_size:
            return None, f"text_len {text_len} exceeds its {data_size}-byte text block"
        start = block + _ID_SIZE
        return self.data[start:start + text_len], None

    def records(self) -> List[PrintkRecord]:
        """Every record from the tail to the head (invalid ones marked)."""
        lay = self.layout
        descs, infos = self.descs, self.infos
        out: List[PrintkRecord] = []
        mask = self.count - 1
        desc_id = self.tail_id
        for _ in range(self.span()):
            idx = desc_id & mask
            d = idx * lay.desc_size
            sv = _u64(descs, d + lay.sv)
            state = sv >> _FLAGS_SHIFT
            this_id = desc_id
            desc_id = (desc_id + 1) & _ID_MASK
            if sv & _ID_MASK != this_id:
                if state == 3 and (sv & _ID_MASK) == ((this_id - self.count) & _ID_MASK):
                    continue  # the bootstrap or a freed descriptor not yet reused
                out.append(self._invalid(this_id, idx, f"its state holds id {sv & _ID_MASK:#x}"))
                continue
            if state not in (1, 2):  # desc_committed, desc_finalized
                continue  # desc_reserved (being written) or desc_reusable (text may be gone)
            i = idx * lay.info_size
            seq = _u64(infos, i + lay.seq)
            if seq & mask != idx:
                out.append(self._invalid(this_id, idx, f"sequence number {seq} belongs to another slot"))
                continue
            text_len = int.from_bytes(infos[i + lay.text_len:i + lay.text_len + 2], "little")
            text, why = self.text(this_id, _u64(descs, d + lay.begin), _u64(descs, d + lay.next), text_len)
            if text is None:
                if why is not None:
                    out.append(self._invalid(this_id, idx, why))
                continue
            out.append(self._record(idx, text))
        return out

    def _record(self, idx: int, text: bytes, invalid: Optional[str] = None) -> PrintkRecord:
        lay = self.layout
        infos = self.infos
        i = idx * lay.info_size
        if lay.caller_id is not None:
            tid, cpu = _caller_id(int.from_bytes(infos[i + lay.caller_id:i + lay.caller_id + 4], "little"))
        else:
            tid = cpu = None
        context: Dict[bytes, bytes] = {}
        for key, where in ((b"SUBSYSTEM", lay.subsystem), (b"DEVICE", lay.device)):
            if where is not None:
                value = _cstring(infos[i + where[0]:i + where[0] + where[1]])
                if value:
                    context[key] = value
        return PrintkRecord(
            text=text,
            facility=infos[i + lay.facility],
            level=_field(infos, i, lay.level),
            seq=_u64(infos, i + lay.seq),
            timestamp=_u64(infos, i + lay.ts),
            caller_tid=tid,
            caller_cpu=cpu,
            continuation=bool(_field(infos, i, lay.flags) & lay.log_cont),
            context=context,
            invalid=invalid,
        )

    def _invalid(self, desc_id: int, idx: int, why: str) -> PrintkRecord:
        return self._record(idx, b"", f"descriptor {idx} (id {desc_id:#x}): {why}")


@takes_program_or_default
def get_printk_records(prog: Program) -> List[PrintkRecord]:
    """The records of the kernel log buffer, oldest first.

    Descriptors that cannot be read as records are included with
    :attr:`PrintkRecord.invalid` set (see the module documentation); filter on it for only
    the good ones.
    """
    return _Ring(prog).records()


def _boot_time_ns(prog: Program) -> int:
    """Wall-clock time of boot in nanoseconds: the timekeeper's ``offs_real``
    (CLOCK_REALTIME minus CLOCK_MONOTONIC), as drgn's ``ktime_get_coarse_real_ns() -
    ktime_get_coarse_ns()``."""
    return int(timekeeper(prog).offs_real)


def _format_line_prefix(ts: int) -> bytes:
    return b"[%5d.%06d] " % (ts // 1000000000, ts % 1000000000 // 1000)


@takes_program_or_default
def get_dmesg(prog: Program, *, timestamps: Timestamps = True) -> bytes:
    """The kernel log formatted like :manpage:`dmesg(1)`: ``[   seconds.micros] text``
    per line, every line of a multi-line record prefixed (as the kernel's ``syslog()``
    does), a trailing newline.

    :param timestamps: ``True`` for seconds since boot, ``False`` for none, ``"human"``
        for the wall-clock date (right only for messages since the last resume).
    """
    if timestamps == "human":
        boot = _boot_time_ns(prog)

        def prefix(ts: int) -> bytes:
            stamp = time.strftime("%a %b %e %T %Z %Y", time.localtime((boot + ts) // 1000000000))
            return b"[" + stamp.encode() + b"] "
    elif timestamps is True:
        prefix = _format_line_prefix
    elif timestamps is False:
        def prefix(ts: int) -> bytes:
            return b""
    else:
        raise ValueError(f"timestamps must be True, False or 'human', not {timestamps!r}")
    lines: List[bytes] = []
    for rec in get_printk_records(prog):
        if rec.invalid is not None:
            lines.append(b"kdbg: skipped printk record: " + rec.invalid.encode())
            continue
        p = prefix(rec.timestamp)
        lines.extend(p + line for line in rec.text.split(b"\n"))
    lines.append(b"")
    return b"\n".join(lines)


@takes_program_or_default
def print_dmesg(prog: Program, *, timestamps: Timestamps = True, file: Optional[IO[str]] = None) -> None:
    """Print the kernel log (see :func:`get_dmesg`) to ``file`` (default: standard output)."""
    (sys.stdout if file is None else file).write(get_dmesg(prog, timestamps=timestamps).decode(errors="replace"))
