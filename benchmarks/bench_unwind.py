"""Stack traces of every task: kdbg (ORC read from the dump's memory, BTF) against drgn +
Debian's DWARF vmlinux, in the same run.

Rows (every ratio is kdbg / drgn):

* ``foreach bt`` (formerly ``bt -a``), whole process: ``kdbg -c DUMP -x 'foreach bt'`` (kdbg's caches warm, as a user's
  second run) against drgn with ``VMLINUX`` running a script that prints
  ``prog.stack_trace(task)`` of every task (each CPU's idle task too, as ``foreach bt`` does).
  Median of ``--runs``. Target <= 1.0x.
* unwinding only, in-process, best of ``--repeat``: ``str(prog.stack_trace(t))`` for every
  task once both programs are open and have unwound once (tables loaded). No target.

Before timing, both must agree on the tasks and on every task's frame pcs (drgn's inline
frames folded: they share the pc of their outer frame).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import drgn  # noqa: E402
from drgn.helpers.linux.pid import for_each_task as drgn_tasks  # noqa: E402

import kdbg  # noqa: E402
from benchmarks.drgn_target import (  # noqa: E402
    add_target_arguments,
    best_of,
    child_env,
    median_times,
    run_child,
    target_from_args,
)
from kdbg.errors import KdbgError  # noqa: E402
from kdbg.helpers import for_each_task as kdbg_tasks  # noqa: E402

DRGN_BT_ALL = """
import sys
import drgn
from drgn.helpers.linux.cpumask import for_each_online_cpu
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.sched import idle_task
prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
prog.load_debug_info([sys.argv[2]])
tasks = [idle_task(prog, cpu) for cpu in for_each_online_cpu(prog)] + list(for_each_task(prog))
for task in tasks:
    try:
        trace = prog.stack_trace(task)
    except Exception as e:
        print(f"PID {task.pid.value_()}: {e}")
        continue
    print(f"PID {task.pid.value_()}")
    print(trace)
"""


def _folded_pcs(trace: Any) -> List[int]:
    """A drgn trace's pcs, one per physical frame (inline frames folded)."""
    pcs: List[int] = []
    for frame in trace:
        if getattr(frame, "is_inline", False):
            continue
        pcs.append(frame.pc)
    return pcs


def bench_in_process(dump: str, vmlinux: str, repeat: int) -> Dict[str, Any]:
    """Unwind every task in this process, kdbg and drgn; check they agree first."""
    kprog = kdbg.open_core(dump)
    dprog = drgn.Program()
    dprog.set_core_dump(dump)
    dprog.load_debug_info([vmlinux])

    def kall() -> Dict[int, Tuple[str, List[int]]]:
        out: Dict[int, Tuple[str, List[int]]] = {}
        for t in kdbg_tasks(kprog):
            try:
                trace = kprog.stack_trace(t)
            except KdbgError:  # e.g. an exited task, whose stack the kernel freed
                out[int(t)] = ("", [])
                continue
            out[int(t)] = (str(trace), [f.pc for f in trace])
        return out

    def dall() -> Dict[int, Tuple[str, List[int]]]:
        out: Dict[int, Tuple[str, List[int]]] = {}
        for t in drgn_tasks(dprog):
            try:
                trace = dprog.stack_trace(t)
            except Exception:  # drgn: a task it cannot unwind; kdbg must still give a trace
                out[t.value_()] = ("", [])
                continue
            out[t.value_()] = (str(trace), _folded_pcs(trace))
        return out

    k, d = kall(), dall()  # warm-up: ORC tables, symbols, debug info
    if set(k) != set(d):
        raise SystemExit(f"kdbg and drgn disagree on the tasks: {len(k)} vs {len(d)}")
    # A task only one side unwinds: drgn reads an exited task's freed stack pointer (one
    # user-space "frame"), kdbg says the stack is gone. Those are listed, not compared.
    differ = [hex(t) for t in k if d[t][1] and k[t][1] and k[t][1] != d[t][1]]
    one_sided = [hex(t) for t in k if bool(d[t][1]) != bool(k[t][1])]
    if differ:
        raise SystemExit(f"kdbg and drgn unwind {len(differ)} tasks differently: {', '.join(differ[:5])}")
    frames = sum(len(v[1]) for v in k.values())
    return {
        "tasks": len(k),
        "frames": frames,
        "one_sided": one_sided,
        "kdbg_s": best_of(repeat, kall),
        "drgn_s": best_of(repeat, dall),
    }


def bench_process(dump: str, vmlinux: str, runs: int, work: str, cpu: bool) -> Dict[str, Any]:
    """``kdbg -x 'foreach bt'`` against drgn printing every task's trace, whole processes."""
    env = child_env(os.path.join(work, "cache"))
    kdbg_cmd = [sys.executable, "-m", "kdbg", "-c", dump, "-x", "foreach bt"]
    drgn_cmd = [sys.executable, "-c", DRGN_BT_ALL, dump, vmlinux]
    _, kout = run_child(kdbg_cmd, env, cpu)  # warm: kdbg's caches, the OS page cache, bytecode
    _, dout = run_child(drgn_cmd, env, cpu)
    ktasks = sum(1 for line in kout.splitlines() if line.startswith("PID: "))
    dtasks = sum(1 for line in dout.splitlines() if line.startswith("PID "))  # also those it fails
    if ktasks != dtasks:
        raise SystemExit(f"foreach bt printed {ktasks} tasks, drgn {dtasks}")
    kdbg_s, drgn_s = median_times(kdbg_cmd, drgn_cmd, env, cpu, runs)
    return {"tasks": ktasks, "kdbg_s": kdbg_s, "drgn_s": drgn_s}


def main(argv: Optional[List[str]] = None) -> int:
    """Run both rows, print the table, exit 1 if the target fails."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_target_arguments(ap)
    ap.add_argument("--repeat", type=int, default=3, help="in-process repetitions (best of)")
    ap.add_argument("--runs", type=int, default=3, help="process runs (median)")
    ap.add_argument("--cpu", action="store_true", help="time processes by user+sys CPU, not wall clock")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args(argv)
    dump, vmlinux = target_from_args(ap, args)
    with tempfile.TemporaryDirectory(prefix="kdbg-bench-unwind-") as work:
        os.environ["KDBG_CACHE"] = os.path.join(work, "inproc-cache")
        ip = bench_in_process(dump, vmlinux, args.repeat)
        pr = bench_process(dump, vmlinux, args.runs, work, args.cpu)
        shutil.rmtree(os.environ["KDBG_CACHE"], ignore_errors=True)
    ratio_p = pr["kdbg_s"] / pr["drgn_s"]
    ratio_i = ip["kdbg_s"] / ip["drgn_s"]
    print(f"dump: {dump}\ndrgn: DWARF from {vmlinux}\n")
    print(f"{'row':58} {'kdbg':>10} {'drgn':>10} {'ratio':>7} {'target':>7}")
    verdict = "PASS" if ratio_p <= 1.0 else "FAIL"
    print(f"{'foreach bt, whole process (' + str(pr['tasks']) + ' tasks, caches warm)':58} "
          f"{pr['kdbg_s'] * 1e3:>7.0f} ms {pr['drgn_s'] * 1e3:>7.0f} ms {ratio_p:>6.2f}x {'<= 1x':>7} {verdict}")
    print(f"{'unwind + str every task, in-process (' + str(ip['frames']) + ' frames)':58} "
          f"{ip['kdbg_s'] * 1e3:>7.0f} ms {ip['drgn_s'] * 1e3:>7.0f} ms {ratio_i:>6.2f}x {'':>7}")
    if ip["one_sided"]:
        print(f"\nunwound by one side only (not compared): {', '.join(ip['one_sided'])}")
    if args.json:
        print(json.dumps({"process": pr, "in_process": ip}, indent=1))
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
