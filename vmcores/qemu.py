"""One QEMU guest under TCG (:class:`Guest`: console and data serial ports captured to files,
boot retries, the payload the guest sends) and the small QMP client that stops and dumps it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

from vmcores.debian import (
    KernelFiles,
)
from vmcores.dump_index import BuildError

QEMU = "qemu-system-x86_64"
DEFAULT_MEMORY = "128M"
BOOT_TIMEOUT = 300.0
"""Seconds from QEMU start until the guest reports its truth is sent."""
#: Boots tried before a guest that keeps crashing fails the build.
BOOT_ATTEMPTS = 3
TRUTH_BEGIN = "KDBG-TRUTH-BEGIN"
TRUTH_END = "KDBG-TRUTH-END"
READY = "KDBG-READY"
KERNEL_CMDLINE = "console=ttyS0 panic=-1 oops=panic init_on_free=1 cryptomgr.notests no_timer_check"
"""init_on_free=1 zeroes freed pages (small kdumps); cryptomgr.notests avoids a crypto
self-test oops of the 6.12 kernel under QEMU 7.2 TCG; oops=panic makes failures fast;
no_timer_check: on a loaded host (the suite's other worker, other jobs) TCG runs the
IO-APIC timer check too slowly and the kernel panics while booting ("IO-APIC + timer
doesn't work!"), which took down live, disk, lockup and 2 GB guests; no guest reads it."""


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
