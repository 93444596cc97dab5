"""Build vmcores of a guest with *state*: the truth of crash's state commands.

The reference dumps of :mod:`vmcores.build` record a few ``/proc`` files of an idle guest
(their ``INIT_DUMP`` stays as it is: changing it would rebuild every reference dump).
This scenario's guest first creates the state that crash's ``sig``, ``vm``, ``irq``,
``timer``, ``net``, ``kmem -v/-V/-z/-n/-f``, ``swap``, ``ipcs``, ``dev`` and ``waitq``
commands show, with busybox and one tiny static helper (``vmcores/state_helper/``,
built with ``gcc -static`` at build time), then records at the dump moment what the
kernel itself says about it:

* processes: the reference sleepers; a shell that traps ``USR1``, ignores ``INT`` and
  stopped itself, then got ``USR2`` and ``USR1`` (pending while stopped); the helper
  ``kdbg-state`` (SIGUSR2 caught, SIGHUP ignored, SIGUSR1/SIGTERM/SIGRTMIN+2 blocked and
  pending, twice queued for the real-time one; a SysV shm segment attached, a semaphore
  set, a message queue with two messages, a listening unix socket, a private mapping of
  ``/bin/busybox``); busybox ``nc`` listening on port 5001 and a connection to 5002 over 127.0.0.1
  (``nc -l`` listens dual-stack: its sockets are in ``net/tcp6``, the client's in
  ``net/tcp``; it closes the listener of 5002 once it accepted);
* network: ``lo`` up, a veth pair ``kdbg0``/``kdbg1`` (busybox ``ip`` names no peer:
  ``veth0``, renamed) with 10.77.0.1/24 and 10.77.0.2/24, a permanent ARP entry
  10.77.0.9 -> 02:6b:64:62:67:09 on ``kdbg0`` (busybox ``arp -s``: its ``ip`` has no
  ``neigh add``);
* swap: a 16 MiB zram device (``mkswap``, ``swapon``);
* BPF: two maps and three programs loaded by ``kdbg-bpf``, their fds open
  (:mod:`vmcores.state_bpf`; truth in ``truth/bpf/``).

Truth (``truth/``): ``uname``, ``version``, ``cmdline``, ``mounts``, ``modules``,
``proc-stat`` and ``ps``/``ps.json`` as every dumped guest records them (not ``kallsyms``:
its megabytes over the emulated serial port would double the build), ``pids`` (``NAME
PID`` of the processes above), the ``/proc`` files in :data:`PROC_FILES` under their
``/proc`` path (``interrupts``, ``timer_list``, ``net/tcp``, ``sysvipc/shm``,
``sys/kernel/tainted``, ...), ``proc/PID/{maps,status}`` of every process with a
memory map, ``ip-addr`` (busybox ``ip addr``: the devices' addresses, which no ``/proc``
file lists), ``dmesg`` and ``console.log``.  The counters that move
(:data:`MOVING_FILES`) are recorded a second time, as late as possible before the dump,
into ``truth/after/``: a value in the dump lies between the two, and a line that did not
change between them is the dump's exactly.

Usage::

    python -m vmcores.state [--suite S ...] [--force]

Layout: ``<cache>/vmcores/state/<suite>/`` holds the dumps (:data:`STATE_FORMS`),
``truth/`` and ``dumps.json``; ``<cache>/vmcores/state/helper/<hash>/`` the helper.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from vmcores.build import _unpack_truth, built_from_current_kernel, suite_dumps_main
from vmcores.debian import SUITES, debian_kernel
from vmcores.dump_forms import qemu_dumps
from vmcores.dump_index import BuildError, Dump, cached_dumps, dump_from_json, dump_json, finish_build, vmcores_root
from vmcores.initramfs import FW_CFG_MODULES, INIT_PROC_STAT, INIT_SLEEPERS, make_initramfs, module_closure
from vmcores.qemu import DEFAULT_MEMORY, KERNEL_CMDLINE, READY, Guest
from vmcores.state_bpf import BPF_HELPER_SOURCE, INIT_BPF_START, INIT_BPF_TRUTH

STATE_FORMS: Tuple[str, ...] = ("elf", "elf-paging", "kdump-zlib-flat", "kdump-zlib")
"""Forms every state dump is written in (all of the same stopped guest)."""

STATE_MODULES: Tuple[str, ...] = ("veth", "zram")
"""Modules the guest loads (with their ``depends=``) besides ``qemu_fw_cfg``."""
OPTIONAL_MODULES: Tuple[str, ...] = ("lzo_rle", "lzo")
"""zram's default compressor, a module on 5.10 and 6.1 (zram finds it through the
crypto API, not ``depends=``); built into 6.12's zram.  Loaded where the kernel has it."""

PROC_FILES: Tuple[str, ...] = (
    "interrupts", "softirqs", "stat", "timer_list", "vmallocinfo", "zoneinfo", "buddyinfo", "vmstat",
    "meminfo", "slabinfo", "iomem", "swaps", "devices", "partitions", "diskstats", "loadavg", "uptime",
    "sysvipc/shm", "sysvipc/sem", "sysvipc/msg",
    "net/dev", "net/tcp", "net/tcp6", "net/unix", "net/arp", "net/route",
    "sys/kernel/tainted",
)  # fmt: skip
"""``/proc`` files recorded at the dump moment, under the same relative path in ``truth/``."""

MOVING_FILES: Tuple[str, ...] = (
    "interrupts", "softirqs", "stat", "vmstat", "meminfo", "diskstats", "loadavg", "uptime", "net/dev",
)
"""Counters recorded a second time, right before the dump, into ``truth/after/``."""

HELPER_SOURCE = Path(__file__).resolve().parent / "state_helper" / "kdbg_state.c"
HELPER_BUILD_TIMEOUT = 300
STATE_TIMEOUT = 900.0
"""Seconds the guest may take to boot, create its state and send its truth (the build
runs niced beside other jobs on a loaded machine: TCG then crawls)."""

INIT_STATE = r"""
mkdir -p $T/after
P=$T/pids
ip link set lo up
ip link add kdbg0 type veth || echo "kdbg-init: veth failed"
ip link set veth0 name kdbg1 || echo "kdbg-init: veth rename failed"
ip addr add 10.77.0.1/24 dev kdbg0
ip addr add 10.77.0.2/24 dev kdbg1
ip link set kdbg0 up
ip link set kdbg1 up
arp -i kdbg0 -s 10.77.0.9 02:6b:64:62:67:09 || echo "kdbg-init: arp failed"
echo 16M > /sys/block/zram0/disksize && mkswap /dev/zram0 > /dev/null && swapon /dev/zram0 \
    || echo "kdbg-init: zram swap failed"
chmod 755 /bin/kdbg-state
/bin/kdbg-state /tmp/kdbg-state.pid &
sleep 100000 | nc -l -p 5001 &
echo "nc-listen $!" >> $P
sleep 100000 | nc -l -p 5002 &
echo "nc-server $!" >> $P
sh -c 'trap "echo usr1" USR1; trap "" INT; kill -STOP $$; echo continued' &
TRAP=$!
echo "trap-sh $TRAP" >> $P
sleep 1
sleep 100000 | nc 127.0.0.1 5002 &
echo "nc-client $!" >> $P
kill -USR2 $TRAP
kill -USR1 $TRAP
n=0
while [ ! -s /tmp/kdbg-state.pid ] && [ $n -lt 60 ]; do sleep 1; n=$((n+1)); done
echo "kdbg-state $(cat /tmp/kdbg-state.pid)" >> $P || echo "kdbg-init: kdbg-state failed"
@BPF_START@uname -r > $T/uname
cat /proc/version > $T/version
cat /proc/cmdline > $T/cmdline
cat /proc/modules > $T/modules
cat /proc/mounts > $T/mounts
""" + INIT_PROC_STAT + r"""
mkdir -p $T/sysvipc $T/net $T/sys/kernel $T/after/net $T/proc
for f in @PROC_FILES@; do cat /proc/$f > $T/$f; done
for d in /proc/[0-9]*; do
    if read -r line < $d/maps 2>/dev/null; then  # a kernel thread's maps is empty
        mkdir -p $T/proc/${d#/proc/}
        cat $d/maps > $T/proc/${d#/proc/}/maps
        cat $d/status > $T/proc/${d#/proc/}/status
    fi
done
@BPF_TRUTH@
ip addr > $T/ip-addr
dmesg > $T/dmesg
tar -czf /tmp/truth.tgz -C $T .
send /tmp/truth.tgz
rm -f /tmp/truth.tgz
for f in @MOVING_FILES@; do cat /proc/$f > $T/after/$f; done
tar -czf /tmp/after.tgz -C $T/after .
send /tmp/after.tgz
rm -rf /tmp/after.tgz $T
echo KDBG-READY
while :; do sleep 100000; done
"""


@dataclasses.dataclass(frozen=True)
class StateDump(Dump):
    """One vmcore of the state guest (``form``/``tool``/``truth`` as :class:`Dump`)."""


def state_root() -> Path:
    """``<cache>/vmcores/state``: where the state dumps live."""
    return vmcores_root() / "state"


def _init_script() -> str:
    return INIT_SLEEPERS + INIT_STATE.replace("@PROC_FILES@", " ".join(PROC_FILES)).replace(
        "@MOVING_FILES@", " ".join(MOVING_FILES)
    ).replace("@BPF_START@", INIT_BPF_START).replace("@BPF_TRUTH@", INIT_BPF_TRUTH)


def recipe() -> str:
    """A hash of everything that decides what the guest does: its ``/init``, the helper's
    source, the module lists and its kernel command line.  A dump of another recipe is rebuilt."""
    h = hashlib.sha256()
    for part in (_init_script(), HELPER_SOURCE.read_text(), BPF_HELPER_SOURCE.read_text(),
                 " ".join(STATE_MODULES + OPTIONAL_MODULES), KERNEL_CMDLINE):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:16]


def state_helper(source: Path = HELPER_SOURCE, name: str = "kdbg-state") -> Path:
    """The helper *name* (``kdbg-state``; ``kdbg-bpf`` from :data:`BPF_HELPER_SOURCE`),
    built with ``gcc -static`` from *source* into ``<cache>/vmcores/state/helper/<source
    hash>/`` when missing."""
    src = source.read_bytes()
    out = state_root() / "helper" / hashlib.sha256(src).hexdigest()[:16] / name
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{name}.{time.monotonic_ns()}.tmp")
    argv = ["gcc", "-static", "-O2", "-Wall", "-o", str(tmp), str(source)]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=HELPER_BUILD_TIMEOUT)
    except FileNotFoundError as e:
        raise BuildError("gcc not found: apt-get install gcc libc6-dev") from e
    except subprocess.TimeoutExpired as e:
        raise BuildError(f"{' '.join(argv)}: timed out after {HELPER_BUILD_TIMEOUT}s") from e
    if p.returncode != 0 or not tmp.exists():
        why = (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1]
        raise BuildError(f"building the state helper failed ({' '.join(argv)}): {why}")
    tmp.replace(out)
    return out


def _modules(modules_dir: Path) -> List[str]:
    """:data:`FW_CFG_MODULES` + :data:`STATE_MODULES` + those of :data:`OPTIONAL_MODULES`
    the kernel ships as modules."""
    have = []
    for name in OPTIONAL_MODULES:
        try:
            module_closure(modules_dir, [name])
        except BuildError:
            continue
        have.append(name)
    return [*FW_CFG_MODULES, *STATE_MODULES, *have]


def build_state(suite: str, memory: str = DEFAULT_MEMORY, log: Optional[Any] = None) -> List[StateDump]:
    """Boot *suite*'s cloud kernel, create the state, record its truth and dump it into
    ``<cache>/vmcores/state/<suite>/`` (built beside it, renamed into place when complete)."""
    say = log or (lambda msg: print(f"[vmcores state {suite}] {msg}", file=sys.stderr, flush=True))
    t0 = time.monotonic()
    kernel = debian_kernel(suite, "cloud")
    final = state_root() / suite
    outdir = final.with_name(f".{final.name}.building")
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    helper, bpf_helper = state_helper(), state_helper(BPF_HELPER_SOURCE, "kdbg-bpf")
    modules = _modules(kernel.modules_dir)
    initramfs = make_initramfs(kernel, modules, _init_script(), extra={
        "bin/kdbg-state": helper.read_bytes(), "bin/kdbg-bpf": bpf_helper.read_bytes()})
    work = outdir / "guest"
    truth = outdir / "truth"
    with Guest.boot(kernel, initramfs, work, READY, STATE_TIMEOUT, memory=memory) as g:
        say(f"guest ready after {time.monotonic() - t0:.1f}s")
        payload, after = g.received(0), g.received(1)
        assert g.qmp is not None
        made, failed, _formats = qemu_dumps(g.qmp, outdir, kdump_forms=("kdump-zlib",))
    _unpack_truth(payload, truth)
    _unpack_truth(after, truth / "after")
    shutil.copy(work / "console.log", truth / "console.log")
    (work / "initramfs.cpio").unlink(missing_ok=True)
    (outdir / "bin").mkdir()
    shutil.copy(helper, outdir / "bin" / "kdbg-state")  # crash's and drgn's view of its symbols, if ever needed
    shutil.copy(bpf_helper, outdir / "bin" / "kdbg-bpf")
    release = (truth / "uname").read_text().strip()
    if release != kernel.release:
        raise BuildError(f"guest uname -r {release!r} != package release {kernel.release!r}")
    console = (truth / "console.log").read_text(errors="replace")
    failures = [ln.strip() for ln in console.splitlines() if "kdbg-init:" in ln and "failed" in ln]
    if failures:
        raise BuildError(f"{suite}: the state guest could not create its state: {'; '.join(failures)}")
    dumps = [StateDump(suite, release, f, t, final / p.name, final / "truth") for f, t, p in made]
    info: Dict[str, Any] = {
        "suite": suite,
        "release": release,
        "package": f"{kernel.package}={kernel.version}",
        "memory": memory,
        "recipe": recipe(),
        "modules": modules,
        "build_seconds": round(time.monotonic() - t0, 1),
        "dumps": [{**dump_json(d, final), "size": p.stat().st_size}
                  for d, (_f, _t, p) in zip(dumps, made, strict=True)],
        "failed": failed,
    }
    finish_build(outdir, final, info)
    say(f"done: {len(dumps)} dumps ({info['build_seconds']}s)")
    return dumps


def _load(suite: str) -> Optional[List[StateDump]]:
    """The recorded dumps of *suite*, or None when a build is needed."""
    f = state_root() / suite / "dumps.json"
    if not f.exists():
        return None
    try:
        info = json.loads(f.read_text())
        dumps = [dump_from_json(StateDump, d, f.parent) for d in info["dumps"]]
    except (ValueError, KeyError, TypeError):
        return None
    if info.get("recipe") != recipe() or not built_from_current_kernel(suite, info):
        return None
    if not dumps or not all(d.path.exists() for d in dumps) or not (dumps[0].truth / "pids").exists():
        return None
    return dumps


def state_dumps(
    suites: Optional[Sequence[str]] = None,
    forms: Optional[Sequence[str]] = None,
    build: bool = True,
    force: bool = False,
    memory: str = DEFAULT_MEMORY,
) -> List[StateDump]:
    """State dumps of *suites* (default bookworm, trixie, bullseye), filtered by *forms*
    (:data:`STATE_FORMS`).  Missing ones are built (``build=True``) or raise
    :class:`BuildError`; builds are serialized per suite with a lock file."""
    return cached_dumps(
        suites or SUITES, lambda suite: state_root() / f".{suite}.lock", _load,
        lambda suite: build_state(suite, memory=memory),
        lambda suite: f"no state dumps for {suite}: run python -m vmcores.state", forms, build, force)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line of ``python -m vmcores.state``."""
    return suite_dumps_main(argv, "vmcores.state", __doc__, state_dumps)


if __name__ == "__main__":
    sys.exit(main())
