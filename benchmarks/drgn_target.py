"""What the benchmarks that race drgn + DWARF share: the dump both read and the
environment of kdbg's child processes."""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from vmcores.build import reference_dumps
from vmcores.debian import debian_dbg_vmlinux

ROOT = Path(__file__).resolve().parent.parent


def default_dump(suite: str = "bookworm", form: str = "elf-paging") -> Tuple[str, str]:
    """``(dump, vmlinux)``: the suite's reference dump of ``form`` (``elf-paging`` or
    ``elf``: drgn cannot read the kdump forms) made by QEMU, and Debian's DWARF vmlinux of
    the same kernel."""
    dumps = [d for d in reference_dumps(suites=[suite]) if d.form == form and d.tool.startswith("qemu")]
    if not dumps:
        raise SystemExit(f"no {suite} {form} reference dump (python3 -m vmcores)")
    return str(dumps[0].path), str(debian_dbg_vmlinux(suite))


def add_target_arguments(ap: argparse.ArgumentParser) -> None:
    """The ``VMCORE`` and ``--vmlinux`` arguments every drgn-racing benchmark takes."""
    ap.add_argument("vmcore", nargs="?", help="ELF vmcore (default: the bookworm elf-paging reference dump)")
    ap.add_argument("--vmlinux", help="DWARF vmlinux for drgn (default: Debian's, for bookworm)")


def target_from_args(ap: argparse.ArgumentParser, args: argparse.Namespace) -> Tuple[str, str]:
    """``(dump, vmlinux)`` from :func:`add_target_arguments`' arguments, else the default."""
    if args.vmcore:
        if not args.vmlinux:
            ap.error("--vmlinux is needed with a VMCORE")
        return args.vmcore, args.vmlinux
    dump, vmlinux = default_dump()
    return dump, args.vmlinux or vmlinux


def child_env(cache: str) -> Dict[str, str]:
    """The environment of a measured kdbg process: bytecode caches on (this machine's
    shell turns them off), a private ``KDBG_CACHE``, this checkout importable."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["KDBG_CACHE"] = cache
    env["PYTHONPATH"] = str(ROOT)
    return env


def best_of(repeat: int, fn: Callable[[], object], clock: Callable[[], float] = time.perf_counter) -> float:
    """The least time of ``repeat`` calls of ``fn``, in seconds: wall time, or with
    ``clock=time.process_time`` this process's CPU time (on a loaded machine wall time is
    mostly waiting for a CPU)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best


def run_timed(cmd: List[str], env: Dict[str, str], input: Optional[str] = None) -> Tuple[float, float, str]:
    """Run ``cmd`` (``input`` on its stdin, else none): its wall time, its user+sys CPU time
    and its stdout. A failing child ends the benchmark with its command and the end of its
    stderr."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return wall, cpu, proc.stdout.strip()


def run_child(cmd: List[str], env: Dict[str, str], cpu: bool = False) -> Tuple[float, str]:
    """Run ``cmd``; its wall time (user+sys CPU with ``cpu``) and stdout. A failing child
    ends the benchmark with its command and the end of its stderr."""
    wall, used, out = run_timed(cmd, env)
    return (used if cpu else wall), out


def median_times(kdbg_cmd: List[str], drgn_cmd: List[str], env: Dict[str, str], cpu: bool,
                 runs: int) -> Tuple[float, float]:
    """The median times (:func:`run_child`) of ``runs`` runs of each command, run in turns so
    that a change in the machine's load falls on both alike."""
    kt: List[float] = []
    dt: List[float] = []
    for _ in range(runs):
        kt.append(run_child(kdbg_cmd, env, cpu)[0])
        dt.append(run_child(drgn_cmd, env, cpu)[0])
    return statistics.median(kt), statistics.median(dt)
