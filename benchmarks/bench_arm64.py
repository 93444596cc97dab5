"""arm64 speed against drgn + Debian's arm64 DWARF, on the ELF dumps of the three arm64
cloud kernels (bookworm 6.1, trixie 6.12, forky 7.2), every ratio from the same run:

    python3 benchmarks/bench_arm64.py [--kernels K1,K2] [--rows R1,R2] [--runs N] [--repeat N] [--reads N]
                                      [--cpu] [--json]

Rows per kernel (ratio = kdbg / drgn; issue 16's targets):

* **start**: ``kdbg -c DUMP -e 'prog["init_task"].comm'`` with its cache warm (a user's
  second run) against drgn opening the dump with the ``-dbg`` vmlinux and printing the
  same value; median of ``--runs``. Target: at most the x86-64 ratio of the same row,
  measured in this run on the bookworm x86-64 reference dump (first row of the table).
* **foreach bt**: :func:`benchmarks.bench_unwind.bench_process` (``kdbg -x 'foreach bt'``
  against drgn printing every task's ``stack_trace``; both list the same tasks). Target
  <= 0.6x.
* **random reads**: ``--reads`` (20,000) random 8-byte reads each in the linear map and
  the kernel text, in-process (``kdbg.memory.open_core(...).read`` against ``drgn.Program.read``), best of
  ``--repeat`` after one untimed pass each (both cache translations); the same bytes
  checked first. Target <= 0.5x (the worse of the two).

``--cpu`` times every row by user+sys CPU time instead of wall clock (on a loaded machine
wall time is mostly waiting for a CPU); ``--rows`` picks rows (``start,bt,reads``).

The ELF dumps come from :func:`vmcores.arm64.arm64_dumps` (form ``elf``), the DWARF from
:func:`vmcores.arm64.arm64_dbg_vmlinux`. Exit status 1 when a target fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import drgn  # noqa: E402

from benchmarks.bench_unwind import bench_process  # noqa: E402
from benchmarks.drgn_target import best_of, child_env, default_dump, median_times, run_child  # noqa: E402
from kdbg.memory import open_core  # noqa: E402
from vmcores.arm64 import arm64_dbg_vmlinux, arm64_dumps, kernel_parts  # noqa: E402

KERNELS = ("bookworm-cloud", "trixie-cloud", "forky-cloud")
EXPR = 'prog["init_task"].comm'
EXPECTED = '(char [16])"swapper/0"'
DRGN_START = """
import sys
import drgn
prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
prog.load_debug_info([sys.argv[2]])
print(prog["init_task"].comm)
"""
N_READS = 20000
TARGET_BT = 0.6
TARGET_READS = 0.5


def bench_start(dump: str, vmlinux: str, runs: int, work: str, cpu: bool) -> Dict[str, Any]:
    """Warm-cache ``kdbg -e`` start to the first typed value against drgn's, medians."""
    env = child_env(os.path.join(work, "cache"))
    kcmd = [sys.executable, "-m", "kdbg", "-c", dump, "-e", EXPR]
    dcmd = [sys.executable, "-c", DRGN_START, dump, vmlinux]
    for cmd in (kcmd, dcmd):  # warm: kdbg's cache, bytecode, the OS page cache; check
        out = run_child(cmd, env, cpu)[1]
        if out != EXPECTED:
            raise SystemExit(f"{cmd[:4]} printed {out[:200]!r}, expected {EXPECTED!r}")
    kdbg_s, drgn_s = median_times(kcmd, dcmd, env, cpu, runs)
    return {"kdbg_s": kdbg_s, "drgn_s": drgn_s}


def _text_range(dump_truth: Path) -> Tuple[int, int]:
    """``[_stext, _etext)`` from the guest's own /proc/kallsyms."""
    got: Dict[str, int] = {}
    for line in (dump_truth / "kallsyms").read_text().splitlines():
        f = line.split()
        if len(f) >= 3 and f[2] in ("_stext", "_etext"):
            got[f[2]] = int(f[0], 16)
    return got["_stext"], got["_etext"]


def bench_reads(dump: str, vmlinux: str, truth: Path, repeat: int, n: int = N_READS,
                cpu: bool = False) -> Dict[str, Any]:
    """Random 8-byte reads in the linear map and the kernel text, kdbg against drgn (each
    side's first pass untimed: both cache what they translated)."""
    mem = open_core(dump)
    prog = drgn.Program()
    prog.set_core_dump(dump)
    prog.load_debug_info([vmlinux])
    try:
        lm = mem.page_offset_base
        assert lm is not None
        ranges = [(s, e) for s, e in mem.physical_ranges() if e - s >= 1 << 20]
        stext, etext = _text_range(truth)
        rnd = random.Random(1)
        linear = []
        for _ in range(n):
            s, e = rnd.choice(ranges)
            linear.append((lm + rnd.randrange(s, e - 8)) & ~7)
        text = [rnd.randrange(stext, etext - 8) & ~7 for _ in range(n)]
        for a in linear[:500] + text[:500]:
            if mem.read(a, 8) != prog.read(a, 8):
                raise SystemExit(f"kdbg and drgn read different bytes at {a:#x}")
        out: Dict[str, Any] = {}
        for label, addrs in (("linear", linear), ("text", text)):
            kread, dread = mem.read, prog.read

            def run_k(addrs: List[int] = addrs, kread: Any = kread) -> None:
                for a in addrs:
                    kread(a, 8)

            def run_d(addrs: List[int] = addrs, dread: Any = dread) -> None:
                for a in addrs:
                    dread(a, 8)

            clock = time.process_time if cpu else time.perf_counter
            run_k()
            run_d()
            out[label] = {"kdbg_s": best_of(repeat, run_k, clock), "drgn_s": best_of(repeat, run_d, clock)}
        return out
    finally:
        mem.close()


def _row(label: str, k: float, d: float, target: Optional[float]) -> Tuple[str, bool]:
    ratio = k / d
    ok = target is None or ratio <= target
    tgt = f"<= {target:.2f}x" if target is not None else ""
    verdict = ("PASS" if ok else "FAIL") if target is not None else ""
    return f"{label:48} {k * 1e3:>9.1f} ms {d * 1e3:>9.1f} ms {ratio:>6.2f}x {tgt:>9} {verdict}", ok


def main(argv: Optional[List[str]] = None) -> int:
    """Every row of every kernel; exit 1 if a target fails."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kernels", default=",".join(KERNELS), help="SUITE-FLAVOUR list (default: the three cloud ones)")
    ap.add_argument("--runs", type=int, default=3, help="process runs per row (median)")
    ap.add_argument("--repeat", type=int, default=3, help="in-process repetitions (best of)")
    ap.add_argument("--cpu", action="store_true", help="time by user+sys CPU, not wall clock")
    ap.add_argument("--reads", type=int, default=N_READS, help="random reads per kind")
    ap.add_argument("--rows", default="start,bt,reads", help="which rows (default: all three)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args(argv)
    kernels = [k for k in args.kernels.split(",") if k]
    for k in kernels:
        kernel_parts(k)
    figures: Dict[str, Any] = {}
    ok = True
    print(f"{'row (kdbg / drgn + DWARF, same run)':48} {'kdbg':>12} {'drgn':>12} {'ratio':>7} {'target':>9}",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="kdbg-bench-arm64-") as work:
        rows = set(args.rows.split(","))
        target_start = None
        if "start" in rows:
            x86_dump, x86_vmlinux = default_dump("bookworm", "elf")
            x86 = bench_start(x86_dump, x86_vmlinux, args.runs, os.path.join(work, "x86"), args.cpu)
            figures["x86_64 bookworm"] = {"start": x86}
            target_start = x86["kdbg_s"] / x86["drgn_s"]
            print(_row("x86-64 bookworm: start (the arm64 target)", x86["kdbg_s"], x86["drgn_s"], None)[0],
                  flush=True)
        for name in kernels:
            dump = next(d for d in arm64_dumps([name], forms=["elf"]) if d.form == "elf")
            vmlinux = str(arm64_dbg_vmlinux(*kernel_parts(name)))
            w = os.path.join(work, name)
            fig: Dict[str, Any] = figures.setdefault(name, {})
            if "start" in rows:
                start = fig["start"] = bench_start(str(dump.path), vmlinux, args.runs, w, args.cpu)
                ok = _print(_row(f"{name}: start", start["kdbg_s"], start["drgn_s"], target_start)) and ok
            if "bt" in rows:
                bt = fig["foreach_bt"] = bench_process(str(dump.path), vmlinux, args.runs, w, args.cpu)
                ok = _print(_row(f"{name}: foreach bt ({bt['tasks']} tasks)", bt["kdbg_s"], bt["drgn_s"],
                                 TARGET_BT)) and ok
            if "reads" in rows:
                reads = fig["reads"] = bench_reads(str(dump.path), vmlinux, Path(dump.truth), args.repeat, args.reads,
                                                   args.cpu)
                for kind, label in (("linear", "linear map"), ("text", "kernel text")):
                    r = reads[kind]
                    ok = _print(_row(f"{name}: {args.reads} random reads, {label}", r["kdbg_s"], r["drgn_s"],
                                     TARGET_READS)) and ok
    if args.json:
        print(json.dumps(figures, indent=1))
    return 0 if ok else 1


def _print(row: Tuple[str, bool]) -> bool:
    print(row[0], flush=True)
    return row[1]


if __name__ == "__main__":
    sys.exit(main())
