"""The printk helpers (``kdbg.helpers.printk``) and the ``dmesg`` command.

Ground truth: what the guest printed before it was dumped (``truth/dmesg``, its busybox
``dmesg``; ``truth/console.log``, its serial console) and drgn's own
``get_printk_records`` with Debian's DWARF on the same memory. The ring-buffer cases the
reference guests never reach (a wrapped text ring, a wrapped descriptor ring, reserved and
reusable descriptors, failed and empty texts, garbage) are written into the dump's real
ring through a memory overlay by :class:`RingModel`, which follows the kernel's writer
(``prb_reserve``, ``data_alloc``, ``get_next_lpos``, the tail pushes of
``kernel/printk/printk_ringbuffer.c``).
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

import kdbg
from kdbg.errors import ValidationError
from kdbg.helpers.printk import PrintkRecord, _Layout, get_dmesg, get_printk_records, print_dmesg
from tests.cli_support import clean_env
from tests.conftest import ROOT, resolve_dump
from tests.helpers_oracle import helper_answers
from tests.helpers_support import dump_ids, helper_dumps, open_dump
from tests.memory_overlay import Overlay
from vmcores.debian import SUITES

DUMPS = helper_dumps(filtered_trixie=True)
_STAMP = re.compile(rb"^\[ *(\d+)\.(\d{6})\] ")


# ---------------------------------------------------------------- against the guest


@pytest.mark.parametrize("dump", DUMPS, ids=dump_ids)
def test_dmesg_equals_guest_dmesg(dump: Tuple[str, str, str]) -> None:
    """``get_dmesg`` starts with exactly the guest's ``dmesg`` output (every line, its
    timestamp to the microsecond); what follows was logged after the guest recorded it."""
    truth = resolve_dump(*dump).truth
    want = (truth / "dmesg").read_bytes().splitlines()
    got = get_dmesg(open_dump(*dump)).splitlines()
    assert len(want) > 300
    assert got[: len(want)] == want
    last = _STAMP.match(want[-1])
    assert last
    for line in got[len(want):]:
        m = _STAMP.match(line)
        assert m and (int(m[1]), int(m[2])) >= (int(last[1]), int(last[2])), line


@pytest.mark.parametrize("dump", DUMPS, ids=dump_ids)
def test_dmesg_holds_every_console_line(dump: Tuple[str, str, str]) -> None:
    """Every kernel line of the serial console (timestamped lines) is in ``print_dmesg``'s
    output, same text and timestamp, same order."""
    truth = resolve_dump(*dump).truth
    console = [ln.rstrip(b"\r") for ln in (truth / "console.log").read_bytes().splitlines()]
    kernel_lines = [ln for ln in console if _STAMP.match(ln)]
    assert len(kernel_lines) > 250
    out: List[str] = []

    class Sink:
        def write(self, s: str) -> int:
            out.append(s)
            return len(s)

    print_dmesg(open_dump(*dump), file=Sink())  # type: ignore[arg-type]
    got = "".join(out).encode().splitlines()
    pos = 0
    for line in kernel_lines:
        try:
            pos = got.index(line, pos) + 1
        except ValueError:
            raise AssertionError(f"console line missing or out of order: {line!r}") from None


@pytest.mark.parametrize("suite", SUITES)
def test_records_equal_drgn(suite: str) -> None:
    """Every field of every record equals drgn's ``get_printk_records`` (Debian DWARF,
    the same memory): text, facility, level, seq, timestamp, caller, continuation, the
    SUBSYSTEM/DEVICE context of dev_printk messages."""
    want = helper_answers(suite)["printk.records"]
    got = [
        [r.text.decode("latin-1"), r.facility, r.level, r.seq, r.timestamp, r.caller_tid, r.caller_cpu,
         r.continuation, {k.decode(): v.decode("latin-1") for k, v in r.context.items()}]
        for r in get_printk_records(open_dump(suite))
    ]
    assert got == want
    recs = get_printk_records(open_dump(suite))
    assert all(r.invalid is None for r in recs)
    assert any(r.context for r in recs) and any(r.caller_tid for r in recs)
    assert [r.seq for r in recs] == list(range(recs[0].seq, recs[0].seq + len(recs)))


@pytest.mark.parametrize("suite", SUITES)
def test_dmesg_command(suite: str) -> None:
    """``kdbg -c DUMP -x dmesg`` prints the guest's dmesg (the globals typed by the shipped
    declaration table); ``--json`` one object per record; ``-t`` drops the timestamps; a
    wrong argument is a one-line error, exit 1."""
    dump = resolve_dump(suite, "kdump-zlib", "qemu")
    base = [sys.executable, "-m", "kdbg", "-c", str(dump.path)]
    run = subprocess.run([*base, "-x", "dmesg"], capture_output=True, cwd=ROOT, env=clean_env())
    assert run.returncode == 0, run.stderr
    want = (dump.truth / "dmesg").read_bytes().splitlines()
    assert run.stdout.splitlines()[: len(want)] == want
    run = subprocess.run([*base, "-x", "dmesg -t"], capture_output=True, cwd=ROOT, env=clean_env())
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[: len(want)] == [_STAMP.sub(b"", ln) for ln in want]
    run = subprocess.run([*base, "--json", "-x", "dmesg"], capture_output=True, cwd=ROOT, env=clean_env())
    assert run.returncode == 0, run.stderr
    records = json.loads(run.stdout)
    first = records[0]
    assert first["text"].startswith("Linux version ") and first["timestamp"] == 0 and first["level"] == 5
    assert {"seq", "facility", "caller_tid", "caller_cpu", "continuation", "context"} <= set(first)
    run = subprocess.run([*base, "-x", "dmesg -T"], capture_output=True, cwd=ROOT, env=clean_env(TZ="UTC"))
    assert run.returncode == 0, run.stderr
    assert re.match(rb"\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d UTC \d{4}\] Linux version ", run.stdout)
    run = subprocess.run([*base, "-x", "dmesg -q"], capture_output=True, cwd=ROOT, text=True, env=clean_env())
    assert run.returncode == 1 and run.stderr.count("\n") == 1 and "dmesg -q" not in run.stdout


# ---------------------------------------------------------------- a modelled ring

_ID_MASK = (1 << 62) - 1
_U64 = (1 << 64) - 1


class RingModel:
    """The kernel's writer side of the lockless ring, on byte arrays laid out by the
    dump's BTF: records go in as ``prb_reserve`` + ``prb_final_commit`` put them."""

    def __init__(self, lay: _Layout, count_bits: int, size_bits: int) -> None:
        self.lay = lay
        self.count = 1 << count_bits
        self.size = 1 << size_bits
        self.size_bits = size_bits
        self.descs = bytearray(self.count * lay.desc_size)
        self.infos = bytearray(self.count * lay.info_size)
        self.data = bytearray(self.size)
        desc0 = (-(self.count + 1)) & 0xFFFFFFFF  # DESC0_ID: unsigned int arithmetic
        self.head_id = self.tail_id = desc0
        self._desc(self.count - 1, desc0, 3, 1, 1)  # reusable, FAILED_BLK_LPOS
        self._put(self.infos, 0 * lay.info_size + lay.seq, -self.count & _U64)
        self.head_lpos = self.tail_lpos = -self.size & _U64  # BLK0_LPOS
        #: id -> (record, begin, next) of records whose data is still in the ring (no
        #: positions for an empty record)
        self.live: Dict[int, Tuple[PrintkRecord, Optional[int], Optional[int]]] = {}
        self.states: Dict[int, int] = {}
        self.wrapped_blocks = 0

    @staticmethod
    def _put(buf: bytearray, off: int, value: int, size: int = 8) -> None:
        buf[off:off + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")

    def _desc(self, idx: int, desc_id: int, state: int, begin: int, end: int) -> None:
        d = idx * self.lay.desc_size
        self._put(self.descs, d + self.lay.sv, desc_id | state << 62)
        self._put(self.descs, d + self.lay.begin, begin)
        self._put(self.descs, d + self.lay.next, end)

    def _make_reusable(self, desc_id: int) -> None:
        idx = desc_id % self.count
        d = idx * self.lay.desc_size
        sv = int.from_bytes(self.descs[d:d + 8], "little")
        if sv & _ID_MASK == desc_id:
            self._put(self.descs, d + self.lay.sv, desc_id | 3 << 62)
        self.states[desc_id] = 3
        gone = self.live.pop(desc_id, None)
        if gone is not None and gone[2] is not None and (gone[2] - self.tail_lpos) & _U64 < 1 << 63:
            self.tail_lpos = gone[2]  # its data freed: the data tail moves past it

    def _wraps(self, lpos: int) -> int:
        return lpos >> self.size_bits

    def write(self, text: bytes, *, level: int = 6, facility: int = 0, ts: int = 0, caller: int = 1,
              flags: int = 0, subsystem: bytes = b"", device: bytes = b"", state: int = 2,
              failed: bool = False) -> int:
        """Store one record; returns its id. ``state`` 2 finalized, 1 committed, 0 reserved."""
        lay = self.lay
        new_id = (self.head_id + 1) & _ID_MASK
        if (new_id - self.count) & _ID_MASK == self.tail_id:  # desc_push_tail
            self._make_reusable(self.tail_id)
            self.tail_id = (self.tail_id + 1) & _ID_MASK
        idx = new_id % self.count
        i = idx * lay.info_size
        old_seq = int.from_bytes(self.infos[i + lay.seq:i + lay.seq + 8], "little")
        seq = idx if old_seq == 0 and idx != 0 else (old_seq + self.count) & _U64
        if failed:
            begin = end = 1  # FAILED_LPOS
        elif not text:
            begin = end = 3  # NO_LPOS
        else:
            blk = (len(text) + 8 + 7) & ~7
            begin = self.head_lpos
            end = (begin + blk) & _U64
            if self._wraps(begin) != self._wraps(end):  # get_next_lpos: data at the start
                end = ((end & ~(self.size - 1)) + blk) & _U64
            # data_push_tail: free the oldest blocks until the new one fits
            while (end - self.tail_lpos) & _U64 > self.size:
                oldest = min(k for k, v in self.live.items() if v[2] is not None)
                self._make_reusable(oldest)
            bi = begin & (self.size - 1)
            self._put(self.data, bi, new_id)
            if self._wraps(begin) != self._wraps(end):
                self.wrapped_blocks += 1
                bi = 0
                self._put(self.data, 0, new_id)
            self.data[bi + 8:bi + 8 + len(text)] = text
            self.head_lpos = end
        self._desc(idx, new_id, state, begin, end)
        self._put(self.infos, i + lay.seq, seq)
        self._put(self.infos, i + lay.ts, ts)
        self._put(self.infos, i + lay.text_len, len(text), 2)
        self.infos[i + lay.facility] = facility
        bit, bits = lay.flags
        lbit, _lbits = lay.level
        assert bit // 8 == lbit // 8
        self.infos[i + bit // 8] = (flags << (bit % 8)) | (level << (lbit % 8))
        assert lay.caller_id is not None and lay.subsystem is not None and lay.device is not None
        self._put(self.infos, i + lay.caller_id, caller, 4)
        for (off, size), value in ((lay.subsystem, subsystem), (lay.device, device)):
            self.infos[i + off:i + off + size] = value.ljust(size, b"\0")
        self.head_id = new_id
        self.states[new_id] = state
        rec = PrintkRecord(
            text=text, facility=facility, level=level, seq=seq, timestamp=ts,
            caller_tid=None if caller & 0x80000000 else caller,
            caller_cpu=caller & 0x7FFFFFFF if caller & 0x80000000 else None,
            continuation=bool(flags & lay.log_cont),
            context={k: v for k, v in ((b"SUBSYSTEM", subsystem), (b"DEVICE", device)) if v},
        )
        if not failed:
            self.live[new_id] = (rec, begin, end) if text else (rec, None, None)
        return new_id

    def expected(self) -> List[PrintkRecord]:
        """The records a reader finds: committed or finalized, text still in the ring."""
        out = []
        n = ((self.head_id - self.tail_id) & _ID_MASK) + 1
        for k in range(n):
            i = (self.tail_id + k) & _ID_MASK
            if i in self.live and self.states.get(i) in (1, 2):
                out.append(self.live[i][0])
        return out


def _install(prog: Any, ring: RingModel, **override: int) -> Overlay:
    """Show ``ring`` in place of the dump's ring buffer (same arrays, new contents)."""
    real = prog.memory.memory if isinstance(prog.memory, Overlay) else prog.memory
    ov = Overlay(real)
    prog.memory = ov
    prb = prog["prb"]
    rb_addr = int(prb)
    t = prog.type("struct printk_ringbuffer").strip_typedefs()
    dr = prb[0].desc_ring
    tr = prb[0].text_data_ring

    def field(path: str, value: int, size: int = 8) -> None:
        ov.patches[rb_addr + t.offsetof(path)] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")

    field("desc_ring.count_bits", override.get("count_bits", ring.count.bit_length() - 1), 4)
    field("desc_ring.head_id", override.get("head_id", ring.head_id))
    field("desc_ring.tail_id", override.get("tail_id", ring.tail_id))
    field("text_data_ring.size_bits", override.get("size_bits", ring.size_bits), 4)
    field("text_data_ring.head_lpos", ring.head_lpos)
    field("text_data_ring.tail_lpos", ring.tail_lpos)
    ov.patches[int(dr.descs)] = bytes(ring.descs)
    ov.patches[int(dr.infos)] = bytes(ring.infos)
    ov.patches[int(tr.data)] = bytes(ring.data)
    return ov


def _fresh(suite: str) -> Any:
    return kdbg.open_core(str(resolve_dump(suite, "kdump-zlib", "qemu").path))


def _filled(prog: Any, seed: int = 7, n: int = 90) -> RingModel:
    """A 16-descriptor, 512-byte ring after ``n`` records: both rings wrapped many times."""
    rng = random.Random(seed)
    ring = RingModel(_Layout(prog), 4, 9)
    for k in range(n):
        kind = (k * 3) % 7  # every kind among the last records kept
        text = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz ") for _ in range(rng.randrange(1, 70)))
        kw: Dict[str, Any] = {"ts": 1000 * k + 7, "level": k % 8, "facility": k % 3}
        if kind == 0:
            text = b""
        elif kind == 1:
            text = text + b"\n  second line"
        elif kind == 2:
            kw["caller"] = 0x80000000 | 1
        elif kind == 3:
            kw["flags"] = ring.lay.log_cont
        elif kind == 4:
            kw.update(subsystem=b"pci", device=b"+pci:0000:00:01.0")
        elif kind == 5:
            kw["state"] = 1  # committed, not yet finalized
        ring.write(b"%d: " % k + text if text else b"", **kw)
    return ring


@pytest.mark.parametrize("suite", SUITES)
def test_wrapped_ring_reads_as_the_kernel_wrote_it(suite: str) -> None:
    """Both rings wrapped many times, some data blocks wrapping past the end of the text
    ring, empty (NO_LPOS) records, continuation records, CPU callers, dev_info, committed
    and finalized states: the records read are exactly those a reader finds."""
    prog = _fresh(suite)
    ring = _filled(prog)
    assert ring.wrapped_blocks >= 3
    want = ring.expected()
    assert any(b is not None and e is not None and b >> 9 != e >> 9 for _r, b, e in ring.live.values())
    _install(prog, ring)
    got = get_printk_records(prog)
    assert got == want
    assert any(r.text == b"" for r in got) and any(r.continuation for r in got) and any(r.caller_cpu for r in got)
    text = get_dmesg(prog)
    assert text.count(b"\n") == sum(r.text.count(b"\n") + 1 for r in want)
    assert b"[    0.000007] 0: " in text or b"[    0.000007]" not in text


@pytest.mark.parametrize("suite", SUITES)
def test_reserved_reusable_and_failed_descriptors_are_passed_over(suite: str) -> None:
    """A record still reserved by its writer, one whose text could not be stored
    (FAILED_LPOS) and the reusable descriptors at the tail are not records."""
    prog = _fresh(suite)
    ring = _filled(prog, n=40)
    failed = ring.write(b"", failed=True, ts=5)
    ring.write(b"a good one", ts=6)
    reserved = ring.write(b"half written", state=0, ts=7)
    _install(prog, ring)
    got = get_printk_records(prog)
    assert got == ring.expected()
    assert got[-1].text == b"a good one"
    assert failed not in ring.live and reserved in ring.live


def _corrupt(prog: Any, ring: RingModel, desc_id: int, what: str) -> None:
    lay = ring.lay
    idx = desc_id % ring.count
    d, i = idx * lay.desc_size, idx * lay.info_size
    if what == "lpos":
        ring._put(ring.descs, d + lay.begin, 0x1234567)
        ring._put(ring.descs, d + lay.next, 0x10)
    elif what == "seq":
        ring._put(ring.infos, i + lay.seq, 0xDEADBEEF01)
    elif what == "text_len":
        ring._put(ring.infos, i + lay.text_len, 0xFFF0, 2)
    elif what == "block":
        begin = int.from_bytes(ring.descs[d + lay.begin:d + lay.begin + 8], "little")
        ring._put(ring.data, begin & (ring.size - 1), 0x5555)
    elif what == "state":
        ring._put(ring.descs, d + lay.sv, 0x0123456789 | 2 << 62)


@pytest.mark.parametrize("what", ["lpos", "seq", "text_len", "block", "state"])
def test_garbage_descriptor_is_a_marked_skipped_record(what: str) -> None:
    """A descriptor with garbage is one record marked invalid (with why), the others
    read as before; dmesg prints one line saying it was skipped."""
    prog = _fresh("bookworm")
    ring = _filled(prog, n=60)
    good = [i for i in ring.live if ring.live[i][0].text and ring.states[i] == 2]
    victim = good[len(good) // 2]
    _corrupt(prog, ring, victim, what)
    _install(prog, ring)
    got = get_printk_records(prog)
    bad = [r for r in got if r.invalid is not None]
    assert len(bad) == 1, bad
    assert bad[0].text == b"" and "\n" not in bad[0].invalid and f"id {victim:#x}" in bad[0].invalid
    want = [r for r in ring.expected() if r != ring.live[victim][0]]
    assert [r for r in got if r.invalid is None] == want
    lines = [ln for ln in get_dmesg(prog).splitlines() if ln.startswith(b"kdbg: skipped printk record")]
    assert len(lines) == 1


@pytest.mark.parametrize(
    "override",
    [{"head_id": 0x1000}, {"tail_id": 12345678}, {"head_id": 1 << 63}, {"count_bits": 60}, {"size_bits": 0}],
    ids=["head", "tail", "state-bits", "count_bits", "size_bits"],
)
def test_garbage_ring_is_one_line_error(override: Dict[str, int]) -> None:
    """Head and tail further apart than the ring, or an absurd geometry: one-line
    ValidationError naming the ring buffer, never a hang or a huge read."""
    prog = _fresh("trixie")
    ring = _filled(prog, n=30)
    _install(prog, ring, **override)
    with pytest.raises(ValidationError) as info:
        get_printk_records(prog)
    msg = str(info.value)
    assert "\n" not in msg and "printk ring buffer at" in msg


@pytest.mark.parametrize("seed", range(6))
def test_random_descriptor_ring_ends(seed: int) -> None:
    """Random bytes in every descriptor, info and data block: the read ends (bounded by
    the ring's size) with good, marked or no records, or a one-line error."""
    prog = _fresh("bullseye")
    ring = _filled(prog, n=50)
    rng = random.Random(seed)
    for buf in (ring.descs, ring.infos, ring.data):
        for k in range(len(buf)):
            if rng.random() < 0.3:
                buf[k] = rng.randrange(256)
    _install(prog, ring)
    try:
        got = get_printk_records(prog)
    except ValidationError as e:
        assert "\n" not in str(e)
        return
    assert len(got) <= ring.count
    for r in got:
        assert r.invalid is None or (r.text == b"" and "\n" not in r.invalid)
    get_dmesg(prog)


def test_no_ring_buffer_is_a_clear_error(btf618_path: Path) -> None:
    """A program without memory or without ``prb``: one clear error, not a traceback."""
    prog = kdbg.open_files(btf=[str(btf618_path)])
    with pytest.raises(kdbg.KdbgError) as info:
        get_printk_records(prog)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("suite", SUITES)
def test_human_timestamps(suite: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``timestamps='human'``: the wall-clock date of each record, from the timekeeper's
    offs_real (tk_core laid out from BTF); the RTC's own message "setting system clock to
    ... (N)" is stamped with second N. Other values are refused; ``False`` drops stamps."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        prog = open_dump(suite)
        lines = get_dmesg(prog, timestamps="human").splitlines()
    finally:
        monkeypatch.undo()
        time.tzset()
    line = next(ln for ln in lines if b"setting system clock to" in ln)
    epoch = int(re.search(rb"\((\d+)\)$", line)[1])  # type: ignore[index]
    assert line.startswith(b"[" + time.strftime("%a %b %e %T UTC %Y", time.gmtime(epoch)).encode() + b"] ")
    with pytest.raises(ValueError):
        get_dmesg(prog, timestamps="sometimes")  # type: ignore[arg-type]
    assert get_dmesg(prog, timestamps=False).startswith(b"Linux version ")
