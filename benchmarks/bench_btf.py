#!/usr/bin/env python3
"""Benchmark kdbg's BTF layer against bpftool on one BTF file.

Usage: ``python benchmarks/bench_btf.py [BTF] [--runs N]`` (default ``/sys/kernel/btf/vmlinux``).

Every kdbg measurement is a cold process (``python -c ...``: interpreter start, imports,
reading the file) so it compares fairly with bpftool, which is also a fresh process each
time; the median of ``--runs`` runs is reported. Rows:

(a) open + full name index (``BTF(data); build_index()``) vs ``bpftool btf dump file F``
    (raw, to /dev/null): target <= 1.5x. The in-process time is shown too.
(b) ``ptype struct task_struct`` from a cold process (the ``kdbg`` CLI when it exists,
    else ``kdbg.btf.ptype``) vs bpftool raw: bpftool cannot dump one type, so this is
    information, with no target.
(c) the whole C header (``kdbg.btf.header.header_c``) vs ``bpftool btf dump file F format
    c``: target <= 3x.
(d) peak RSS of the kdbg processes (``ru_maxrss``): target <= 150 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import List, Optional, Sequence, Tuple

#: Measure CPU time (user + sys of the child) instead of wall time (``--cpu``): steadier
#: on a loaded machine, and what matters when comparing two programs' work.
USE_CPU = False

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_RSS = "import resource, sys; sys.stderr.write('RSS=%d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"

OPEN_INDEX = f"""
import sys, time
t0 = time.perf_counter()
from kdbg.btf.index import BTF
with open(sys.argv[1], 'rb') as f:
    data = f.read()
btf = BTF(data, name=sys.argv[1])
btf.build_index()
sys.stderr.write('INPROC=%f\\n' % (time.perf_counter() - t0))
{_RSS}
"""

OPEN_INDEX_CACHED = OPEN_INDEX.replace("from kdbg.btf.index import BTF", "from kdbg.btf.cache import open_btf as BTF")

PTYPE = f"""
import sys
from kdbg.btf.index import BTF
from kdbg.btf.ptype import ptype
with open(sys.argv[1], 'rb') as f:
    btf = BTF(f.read(), name=sys.argv[1])
sys.stdout.write(ptype(btf.lookup('struct task_struct')) + '\\n')
{_RSS}
"""

HEADER = f"""
import sys
from kdbg.btf.index import BTF
from kdbg.btf.header import header_c
with open(sys.argv[1], 'rb') as f:
    btf = BTF(f.read(), name=sys.argv[1])
sys.stdout.write(header_c(btf))
{_RSS}
"""


class Run:
    """One timed process: wall time, peak RSS (KiB, kdbg only) and in-process time."""

    def __init__(self, wall: float, rss_kb: int = 0, inproc: Optional[float] = None) -> None:
        self.wall = wall
        self.rss_kb = rss_kb
        self.inproc = inproc


def run(cmd: Sequence[str]) -> Run:
    """Run ``cmd`` with stdout to /dev/null; parse ``RSS=``/``INPROC=`` from stderr."""
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    # Measure kdbg as installed: with bytecode caches (pip writes them; some shells set
    # PYTHONDONTWRITEBYTECODE, which makes every start recompile every module).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with open(os.devnull, "wb") as null:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=null, stderr=subprocess.PIPE, env=env)
        assert p.stderr is not None
        err = p.stderr.read().decode(errors="replace")
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
    if USE_CPU:
        wall = ru.ru_utime + ru.ru_stime
    if p.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{err[-2000:]}")
    rss, inproc = 0, None
    for line in err.splitlines():
        if line.startswith("RSS="):
            rss = int(line[4:])
        elif line.startswith("INPROC="):
            inproc = float(line[7:])
    return Run(wall, rss, inproc)


def median_run(cmd: Sequence[str], runs: int) -> Run:
    """Median wall time (and in-process time) of ``runs`` runs after one warm-up; max RSS."""
    run(cmd)
    rs = [run(cmd) for _ in range(runs)]
    inprocs = [r.inproc for r in rs if r.inproc is not None]
    return Run(
        statistics.median(r.wall for r in rs),
        max(r.rss_kb for r in rs),
        statistics.median(inprocs) if inprocs else None,
    )


def warm_cache_run(cmd: Sequence[str], runs: int) -> Run:
    """``median_run`` with kdbg's caches in a fresh directory, filled by the warm-up."""
    env_cache = os.environ.get("XDG_CACHE_HOME")
    try:
        with tempfile.TemporaryDirectory() as cache:
            os.environ["XDG_CACHE_HOME"] = cache
            return median_run(cmd, runs)
    finally:
        if env_cache is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = env_cache


def have_module(name: str) -> bool:
    """True when ``kdbg.<name>`` can be imported from this checkout."""
    path = os.path.join(ROOT, *name.split(".")) + ".py"
    return os.path.exists(path)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the benchmark and print the table; exit 1 if a target fails."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("btf", nargs="?", default="/sys/kernel/btf/vmlinux")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cpu", action="store_true", help="time CPU (user+sys), not wall clock")
    args = ap.parse_args(argv)
    global USE_CPU
    USE_CPU = args.cpu
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    if not os.path.exists(bpftool):
        print("bench_btf: bpftool not found", file=sys.stderr)
        return 2
    py = sys.executable
    f = args.btf
    rows: List[Tuple[str, str, str, str, str]] = []
    failed = False

    def verdict(ok: bool) -> str:
        nonlocal failed
        failed |= not ok
        return "PASS" if ok else "FAIL"

    raw = median_run([bpftool, "btf", "dump", "file", f], args.runs)
    fmt_c = median_run([bpftool, "btf", "dump", "file", f, "format", "c"], args.runs)
    rss_max = 0

    a = median_run([py, "-c", OPEN_INDEX, f], args.runs)
    rss_max = max(rss_max, a.rss_kb)
    ratio = a.wall / raw.wall
    rows.append(
        (
            "(a) open + name index",
            f"{a.wall * 1000:.0f} ms",
            f"bpftool raw {raw.wall * 1000:.0f} ms",
            f"{ratio:.2f}x",
            f"{verdict(ratio <= 1.5)} (<= 1.5x)",
        )
    )
    ac = warm_cache_run([py, "-c", OPEN_INDEX_CACHED, f], args.runs)
    ratio = ac.wall / raw.wall
    rows.append(
        (
            "(a') same, kdbg.btf.cache warm",
            f"{ac.wall * 1000:.0f} ms",
            "",
            f"{ratio:.2f}x",
            f"{verdict(ratio <= 1.5)} (<= 1.5x)",
        )
    )
    if a.inproc is not None:
        rows.append(("    in-process (wall)", f"{a.inproc * 1000:.0f} ms", "", "", ""))

    if have_module("kdbg.ui.cli"):
        cmd = [py, "-m", "kdbg", "--btf", f, "-x", "ptype struct task_struct"]
        label = "(b) ptype task_struct (CLI)"
    else:
        cmd = [py, "-c", PTYPE, f]
        label = "(b) ptype task_struct"
    try:
        b = median_run(cmd, args.runs)
        rss_max = max(rss_max, b.rss_kb)
        rows.append(
            (
                label,
                f"{b.wall * 1000:.0f} ms",
                f"bpftool raw {raw.wall * 1000:.0f} ms",
                f"{b.wall / raw.wall:.2f}x",
                "(no target)",
            )
        )
    except RuntimeError as e:
        rows.append((label, "error", str(e).splitlines()[0][:40], "", "FAIL"))
        failed = True

    if have_module("kdbg.btf.header"):
        c = median_run([py, "-c", HEADER, f], args.runs)
        rss_max = max(rss_max, c.rss_kb)
        ratio = c.wall / fmt_c.wall
        rows.append(
            (
                "(c) C header",
                f"{c.wall * 1000:.0f} ms",
                f"bpftool format c {fmt_c.wall * 1000:.0f} ms",
                f"{ratio:.2f}x",
                f"{verdict(ratio <= 3.0)} (<= 3x)",
            )
        )
        # (c') what a user runs twice: `kdbg --btf F -x 'btf dump --format c'` with the
        # header and index caches (keyed by the BTF's hash) warm.
        cc = warm_cache_run([py, "-m", "kdbg", "--btf", f, "-x", "btf dump --format c"], args.runs)
        ratio = cc.wall / fmt_c.wall
        rows.append(
            (
                "(c') same via CLI, caches warm",
                f"{cc.wall * 1000:.0f} ms",
                "",
                f"{ratio:.2f}x",
                f"{verdict(ratio <= 3.0)} (<= 3x)",
            )
        )
    else:
        rows.append(("(c) C header", "n/a", "kdbg.btf.header missing", "", "SKIP"))

    mb = rss_max / 1024
    rows.append(("(d) peak RSS (kdbg)", f"{mb:.0f} MB", "", "", f"{verdict(mb <= 150)} (<= 150 MB)"))

    what = "CPU time" if USE_CPU else "wall time"
    print(f"BTF: {f} ({os.path.getsize(f) / 1e6:.1f} MB), {what}, median of {args.runs} cold runs")
    widths = [max(len(r[i]) for r in rows + [("what", "kdbg", "reference", "ratio", "target")]) for i in range(5)]
    for r in [("what", "kdbg", "reference", "ratio", "target")] + rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
