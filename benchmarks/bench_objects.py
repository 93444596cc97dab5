"""Benchmark: typed objects, kdbg (BTF + kallsyms) vs drgn 0.3.0 + Debian's DWARF vmlinux.

Both read the same ELF vmcore (by default the bookworm 6.1 ``elf-paging`` reference dump;
drgn cannot read the kdump forms) and every ratio is kdbg / drgn measured in this run:

* **tasks**: ``for_each_task(prog)`` reading ``pid`` and ``comm`` of every task
  (``kdbg.helpers.for_each_task``, ``drgn.helpers.linux.pid.for_each_task``); in-process,
  after one warm-up walk, best of ``--repeat``; per task.  Target <= 2x.
* **str(init_task)**: ``str(prog["init_task"])`` (the whole task_struct, about 30,000
  characters), in-process, after one warm-up, best of ``--repeat``.  Target <= 2x.
* **start to first value**: a new process printing ``prog["init_task"].comm``:
  ``kdbg -c DUMP -e 'prog["init_task"].comm'`` against ``drgn -c DUMP -s VMLINUX -e
  'print(prog["init_task"].comm)'`` (drgn prints an ``-e`` expression only on a terminal;
  it has no caches of its own).  *cold*: kdbg with an empty private cache (``$KDBG_CACHE``); *warm*: the cache
  filled by the run before.  Median of ``--runs``, runs interleaved; both print
  ``(char [16])"swapper/0"`` (checked).  Targets: cold <= 1.0x, warm <= 0.3x.
* **peak RSS**: a kdbg process with BTF (name index built), kallsyms and the declaration
  table loaded, having printed init_task and walked the tasks (``VmHWM``: a child's
  ``ru_maxrss`` would start from this process's RSS at the fork).  Target
  <= 150 MB.  drgn's, doing the same with DWARF, is shown for reference.

Child processes run with ``PYTHONDONTWRITEBYTECODE`` cleared (this machine's shell sets it,
which would make every start recompile every module) and a private ``$KDBG_CACHE``; the
files are read once before timing so that the OS page cache is warm for both.

Usage::

    python3 benchmarks/bench_objects.py [VMCORE] [--vmlinux PATH] [--repeat N] [--runs N] [--cpu] [--json]

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

import drgn  # noqa: E402
from drgn.helpers.linux.pid import for_each_task as drgn_tasks  # noqa: E402

import kdbg  # noqa: E402
from benchmarks.drgn_target import add_target_arguments, best_of, child_env, run_child, target_from_args  # noqa: E402
from kdbg.helpers import for_each_task as kdbg_tasks  # noqa: E402

EXPR = 'prog["init_task"].comm'
EXPECTED = '(char [16])"swapper/0"'

#: Declarations used only if the shipped table does not type these names.
_RSS_CHILD = r"""
import sys
import kdbg
from kdbg.helpers import for_each_task
prog = kdbg.open_core(sys.argv[1])
prog.type("struct task_struct"); prog.btf.build_index()
prog.symbol("init_task"); prog.symbolize_address(prog.symbol("jiffies").address)
str(prog["init_task"])
tasks = [(t.pid.value_(), t.comm.string_()) for t in for_each_task(prog)]
import kdbg.declarations
assert len(kdbg.declarations.DeclarationTable.shipped()) > 0
# VmHWM, not ru_maxrss: a child's ru_maxrss starts from its parent's RSS at fork
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(hwm, len(tasks))
"""

_DRGN_RSS_CHILD = r"""
import sys
import drgn
from drgn.helpers.linux.pid import for_each_task
prog = drgn.Program(); prog.set_core_dump(sys.argv[1]); prog.load_debug_info([sys.argv[2]])
str(prog["init_task"])
tasks = [(t.pid.value_(), t.comm.string_()) for t in for_each_task(prog)]
# VmHWM, not ru_maxrss: a child's ru_maxrss starts from its parent's RSS at fork
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(hwm, len(tasks))
"""


# ---------------------------------------------------------------------------- in-process
def bench_in_process(dump: str, vmlinux: str, repeat: int) -> Dict[str, Any]:
    """Rows (a) and (b): kdbg and drgn in this process."""
    kprog = kdbg.open_core(dump)
    dprog = drgn.Program()
    dprog.set_core_dump(dump)
    dprog.load_debug_info([vmlinux])

    def kwalk() -> List[Tuple[int, bytes]]:
        return [(t.pid.value_(), t.comm.string_()) for t in kdbg_tasks(kprog)]

    def dwalk() -> List[Tuple[int, bytes]]:
        return [(t.pid.value_(), t.comm.string_()) for t in drgn_tasks(dprog)]

    ktasks, dtasks = kwalk(), dwalk()  # warm-up (type lookups, page cache)
    if sorted(ktasks) != sorted(dtasks):
        raise SystemExit(f"kdbg and drgn disagree on the tasks: {len(ktasks)} vs {len(dtasks)}")
    n = len(ktasks)
    k_walk, d_walk = best_of(repeat, kwalk), best_of(repeat, dwalk)

    kstr, dstr = str(kprog["init_task"]), str(dprog["init_task"])  # warm-up
    k_str = best_of(repeat, lambda: str(kprog["init_task"]))
    d_str = best_of(repeat, lambda: str(dprog["init_task"]))
    return {
        "tasks": n,
        "kdbg_task_us": k_walk / n * 1e6,
        "drgn_task_us": d_walk / n * 1e6,
        "kdbg_str_ms": k_str * 1e3,
        "drgn_str_ms": d_str * 1e3,
        "str_chars": (len(kstr), len(dstr)),
    }


# ---------------------------------------------------------------------------- processes
#: Time children by user+sys CPU instead of wall clock (``--cpu``).
CPU_TIMES = False


def _run(cmd: List[str], env: Dict[str, str]) -> Tuple[float, str]:
    return run_child(cmd, env, CPU_TIMES)


def bench_start(dump: str, vmlinux: str, runs: int, work: str) -> Dict[str, Any]:
    """Row (c): process start to the first typed value, cold and warm, against drgn."""
    cache = os.path.join(work, "cache")
    env = child_env(cache)
    kdbg_cmd = [sys.executable, "-m", "kdbg", "-c", dump, "-e", EXPR]
    drgn_exe = shutil.which("drgn")
    drgn_cmd = ([drgn_exe] if drgn_exe else [sys.executable, "-m", "drgn"]) + [
        "-q", "-c", dump, "-s", vmlinux, "-e", f"print({EXPR})"]
    # Warm the OS page cache and the bytecode of both (not timed).
    for cmd in (kdbg_cmd, drgn_cmd):
        _, out = _run(cmd, env)
        if out != EXPECTED:
            raise SystemExit(f"{cmd[0]} printed {out!r}, expected {EXPECTED!r}")
    cold: List[float] = []
    warm: List[float] = []
    peer: List[float] = []
    for _ in range(runs):
        shutil.rmtree(cache, ignore_errors=True)
        t, out = _run(kdbg_cmd, env)
        assert out == EXPECTED, out
        cold.append(t)
        t, out = _run(drgn_cmd, env)
        assert out == EXPECTED, out
        peer.append(t)
        t, out = _run(kdbg_cmd, env)
        assert out == EXPECTED, out
        warm.append(t)
    return {
        "kdbg_cold_s": statistics.median(cold),
        "kdbg_warm_s": statistics.median(warm),
        "drgn_s": statistics.median(peer),
    }


def bench_rss(dump: str, vmlinux: str, work: str) -> Dict[str, Any]:
    """Row (d): peak RSS of kdbg with BTF, kallsyms and the declaration table loaded."""
    env = child_env(os.path.join(work, "cache"))
    _, out = _run([sys.executable, "-c", _RSS_CHILD, dump], env)
    k_kb, k_tasks = (int(x) for x in out.split())
    _, out = _run([sys.executable, "-c", _DRGN_RSS_CHILD, dump, vmlinux], env)
    d_kb, d_tasks = (int(x) for x in out.split())
    return {"kdbg_rss_mb": k_kb / 1024, "drgn_rss_mb": d_kb / 1024, "tasks": (k_tasks, d_tasks)}


# ---------------------------------------------------------------------------- report
def main(argv: Optional[List[str]] = None) -> int:
    """Run every row, print the table, exit 1 if a target fails."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_target_arguments(ap)
    ap.add_argument("--repeat", type=int, default=5, help="in-process repetitions (best of)")
    ap.add_argument("--runs", type=int, default=5, help="process runs per row (median)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    ap.add_argument("--cpu", action="store_true",
                    help="time processes by user+sys CPU, not wall clock (a loaded machine; drgn's "
                         "DWARF indexing runs on several threads, so this favours neither side exactly)")
    args = ap.parse_args(argv)
    global CPU_TIMES
    CPU_TIMES = args.cpu
    dump, vmlinux = target_from_args(ap, args)
    with tempfile.TemporaryDirectory(prefix="kdbg-bench-objects-") as work:
        os.environ["KDBG_CACHE"] = os.path.join(work, "inproc-cache")
        ip = bench_in_process(dump, vmlinux, args.repeat)
        st = bench_start(dump, vmlinux, args.runs, work)
        rss = bench_rss(dump, vmlinux, work)
    rows = [
        (f"for_each_task: pid + comm, per task ({ip['tasks']} tasks)", f"{ip['kdbg_task_us']:.1f} us",
         f"{ip['drgn_task_us']:.1f} us", ip["kdbg_task_us"] / ip["drgn_task_us"], 2.0),
        (f"str(prog['init_task']) ({ip['str_chars'][0]} chars)", f"{ip['kdbg_str_ms']:.1f} ms",
         f"{ip['drgn_str_ms']:.1f} ms", ip["kdbg_str_ms"] / ip["drgn_str_ms"], 2.0),
        ("start to first typed value, cold (empty cache)", f"{st['kdbg_cold_s'] * 1e3:.0f} ms",
         f"{st['drgn_s'] * 1e3:.0f} ms", st["kdbg_cold_s"] / st["drgn_s"], 1.0),
        ("start to first typed value, warm (cache filled)", f"{st['kdbg_warm_s'] * 1e3:.0f} ms",
         f"{st['drgn_s'] * 1e3:.0f} ms", st["kdbg_warm_s"] / st["drgn_s"], 0.3),
    ]
    ok = True
    print(f"dump: {dump}\ndrgn: DWARF from {vmlinux}\n")
    print(f"{'row':58} {'kdbg':>10} {'drgn':>10} {'ratio':>7} {'target':>7}")
    for name, k, d, ratio, target in rows:
        verdict = "PASS" if ratio <= target else "FAIL"
        ok &= verdict == "PASS"
        print(f"{name:58} {k:>10} {d:>10} {ratio:>6.2f}x {'<= ' + format(target, 'g') + 'x':>7} {verdict}")
    rss_ok = rss["kdbg_rss_mb"] <= 150
    ok &= rss_ok
    print(f"{'peak RSS: BTF + kallsyms + declarations loaded':58} {rss['kdbg_rss_mb']:>7.0f} MB "
          f"{rss['drgn_rss_mb']:>7.0f} MB {'':>7} {'<= 150 MB':>7} {'PASS' if rss_ok else 'FAIL'}")
    if args.json:
        print(json.dumps({"in_process": ip, "start": st, "rss": rss}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
