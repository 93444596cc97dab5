"""C header benchmark: ``kdbg --btf F -x 'btf dump --format c'`` against ``bpftool btf dump
file F format c``, each a whole process, kdbg's cache empty (issue 13's "C header, cold" row).

    python3 benchmarks/bench_btf_header.py [BTF_FILE] [--runs N] [--venv DIR] [--no-install] [--phases]

kdbg is measured as ``pip install`` leaves it, in the benchmark virtualenv of
:mod:`benchmarks.venv` (this checkout reinstalled into it unless ``--no-install``), with
bytecode writing on and a private ``$KDBG_CACHE`` emptied before every kdbg run: "cold"
is kdbg's cache, not the page cache (both outputs are read once, untimed, first). Default
file: the bookworm (Linux 6.1) ELF reference dump's own vmlinux BTF, read out of it by
kdbg, as :mod:`benchmarks.run_all` does. Prints the median wall clock and user+sys CPU of
``--runs`` interleaved runs of each, their ratios, and the load average (the target is
wall clock: at most 2x bpftool). ``--phases`` also times, in this process, the parts of
kdbg's run (:func:`time_header`). Exits 1 when the target fails.
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
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.drgn_target import default_dump, run_timed  # noqa: E402
from benchmarks.venv import default_venv, ensure_venv, venv_env  # noqa: E402
from kdbg.btf.header import HeaderWriter  # noqa: E402
from kdbg.btf.index import BTF  # noqa: E402

BPFTOOL = shutil.which("bpftool") or "/usr/sbin/bpftool"
#: kdbg's wall time at most this many times bpftool's (issue 13, section 5).
TARGET = 2.0
HEADER_START = "#ifndef __VMLINUX_H__"


def time_header(data: bytes) -> Dict[str, float]:
    """One in-process run: seconds spent parsing ``data``, decoding it for the writer, and
    rendering (the process start, imports and cache are not in it)."""
    t0 = time.perf_counter()
    btf = BTF(data)
    t1 = time.perf_counter()
    w = HeaderWriter(btf)
    t2 = time.perf_counter()
    "".join(w.render())
    t3 = time.perf_counter()
    return {"parse": t1 - t0, "decode": t2 - t1, "render": t3 - t2, "total": t3 - t0}


def _dump_btf(bindir: Path, env: Dict[str, str], dest: str) -> None:
    """The reference dump's vmlinux BTF written to ``dest`` (read out of it by kdbg)."""
    dump, _vmlinux = default_dump(form="elf")
    run_timed([str(bindir / "python"), "-c",
               "import sys, kdbg; p = kdbg.open_core(sys.argv[1]); open(sys.argv[2], 'wb').write(p.btf.data)",
               dump, dest], env)


def measure(btf: str, bindir: Path, runs: int, cache: str) -> Dict[str, Tuple[float, float]]:
    """Median ``(wall, cpu)`` of ``runs`` interleaved runs of kdbg (empty cache) and bpftool."""
    env = venv_env(cache)
    kdbg = [str(bindir / "kdbg"), "--btf", btf, "-x", "btf dump --format c"]
    peer = [BPFTOOL, "btf", "dump", "file", btf, "format", "c"]
    for cmd in (kdbg, peer):  # the page cache warm, the outputs checked (untimed)
        shutil.rmtree(cache, ignore_errors=True)
        out = run_timed(cmd, env)[2]
        if not out.startswith(HEADER_START):
            raise SystemExit(f"{cmd[0]} printed {out[:200]!r}, not a header")
    times: Dict[str, List[Tuple[float, float]]] = {"kdbg": [], "bpftool": []}
    for _ in range(runs):
        shutil.rmtree(cache, ignore_errors=True)
        times["kdbg"].append(run_timed(kdbg, env)[:2])
        times["bpftool"].append(run_timed(peer, env)[:2])
    return {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in times.items()}


def main(argv: Optional[List[str]] = None) -> int:
    """Measure, print, exit 1 if the target fails."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file", nargs="?", help="BTF file (default: the bookworm ELF reference dump's BTF)")
    ap.add_argument("--runs", type=int, default=7, help="runs of each (median)")
    ap.add_argument("--venv", type=Path, default=default_venv(), help="the benchmark virtualenv (default %(default)s)")
    ap.add_argument("--no-install", action="store_true", help="measure the kdbg already installed in the venv")
    ap.add_argument("--phases", action="store_true", help="also time kdbg's parts in this process")
    args = ap.parse_args(argv)
    bindir = ensure_venv(args.venv, install_kdbg=not args.no_install)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="kdbg-bench-header-") as work:
        btf = args.file
        if btf is None:
            btf = os.path.join(work, "vmlinux.btf")
            _dump_btf(bindir, venv_env(os.path.join(work, "dump-cache")), btf)
        med = measure(btf, bindir, args.runs, os.path.join(work, "cache"))
        phases = time_header(Path(btf).read_bytes()) if args.phases else None
    load_after = os.getloadavg()[0]
    (kw, kc), (pw, pc) = med["kdbg"], med["bpftool"]
    ratio = kw / pw
    bpftool_version = subprocess.run([BPFTOOL, "version"], capture_output=True, text=True).stdout.split("\n")[0]
    what = args.file or "the bookworm ELF reference dump's vmlinux BTF"
    print(f"BTF: {what}; kdbg from {args.venv}; {bpftool_version}; median of {args.runs} interleaved runs")
    print(f"load average {load_before:.1f} before, {load_after:.1f} after, {os.cpu_count()} CPUs")
    print(f"bpftool format c          : {pw * 1e3:6.0f} ms wall {pc * 1e3:6.0f} ms cpu")
    print(f"kdbg btf dump --format c  : {kw * 1e3:6.0f} ms wall {kc * 1e3:6.0f} ms cpu (cache empty)")
    print(f"ratio                     : {ratio:.2f}x wall (target <= {TARGET:g}x: "
          f"{'PASS' if ratio <= TARGET else 'FAIL'}), {kc / pc:.2f}x cpu")
    if phases is not None:
        print("kdbg in-process (no start, imports or cache): "
              + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in phases.items()))
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
