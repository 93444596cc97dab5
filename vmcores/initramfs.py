"""The guests' initramfs: a ``newc`` cpio writer, the static busybox, the kernel modules a
guest loads (with their dependencies, decompressed) and the ``/init`` scripts of the
reference guests (:data:`INIT_COMMON`: mounts, modules and ``send``; :data:`INIT_DUMP`:
sleepers and the recorded truth).
"""

from __future__ import annotations

import gzip
import lzma
import re
import stat
import subprocess
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from elftools.elf.elffile import ELFFile

from vmcores.debian import (
    KernelFiles,
)
from vmcores.dump_index import BuildError

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
FW_CFG_MODULES = ("qemu_fw_cfg",)


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
