"""``sys`` and ``log``: the system summary and the kernel log, as crash prints them.

``sys`` prints crash's lines, each label right-aligned in 12 columns: ``KERNEL`` (kdbg has
no vmlinux: the types and symbols came from the dump's own BTF and kallsyms; ``[TAINTED]``
as crash marks a tainted kernel), ``DUMPFILE``, ``CPUS`` (the present CPUs, ``[OFFLINE:
N]`` for those not online: a panic stops the others), ``DATE`` (the timekeeper's wall
clock, in UTC), ``UPTIME`` (``[N days, ]HH:MM:SS``), ``LOAD AVERAGE``, ``TASKS`` (every
task and each CPU's idle task, as ``ps`` lists them), ``NODENAME``, ``RELEASE``,
``VERSION``, ``MACHINE`` (with ``cpu_khz`` in MHz), ``MEMORY`` (the nodes' present pages)
and ``PANIC`` (the log's panic line by crash's rule, :func:`crash_panic_message`; ``""``
when the kernel did not panic). ``sys -t``
prints crash's ``TAINTED_MASK: <hex mask>  <letters of the flags set>``. ``--json`` gives
the same fields as one object.

``log`` is the kernel log as crash's ``log`` prints it: ``[seconds.micros] text``, the
lines of a multi-line record after the first indented under the text; ``-T`` puts the
wall-clock date in the brackets (``[Sun Dec  6 18:50:00 UTC 2026]``), ``-t`` drops the
timestamps, ``-m`` adds each record's level (``<6>``) before its text. ``--json``: one
object per record (``plugins/dmesg.py``'s rows).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Dict, List, Optional

from kdbg.errors import ExpressionError, KdbgError
from kdbg.helpers import for_each_task
from kdbg.helpers.audit import audit_messages
from kdbg.helpers.cpumask import for_each_online_cpu, for_each_present_cpu
from kdbg.helpers.mmzone import for_each_online_pgdat
from kdbg.helpers.panic import tainted
from kdbg.helpers.printk import get_dmesg, get_printk_records
from kdbg.helpers.sched import loadavg
from kdbg.helpers.timekeeping import ktime_get_boottime_seconds, ktime_get_real_seconds
from kdbg.helpers.utsname import uts_name
from kdbg.ui.commands import CommandContext, argument, command

__all__ = ["crash_date", "crash_uptime", "log_lines", "sys_fields", "taint_letters"]

#: crash's date format (``DATE:`` of ``sys``, ``log -T``), always in UTC.
_DATE = "%a %b %e %H:%M:%S UTC %Y"


def crash_date(seconds: int) -> str:
    """A wall-clock time as crash prints it: ``Sun Dec  6 18:50:09 UTC 2026``."""
    return time.strftime(_DATE, time.gmtime(seconds))


def crash_uptime(seconds: int) -> str:
    """An uptime as crash prints it: ``00:00:09``, ``2 days, 01:02:03``."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    clock = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{days} day{'' if days == 1 else 's'}, {clock}" if days else clock


def _memory_size(pages: int, page_size: int) -> str:
    """crash's size: ``127.5 MB``, ``2 GB`` (a ``.0`` dropped)."""
    size = pages * page_size
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale:
            text = f"{size / scale:.1f}"
            return f"{text[:-2] if text.endswith('.0') else text} {unit}"
    return f"{size} bytes"


#: crash 8.0.2's ``panic_msg[]`` (kernel.c ``get_panicmsg``): a line starting with one of
#: these, in this order, is the panic's cause (quoted, then ``(check log for details)``);
#: else the ``Kernel panic - `` line.
_CRASH_PANIC_MSGS = (
    "SysRq : Crash", "SysRq : Trigger a crashdump", "SysRq : Trigger a crash", "SysRq : Netdump",
    "general protection fault: ", "double fault: ", "divide error: ", "stack segment: ", "[Hardware Error]: ",
    "Bad mode in ", "Oops: ", "Kernel BUG at", "kernel BUG at", "Unable to handle kernel paging request",
    "Unable to handle kernel NULL pointer dereference", "BUG: unable to handle kernel ",
)


def crash_panic_message(prog: Any) -> str:
    """``PANIC:``'s value as crash prints it: ``"Kernel panic - not syncing: ..."``, or for a
    fault the fault's line, ``"Oops: 0002 [#1] SMP NOPTI" (check log for details)``, or
    ``""`` when the log has neither."""
    lines = get_dmesg(prog, timestamps=False).decode("utf-8", "replace").splitlines()
    for start in _CRASH_PANIC_MSGS:
        for line in lines:
            if line.startswith(start):
                return f'"{line.strip()}" (check log for details)'
    for line in lines:
        if line.startswith("Kernel panic - "):
            return f'"{line.strip()}"'
    return '""'


def _load(value: float) -> str:
    """A load average as ``/proc/loadavg`` and crash print it: ``LOAD_INT.LOAD_FRAC`` of
    the fixed-point value plus ``FIXED_1/200`` (truncated, not rounded)."""
    fixed = round(value * 2048) + 2048 // 200
    return f"{fixed >> 11}.{((fixed & 2047) * 100) >> 11:02d}"


def taint_letters(prog: Any) -> str:
    """The letters of the taint flags set (``E``, ``OE``), as crash's ``sys -t`` prints them:
    the kernel's own ``print_tainted()`` letters (:func:`kdbg.helpers.panic.tainted`) at
    the bits of ``tainted_mask``."""
    mask = int(prog["tainted_mask"])
    letters = tainted(prog)
    return "".join(c for i, c in enumerate(letters) if mask >> i & 1)


def _dumpfile(prog: Any) -> Optional[str]:
    """The dump's file name (its memory source's description where it has no file)."""
    memory = getattr(prog, "memory", None)
    if memory is None:
        return None
    path = getattr(getattr(memory, "phys", None), "path", None)
    return str(path) if path else str(getattr(memory, "description", "")) or None


def _text(value: Any) -> str:
    return str(value.string_().decode("utf-8", "replace"))


def sys_fields(prog: Any) -> Dict[str, Any]:
    """``sys``'s fields (the ``--json`` object)."""
    uts = uts_name(prog)
    present = list(for_each_present_cpu(prog))
    online = set(for_each_online_cpu(prog))
    try:
        mhz: Optional[int] = int(prog["cpu_khz"]) // 1000
    except (KdbgError, LookupError):
        mhz = None
    pages = sum(int(pgdat.node_present_pages) for pgdat in for_each_online_pgdat(prog))
    return {
        "tainted": int(prog["tainted_mask"]) != 0,
        "dumpfile": _dumpfile(prog),
        "cpus": len(present),
        "offline": len([c for c in present if c not in online]),
        "date": int(ktime_get_real_seconds(prog)),
        "uptime": int(ktime_get_boottime_seconds(prog)),
        "load_average": list(loadavg(prog)),
        "tasks": sum(1 for _ in for_each_task(prog, idle=True)),
        "nodename": _text(uts.nodename),
        "release": _text(uts.release),
        "version": _text(uts.version),
        "machine": _text(uts.machine),
        "mhz": mhz,
        "memory_pages": pages,
        "page_size": int(prog["PAGE_SIZE"]),
        "panic": crash_panic_message(prog),
    }


@command("sys", "system data: release, CPUs, date, uptime, load, tasks, memory, panic (crash's sys)", arguments=[
    argument("-t", dest="taint", action="store_true", help="the taint mask and its flags' letters"),
    argument("--json", action="store_true", help="one JSON object"),
])
def sys_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print crash's system summary."""
    as_json = ctx.json or args.json
    if args.taint:
        mask, letters = int(prog["tainted_mask"]), taint_letters(prog)
        if as_json:
            ctx.out.write(json.dumps({"tainted_mask": mask, "letters": letters}) + "\n")
        else:
            ctx.out.write(f"TAINTED_MASK: {mask:x}  {letters}\n")
        return
    f = sys_fields(prog)
    if as_json:
        ctx.out.write(json.dumps(f) + "\n")
        return
    offline = f" [OFFLINE: {f['offline']}]" if f["offline"] else ""
    mhz = f"  ({f['mhz']} Mhz)" if f["mhz"] else ""
    rows = [
        ("KERNEL", "(none: BTF and kallsyms from the dump)" + ("  [TAINTED]" if f["tainted"] else "")),
        ("DUMPFILE", f["dumpfile"] or "(none)"),
        ("CPUS", f"{f['cpus']}{offline}"),
        ("DATE", crash_date(f["date"])),
        ("UPTIME", crash_uptime(f["uptime"])),
        ("LOAD AVERAGE", ", ".join(_load(x) for x in f["load_average"])),
        ("TASKS", str(f["tasks"])),
        ("NODENAME", f["nodename"]),
        ("RELEASE", f["release"]),
        ("VERSION", f["version"]),
        ("MACHINE", f"{f['machine']}{mhz}"),
        ("MEMORY", _memory_size(f["memory_pages"], f["page_size"])),
        ("PANIC", f["panic"]),
    ]
    for label, value in rows:
        ctx.out.write(f"{label:>12}: {value}\n")


def _dataless(prog: Any, seq: int) -> bool:
    """Whether record *seq* of the lockless ring buffer has no data block (its
    ``text_blk_lpos.begin`` has bit 0 set: ``EMPTY_LINE_LPOS``/``NO_LPOS``), as 5.10 stores
    an empty line; crash prints such a record as a bare empty line, while a record with an
    empty data block (6.1) gets its timestamp."""
    try:
        ring = prog["prb"].desc_ring
        index = seq % (1 << int(ring.count_bits))
        return int(ring.infos[index].seq) == seq and bool(int(ring.descs[index].text_blk_lpos.begin) & 1)
    except (KdbgError, LookupError):
        return False


def log_lines(prog: Any, stamps: str = "seconds", levels: bool = False) -> List[str]:
    """The kernel log as crash's ``log`` prints it (*stamps*: ``seconds``, ``date`` or
    ``none``; *levels*: ``<N>`` before each record's text)."""
    # crash's arithmetic: the boot date in whole seconds (the wall clock's seconds minus the
    # uptime's), plus each record's whole seconds
    boot = int(ktime_get_real_seconds(prog)) - int(ktime_get_boottime_seconds(prog)) if stamps == "date" else 0
    out: List[str] = []
    for rec in get_printk_records(prog):
        if rec.invalid is not None:
            out.append(f"kdbg: skipped printk record: {rec.invalid}")
            continue
        if not rec.text and _dataless(prog, rec.seq):
            out.append("")  # crash prints a data-less record as an empty line, without a prefix
            continue
        if stamps == "seconds":
            prefix = f"[{rec.timestamp // 1000000000:5d}.{rec.timestamp % 1000000000 // 1000:06d}] "
        elif stamps == "date":
            prefix = f"[{crash_date(boot + rec.timestamp // 1000000000)}] "
        else:
            prefix = ""
        if levels:
            prefix += f"<{rec.level}>"
        first, *rest = rec.text.decode("utf-8", "replace").split("\n")
        out.append(prefix + first)
        out.extend(" " * len(prefix) + line for line in rest)
    return out


def _audit_log(prog: Any, ctx: CommandContext, as_json: bool) -> None:
    """``log -a``: crash's ``type=N TEXT`` line per queued audit message, or one line
    saying there is none (crash's words) or that the kernel has no audit queue."""
    messages = audit_messages(prog)
    if as_json:
        ctx.out.write(json.dumps([{"queue": m.queue, "skb": m.skb, "type": m.type,
                                   "text": m.text.decode("utf-8", "replace")} for m in messages or []]) + "\n")
    elif messages is None:
        ctx.out.write("log: this kernel has no audit queue (built without CONFIG_AUDIT)\n")
    elif not messages:
        ctx.out.write("log: kernel audit log is empty\n")
    else:
        ctx.out.writelines(f"type={m.type} {m.text.decode('utf-8', 'replace')}\n" for m in messages)


@command("log", "the kernel log buffer, as crash's log (-T dates, -t no timestamps, -m levels)", arguments=[
    argument("-T", dest="human", action="store_true", help="timestamps as wall-clock dates"),
    argument("-t", dest="no_time", action="store_true", help="no timestamps"),
    argument("-m", dest="levels", action="store_true", help="each record's log level, <N>"),
    argument("-a", dest="audit", action="store_true", help="the audit messages queued for kauditd"),
    argument("--json", action="store_true", help="a list of JSON objects, one per record"),
])
def log_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print the kernel log as crash does (``-a``: the queued audit messages)."""
    if args.audit:
        _audit_log(prog, ctx, bool(ctx.json or args.json))
        return
    if args.no_time and args.human:
        raise ExpressionError("log: -t and -T exclude each other")
    if ctx.json or args.json:
        rows = [{"seq": r.seq, "timestamp": r.timestamp, "facility": r.facility, "level": r.level,
                 "text": r.text.decode("utf-8", "replace"), **({"invalid": r.invalid} if r.invalid else {})}
                for r in get_printk_records(prog)]
        ctx.out.write(json.dumps(rows) + "\n")
        return
    stamps = "none" if args.no_time else "date" if args.human else "seconds"
    for line in log_lines(prog, stamps, args.levels):
        ctx.out.write(line + "\n")
