"""Build vmcores of a guest whose virtio-blk disks have I/O in flight at the dump moment.

The reference guests have no disk (``-nodefaults``, an initramfs).  This guest gets two
small raw disks, both behind QEMU block throttling (``throttling.iops-total``), so each
request the guest submits waits seconds in QEMU while the guest's block layer holds it as
in flight:

``vda``
    an MBR with two partitions (``vda1``, ``vda2``), one virtqueue (``num-queues=1``), the
    ``mq-deadline`` scheduler (the kernel's default for a single-queue disk; the guest
    loads it where it is a module and selects it), so requests hold a scheduler tag and a
    driver tag;
``vdb``
    no partition table, two virtqueues (``num-queues=2``): no scheduler (``none``), driver
    tags only, one hardware context per CPU.

PID 1 starts busybox ``dd`` processes with ``O_DIRECT`` (each keeps exactly one request in
flight): :data:`READERS_VDA` readers of ``vda`` (one of them through ``vda1``), and on
``vdb`` :data:`WRITERS_VDB` writers and one reader.  It then records the static truth
(``uname``, ``version``, ``cmdline``, ``modules``, ``partitions`` = ``/proc/partitions``,
``block`` = every disk's and partition's sysfs ``dev``, ``size``, ``start``,
``partition``, ``inflight``, ``stat`` and the queue's ``scheduler`` and hardware
contexts) and a first snapshot of ``/proc/diskstats`` and ``/sys/block/*/inflight`` and
``stat`` (``diskstats``, ``inflight-sysfs``), sends them over ttyS1 and then prints, every
0.2 s until the host stops it, ``KDBG-INFLIGHT <n> vda <r> <w> vdb <r> <w> vda1 <r> <w>``
(the kernel's own ``inflight`` files, read with shell builtins) to ``/dev/kmsg``.  After
:data:`SNAPSHOTS` lines (``KDBG-DISK-READY``) the host waits one second more, stops the
guest and dumps it (:func:`vmcores.dump_forms.qemu_dumps`).  Stopping QEMU drains its throttled
requests into the virtqueues' used rings, but the stopped guest never sees the interrupt:
in the dump those requests are still the block layer's, exactly as the last
``KDBG-INFLIGHT`` lines counted them.  ``truth/inflight`` holds those lines as
``n vda_r vda_w vdb_r vdb_w vda1_r vda1_w``, the last one printed before the stop last.

Usage::

    python -m vmcores.disk [--suite S ...] [--force]

Layout: ``<cache>/vmcores/disk/<suite>/`` holds the dumps (``elf``, ``elf-paging``,
``kdump-zlib-flat``, ``kdump-zlib``), ``truth/``, ``disk-*.img`` and ``dumps.json``.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from vmcores.build import _unpack_truth, built_from_current_kernel, suite_dumps_main
from vmcores.debian import SUITES, debian_kernel
from vmcores.dump_forms import qemu_dumps
from vmcores.dump_index import BuildError, Dump, cached_dumps, dump_from_json, dump_json, finish_build, vmcores_root
from vmcores.initramfs import FW_CFG_MODULES, make_initramfs
from vmcores.qemu import BOOT_TIMEOUT, DEFAULT_MEMORY, KERNEL_CMDLINE, Guest

__all__ = ["DISK_FORMS", "disk_dir", "disk_dumps", "build_disk", "read_inflight", "main"]

DISK_FORMS: Tuple[str, ...] = ("elf", "elf-paging", "kdump-zlib-flat", "kdump-zlib")
"""Forms every disk dump is written in (all of the same stopped guest)."""

RECIPE = 2
"""How the guest is built; dumps of another recipe are rebuilt (2: ``mq-deadline`` loaded
and chosen where it is a module, as on Debian's 6.12)."""

DISK_MODULES: Tuple[str, ...] = (*FW_CFG_MODULES, "virtio_pci", "mq_deadline", "virtio_blk")
"""Modules the guest loads, in order (a built-in one is skipped): the scheduler before the
disks appear."""
SECTOR = 512
DISK_SECTORS = 32768
"""Each disk is 16 MiB."""
PARTITIONS: Tuple[Tuple[int, int], ...] = ((2048, 8192), (10240, 20480))
"""``(first sector, sectors)`` of ``vda1`` and ``vda2`` (MBR type 0x83)."""
IOPS = 2
"""QEMU's ``throttling.iops-total`` per disk."""
READERS_VDA = 4
WRITERS_VDB = 2
SNAPSHOTS = 5
READY = "KDBG-DISK-READY"
INFLIGHT = "KDBG-INFLIGHT"
SETTLE = 1.0
"""Seconds the host waits after :data:`READY` before stopping the guest."""
INIT_DISK = r"""
T=/truth
mkdir -p $T
uname -r > $T/uname
cat /proc/version > $T/version
cat /proc/cmdline > $T/cmdline
cat /proc/modules > $T/modules
echo mq-deadline > /sys/block/vda/queue/scheduler
# I/O that stays in flight: O_DIRECT dd keeps one request each, QEMU throttles them
dd if=/dev/vda of=/dev/null bs=4k count=100000 iflag=direct 2>/dev/null &
dd if=/dev/vda of=/dev/null bs=4k count=100000 skip=512 iflag=direct 2>/dev/null &
dd if=/dev/vda of=/dev/null bs=4k count=100000 skip=1024 iflag=direct 2>/dev/null &
dd if=/dev/vda1 of=/dev/null bs=4k count=100000 skip=64 iflag=direct 2>/dev/null &
dd if=/dev/zero of=/dev/vdb bs=4k count=100000 oflag=direct 2>/dev/null &
dd if=/dev/zero of=/dev/vdb bs=4k count=100000 seek=1024 oflag=direct 2>/dev/null &
dd if=/dev/vdb of=/dev/null bs=4k count=100000 skip=2048 iflag=direct 2>/dev/null &
sleep 3
cat /proc/partitions > $T/partitions
for d in /sys/block/*/ /sys/block/*/*/partition; do
    d=${d%/}; d=${d%/partition}
    for f in dev size start partition inflight stat queue/scheduler; do
        [ -f $d/$f ] && echo "${d#/sys/block/} $f $(cat $d/$f)"
    done
    [ -d $d/mq ] && echo "${d#/sys/block/} mq $(ls $d/mq | tr '\n' ' ')"
done > $T/block
cat /proc/diskstats > $T/diskstats
for d in /sys/block/*; do echo "${d##*/} $(cat $d/inflight)"; done > $T/inflight-sysfs
tar -czf /tmp/truth.tgz -C $T .
send /tmp/truth.tgz
n=0
while :; do
    n=$((n + 1))
    read -r a < /sys/block/vda/inflight
    read -r b < /sys/block/vdb/inflight
    read -r c < /sys/block/vda/vda1/inflight
    echo "@INFLIGHT@ $n vda $a vdb $b vda1 $c" > /dev/kmsg
    [ $n = @SNAPSHOTS@ ] && echo "@READY@" > /dev/kmsg
    usleep 200000
done
"""


def disk_dir(suite: str) -> Path:
    """``<cache>/vmcores/disk/<suite>``."""
    return vmcores_root() / "disk" / suite


def _mbr_image(path: Path) -> None:
    """A raw disk with an MBR holding :data:`PARTITIONS` (Linux, type 0x83)."""
    mbr = bytearray(SECTOR)
    for i, (start, count) in enumerate(PARTITIONS):
        # status, CHS first (unused: LBA), type, CHS last, LBA start, sectors
        mbr[446 + 16 * i : 462 + 16 * i] = struct.pack("<B3sB3sII", 0, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff",
                                                        start, count)
    mbr[510:512] = b"\x55\xaa"
    with open(path, "wb") as f:
        f.write(mbr)
        f.truncate(DISK_SECTORS * SECTOR)


def _plain_image(path: Path) -> None:
    with open(path, "wb") as f:
        f.truncate(DISK_SECTORS * SECTOR)


def _qemu_disk_args(outdir: Path) -> List[str]:
    vda, vdb = outdir / "disk-vda.img", outdir / "disk-vdb.img"
    _mbr_image(vda)
    _plain_image(vdb)
    args: List[str] = []
    for name, image, queues in (("vda", vda, 1), ("vdb", vdb, 2)):
        args += ["-drive", f"file={image},format=raw,if=none,id={name},throttling.iops-total={IOPS}",
                 "-device", f"virtio-blk-pci,drive={name},num-queues={queues}"]
    return args


def read_inflight(console: str) -> List[Tuple[int, Dict[str, Tuple[int, int]]]]:
    """The ``KDBG-INFLIGHT`` lines of a console log: ``(n, {device: (reads, writes)})``."""
    out = []
    for m in re.finditer(INFLIGHT + r" (\d+) ((?:\w+ +\d+ +\d+ *)+)", console):
        fields = m.group(2).split()
        out.append((int(m.group(1)), {fields[i]: (int(fields[i + 1]), int(fields[i + 2]))
                                      for i in range(0, len(fields) - 2, 3)}))
    return out


def build_disk(suite: str, memory: str = DEFAULT_MEMORY, log: Optional[Any] = None) -> List[Dump]:
    """Boot *suite*'s cloud kernel with two throttled virtio-blk disks and I/O in flight,
    record truth and dump it into :func:`disk_dir` (built beside it, renamed when done)."""
    say = log or (lambda msg: print(f"[vmcores disk {suite}] {msg}", file=sys.stderr, flush=True))
    t0 = time.monotonic()
    kernel = debian_kernel(suite, "cloud")
    final = disk_dir(suite)
    outdir = final.with_name(f".{final.name}.building")
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    init = INIT_DISK.replace("@INFLIGHT@", INFLIGHT).replace("@READY@", READY).replace("@SNAPSHOTS@", str(SNAPSHOTS))
    initramfs = make_initramfs(kernel, DISK_MODULES, init)
    info: Dict[str, Any] = {"suite": suite, "recipe": RECIPE, "release": kernel.release,
                            "package": f"{kernel.package}={kernel.version}", "memory": memory,
                            "cmdline": KERNEL_CMDLINE, "iops": IOPS, "dumps": [], "failed": {}}
    work = outdir / "guest"
    truth = outdir / "truth"
    with Guest.boot(kernel, initramfs, work, READY, BOOT_TIMEOUT, memory=memory,
                    extra_args=_qemu_disk_args(outdir)) as g:
        say(f"guest has I/O in flight after {time.monotonic() - t0:.1f}s; dumping")
        time.sleep(SETTLE)
        assert g.qmp is not None
        made, failed, _formats = qemu_dumps(g.qmp, outdir, kdump_forms=("kdump-zlib",))
        payload = g.received()
        info["failed"].update(failed)
    _unpack_truth(payload, truth)
    console = (work / "console.log").read_text(errors="replace")
    shutil.copy(work / "console.log", truth / "console.log")
    (work / "initramfs.cpio").unlink(missing_ok=True)
    lines = read_inflight(console)
    if len(lines) < SNAPSHOTS:
        raise BuildError(f"{suite}: the guest printed {len(lines)} {INFLIGHT} lines, expected {SNAPSHOTS}+")
    (truth / "inflight").write_text("".join(
        f"{n} {' '.join(f'{r} {w}' for r, w in (d['vda'], d['vdb'], d['vda1']))}\n" for n, d in lines))
    release = (truth / "uname").read_text().strip()
    if release != kernel.release:
        raise BuildError(f"guest uname -r {release!r} != package release {kernel.release!r}")
    dumps = [Dump(suite=suite, release=release, form=f, tool=t, path=final / p.name, truth=final / "truth")
             for f, t, p in made]
    info["build_seconds"] = round(time.monotonic() - t0, 1)
    info["dumps"] = [{**dump_json(d, final), "size": p.stat().st_size}
                     for d, (_f, _t, p) in zip(dumps, made, strict=True)]
    finish_build(outdir, final, info)
    say(f"done: {len(dumps)} dumps ({info['build_seconds']}s)")
    return dumps


def _load(suite: str) -> Optional[List[Dump]]:
    """The recorded dumps of *suite*, or None when a build is needed."""
    f = disk_dir(suite) / "dumps.json"
    if not f.exists():
        return None
    try:
        info = json.loads(f.read_text())
        dumps = [dump_from_json(Dump, d, f.parent) for d in info["dumps"]]
    except (ValueError, KeyError, TypeError):
        return None
    if info.get("recipe") != RECIPE or not built_from_current_kernel(suite, info):
        return None
    if not dumps or not all(d.path.exists() for d in dumps) or not (dumps[0].truth / "inflight").exists():
        return None
    return dumps


def disk_dumps(suites: Optional[Sequence[str]] = None, forms: Optional[Sequence[str]] = None,
               force: bool = False, memory: str = DEFAULT_MEMORY, build: bool = True) -> List[Dump]:
    """The disk dumps of *suites* (default all three), filtered by *forms*
    (:data:`DISK_FORMS`); missing ones are built (``build=True``, one build per suite at a
    time) or raise :class:`BuildError`."""
    return cached_dumps(
        suites or SUITES, lambda suite: vmcores_root() / "disk" / f".{suite}.lock", _load,
        lambda suite: build_disk(suite, memory=memory),
        lambda suite: f"no disk dumps for {suite}: run python -m vmcores.disk", forms, build, force)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line of ``python -m vmcores.disk``."""
    return suite_dumps_main(argv, "vmcores.disk", __doc__, disk_dumps, memory=False)


if __name__ == "__main__":
    sys.exit(main())
