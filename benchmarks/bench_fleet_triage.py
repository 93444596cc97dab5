"""Issue 17's fleet numbers, each measured in this run, whole processes, with kdbg installed
as pip leaves it (benchmarks/venv.py) and a warm private cache.

* ``kdbg report``: wall time per dump, against kdbg's own ``sys`` + ``bt -a`` + ``ps`` + ``log``
  on the same dump (targets: at most 2 s, and at most 2x those four commands);
* ``kdbg triage``: dumps per minute with ``--jobs 1``, ``--jobs 2`` and through a 2-worker
  Dask ``LocalCluster``;
* one worker's peak RSS after reporting 50 dumps, against its peak after 1;
* ``kdbg shrink --report``: the size of SMALL against the original and against
  ``makedumpfile -d 31`` of the same dump (target 4 MiB); with ``--reduced-btf`` too
  (target 1 MiB).

::

    python3 benchmarks/bench_fleet_triage.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.venv import default_venv, ensure_venv, venv_env  # noqa: E402
from vmcores.build import reference_dumps  # noqa: E402
from vmcores.crash import SCENARIOS, crash_dumps  # noqa: E402
from vmcores.debian import SUITES  # noqa: E402

_RSS_CHILD = r"""
import resource, sys, tempfile
from kdbg.ui.triage import report_one
paths = sys.argv[2:]
n = int(sys.argv[1])
peaks = []
for i in range(n):
    with tempfile.TemporaryDirectory() as out:
        import os
        os.makedirs(os.path.join(out, "reports"))
        row = report_one(paths[i % len(paths)], out)
        assert row["status"] == "ok", row
    peaks.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
print(peaks[0], peaks[-1])
"""


def _timed(cmd: List[str], env: Dict[str, str]) -> float:
    start = time.monotonic()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr[-500:]}")
    return time.monotonic() - start


def _crash_paths() -> List[str]:
    return [str(d.path) for d in crash_dumps(suites=list(SUITES), scenarios=list(SCENARIOS)) if d.form == "elf-paging"]


def report_rows(kdbg: str, env: Dict[str, str], dumps: List[str], runs: int) -> List[Tuple[str, float, float]]:
    rows = []
    for dump in dumps:
        report = [kdbg, "report", dump, "--format", "json"]
        peer = [kdbg, "-c", dump, "-x", "sys", "-x", "bt -a", "-x", "ps", "-x", "log"]
        _timed(report, env)  # warm the cache
        _timed(peer, env)
        a, b = [], []
        for _ in range(runs):
            a.append(_timed(report, env))
            b.append(_timed(peer, env))
        rows.append((dump, statistics.median(a), statistics.median(b)))
    return rows


def triage_rate(kdbg: str, python: str, env: Dict[str, str], dumps: List[str]) -> Dict[str, float]:
    rates: Dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="kdbg-triage-in-") as d:
        for i, p in enumerate(dumps):
            os.symlink(p, os.path.join(d, f"{i:03d}-{os.path.basename(os.path.dirname(p))}"))
        for label, extra in (("--jobs 1", ["--jobs", "1"]), ("--jobs 2", ["--jobs", "2"])):
            with tempfile.TemporaryDirectory(prefix="kdbg-triage-out-") as out:
                t = _timed([kdbg, "triage", d, "-o", out, *extra], env)
            rates[label] = len(dumps) / t * 60
        cluster = subprocess.Popen(
            [python, "-c", "from distributed import LocalCluster; import sys, time;"
             "c = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None);"
             "print(c.scheduler_address, flush=True); time.sleep(3600)"],
            env=env, stdout=subprocess.PIPE, text=True)
        try:
            assert cluster.stdout is not None
            address = cluster.stdout.readline().strip()
            with tempfile.TemporaryDirectory(prefix="kdbg-triage-out-") as out:
                t = _timed([kdbg, "triage", d, "-o", out, "--dask", address], env)
            rates["Dask LocalCluster (2 workers)"] = len(dumps) / t * 60
        finally:
            cluster.kill()
            cluster.wait()
    return rates


def worker_rss(python: str, env: Dict[str, str], dumps: List[str], n: int) -> Tuple[int, int]:
    r = subprocess.run([python, "-c", _RSS_CHILD, str(n), *dumps], env=env, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    if r.returncode != 0:
        raise SystemExit(f"RSS child failed: {r.stderr[-800:]}")
    first, last = r.stdout.split()
    return int(first), int(last)


def shrink_sizes(kdbg: str, env: Dict[str, str]) -> List[Tuple[str, int, int, int, Optional[int]]]:
    """``(suite, original, SMALL, SMALL with --reduced-btf, makedumpfile -d 31)`` sizes."""
    out = []
    for d in crash_dumps(suites=list(SUITES), scenarios=["oops"]):
        if d.form != "elf-paging":
            continue
        with tempfile.TemporaryDirectory(prefix="kdbg-shrink-") as t:
            small = os.path.join(t, "small")
            reduced = os.path.join(t, "reduced")
            _timed([kdbg, "shrink", str(d.path), "-o", small, "--report"], env)
            _timed([kdbg, "shrink", str(d.path), "-o", reduced, "--report", "--reduced-btf"], env)
            filtered: Optional[int] = None
            mdf = shutil.which("makedumpfile")
            if mdf:
                # QEMU's ELF has no kernel-text segment for makedumpfile's phys_base: filter
                # kdump-compressed output of the -p ELF as vmcores.build makes its own.
                r = subprocess.run([mdf, "-c", "-d", "31", str(d.path), os.path.join(t, "d31")],
                                   capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
                if r.returncode == 0:
                    filtered = os.path.getsize(os.path.join(t, "d31"))
            out.append((d.suite, os.path.getsize(d.path), os.path.getsize(small), os.path.getsize(reduced),
                        filtered))
    return out


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="interleaved runs per row (median)")
    args = ap.parse_args(argv)
    bindir = ensure_venv(default_venv())
    python, kdbg = str(bindir / "python"), str(bindir / "kdbg")
    if subprocess.run([python, "-c", "import distributed"], capture_output=True).returncode != 0:
        subprocess.run([python, "-m", "pip", "install", "-q", "distributed"], check=True)
    with tempfile.TemporaryDirectory(prefix="kdbg-bench-cache-") as cache:
        env = venv_env(cache)
        crashes = _crash_paths()
        uncrashed = [str(d.path) for d in reference_dumps(suites=["bookworm"]) if d.form == "elf-paging"]
        print(f"load average at start: {os.getloadavg()}")
        print("== kdbg report (warm cache), median of", args.runs)
        for dump, rep, peer in report_rows(kdbg, env, crashes[:3] + uncrashed, args.runs):
            ratio = rep / peer
            ok = "PASS" if rep <= 2.0 and ratio <= 2.0 else "FAIL"
            print(f"  {dump}: report {rep:.2f} s, sys+bt -a+ps+log {peer:.2f} s, ratio {ratio:.2f}x "
                  f"(targets 2 s and 2x: {ok})")
        print("== kdbg triage, dumps per minute (cold report dir, warm kdbg cache)")
        for label, rate in triage_rate(kdbg, python, env, crashes + uncrashed).items():
            print(f"  {label}: {rate:.1f} dumps/min")
        first, last = worker_rss(python, env, crashes, 50)
        print(f"== one worker's peak RSS: after 1 dump {first >> 10} MiB, after 50 {last >> 10} MiB "
              f"({last / first:.2f}x)")
        print("== kdbg shrink --report (oops dumps)")
        for suite, orig, small, reduced, filtered in shrink_sizes(kdbg, env):
            f = f", makedumpfile -d 31 {filtered / 2**20:.1f} MiB" if filtered else ""
            print(f"  {suite}: original {orig / 2**20:.1f} MiB, SMALL {small / 2**20:.2f} MiB "
                  f"({small / orig:.3f}x){f} (target 4 MiB: {'PASS' if small <= 4 << 20 else 'FAIL'}); "
                  f"--reduced-btf {reduced / 2**20:.2f} MiB (target 1 MiB: {'PASS' if reduced <= 1 << 20 else 'FAIL'})")
        print(f"load average at end: {os.getloadavg()}")
    print(json.dumps({"done": True}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
