"""Every speed target of issue 13 section 5, in one run, with its ratio to the named peer.

kdbg is measured as ``pip install`` leaves it: installed (not editable, byte-compiled) in
a virtualenv beside drgn from PyPI (:mod:`benchmarks.venv`; created the first time,
this checkout reinstalled into it on every run), with ``PYTHONDONTWRITEBYTECODE`` cleared
and a private ``$KDBG_CACHE``. Times are wall clock as a user feels it (the whole process,
start to exit), the median of ``--runs`` runs, every row's runs interleaved with its
peer's; user+sys CPU is shown beside them (drgn indexes DWARF on several threads, so a
loaded machine narrows its wall-clock lead). The dump is the bookworm (Linux 6.1) ELF
reference dump, with Debian's DWARF vmlinux for drgn.

Rows (the table in ``benchmarks/README.md`` says the same):

* **start, cold**: ``kdbg -c DUMP -e 'prog["init_task"].comm'`` with an empty cache
  against ``drgn -c DUMP -s VMLINUX --main-symbols -e 'print(prog["init_task"].comm)'``;
  target <= 0.8x.
* **start, warm**: the same kdbg command, the cache filled by the cold run before; the
  same drgn figure; target <= 0.3x.
* **C header, cold**: ``kdbg --btf F -x 'btf dump --format c'`` with an empty cache
  against ``bpftool btf dump file F format c``; target <= 2x.
* **fleet RSS**: the peak RSS of one process opening, walking (every task's comm and
  stack trace) and closing dumps ``--cycles`` times, going round every kernel's reference
  dumps (ELF and zlib kdump; the VMCORE alone when one is given), against the largest
  peak of a process doing one of them once; target <= 1.2x.

``F`` is the dump's own vmlinux BTF (read out of it by kdbg). Both programs' outputs are
checked (``(char [16])"swapper/0"``; a header). The fleet row also lists what keeps
closed Programs alive (:mod:`benchmarks.bench_fleet`).

Usage::

    python3 benchmarks/run_all.py [VMCORE --vmlinux PATH] [--venv DIR] [--no-install]
                                  [--runs N] [--cycles N] [--json]

Exits 1 when a target fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_fleet import TARGET as FLEET_TARGET  # noqa: E402
from benchmarks.bench_fleet import fleet, fleet_dumps, report_lines  # noqa: E402
from benchmarks.drgn_target import default_dump, run_timed  # noqa: E402
from benchmarks.venv import default_venv, ensure_venv, venv_env  # noqa: E402

EXPR = 'prog["init_task"].comm'
EXPECTED = '(char [16])"swapper/0"'
HEADER_START = "#ifndef __VMLINUX_H__"

#: (row, target ratio)
TARGETS = {"start, cold": 0.8, "start, warm": 0.3, "C header, cold": 2.0}


def _check(what: str, out: str, want: str, prefix: bool = False) -> None:
    ok = out.startswith(want) if prefix else out == want
    if not ok:
        raise SystemExit(f"{what} printed {out[:200]!r}, expected {want!r}")


def _median(xs: List[Tuple[float, float]]) -> Tuple[float, float]:
    return statistics.median(x[0] for x in xs), statistics.median(x[1] for x in xs)


def run(dump: str, vmlinux: str, bindir: Path, runs: int, cycles: int, work: str,
        fleet_set: List[str]) -> Dict[str, Any]:
    """Every row; medians of (wall, cpu) per program."""
    cache = os.path.join(work, "cache")
    env = venv_env(cache)
    bpftool = shutil.which("bpftool")
    if bpftool is None:
        raise SystemExit("bpftool is needed (Debian package bpftool)")
    btf = os.path.join(work, "vmlinux.btf")
    run_timed([str(bindir / "python"), "-c",
               "import sys, kdbg; p = kdbg.open_core(sys.argv[1]); open(sys.argv[2], 'wb').write(p.btf.data)",
               dump, btf], env)
    kdbg_start = [str(bindir / "kdbg"), "-c", dump, "-e", EXPR]
    drgn_start = [str(bindir / "drgn"), "-q", "-c", dump, "-s", vmlinux, "--main-symbols", "-e", f"print({EXPR})"]
    kdbg_header = [str(bindir / "kdbg"), "--btf", btf, "-x", "btf dump --format c"]
    bpftool_header = [bpftool, "btf", "dump", "file", btf, "format", "c"]
    # warm the OS page cache and check the outputs (not timed)
    for cmd, want, prefix in ((kdbg_start, EXPECTED, False), (drgn_start, EXPECTED, False),
                              (kdbg_header, HEADER_START, True), (bpftool_header, HEADER_START, True)):
        _check(cmd[0], run_timed(cmd, env)[2], want, prefix)
    times: Dict[str, List[Tuple[float, float]]] = {k: [] for k in (
        "kdbg cold", "kdbg warm", "drgn", "kdbg header", "bpftool header")}
    for _ in range(runs):
        for name, cmd, empty in (("kdbg cold", kdbg_start, True), ("drgn", drgn_start, False),
                                 ("kdbg warm", kdbg_start, False), ("kdbg header", kdbg_header, True),
                                 ("bpftool header", bpftool_header, False)):
            if empty:
                shutil.rmtree(cache, ignore_errors=True)
            wall, cpu, out = run_timed(cmd, env)
            if name in ("kdbg cold", "kdbg warm", "drgn"):
                _check(name, out, EXPECTED)
            times[name].append((wall, cpu))
        # the warm run above found the cache the cold run left; the header's cold run
        # emptied it again, which the next round's cold run wants anyway
    med = {k: _median(v) for k, v in times.items()}
    rows = [
        ("start, cold", med["kdbg cold"], med["drgn"], "drgn + DWARF"),
        ("start, warm", med["kdbg warm"], med["drgn"], "drgn + DWARF"),
        ("C header, cold", med["kdbg header"], med["bpftool header"], "bpftool"),
    ]
    shutil.rmtree(cache, ignore_errors=True)
    fl = fleet(fleet_set, cycles, str(bindir / "python"), env)
    return {"rows": rows, "fleet": fl, "runs": runs}


def main(argv: Optional[List[str]] = None) -> int:
    """Install, measure, print the table; exit 1 if a target fails."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("vmcore", nargs="?", help="ELF vmcore (default: the bookworm ELF reference dump)")
    ap.add_argument("--vmlinux", help="DWARF vmlinux for drgn (default: Debian's, for bookworm)")
    ap.add_argument("--venv", type=Path, default=default_venv(), help="the benchmark virtualenv (default %(default)s)")
    ap.add_argument("--no-install", action="store_true", help="measure the kdbg already installed in the venv")
    ap.add_argument("--runs", type=int, default=7, help="runs per program (median)")
    ap.add_argument("--cycles", type=int, default=20, help="vmcores opened by the fleet process")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args(argv)
    if args.vmcore:
        if not args.vmlinux:
            ap.error("--vmlinux is needed with a VMCORE")
        dump, vmlinux = args.vmcore, args.vmlinux
    else:
        dump, vmlinux = default_dump(form="elf")
        vmlinux = args.vmlinux or vmlinux
    bindir = ensure_venv(args.venv, install_kdbg=not args.no_install)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="kdbg-bench-all-") as work:
        r = run(dump, vmlinux, bindir, args.runs, args.cycles, work, [dump] if args.vmcore else fleet_dumps())
    load_after = os.getloadavg()[0]
    print(f"dump: {dump}\ndrgn: DWARF from {vmlinux}\nkdbg and drgn: {args.venv} "
          f"(median of {r['runs']} runs, wall clock; CPU = user+sys)")
    cores = os.cpu_count() or 1
    print(f"load average {load_before:.1f} before, {load_after:.1f} after, {cores} CPUs"
          + (": the machine is busy, wall times are mostly waiting for a CPU" if max(load_before, load_after) > cores
             else "") + "\n")
    print(f"{'row':16} {'kdbg wall':>10} {'peer wall':>10} {'peer':14} {'ratio':>7} {'target':>8}   "
          f"{'kdbg cpu':>9} {'peer cpu':>9} {'ratio':>6}")
    ok = True
    for name, (kw, kc), (pw, pc), peer in r["rows"]:
        ratio, target = kw / pw, TARGETS[name]
        verdict = "PASS" if ratio <= target else "FAIL"
        ok &= verdict == "PASS"
        limit = f"<= {target:g}x"
        print(f"{name:16} {kw * 1e3:>7.0f} ms {pw * 1e3:>7.0f} ms {peer:14} {ratio:>6.2f}x {limit:>8} "
              f"{verdict}  {kc * 1e3:>6.0f} ms {pc * 1e3:>6.0f} ms {kc / pc:>5.2f}x")
    fl = r["fleet"]
    verdict = "PASS" if fl["ratio"] <= FLEET_TARGET else "FAIL"
    ok &= verdict == "PASS"
    print(f"{'fleet RSS':16} {fl['many']['hwm_mb']:>7.0f} MB {fl['one']['hwm_mb']:>7.0f} MB {'one vmcore':14} "
          f"{fl['ratio']:>6.2f}x {'<= ' + format(FLEET_TARGET, 'g') + 'x':>8} {verdict}")
    print("\n".join(report_lines(fl)))
    if args.json:
        print(json.dumps(r, indent=1, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
