"""drgn's contrib scripts: kdbg without DWARF against drgn with Debian's DWARF, each script a
fresh process as a user runs it (issue 14's target: the whole set in at most 1.0x drgn's
wall time).

    python3 benchmarks/bench_contrib.py [--suite SUITE] [--runs N] [--venv DIR] [--no-install] [--json]

Both run from the benchmark virtualenv (:mod:`benchmarks.venv`: kdbg installed as ``pip
install`` leaves it, byte-compiled, beside drgn from PyPI). The scripts are drgn's own,
fetched from PyPI (:mod:`vmcores.drgn_source`), with the arguments the contrib test gives
them (:mod:`vmcores.contrib_runs`), on the suite's ``-p`` ELF reference dump:

- drgn: ``drgn -c DUMP -s VMLINUX --main-symbols SCRIPT ARGS``;
- kdbg: ``kdbg -c DUMP SCRIPT ARGS``, with kdbg's cache as one earlier run left it (a user
  runs many scripts on one dump; the first run of all is not timed, for either debugger).

Each row is the median of ``--runs`` wall-clock times, the two debuggers' runs interleaved;
"same" says whether both printed the same output with the same exit status. The total is
the sum of the rows' medians; a second total counts only the identical runs (a script that
stops early under one debugger is quick, so those rows are the fair race). Exit status 1
when the total ratio exceeds the target.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.venv import default_venv, ensure_venv, venv_env  # noqa: E402
from vmcores.build import reference_dumps  # noqa: E402
from vmcores.contrib_runs import RUNS, script_args, script_facts  # noqa: E402
from vmcores.debian import debian_dbg_vmlinux  # noqa: E402
from vmcores.drgn_source import contrib_scripts  # noqa: E402

#: The whole set's wall time, kdbg over drgn.
TARGET = 1.0

#: Seconds one run of one script may take.
TIMEOUT = 900


def _run(cmd: List[str], env: Dict[str, str], cwd: str) -> Tuple[float, int, str]:
    """``(wall seconds, exit status, stdout)`` of one fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, errors="replace",
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    return time.perf_counter() - t0, proc.returncode, proc.stdout


def run(suite: str, bindir: Path, runs: int, work: str) -> Dict[str, Any]:
    """Every row of the table, and the total."""
    dumps = {d.form: d for d in reference_dumps(suites=[suite]) if d.tool.startswith("qemu")}
    dump = dumps["elf-paging"]
    vmlinux = debian_dbg_vmlinux(suite)
    facts = script_facts(dump, dump)
    root = contrib_scripts()
    env = venv_env(os.path.join(work, "kdbg-cache"))
    rows: List[Dict[str, Any]] = []
    for script, templates in RUNS.items():
        for template in templates:
            args = [a.replace("{out}", os.path.join(work, "out.file")) for a in script_args(template, facts)]
            path = str(root / script)
            cmds = {
                "drgn": [str(bindir / "drgn"), "-c", str(dump.path), "-s", str(vmlinux), "--main-symbols", path, *args],
                "kdbg": [str(bindir / "kdbg"), "-c", str(dump.path), path, *args],
            }
            times: Dict[str, List[float]] = {"drgn": [], "kdbg": []}
            result: Dict[str, Tuple[int, str]] = {}
            for name, cmd in cmds.items():  # untimed: kdbg's cache, both debuggers' page cache
                _wall, status, out = _run(cmd, env, work)
                result[name] = (status, out)
            for _ in range(runs):
                for name, cmd in cmds.items():
                    times[name].append(_run(cmd, env, work)[0])
            drgn_s, kdbg_s = statistics.median(times["drgn"]), statistics.median(times["kdbg"])
            rows.append({
                "script": " ".join([script, *template]), "drgn": drgn_s, "kdbg": kdbg_s,
                "ratio": kdbg_s / drgn_s, "same": result["drgn"] == result["kdbg"],
                "status": {k: v[0] for k, v in result.items()},
            })
            print(f"  {rows[-1]['script']:<40} drgn {drgn_s:6.2f}s  kdbg {kdbg_s:6.2f}s  "
                  f"{kdbg_s / drgn_s:5.2f}x", file=sys.stderr)
    def total(of: List[Dict[str, Any]]) -> Dict[str, float]:
        d, k = sum(r["drgn"] for r in of), sum(r["kdbg"] for r in of)
        return {"drgn": d, "kdbg": k, "ratio": k / d if d else float("nan"), "scripts": len(of)}

    return {"suite": suite, "dump": str(dump.path), "runs": runs, "rows": rows, "total": total(rows),
            "identical": total([r for r in rows if r["same"]])}


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", default="bookworm", help="reference kernel (default bookworm, Linux 6.1)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per script and debugger (median)")
    ap.add_argument("--venv", type=Path, default=None, help="benchmark virtualenv (default: benchmarks.venv's)")
    ap.add_argument("--no-install", action="store_true", help="do not reinstall this checkout into the venv")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ns = ap.parse_args(argv)
    bindir = ensure_venv(ns.venv or default_venv(), install_kdbg=not ns.no_install)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="kdbg-bench-contrib-") as work:
        r = run(ns.suite, bindir, ns.runs, work)
    load_after = os.getloadavg()[0]
    if ns.json:
        print(json.dumps(r, indent=2))
    else:
        print(f"drgn's contrib scripts on {r['dump']} (median of {r['runs']} runs, wall clock)")
        print(f"{'script':<42} {'drgn':>8} {'kdbg':>8} {'ratio':>7}  same")
        for row in r["rows"]:
            print(f"{row['script']:<42} {row['drgn']:7.2f}s {row['kdbg']:7.2f}s {row['ratio']:6.2f}x  "
                  f"{'yes' if row['same'] else 'no'}")
        t, same = r["total"], r["identical"]
        verdict = "PASS" if t["ratio"] <= TARGET else "FAIL"
        print(f"{'total':<42} {t['drgn']:7.2f}s {t['kdbg']:7.2f}s {t['ratio']:6.2f}x  "
              f"target <= {TARGET}x: {verdict}")
        # a run that stopped early is quick: the rows that printed drgn's output are the fair race
        print(f"{'total of identical runs (' + str(same['scripts']) + ')':<42} {same['drgn']:7.2f}s "
              f"{same['kdbg']:7.2f}s {same['ratio']:6.2f}x")
        print(f"load average {load_before:.1f} before, {load_after:.1f} after, {os.cpu_count()} CPUs")
    return 0 if r["total"]["ratio"] <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
