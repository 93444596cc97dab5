"""crash's commands, whole processes: ``kdbg -q -c DUMP -x CMD`` (no vmlinux, warm cache)
against Debian's ``crash -s VMLINUX DUMP`` with ``CMD`` then ``q`` on its input (the
``-dbg`` package's DWARF vmlinux), on the same dump (issue 15: ``kmem -s``, ``kmem -i``,
``runq``, ``ps``, ``log`` each at most 1.0x crash), then the commands added since, held to
the same target: ``irq``, ``timer``, ``dev``, ``mod``, ``kmem -z``, ``kmem -f``, ``kmem -V``,
``runq -g``, ``vm -p 1``, ``kmem -v``, ``kmem -n``, ``kmem -p`` (every page), ``dev -p`` and
``waitq log_wait`` (``--issue-only``: the first five).

    python3 benchmarks/bench_crash_commands.py [--runs 3] [--suite bullseye|bookworm ...] [--command CMD ...]
                                               [--venv DIR] [--no-install]

``--command`` measures other commands instead of issue 15's (``--command sys``: the start of a
one-command run, issue 13).

kdbg is measured as ``pip install`` leaves it (:mod:`benchmarks.venv`), with its cache
warmed by one untimed run; crash reads its vmlinux from the page cache after one untimed
run too. The dumps are QEMU's ELF reference dumps of the kernels crash 8.0.2 opens (5.10
and 6.1; it does not open 6.12). Prints the median wall clock and user+sys CPU of each,
their ratio, and exits 1 when a row misses the target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.drgn_target import default_dump, run_timed  # noqa: E402
from benchmarks.venv import default_venv, ensure_venv, venv_env  # noqa: E402
from vmcores.crash_oracle import crash_binary, crash_version  # noqa: E402

#: The commands issue 15 names, as typed at both prompts.
COMMANDS = ("kmem -s", "kmem -i", "runq", "ps", "log")
#: The commands added since, measured after them (crash has every one of them).
ADDED = ("irq", "timer", "dev", "mod", "kmem -z", "kmem -f", "kmem -V", "runq -g", "vm -p 1", "kmem -v", "kmem -n",
         "kmem -p", "dev -p", "waitq log_wait")
#: kdbg's wall time at most this many times crash's.
TARGET = 1.0


def measure(kdbg: str, dump: str, vmlinux: str, command: str, env: Dict[str, str],
            runs: int) -> Tuple[Tuple[float, float], Tuple[float, float]]:
    """Median ``(wall, cpu)`` of kdbg and of crash running ``command`` on ``dump``."""
    mine = [kdbg, "-q", "-c", dump, "-x", command]
    peer = [crash_binary(), "-s", vmlinux, dump]
    script = f"{command}\nq\n"
    crash_env = {**env, "PAGER": "cat", "TERM": "dumb"}
    run_timed(mine, env)  # the cache and the page cache warm, untimed
    run_timed(peer, crash_env, script)
    times: Dict[str, List[Tuple[float, float]]] = {"kdbg": [], "crash": []}
    for _ in range(runs):
        times["kdbg"].append(run_timed(mine, env)[:2])
        times["crash"].append(run_timed(peer, crash_env, script)[:2])

    def med(xs: List[Tuple[float, float]]) -> Tuple[float, float]:
        return statistics.median(x[0] for x in xs), statistics.median(x[1] for x in xs)

    return med(times["kdbg"]), med(times["crash"])


def main(argv: Optional[List[str]] = None) -> int:
    """Measure every command on every suite's dump; exit 1 if a row misses the target."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="interleaved runs per row (median)")
    ap.add_argument("--suite", action="append", choices=("bullseye", "bookworm"),
                    help="the kernels (default: both crash opens)")
    ap.add_argument("--command", action="append",
                    help=f"a command to measure (default: {', '.join(COMMANDS + ADDED)})")
    ap.add_argument("--issue-only", action="store_true", help=f"only {', '.join(COMMANDS)}")
    ap.add_argument("--venv", type=Path, default=default_venv(), help="the benchmark virtualenv (default %(default)s)")
    ap.add_argument("--no-install", action="store_true", help="measure the kdbg already installed in the venv")
    args = ap.parse_args(argv)
    bindir = ensure_venv(args.venv, install_kdbg=not args.no_install)
    kdbg = str(bindir / "kdbg")
    failed = 0
    print(f"{crash_version()} with Debian's -dbg vmlinux; kdbg from {bindir.parent}; "
          f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="kdbg-bench-crash-") as cache:
        env = venv_env(cache)
        for suite in args.suite or ["bullseye", "bookworm"]:
            dump, vmlinux = default_dump(suite, "elf")
            for command in args.command or (COMMANDS if args.issue_only else COMMANDS + ADDED):
                (kw, kc), (cw, cc) = measure(kdbg, dump, vmlinux, command, env, args.runs)
                ok = kw / cw <= TARGET
                failed += not ok
                print(f"  {suite:9} {command:9}: kdbg {kw:5.2f} s wall {kc:5.2f} s cpu, crash {cw:5.2f} s wall "
                      f"{cc:5.2f} s cpu: {kw / cw:.2f}x wall (target <= {TARGET:g}x: {'PASS' if ok else 'FAIL'})")
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
