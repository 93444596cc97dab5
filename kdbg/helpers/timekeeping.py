"""Timestamps: drgn's ``drgn.helpers.linux.timekeeping``.

A dump holds the kernel's timekeeper as it was at the last tick, so only the coarse
clocks can be recovered: ``ktime_get_seconds()``, ``ktime_get_coarse_ns()`` and their
real-time, boot-time and TAI relatives, as the kernel's own ``ktime_get_coarse*()``
compute them from ``tk_core.timekeeper``:

* monotonic ns: ``tkr_mono.base`` plus ``coarse_nsec`` (6.15 and later) or
  ``tkr_mono.xtime_nsec >> tkr_mono.shift`` (before);
* real time, boot time, TAI: that plus ``offs_real``, ``offs_boot``, ``offs_tai``.

The timekeeper is read in one piece and its sequence count checked: an odd count means
the dump caught the kernel updating it (a warning on ``kdbg``'s logger; a live kernel is
read again). ``tk_core`` is an anonymous struct in ``kernel/time/timekeeping.c``: when no
declaration types it, it is laid out from BTF as that file defines it (a
``seqcount_raw_spinlock_t``, then the ``struct timekeeper`` at its alignment), checked
against the symbol's size. Since Linux 6.17 it is ``timekeeper_data[TIMEKEEPER_CORE]``
(a ``struct tk_data``, which BTF describes): a kernel whose BTF has ``TIMEKEEPER_CORE``
reads that, and a missing ``timekeeper_data`` is an error saying why, never the old
layout at another symbol.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Dict, Optional, Tuple

from kdbg.core.conversions import cast
from kdbg.core.default import takes_program_or_default
from kdbg.core.object import Object
from kdbg.errors import KdbgError, ObjectNotFoundError, ObjectTypeError
from kdbg.helpers.common import program_cache, unknown_global

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = [
    "ktime_get_boottime_seconds",
    "ktime_get_clocktai_seconds",
    "ktime_get_coarse_boottime_ns",
    "ktime_get_coarse_clocktai_ns",
    "ktime_get_coarse_ns",
    "ktime_get_coarse_real_ns",
    "ktime_get_real_seconds",
    "ktime_get_seconds",
    "ktime_to_ns",
    "uptime",
    "uptime_pretty",
]

logger = logging.getLogger("kdbg")
_U64 = (1 << 64) - 1
_NSEC_PER_SEC = 1_000_000_000
#: How many times a live kernel's timekeeper is read again while it is being updated.
_LIVE_RETRIES = 1000


def ktime_to_ns(kt: Object) -> Object:
    """A ``ktime_t`` in nanoseconds (``s64``)."""
    if not isinstance(kt, Object):
        raise ObjectTypeError(f"ktime_to_ns() takes a ktime_t Object, not {type(kt).__name__}")
    try:
        return cast("s64", kt)
    except ObjectTypeError:
        return kt.tv64.read_()  # before Linux 4.10, ktime_t was a union around an s64


def _timekeeper_ids(prog: Program) -> Optional[int]:
    """``TIMEKEEPER_CORE`` where BTF has ``enum timekeeper_ids`` (Linux 6.17 and later:
    the timekeepers are ``timekeeper_data[]``), else ``None``."""
    try:
        return int(prog.constant("TIMEKEEPER_CORE"))
    except (KdbgError, LookupError):
        return None


def _tk_core(prog: Program) -> Tuple[Object, Object]:
    """``(seq, timekeeper)`` of ``tk_core`` (see the module documentation)."""

    def find() -> Tuple[Object, Object]:
        core_id = _timekeeper_ids(prog)
        if core_id is not None:  # 6.17 and later: struct tk_data timekeeper_data[TIMEKEEPERS_MAX]
            sym = prog.symbol_table.get("timekeeper_data")
            if sym is None:
                raise unknown_global(prog, "timekeeper_data", "the time (the timekeeper)")
            data = prog.type("struct tk_data")
            core = Object(prog, data, address=sym.address + core_id * data.sizeof())
            return core.seq, core.timekeeper
        try:
            core = prog["tk_core"]
            return core.seq, core.timekeeper
        except (KdbgError, LookupError, AttributeError):
            pass
        sym = prog.symbol_table.get("tk_core")
        if sym is None:
            raise unknown_global(prog, "tk_core", "the time (the timekeeper)")
        tk = prog.type("struct timekeeper")
        seq = prog.type("seqcount_raw_spinlock_t")
        align = tk.alignment
        off = (seq.sizeof() + align - 1) // align * align
        if sym.size is not None and sym.size != off + tk.sizeof():
            raise ObjectNotFoundError(
                f"the timekeeper is unknown: tk_core is {sym.size} bytes, not the {off + tk.sizeof()} "
                "of a seqcount and a struct timekeeper; declare it")
        return Object(prog, seq, address=sym.address), Object(prog, tk, address=sym.address + off)

    return program_cache(prog, "timekeeping.tk_core", find)


def timekeeper(prog: Program) -> Object:
    """The kernel's ``struct timekeeper`` (``tk_core.timekeeper``); for the other helper
    modules (printk's timestamps), not exported."""
    return _tk_core(prog)[1]


class _Snapshot:
    """Where the fields the coarse clocks need lie, relative to one read of the timekeeper."""

    def __init__(self, prog: Program) -> None:
        seq, tk = _tk_core(prog)
        seq = seq.seqcount if seq.type_.unaliased().has_member("seqcount") else seq
        fields: Dict[str, Object] = {
            "seq": seq.sequence, "base": tk.tkr_mono.base, "offs_real": tk.offs_real,
            "offs_boot": tk.offs_boot, "offs_tai": tk.offs_tai,
        }
        if tk.type_.unaliased().has_member("coarse_nsec"):
            fields["coarse_nsec"] = tk.coarse_nsec
        else:
            fields["xtime_nsec"] = tk.tkr_mono.xtime_nsec
            fields["shift"] = tk.tkr_mono.shift
        addresses = {name: f.address_ for name, f in fields.items()}
        if any(a is None for a in addresses.values()):
            raise ObjectNotFoundError("the timekeeper is not in memory")
        self.start: int = min(a for a in addresses.values() if a is not None)
        end = max(a + f.type_.sizeof() for (a, f) in  # type: ignore[operator]
                  ((addresses[n], fields[n]) for n in fields))
        self.size = end - self.start
        #: name -> (offset in the snapshot, size in bytes)
        self.where: Dict[str, Tuple[int, int]] = {
            n: (addresses[n] - self.start, fields[n].type_.sizeof()) for n in fields}  # type: ignore[operator]

    def read(self, prog: Program) -> Dict[str, int]:
        """The fields, unsigned, from one read (retried on a live kernel mid-update)."""
        for _ in range(_LIVE_RETRIES):
            buf = prog.read(self.start, self.size)
            values = {n: int.from_bytes(buf[o:o + s], "little") for n, (o, s) in self.where.items()}
            if not values["seq"] & 1:
                return values
            if not (prog.memory is not None and prog.memory.is_live):
                logger.warning("timekeeper was write-locked; ktime may be inconsistent")
                return values
        logger.warning("couldn't get unlocked snapshot of timekeeper; ktime may be inconsistent")
        return values


def _coarse_ns(prog: Program, offset: Optional[str]) -> Object:
    snap = program_cache(prog, "timekeeping.snapshot", lambda: _Snapshot(prog))
    v = snap.read(prog)
    ns = v["base"] + (v["coarse_nsec"] if "coarse_nsec" in v else v["xtime_nsec"] >> v["shift"])
    if offset is not None:
        ns += v[offset]
    return Object(prog, "u64", ns & _U64)


@takes_program_or_default
def ktime_get_seconds(prog: Program) -> Object:
    """Seconds of the monotonic clock (``CLOCK_MONOTONIC_COARSE``), ``time64_t``."""
    return cast("time64_t", timekeeper(prog).ktime_sec)


@takes_program_or_default
def ktime_get_coarse_ns(prog: Program) -> Object:
    """The coarse monotonic clock in nanoseconds (``CLOCK_MONOTONIC_COARSE``), ``u64``."""
    return _coarse_ns(prog, None)


@takes_program_or_default
def ktime_get_real_seconds(prog: Program) -> Object:
    """Seconds of the real (wall) clock (``CLOCK_REALTIME_COARSE``), ``time64_t``: the
    ``CRASHTIME`` a kdump kernel wrote into VMCOREINFO, else the timekeeper's."""
    info = prog.vmcoreinfo
    crashtime = info.get("CRASHTIME") if info is not None else None
    if crashtime is not None and re.fullmatch(r"[0-9]+", crashtime):
        return Object(prog, "time64_t", int(crashtime))
    return cast("time64_t", timekeeper(prog).xtime_sec)


@takes_program_or_default
def ktime_get_coarse_real_ns(prog: Program) -> Object:
    """The coarse real (wall) clock in nanoseconds (``CLOCK_REALTIME_COARSE``), ``u64``."""
    return _coarse_ns(prog, "offs_real")


@takes_program_or_default
def ktime_get_coarse_boottime_ns(prog: Program) -> Object:
    """The coarse time since boot in nanoseconds (coarse ``CLOCK_BOOTTIME``), ``u64``."""
    return _coarse_ns(prog, "offs_boot")


@takes_program_or_default
def ktime_get_boottime_seconds(prog: Program) -> Object:
    """Seconds since boot (coarse ``CLOCK_BOOTTIME``), ``time64_t``."""
    return Object(prog, "time64_t", int(ktime_get_coarse_boottime_ns(prog)) // _NSEC_PER_SEC)


@takes_program_or_default
def ktime_get_coarse_clocktai_ns(prog: Program) -> Object:
    """The coarse International Atomic Time in nanoseconds (coarse ``CLOCK_TAI``), ``u64``."""
    return _coarse_ns(prog, "offs_tai")


@takes_program_or_default
def ktime_get_clocktai_seconds(prog: Program) -> Object:
    """Seconds of International Atomic Time (coarse ``CLOCK_TAI``), ``time64_t``."""
    return Object(prog, "time64_t", int(ktime_get_coarse_clocktai_ns(prog)) // _NSEC_PER_SEC)


@takes_program_or_default
def uptime(prog: Program) -> float:
    """Seconds since boot as of the last tick, with fractions."""
    return int(ktime_get_coarse_boottime_ns(prog)) / 1e9


_UNITS = (("year", 365 * 24 * 3600), ("week", 7 * 24 * 3600), ("day", 24 * 3600), ("hour", 3600), ("minute", 60))


@takes_program_or_default
def uptime_pretty(prog: Program) -> str:
    """The uptime in words: ``'1 day, 6 hours, 56 minutes, 40 seconds'``."""
    seconds = int(ktime_get_boottime_seconds(prog))
    parts = []
    for unit, size in _UNITS:
        if seconds >= size:
            n, seconds = divmod(seconds, size)
            parts.append(f"{n} {unit}{'' if n == 1 else 's'}")
    if seconds or not parts:
        parts.append(f"{seconds} second{'' if seconds == 1 else 's'}")
    return ", ".join(parts)
