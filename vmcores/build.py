"""Build reference vmcores from real Debian kernels booted under QEMU (TCG).

Each kernel boots with a generated busybox initramfs that loads ``qemu_fw_cfg`` (so the
``-device vmcoreinfo`` note reaches the dump), starts a few recognizable processes,
records ground truth (kallsyms, BTF, processes, mounts, modules, uname, dmesg) and streams
it to the host as base64 over a second serial port with a SHA-256.  The host then stops
the guest and dumps it through QMP in every form QEMU supports, and converts the ELF dump
with makedumpfile into further forms.

Usage::

    python -m vmcores [--suite S ...] [--force] [--memory 128M]
    python -m vmcores --crash-only [--suite S ...] [--force]
    python -m vmcores --live-test [--suite S] -- COMMAND ...

Layout under ``<cache>/vmcores/``: ``manifest.json`` (every dump) and per suite
``<suite>/`` with the dumps, ``truth/`` and ``dumps.json``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import gzip
import hashlib
import io
import json
import lzma
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, TypeVar

from elftools.elf.elffile import ELFFile

from vmcores.debian import (
    SUITES,
    KernelFiles,
    cache_root,
    cached_kernel,
    debian_kernel,
    file_lock,
)

QEMU = "qemu-system-x86_64"
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
DEFAULT_MEMORY = "128M"
BOOT_TIMEOUT = 300.0
#: Boots tried before a guest that keeps crashing fails the build.
BOOT_ATTEMPTS = 3
"""Seconds from QEMU start until the guest reports its truth is sent."""
DUMP_TIMEOUT = 600.0
TRUTH_BEGIN = "KDBG-TRUTH-BEGIN"
TRUTH_END = "KDBG-TRUTH-END"
READY = "KDBG-READY"
FW_CFG_MODULES = ("qemu_fw_cfg",)
KERNEL_CMDLINE = "console=ttyS0 panic=-1 oops=panic init_on_free=1 cryptomgr.notests no_timer_check"
"""init_on_free=1 zeroes freed pages (small kdumps); cryptomgr.notests avoids a crypto
self-test oops of the 6.12 kernel under QEMU 7.2 TCG; oops=panic makes failures fast;
no_timer_check: on a loaded host (the suite's other worker, other jobs) TCG runs the
IO-APIC timer check too slowly and the kernel panics while booting ("IO-APIC + timer
doesn't work!"), which took down live, disk, lockup and 2 GB guests; no guest reads it."""
LIVE_MODULES = ("qemu_fw_cfg", "virtio_pci", "9pnet_virtio", "9p")

QEMU_KDUMP_FORMATS = {
    "kdump-zlib": "kdump-zlib",
    "kdump-lzo": "kdump-lzo",
    "kdump-snappy": "kdump-snappy",
}


class BuildError(RuntimeError):
    """Booting a guest, collecting its truth or dumping it failed."""


@dataclasses.dataclass(frozen=True)
class Dump:
    """One reference vmcore.

    ``form`` names the file format (``elf``, ``elf-paging``, ``kdump-zlib``,
    ``kdump-zlib-flat``, ``kdump-lzo``, ``kdump-snappy``, ...); ``tool`` what produced it;
    ``truth`` the directory with the ground truth recorded in the guest just before it.
    """

    suite: str
    release: str
    form: str
    tool: str
    path: Path
    truth: Path


def vmcores_root() -> Path:
    """``<cache>/vmcores``: where dumps, truth and the manifest live."""
    return cache_root() / "vmcores"


def manifest_path() -> Path:
    """``<cache>/vmcores/manifest.json``."""
    return vmcores_root() / "manifest.json"


def truth_files(suite: str) -> Path:
    """The truth directory of *suite*'s reference dumps (building them if missing)."""
    dumps = reference_dumps([suite])
    return dumps[0].truth


# --------------------------------------------------------------------------- initramfs


class Cpio:
    """A minimal writer of ``newc`` cpio archives (what the kernel unpacks as initramfs)."""

    def __init__(self) -> None:
        self._parts: List[bytes] = []
        self._ino = 1
        self._dirs: set = set()

    def _entry(self, name: str, mode: int, data: bytes = b"") -> None:
        name_b = name.encode() + b"\0"
        fields = [self._ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_b), 0]
        self._ino += 1
        hdr = b"070701" + b"".join(b"%08X" % f for f in fields)
        blob = hdr + name_b
        blob += b"\0" * (-len(blob) % 4)
        blob += data + b"\0" * (-len(data) % 4)
        self._parts.append(blob)

    def mkdir(self, name: str) -> None:
        """Add directory *name* and its parents."""
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in self._dirs:
                self._dirs.add(d)
                self._entry(d, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        """Add a regular file (parents created)."""
        name = name.strip("/")
        if "/" in name:
            self.mkdir(name.rsplit("/", 1)[0])
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        """Add a symbolic link."""
        name = name.strip("/")
        if "/" in name:
            self.mkdir(name.rsplit("/", 1)[0])
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def getvalue(self) -> bytes:
        """The finished archive, with its trailer."""
        self._entry("TRAILER!!!", 0)
        out = b"".join(self._parts)
        return out + b"\0" * (-len(out) % 512)


def _is_static(path: Path) -> bool:
    with open(path, "rb") as f:
        return not any(seg["p_type"] == "PT_INTERP" for seg in ELFFile(f).iter_segments())


def _busybox() -> Path:
    for c in BUSYBOX_CANDIDATES:
        p = Path(c)
        if p.exists() and _is_static(p):
            return p
    raise BuildError("no static busybox found: apt-get install busybox-static")


def _read_module(path: Path) -> bytes:
    data = path.read_bytes()
    name = path.name
    if name.endswith(".xz"):
        return lzma.decompress(data)
    if name.endswith(".zst"):
        try:
            import zstandard  # optional: the zstd command below serves without it

            return zstandard.ZstdDecompressor().decompressobj().decompress(data)
        except ImportError:
            return subprocess.run(["zstd", "-dc"], input=data, capture_output=True, check=True).stdout
    if name.endswith(".gz"):
        return gzip.decompress(data)
    return data


def _module_name(path: Path) -> str:
    return re.sub(r"\.ko(\.\w+)?$", "", path.name).replace("-", "_")


def module_closure(modules_dir: Path, names: Iterable[str]) -> List[Tuple[str, bytes]]:
    """Modules *names* plus their dependencies, dependencies first, decompressed.

    Dependencies come from each module's ``.modinfo`` ``depends=`` (the Debian packages
    ship no ``modules.dep``).  Built-in modules (``modules.builtin``) are left out.
    """
    index: Dict[str, Path] = {}
    for p in (modules_dir / "kernel").rglob("*.ko*"):
        index[_module_name(p)] = p
    builtin = set()
    bfile = modules_dir / "modules.builtin"
    if bfile.exists():
        builtin = {_module_name(Path(line.strip())) for line in bfile.read_text().splitlines()}
    order: List[Tuple[str, bytes]] = []
    seen: set = set()

    def visit(name: str, chain: Tuple[str, ...]) -> None:
        name = name.replace("-", "_")
        if name in seen or name in builtin:
            return
        if name not in index:
            raise BuildError(f"module {name} (needed by {' <- '.join(chain) or 'init'}) not in {modules_dir}")
        seen.add(name)
        data = _read_module(index[name])
        m = re.search(rb"(?:^|\0)depends=([^\0]*)\0", data)
        for dep in m.group(1).decode().split(",") if m else []:
            if dep:
                visit(dep, (*chain, name))
        order.append((name, data))

    for n in names:
        visit(n, ())
    return order


INIT_COMMON = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /truth /host
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
echo 0 > /proc/sys/kernel/kptr_restrict
echo 0 > /proc/sys/kernel/dmesg_restrict
echo 1 > /proc/sys/kernel/printk_devkmsg 2>/dev/null
for m in $(cat /modules.order); do
    insmod /lib/modules/$m.ko || echo "kdbg-init: insmod $m failed"
done
stty -F /dev/ttyS1 raw -echo 115200 2>/dev/null
send() {  # send FILE: stream it base64-encoded with its checksum on ttyS1
    sum=$(sha256sum "$1" | cut -d' ' -f1)
    size=$(wc -c < "$1")
    { echo "KDBG-TRUTH-BEGIN $sum $size"; base64 "$1"; echo "KDBG-TRUTH-END"; } > /dev/ttyS1
}
"""

INIT_SLEEPERS = r"""
# recognizable processes
sleep 1000 &
/bin/kdbg-sleeper &
sh -c 'sleep 0 & exec sleep 1500' &
mkfifo /tmp/kdbg-fifo
cat /tmp/kdbg-fifo &
sleep 1
echo "kdbg-init: recording truth" > /dev/kmsg
T=/truth
"""
"""The processes every dumped guest starts before recording its truth (also the crash
guests of :mod:`vmcores.crash`)."""

INIT_TRUTH = r"""
uname -r > $T/uname
cat /proc/version > $T/version
cat /proc/cmdline > $T/cmdline
cat /proc/kallsyms > $T/kallsyms
cat /proc/mounts > $T/mounts
cat /proc/modules > $T/modules
cat /sys/kernel/vmcoreinfo > $T/vmcoreinfo-sysfs 2>/dev/null
"""
"""The truth files every dumped guest records."""

INIT_PROC_STAT = r"""
# process snapshot with shell builtins only, so no short-lived helper shows up
for d in /proc/[0-9]*; do
    read -r line < $d/stat && echo "$line"
done > $T/proc-stat
"""
"""``proc-stat``: every process's ``/proc/PID/stat`` line, read with shell builtins."""

INIT_DUMP = INIT_SLEEPERS + "mkdir -p $T/btf\n" + INIT_TRUTH + r"""
cat /proc/iomem > $T/iomem
cat /proc/meminfo > $T/meminfo
cat /proc/cpuinfo > $T/cpuinfo
for f in /sys/kernel/btf/*; do cat $f > $T/btf/${f##*/}; done
dmesg > $T/dmesg
""" + INIT_PROC_STAT + r"""
tar -czf /tmp/truth.tgz -C $T .
send /tmp/truth.tgz
rm -rf /tmp/truth.tgz $T  # freed pages are zeroed (init_on_free): smaller dumps
echo KDBG-READY
while :; do sleep 100000; done
"""

INIT_LIVE = r"""
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=loose,ro hostroot /host; then
    mount -t proc proc /host/proc
    mount -t sysfs sysfs /host/sys
    mount -o bind /dev /host/dev
    # /tmp stays the host's (read-only): the checkout may live there (CI clones into /tmp).
    # Scratch space is a tmpfs on /run; HOME and TMPDIR point into it.
    mount -t tmpfs tmpfs /host/run
    cp /live.cmd /host/run/.live-cmd
    if [ -d /pycache ]; then cp -a /pycache /host/run/pycache; else mkdir -p /host/run/pycache; fi
    echo "kdbg-init: running the live command"
    chroot /host /bin/sh /run/.live-cmd > /tmp/live.out 2>&1 < /dev/null
else
    echo "kdbg-init: mounting the host root over 9p failed" > /tmp/live.out
fi
send /tmp/live.out
echo KDBG-READY
while :; do sleep 100000; done
"""


def make_initramfs(
    kernel: KernelFiles,
    modules: Sequence[str],
    init_tail: str,
    extra: Optional[Dict[str, bytes]] = None,
    busybox: Optional[Path] = None,
    init_common: str = INIT_COMMON,
) -> bytes:
    """A newc initramfs: static busybox (the host's, else *busybox*), decompressed
    *modules* (+deps), and ``/init`` (*init_common* then *init_tail*)."""
    c = Cpio()
    for d in ("bin", "dev", "proc", "sys", "tmp", "truth", "host", "lib/modules"):
        c.mkdir(d)
    c.file("bin/busybox", (busybox or _busybox()).read_bytes(), 0o755)
    c.symlink("bin/sh", "busybox")
    c.file("bin/kdbg-sleeper", b"#!/bin/sh\nsleep 2000\n", 0o755)
    mods = module_closure(kernel.modules_dir, modules)
    for name, data in mods:
        c.file(f"lib/modules/{name}.ko", data)
    c.file("modules.order", "".join(f"{n}\n" for n, _ in mods).encode())
    c.file("init", (init_common + init_tail).encode(), 0o755)
    for name, data in (extra or {}).items():
        c.file(name, data)
    return c.getvalue()


# --------------------------------------------------------------------------- qemu


class QMP:
    """A tiny synchronous QMP client over a unix socket."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                self.sock.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError) as e:
                if time.monotonic() > deadline:
                    raise BuildError(f"QMP socket {path} never came up") from e
                time.sleep(0.1)
        self.buf = b""
        self._recv(timeout)  # greeting
        self.execute("qmp_capabilities")

    def _recv(self, timeout: float) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BuildError("QMP: timed out waiting for QEMU")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError as e:
                raise BuildError("QMP: timed out waiting for QEMU") from e
            if not chunk:
                raise BuildError("QMP: QEMU closed the monitor connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def execute(self, cmd: str, timeout: float = 60.0, **args: Any) -> Any:
        """Run *cmd*; return its ``return`` value, raise BuildError on ``error``."""
        msg: Dict[str, Any] = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._recv(max(0.1, deadline - time.monotonic()))
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise BuildError(f"QMP {cmd}: {reply['error'].get('desc', reply['error'])}")

    def close(self) -> None:
        """Close the socket."""
        with contextlib.suppress(OSError):
            self.sock.close()


class Guest:
    """One QEMU guest with console and data serial ports captured to files and QMP.

    The class attributes describe the machine (x86-64 here; :mod:`vmcores.arm64`
    subclasses them): the QEMU binary and its package, machine options, how the chardevs
    ``con`` (console) and ``data`` (the truth stream) are attached, the kernel command line.
    """

    qemu: str = QEMU
    qemu_package: str = "qemu-system-x86"
    machine_args: Tuple[str, ...] = ()
    serial_args: Tuple[str, ...] = ("-serial", "chardev:con", "-serial", "chardev:data")
    kernel_cmdline: str = KERNEL_CMDLINE

    def __init__(
        self,
        kernel: KernelFiles,
        initramfs: bytes,
        workdir: Path,
        memory: str = DEFAULT_MEMORY,
        cmdline: str = "",
        extra_args: Sequence[str] = (),
    ) -> None:
        if shutil.which(self.qemu) is None:
            raise BuildError(f"{self.qemu} not found: apt-get install {self.qemu_package}")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.initrd = workdir / "initramfs.cpio"
        self.initrd.write_bytes(initramfs)
        self.console = workdir / "console.log"
        self.data = workdir / "serial1.log"
        self.qmp_path = workdir / "qmp.sock"
        for p in (self.console, self.data, self.qmp_path):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        append = f"{self.kernel_cmdline} {cmdline}".strip()
        self.argv = [
            self.qemu, *self.machine_args, "-accel", "tcg", "-nodefaults", "-display", "none", "-no-reboot",
            "-m", memory, "-smp", "2", "-device", "vmcoreinfo",
            "-kernel", str(kernel.vmlinuz), "-initrd", str(self.initrd), "-append", append,
            "-chardev", f"file,id=con,path={self.console}",
            "-chardev", f"file,id=data,path={self.data}",
            *self.serial_args,
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
            *extra_args,
        ]  # fmt: skip
        self.stderr = open(workdir / "qemu.stderr", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=self.stderr, stderr=self.stderr,
            start_new_session=True,
        )  # fmt: skip
        self.qmp: Optional[QMP] = None
        try:
            self.qmp = QMP(self.qmp_path)
        except BaseException:
            self.kill()
            raise

    def __enter__(self) -> Guest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def _why_dead(self) -> str:
        tail = self.console.read_text(errors="replace")[-1500:] if self.console.exists() else ""
        err = (self.workdir / "qemu.stderr").read_text(errors="replace")[-800:]
        return f"QEMU exited with {self.proc.returncode}\n--- console tail ---\n{tail}\n{err}"

    def wait_console(self, marker: str, timeout: float) -> None:
        """Wait until *marker* appears on the console, QEMU dies, or *timeout* elapses."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.console.exists() and marker in self.console.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                raise BuildError(f"guest died before {marker!r}: {self._why_dead()}")
            if self.console.exists() and "Kernel panic" in self.console.read_text(errors="replace"):
                raise BuildError(f"guest kernel panicked before {marker!r}: {self._why_dead()}")
            time.sleep(0.25)
        tail = self.console.read_text(errors="replace")[-1500:] if self.console.exists() else ""
        raise BuildError(f"timed out after {timeout:.0f}s waiting for {marker!r}; console:\n{tail}")

    @classmethod
    def boot(
        cls, kernel: KernelFiles, initramfs: bytes, workdir: Path, marker: str, timeout: float, **kw: Any
    ) -> Guest:
        """Start a guest and wait for *marker*, retrying a guest that crashed on the way.

        Debian's 6.12 kernel under QEMU 7.2 TCG now and then oopses while booting (in the
        crypto self-test, or in the allocator right after loading a module); a fresh boot
        goes through. A timeout is not retried. The caller must ``kill()`` the guest.
        """
        last: Optional[BuildError] = None
        for attempt in range(1, BOOT_ATTEMPTS + 1):
            g = cls(kernel, initramfs, workdir, **kw)
            try:
                g.wait_console(marker, timeout)
                return g
            except BuildError as e:
                g.kill()
                if "timed out" in str(e):
                    raise
                last = e
                print(
                    f"[vmcores] guest crashed while booting (attempt {attempt}/{BOOT_ATTEMPTS}): "
                    f"{str(e).splitlines()[0]}" + ("; retrying" if attempt < BOOT_ATTEMPTS else ""),
                    file=sys.stderr,
                    flush=True,
                )
        assert last is not None
        raise last

    def received(self, index: int = 0) -> bytes:
        """The payload the guest sent on ttyS1 (the *index*-th, for a guest that sends
        more than one), checked against its SHA-256 and size."""
        text = self.data.read_bytes().decode("ascii", "replace").replace("\r", "")
        blocks = list(re.finditer(TRUTH_BEGIN + r" ([0-9a-f]{64}) (\d+)\n(.*?)\n" + TRUTH_END, text, re.S))
        if len(blocks) <= index:
            raise BuildError(f"no complete {TRUTH_BEGIN}..{TRUTH_END} block #{index} in {self.data}")
        m = blocks[index]
        payload = base64.b64decode("".join(m.group(3).split()))
        if len(payload) != int(m.group(2)) or hashlib.sha256(payload).hexdigest() != m.group(1):
            raise BuildError(f"serial payload corrupt: {len(payload)} bytes, checksum mismatch")
        return payload

    def kill(self) -> None:
        """Quit QEMU (QMP ``quit``, then SIGKILL to its process group) and reap it."""
        if self.qmp is not None:
            with contextlib.suppress(BuildError, OSError, ValueError):
                if self.proc.poll() is None:
                    self.qmp.execute("quit", timeout=5)
            self.qmp.close()
            self.qmp = None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.stderr.close()
        with contextlib.suppress(FileNotFoundError):
            self.qmp_path.unlink()


# --------------------------------------------------------------------------- truth


def parse_proc_stat(text: str) -> List[Dict[str, Any]]:
    """Parse ``/proc/<pid>/stat`` lines into ``{pid, comm, state, ppid}`` dicts."""
    procs = []
    for line in text.splitlines():
        if "(" not in line:
            continue
        pid, rest = line.split(" (", 1)
        comm, tail = rest.rsplit(") ", 1)
        fields = tail.split()
        procs.append({"pid": int(pid), "comm": comm, "state": fields[0], "ppid": int(fields[1])})
    return sorted(procs, key=lambda p: p["pid"])


def _unpack_truth(payload: bytes, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:*") as tf:
        for member in tf.getmembers():
            if not (member.isfile() or member.isdir()) or ".." in member.name.split("/"):
                continue
            tf.extract(member, dest)
    stat_file = dest / "proc-stat"
    if stat_file.exists():
        procs = parse_proc_stat(stat_file.read_text(errors="replace"))
        (dest / "ps.json").write_text(json.dumps(procs, indent=1) + "\n")
        (dest / "ps").write_text("".join(f"{p['pid']} {p['ppid']} {p['state']} {p['comm']}\n" for p in procs))


# --------------------------------------------------------------------------- dumps


def _run_tool(argv: Sequence[str], timeout: float = DUMP_TIMEOUT, **kw: Any) -> Tuple[int, str]:
    try:
        kw.setdefault("stdout", subprocess.PIPE)
        p = subprocess.run(list(argv), stderr=subprocess.PIPE, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {timeout}s"
    except FileNotFoundError:
        return -1, f"{argv[0]} not found"
    out = p.stderr.decode(errors="replace") if isinstance(p.stderr, bytes) else (p.stderr or "")
    return p.returncode, out.strip()


def _reassemble(flat: Path, out: Path) -> Tuple[bool, str]:
    with open(flat, "rb") as fin:
        rc, err = _run_tool(["makedumpfile", "-R", str(out)], stdin=fin)
    return rc == 0 and out.exists(), err


def qemu_dumps(
    qmp: QMP, outdir: Path, kdump_forms: Sequence[str] = tuple(QEMU_KDUMP_FORMATS)
) -> Tuple[List[Tuple[str, str, Path]], Dict[str, str], List[str]]:
    """Stop the guest behind *qmp* and dump it with QEMU into *outdir*: every form holds
    the same memory image.

    Writes ``qemu.elf`` (``dump-guest-memory``), ``qemu.elf-paging`` (``-p``) and, per
    form of *kdump_forms* (keys of :data:`QEMU_KDUMP_FORMATS`) this QEMU can write,
    ``qemu.<form>-flat`` (QEMU's flattened kdump) and ``qemu.<form>`` (that reassembled by
    ``makedumpfile -R``).  Returns ``(form, tool, path)`` of each dump made, what failed
    (``{what: why}``) and the formats QEMU reports (``query-dump-guest-memory-capability``).
    """
    made: List[Tuple[str, str, Path]] = []
    failed: Dict[str, str] = {}
    qmp.execute("stop")
    caps = qmp.execute("query-dump-guest-memory-capability")
    qemu_formats = sorted(caps.get("formats", []))
    for form, paging in (("elf", False), ("elf-paging", True)):
        path = outdir / f"qemu.{form}"
        qmp.execute("dump-guest-memory", timeout=DUMP_TIMEOUT, paging=paging, protocol=f"file:{path}")
        made.append((form, "qemu dump-guest-memory" + (" -p" if paging else ""), path))
    for form in kdump_forms:
        qfmt = QEMU_KDUMP_FORMATS[form]
        if qfmt not in qemu_formats:
            failed[f"qemu dump-guest-memory {form}"] = "not in this QEMU's capabilities"
            continue
        flat = outdir / f"qemu.{form}-flat"
        qmp.execute(
            "dump-guest-memory", timeout=DUMP_TIMEOUT, paging=False, protocol=f"file:{flat}", format=qfmt
        )
        made.append((f"{form}-flat", f"qemu dump-guest-memory ({qfmt})", flat))
        out = outdir / f"qemu.{form}"
        ok, err = _reassemble(flat, out)
        if ok:
            made.append((form, f"qemu dump-guest-memory ({qfmt}) + makedumpfile -R", out))
        else:
            failed[f"makedumpfile -R {flat.name}"] = err
    return made, failed, qemu_formats


def vmcore_style_elf(src: Path, dst: Path) -> None:
    """Rewrite QEMU's ``-p`` ELF dump into the layout of a kernel's ``/proc/vmcore``.

    makedumpfile 1.7.2 cannot read QEMU 7.2's ELF dumps as written: it expects the
    program headers right after the ELF header (QEMU puts section headers there and sets
    ``e_phoff=192``, ``e_ehsize=8``), and it derives ``page_offset`` from the first
    PT_LOAD, so vmalloc/module PT_LOADs from ``paging=true`` confuse it.  This keeps the
    NOTE and the PT_LOADs of the direct map (same ``vaddr - paddr`` as the first one),
    with the phdrs at offset 64 and no section headers.  Memory contents are unchanged.
    """
    with open(src, "rb") as f:
        eh = bytearray(f.read(64))
        (phoff,) = struct.unpack_from("<Q", eh, 32)
        phentsize, phnum = struct.unpack_from("<HH", eh, 54)
        f.seek(phoff)
        raw = f.read(phentsize * phnum)
        phs = [list(struct.unpack_from("<IIQQQQQQ", raw, i * phentsize)) for i in range(phnum)]
        loads = [p for p in phs if p[0] == 1]
        if not loads:
            raise BuildError(f"{src}: no PT_LOAD")
        delta = loads[0][3] - loads[0][4]
        keep = [p for p in phs if p[0] == 4] + [p for p in loads if p[3] - p[4] == delta]
        offset = 64 + 56 * len(keep)
        placed = []
        for p in keep:
            placed.append((p, offset))
            offset += p[5]
        struct.pack_into("<Q", eh, 32, 64)  # e_phoff
        struct.pack_into("<Q", eh, 40, 0)  # e_shoff
        struct.pack_into("<HHHHHH", eh, 52, 64, 56, len(keep), 0, 0, 0)
        with open(dst, "wb") as g:
            g.write(eh)
            for p, off in placed:
                g.write(struct.pack("<IIQQQQQQ", p[0], p[1], off, *p[3:]))
            for p, _off in placed:
                f.seek(p[2])
                left = p[5]
                while left:
                    chunk = f.read(min(left, 1 << 20))
                    if not chunk:
                        raise BuildError(f"{src}: truncated segment")
                    g.write(chunk)
                    left -= len(chunk)


KDUMP_COMPRESSION_FLAGS = {"zlib": 0x1, "lzo": 0x2, "snappy": 0x4, "zstd": 0x20}
"""``disk_dump_header.status`` bits (makedumpfile's ``DUMP_DH_COMPRESSED_*``)."""


def _check_output(path: Path, form: str) -> str:
    """Empty if *path* really is *form*, else why not (makedumpfile built without snappy or
    zstd silently writes an uncompressed dump when asked for one)."""
    with open(path, "rb") as f:
        head = f.read(432)
    if form.startswith("elf"):
        return "" if head[:4] == b"\x7fELF" else "output is not ELF"
    if head[:8] != b"KDUMP   ":
        return "output is not a kdump file"
    (status,) = struct.unpack_from("<i", head, 424)
    comp = form.split("-")[1]
    want = KDUMP_COMPRESSION_FLAGS.get(comp, 0)
    mask = sum(KDUMP_COMPRESSION_FLAGS.values())
    if status & mask != want:
        return f"asked for {comp}, got compression flags {status & mask:#x} (tool built without it)"
    return ""


MAKEDUMPFILE_FORMS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("kdump-zlib", ("-c", "-d", "0")),
    ("kdump-zlib-d31", ("-c", "-d", "31")),
    ("kdump-lzo", ("-l", "-d", "0")),
    ("kdump-lzo-d31", ("-l", "-d", "31")),
    ("kdump-snappy", ("-p", "-d", "0")),
    ("kdump-zstd", ("-z", "-d", "0")),
    ("kdump-d31", ("-d", "31")),
    ("elf-d31", ("-E", "-d", "31")),
)
"""makedumpfile runs: form name -> options.  ``-d 31`` excludes zero, cache, user and
free pages; ``kdump-d31`` is uncompressed; ``elf-d31`` is makedumpfile's ELF output."""


def _makedumpfile_forms(
    elf: Path,
    outdir: Path,
    forms: Sequence[Tuple[str, Sequence[str]]] = MAKEDUMPFILE_FORMS,
    command: Sequence[str] = ("makedumpfile",),
    note: str = "",
    flat: bool = True,
) -> Tuple[List[Tuple[str, str, Path]], Dict[str, str]]:
    """Convert a /proc/vmcore-style ELF with makedumpfile (*command*: the host's, or
    another architecture's under qemu-user) into each of *forms* and (*flat*) the
    flattened ``kdump-zlib-d31-flat``; return (form, tool, path), failures.  *note* is
    added to each tool description (which makedumpfile ran)."""
    made: List[Tuple[str, str, Path]] = []
    failed: Dict[str, str] = {}
    for form, opts in forms:
        out = outdir / f"makedumpfile.{form}"
        out.unlink(missing_ok=True)
        tool = "makedumpfile " + " ".join(opts) + note + " (of the qemu -p ELF made /proc/vmcore-like)"
        rc, err = _run_tool([*command, *opts, str(elf), str(out)])
        ok = rc == 0 and out.exists() and out.stat().st_size > 4096
        if ok:
            err = _check_output(out, form) or err
            ok = not _check_output(out, form)
        if ok:
            made.append((form, tool, out))
        else:
            out.unlink(missing_ok=True)
            lines = [ln for ln in err.splitlines() if ln.strip()]
            failed[tool] = "; ".join(lines[-3:]) if lines else f"exit {rc}"
    if not flat:
        return made, failed
    out = outdir / "makedumpfile.kdump-zlib-d31-flat"
    with open(out, "wb") as fout:
        rc, err = _run_tool([*command, "-F", "-c", "-d", "31", str(elf)], stdout=fout)
    if rc == 0 and out.stat().st_size > 4096:
        made.append(("kdump-zlib-d31-flat", "makedumpfile -F -c -d 31" + note, out))
    else:
        out.unlink(missing_ok=True)
        failed["makedumpfile -F -c -d 31" + note] = err.splitlines()[-1] if err else f"exit {rc}"
    return made, failed


def build_suite(
    suite: str,
    memory: str = DEFAULT_MEMORY,
    log: Optional[Any] = None,
    outdir: Optional[Path] = None,
) -> List[Dump]:
    """Boot *suite*'s cloud kernel, record truth and write every dump form; return them.

    Writes into *outdir* (default ``<cache>/vmcores/<suite>``), replacing what was there
    only once the new build is complete (built in a sibling directory, then renamed).
    """
    say = log or (lambda msg: print(f"[vmcores {suite}] {msg}", file=sys.stderr, flush=True))
    t0 = time.monotonic()
    kernel = debian_kernel(suite, "cloud")
    say(f"kernel {kernel.release} ({time.monotonic() - t0:.1f}s)")
    final = outdir or vmcores_root() / suite
    outdir = final.with_name(f".{final.name}.building")
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    work = outdir / "guest"
    initramfs = make_initramfs(kernel, FW_CFG_MODULES, INIT_DUMP)
    truth = outdir / "truth"
    t_boot = time.monotonic()
    with Guest.boot(kernel, initramfs, work, READY, BOOT_TIMEOUT, memory=memory) as g:
        say(f"guest ready after {time.monotonic() - t_boot:.1f}s")
        _unpack_truth(g.received(), truth)
        assert g.qmp is not None
        made, failed, qemu_formats = qemu_dumps(g.qmp, outdir)
    shutil.copy(work / "console.log", truth / "console.log")
    (work / "initramfs.cpio").unlink(missing_ok=True)
    say(f"QEMU dumps done ({time.monotonic() - t_boot:.1f}s)")
    vmcore_elf = outdir / "vmcore-style.elf"
    vmcore_style_elf(outdir / "qemu.elf-paging", vmcore_elf)
    more, more_failed = _makedumpfile_forms(vmcore_elf, outdir)
    vmcore_elf.unlink()
    made += more
    failed.update(more_failed)
    say(f"makedumpfile done ({time.monotonic() - t0:.1f}s total)")
    release = (truth / "uname").read_text().strip()
    if release != kernel.release:
        raise BuildError(f"guest uname -r {release!r} != package release {kernel.release!r}")
    dumps = [Dump(suite, release, f, t, final / p.name, final / "truth") for f, t, p in made]
    info: Dict[str, Any] = {
        "suite": suite,
        "release": release,
        "package": f"{kernel.package}={kernel.version}",
        "memory": memory,
        "qemu_formats": qemu_formats,
        "build_seconds": round(time.monotonic() - t0, 1),
        "dumps": [dump_json(d, final) for d in dumps],
        "failed": failed,
    }
    info["dumps"] = [{**j, "size": p.stat().st_size} for j, (_f, _t, p) in zip(info["dumps"], made, strict=True)]
    finish_build(outdir, final, info)
    return dumps


def finish_build(outdir: Path, final: Path, info: Dict[str, Any]) -> None:
    """Write ``dumps.json`` (*info*) into the finished build directory *outdir* and put it
    in place of *final* (the old build is removed only once the new one is there)."""
    (outdir / "dumps.json").write_text(json.dumps(info, indent=1) + "\n")
    old = final.with_name(f".{final.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(outdir, final)
    shutil.rmtree(old, ignore_errors=True)


#: The :class:`Dump` fields that are paths: a dump index records them relative to its own
#: directory, so a cache can move (another ``HOME``, a copied ``KDBG_CACHE``).
PATH_FIELDS = ("path", "truth")


def dump_json(d: Dump, home: Path) -> Dict[str, Any]:
    """A :class:`Dump` (or a subclass's, such as ``vmcores.crash.CrashDump``) as the
    ``dumps.json`` in the directory *home* records it: every field, paths as strings
    relative to *home*."""
    out: Dict[str, Any] = {}
    for f in dataclasses.fields(d):
        v = getattr(d, f.name)
        out[f.name] = os.path.relpath(v, home) if isinstance(v, Path) else v
    return out


def dump_from_json(cls: Any, rec: Dict[str, Any], home: Path) -> Any:
    """The ``cls`` (:class:`Dump` or a subclass) a :func:`dump_json` record of the index
    in the directory *home* describes (a relative path is *home*'s; an absolute one, as
    indexes recorded them before, is taken as it is); ``KeyError`` for a record that
    lacks a field. Other fields of *rec* (``size``, a subclass's) are left out."""
    return cls(**{f.name: Path(home, rec[f.name]) if f.name in PATH_FIELDS else rec[f.name]
                  for f in dataclasses.fields(cls)})


def rebased_json(rec: Dict[str, Any], home: Path, to: Path) -> Dict[str, Any]:
    """A record of the index in *home* as the index in *to* records it (a manifest's copy
    of a build's ``dumps.json`` record)."""
    return {k: os.path.relpath(Path(home, v), to) if k in PATH_FIELDS else v for k, v in rec.items()}


def _load_suite(suite: str) -> Optional[List[Dump]]:
    f = vmcores_root() / suite / "dumps.json"
    if not f.exists():
        return None
    try:
        info = json.loads(f.read_text())
        dumps = [dump_from_json(Dump, d, f.parent) for d in info["dumps"]]
    except (ValueError, KeyError, TypeError):
        return None
    if not dumps or not all(d.path.exists() for d in dumps):
        return None
    if not (dumps[0].truth / "kallsyms").exists():
        return None
    if not built_from_current_kernel(suite, info):
        return None
    return dumps


def built_from_current_kernel(suite: str, info: Dict[str, Any]) -> bool:
    """Whether a build record (``dumps.json``: its ``package``) was made from the kernel
    :func:`vmcores.debian.debian_kernel` gives *suite* now (a pinned ABI changed, or the
    kernel cache was refetched: the dumps are rebuilt)."""
    kernel = cached_kernel(suite, "cloud")
    return kernel is not None and info.get("package") == f"{kernel.package}={kernel.version}"


def _write_manifest() -> None:
    suites = {}
    root = vmcores_root()
    for index in sorted(root.glob("*/dumps.json")):
        with contextlib.suppress(ValueError):
            info = json.loads(index.read_text())
            info["dumps"] = [rebased_json(d, index.parent, root) for d in info["dumps"]]
            suites[info["suite"]] = info
    manifest = {  # paths relative to the manifest's directory, as each dumps.json's are
        "dumps": [d for s in suites.values() for d in s["dumps"]],
        "suites": {s: {k: v for k, v in info.items() if k != "dumps"} for s, info in suites.items()},
    }
    # a temporary file of this process's own: two sessions sharing a cache may both write
    tmp = manifest_path().with_name(f"manifest.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, manifest_path())


K = TypeVar("K")
D = TypeVar("D", bound=Dump)


def cached_dumps(
    keys: Iterable[K],
    lock: Callable[[K], Path],
    load: Callable[[K], Optional[List[D]]],
    make: Callable[[K], List[D]],
    missing: Callable[[K], str],
    forms: Optional[Sequence[str]] = None,
    build: bool = True,
    force: bool = False,
    manifest: Optional[Tuple[Path, Callable[[], None]]] = None,
) -> List[D]:
    """The dumps of each of *keys* (a suite, a kernel, a ``(suite, scenario)`` ...) in the
    cache, filtered by *forms*: every family of dumps (reference, crash, disk, state,
    arm64) is served by this one loop.

    Under the key's lock file (``lock(key)``, so several processes may ask at once and
    one builds), ``load(key)`` gives the recorded dumps or None when a build is needed
    (its own recipe check); then ``make(key)`` builds them (*force*: always), or with
    ``build=False`` :class:`BuildError` says ``missing(key)``. *manifest*, ``(path,
    write)``: *write* runs after a build, or when *path* is missing, not on every call
    (tests call this thousands of times)."""
    result: List[D] = []
    for key in keys:
        with file_lock(lock(key)):
            dumps = None if force else load(key)
            if dumps is None:
                if not build:
                    raise BuildError(missing(key))
                dumps = make(key)
                if manifest is not None:
                    manifest[1]()
            elif manifest is not None and not manifest[0].exists():
                manifest[1]()
        result += [d for d in dumps if forms is None or d.form in forms]
    return result


def reference_dumps(
    suites: Optional[Sequence[str]] = None,
    forms: Optional[Sequence[str]] = None,
    build: bool = True,
    force: bool = False,
    memory: str = DEFAULT_MEMORY,
) -> List[Dump]:
    """All reference dumps of *suites* (default: bookworm, trixie, bullseye).

    Missing suites are built (``build=True``) or raise :class:`BuildError`.  *forms*
    filters by :attr:`Dump.form`.  Several processes may call this at once: builds are
    serialized per suite with a lock file (:func:`cached_dumps`).
    """
    return cached_dumps(
        suites or SUITES, lambda suite: vmcores_root() / f".{suite}.lock", _load_suite,
        lambda suite: build_suite(suite, memory=memory),
        lambda suite: f"no reference dumps for {suite}: run python -m vmcores",
        forms, build, force, (manifest_path(), _write_manifest))


def suite_dumps_main(argv: Optional[Sequence[str]], module: str, doc: str,
                     dumps: Callable[..., Sequence[Dump]], memory: bool = True) -> int:
    """The command line of a ``python -m vmcores.MODULE`` that builds one family of dumps
    per suite (:mod:`vmcores.disk`, :mod:`vmcores.state`): ``--suite`` (repeatable),
    ``--force``, ``--memory`` (with *memory*); one line per dump, as ``dumps(suites,
    force=..., memory=...)`` gives them; a :class:`BuildError` is one line and exit 1."""
    ap = argparse.ArgumentParser(prog=f"python -m {module}", description=doc.split("\n")[0])
    ap.add_argument("--suite", action="append", choices=SUITES, help=f"repeatable; default {', '.join(SUITES)}")
    ap.add_argument("--force", action="store_true", help="rebuild even if the dumps exist")
    if memory:
        ap.add_argument("--memory", default=DEFAULT_MEMORY, help=f"guest RAM (default {DEFAULT_MEMORY})")
    args = ap.parse_args(argv)
    try:
        for d in dumps(args.suite, force=args.force, memory=args.memory if memory else DEFAULT_MEMORY):
            print(f"{d.suite}\t{d.release}\t{d.form:16}\t{d.path}\t[{d.tool}]")
    except BuildError as e:
        print(f"{module}: {e}", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------- sample

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
SAMPLE_SUITE = "bookworm"
SAMPLE_MEMORY = "96M"
SAMPLE_FORM = "kdump-zlib"
SAMPLE_TRUTH_FILES = (
    "kallsyms", "btf", "ps", "ps.json", "proc-stat", "mounts", "modules", "uname", "version",
    "cmdline", "iomem", "meminfo", "dmesg", "console.log", "vmcoreinfo-sysfs",
)  # fmt: skip


def build_sample(dest: Path = SAMPLE_DIR, memory: str = SAMPLE_MEMORY) -> Path:
    """Rebuild the committed sample (bookworm cloud, kdump zlib, small RAM) in *dest*."""
    with tempfile.TemporaryDirectory(prefix="kdbg-sample-", dir=vmcores_root()) as tmp:
        dumps = build_suite(SAMPLE_SUITE, memory=memory, outdir=Path(tmp) / "out")
        dump = next(d for d in dumps if d.form == SAMPLE_FORM and "qemu" in d.tool)
        for old in dest.glob("*.kdump"):
            old.unlink()
        if (dest / "truth").exists():
            shutil.rmtree(dest / "truth")
        (dest / "truth").mkdir(parents=True)
        for name in SAMPLE_TRUTH_FILES:
            src = dump.truth / name
            if src.is_dir():
                shutil.copytree(src, dest / "truth" / name)
            elif src.exists():
                shutil.copy(src, dest / "truth" / name)
        name = f"{SAMPLE_SUITE}-{dump.release}.kdump"
        shutil.copy(dump.path, dest / name)
        os.chmod(dest / name, 0o644)
        info = {
            "file": name,
            "suite": SAMPLE_SUITE,
            "release": dump.release,
            "form": SAMPLE_FORM,
            "tool": dump.tool,
            "memory": memory,
            "kernel_cmdline": (dump.truth / "cmdline").read_text().strip(),
            "size": (dest / name).stat().st_size,
        }
        (dest / "sample.json").write_text(json.dumps(info, indent=1) + "\n")
    return dest / name


# --------------------------------------------------------------------------- live test


@dataclasses.dataclass(frozen=True)
class LiveResult:
    """Output of a command run inside a live guest (stdout and stderr merged) and how long
    it ran there."""

    suite: str
    release: str
    returncode: int
    output: str
    seconds: float = 0.0


#: Seconds one command of :func:`live_tests` may run in the guest (``timeout`` kills it).
LIVE_COMMAND_TIMEOUT = 600
#: The lines around each command's output in the guest's output of :func:`live_tests`.
LIVE_BEGIN = "KDBG-LIVE-BEGIN-"
LIVE_RC = "KDBG-LIVE-RC-"


def live_test(
    command: str,
    suite: str = "bookworm",
    cwd: Optional[str] = None,
    memory: str = "512M",
    timeout: float = 900.0,
    env: Optional[Dict[str, str]] = None,
) -> LiveResult:
    """Run shell *command* inside a guest booted from *suite*'s generic kernel
    (:func:`live_tests` with one command)."""
    return live_tests([command], suite=suite, cwd=cwd, memory=memory, timeout=timeout, env=env)[0]


def live_tests(
    commands: Sequence[str],
    suite: str = "bookworm",
    cwd: Optional[str] = None,
    memory: str = "512M",
    timeout: Optional[float] = None,
    env: Optional[Dict[str, str]] = None,
    command_timeout: float = LIVE_COMMAND_TIMEOUT,
) -> List[LiveResult]:
    """Run each shell command of *commands*, one after another, inside one guest booted
    from *suite*'s generic kernel; one :class:`LiveResult` per command, in order.

    The guest mounts the host's ``/`` read-only over 9p, chroots into it (with its own
    ``/proc``, ``/sys``, ``/dev`` and a tmpfs ``/run`` holding ``HOME`` and ``TMPDIR``) and
    runs each command with ``/bin/sh`` in *cwd* (default: this checkout), so host tools and
    this checkout see the guest's own ``/proc/kcore``.  Each command starts in a subshell
    of its own with a fresh, empty ``HOME`` (so no command sees another's kdbg cache), is
    killed after *command_timeout* seconds (its status is then 124), and its
    output (stdout and stderr), status and time are its own.  Python's bytecode lives in
    the guest's ``/run/pycache`` (``PYTHONPYCACHEPREFIX``), first compiled on the host
    (:func:`host_bytecode`).  *timeout* bounds the whole boot
    (default: every command's timeout plus five minutes).  Raises :class:`BuildError` if
    the guest fails or times out.
    """
    if not commands:
        return []
    kernel = debian_kernel(suite, "generic")
    cwd = cwd or str(Path(__file__).resolve().parent.parent)
    environ = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")]),
        "TMPDIR": "/run",
        "LANG": "C.UTF-8",
        "PYTHONPYCACHEPREFIX": "/run/pycache",
        **(env or {}),
    }
    env_sh = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in environ.items())
    parts = ["unset PYTHONDONTWRITEBYTECODE\n", env_sh]
    for i, command in enumerate(commands):
        home = f"/run/kdbg-home-{i}"
        script = f"export HOME={home}\nmkdir -p {home}\ncd {shlex.quote(cwd)} || exit 1\n{command}\n"
        parts.append(
            f"echo {LIVE_BEGIN}{i}\n"
            "t0=$(date +%s%N)\n"
            f"timeout -k 10 {int(command_timeout)} /bin/sh -c {shlex.quote(script)} </dev/null 2>&1\n"
            f"rc=$?; echo; echo {LIVE_RC}{i}=$rc $(( ($(date +%s%N) - t0) / 1000000 ))\n"
        )
    extra = {"live.cmd": "".join(parts).encode(), **host_bytecode(cwd)}
    initramfs = make_initramfs(kernel, LIVE_MODULES, INIT_LIVE, extra=extra)
    if timeout is None:
        timeout = len(commands) * command_timeout + 300.0
    with tempfile.TemporaryDirectory(prefix="kdbg-live-") as tmp:
        virtfs = ["-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"]
        with Guest.boot(kernel, initramfs, Path(tmp), READY, timeout, memory=memory, extra_args=virtfs) as g:
            out = g.received().decode(errors="replace")
    return [LiveResult(suite, kernel.release, *_live_output(out, i)) for i in range(len(commands))]


def _live_output(out: str, i: int) -> Tuple[int, str, float]:
    """``(status, output, seconds)`` of command *i* in the guest's output of
    :func:`live_tests` (the ``echo`` before the status line ends an output that lacks a
    final newline; that added newline is dropped)."""
    m = re.search(rf"^{LIVE_BEGIN}{i}\n(.*?)\n?\n{LIVE_RC}{i}=(\d+) (\d+)$", out, re.S | re.M)
    if not m:
        raise BuildError(f"live command {i} did not finish; output:\n{out[-3000:]}")
    return int(m.group(2)), m.group(1) + ("\n" if m.group(1) else ""), int(m.group(3)) / 1000


#: What the host imports to compile bytecode for a live guest (:func:`host_bytecode`): every
#: module of this checkout's ``kdbg`` and the standard library modules its command line,
#: target assembly, modules, helpers and unwinder import.
_WARM_BYTECODE = (
    "import compileall; compileall.compile_dir('kdbg', quiet=1); "
    "import kdbg, kdbg.target, kdbg.ui.cli, kdbg.modules, kdbg.helpers, kdbg.unwind, json, subprocess"
)


def host_bytecode(cwd: str) -> Dict[str, bytes]:
    """``pycache/<path>.pyc`` -> bytecode the host compiled for :data:`_WARM_BYTECODE`
    under a ``PYTHONPYCACHEPREFIX`` (the same Python the guest runs, over 9p, at the same
    paths): the live guest copies it to its ``/run/pycache`` and runs every command with
    that prefix, so no command compiles kdbg again or reads ``__pycache__`` over 9p, the
    guest's slowest part (a Python start took 40 s there under TCG, 6 s with the prefix).
    Bytecode is checked against its source's mtime as usual; what the host could not
    compile is compiled in the guest, once."""
    with tempfile.TemporaryDirectory(prefix="kdbg-pyc-") as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run([sys.executable, "-c", _WARM_BYTECODE], cwd=cwd, env={**env, "PYTHONPYCACHEPREFIX": tmp},
                           capture_output=True, timeout=300)  # fmt: skip
        return {f"pycache/{p.relative_to(tmp)}": p.read_bytes() for p in Path(tmp).rglob("*.pyc")}


if __name__ == "__main__":
    sys.exit("vmcores.build: the command line is python -m vmcores (it builds the crash dumps too)")
