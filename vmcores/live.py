"""Commands run inside a live guest: the host's ``/`` mounted read-only over 9p, each command
in the guest's own ``/proc/kcore`` world (:func:`live_tests`), with bytecode compiled on the
host (:func:`host_bytecode`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from vmcores.debian import (
    debian_kernel,
)
from vmcores.dump_index import BuildError
from vmcores.initramfs import make_initramfs
from vmcores.qemu import READY, Guest

LIVE_MODULES = ("qemu_fw_cfg", "virtio_pci", "9pnet_virtio", "9p")

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
