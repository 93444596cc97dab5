"""Benchmark: many vmcores opened, walked and closed in one process (fleet triage).

One process opens vmcores with ``kdbg.open_core``, walks each (every task's ``pid`` and
``comm`` through ``for_each_task``, and every task's stack trace as ``str()``), closes it
and drops it, ``--cycles`` times, going round the dumps given (by default the reference
dumps of every kernel in the cache, 5.10, 6.1 and 6.12, each as QEMU's ELF and as its
zlib kdump: several kernels and two memory readers, not one dump over and over; not the
filtered dumps, where a walk of every task may meet an excluded page). One process per
dump does the same once. The figure is the ratio of the
many-cycle process's peak RSS (``VmHWM``) to the largest of the one-cycle processes'
peaks: a closed Program must free what it held, so 20 cycles should stay within 1.2x of
the biggest single one.

The many-cycle process also says what outlived its Program: after the cycles (and a
``gc.collect()``) it counts, through weak references, each cycle's Program, vmlinux BTF,
memory source and symbol table still alive. A third process of two cycles then prints,
for the first one still alive of each kind, the chains of references that keep it, from
a module global down (``module.NAME -> ...``), so whoever removes the caches can see
which ones are left.

Usage::

    python3 benchmarks/bench_fleet.py [VMCORE...] [--cycles N] [--python PY]

``--python`` is the interpreter that runs the measured processes (default: this one,
with this checkout importable). Exits 1 when the ratio is above 1.2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.drgn_target import child_env, run_timed  # noqa: E402
from vmcores.build import reference_dumps  # noqa: E402

TARGET = 1.2
#: The forms of each kernel's reference dumps the fleet goes round: (form, tool prefix).
FLEET_FORMS = (("elf", "qemu"), ("kdump-zlib", "qemu"))

#: The measured process: argv = dumps (JSON list, gone round), cycles, explain; prints one
#: JSON object.
CHILD = r'''
import gc, json, sys, types, weakref
from collections import deque

import kdbg
from kdbg.errors import UnwindError
from kdbg.helpers import for_each_task


def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def cycle(dump):
    prog = kdbg.open_core(dump)
    tasks = 0
    traces = 0
    for t in for_each_task(prog):
        t.pid.value_()
        t.comm.string_()
        tasks += 1
        try:
            str(prog.stack_trace(t))
            traces += 1
        except UnwindError:  # an exited task's freed stack
            pass
    refs = {"Program": weakref.ref(prog), "BTF": weakref.ref(prog.btf),
            "memory": weakref.ref(prog.memory), "symbols": weakref.ref(prog.symbol_table)}
    prog.close()
    return refs, tasks, traces


def link(parent, child):
    """How ``parent`` refers to ``child``, as text."""
    if isinstance(parent, dict):
        for k, v in parent.items():
            if v is child:
                return f"[{k!r}]" if isinstance(k, (str, int)) and len(repr(k)) < 60 else f"[{describe(k)}]"
            if k is child:
                return "{key}"
        return "[?]"
    if isinstance(parent, (list, tuple)):
        for i, v in enumerate(parent):
            if v is child:
                return f"[{i}]"
    d = getattr(parent, "__dict__", None)
    if isinstance(d, dict):
        for k, v in d.items():
            if v is child:
                return f".{k}"
        if d is child:
            return ".__dict__"
    return ""


def describe(o):
    if isinstance(o, types.FunctionType):
        return f"<function {o.__module__}.{o.__qualname__}>"
    if isinstance(o, type):
        return f"<class {o.__module__}.{o.__qualname__}>"
    t = type(o)
    if t in (dict, list, tuple, set):
        return f"<{t.__name__} of {len(o)}>"
    return f"<{t.__module__}.{t.__qualname__}>"


def roots(target, limit=12):
    """Chains of references from a module's globals down to ``target``."""
    mods = {id(m.__dict__): name for name, m in list(sys.modules.items())
            if m is not None and isinstance(getattr(m, "__dict__", None), dict)}
    parent = {id(target): None}
    keep = [target]
    queue = deque([target])
    found = []
    while queue and len(found) < limit:
        o = queue.popleft()
        refs = gc.get_referrers(o)
        for r in refs:
            if isinstance(r, types.FrameType) or r is keep or r is queue or r is parent or r is refs:
                continue
            if id(r) in parent:
                continue
            parent[id(r)] = o
            keep.append(r)
            (found if id(r) in mods else queue).append(r)
        del refs
    out = []
    for root in found:
        parts = []
        cur = root
        while parent.get(id(cur)) is not None:
            nxt = parent[id(cur)]
            step = link(cur, nxt)
            if not parts:  # the module global's name
                parts.append(mods[id(root)] + "." + (step[2:-2] if step.startswith("['") else step))
            else:
                parts[-1] += step
            parts.append(describe(nxt))
            cur = nxt
        out.append(" -> ".join(parts))
    return out


def main():
    dumps, cycles, explain = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
    rss = []
    kept = []
    tasks = []
    traces = []
    for i in range(cycles):
        refs, n, t = cycle(dumps[i % len(dumps)])
        kept.append(refs)
        tasks.append(n)
        traces.append(t)
        rss.append(status("VmRSS"))
    gc.collect()
    alive = {k: sum(r[k]() is not None for r in kept) for k in kept[0]}
    why = {}
    for kind in kept[0] if explain else ():
        obj = next((r[kind]() for r in kept if r[kind]() is not None), None)
        if obj is not None:
            why[kind] = roots(obj)
        del obj
    print(json.dumps({"hwm_mb": status("VmHWM"), "rss_mb": rss, "tasks": tasks, "traces": traces,
                      "alive": alive, "why": why}))


main()
'''


def fleet_dumps() -> List[str]:
    """The dumps the fleet goes round by default: each kernel's reference dumps of
    :data:`FLEET_FORMS` that are in the cache (none is built here)."""
    found = {(d.suite, d.form): str(d.path) for d in reference_dumps(build=False)
             for form, tool in FLEET_FORMS if d.form == form and d.tool.startswith(tool)}
    dumps = [found[k] for k in sorted(found)]
    if not dumps:
        raise SystemExit("no reference dumps in the cache (python3 -m vmcores)")
    return dumps


def measure(dumps: Sequence[str], cycles: int, python: str, env: Dict[str, str],
            explain: bool = False) -> Dict[str, Any]:
    """One measured process going round ``dumps`` for ``cycles`` cycles: its JSON report
    plus its wall time; with ``explain`` it also looks for what keeps closed cycles alive
    (slow with a big heap: each step of that search scans every object)."""
    wall, _cpu, out = run_timed([python, "-c", CHILD, json.dumps(list(dumps)), str(cycles),
                                 "1" if explain else "0"], env)
    report: Dict[str, Any] = json.loads(out.splitlines()[-1])
    report["wall_s"] = wall
    return report


def fleet(dumps: Sequence[str], cycles: int, python: str, env: Dict[str, str]) -> Dict[str, Any]:
    """One process per dump doing one cycle, one going round them all for ``cycles``
    cycles, and the ratio of the latter's peak to the largest of the former's."""
    # one untimed round first fills kdbg's cache, so that every measured process finds it
    # warm (a cold open builds the indexes: a higher peak, in whichever process came first)
    measure(dumps, len(dumps), python, env)
    ones = {d: measure([d], 1, python, env) for d in dumps}
    many = measure(dumps, cycles, python, env)
    one = max(ones.values(), key=lambda r: float(r["hwm_mb"]))
    why = measure(dumps, 2, python, env, explain=True)["why"]
    return {"one": one, "ones": {d: r["hwm_mb"] for d, r in ones.items()}, "many": many, "cycles": cycles,
            "dumps": list(dumps), "ratio": many["hwm_mb"] / one["hwm_mb"], "why": why}


def report_lines(r: Dict[str, Any]) -> List[str]:
    """Each dump's single peak and what outlived its Program, for the table's footnote."""
    many = r["many"]
    after = ", ".join(f"{x:.0f}" for x in many["rss_mb"][:2] + many["rss_mb"][-1:])
    n = len(r["dumps"])
    lines = [f"  {r['cycles']} cycles round {n} dumps: peak {many['hwm_mb']:.0f} MB, the largest one-cycle peak: "
             f"{r['one']['hwm_mb']:.0f} MB; RSS after cycles 1, 2, last: {after} MB "
             f"({sum(many['tasks'])} tasks, {sum(many['traces'])} stack traces in all)"]
    lines.extend(f"    one cycle of {d}: peak {mb:.0f} MB" for d, mb in r["ones"].items())
    alive = many["alive"]
    lines.append("  alive after the cycles and gc.collect(): "
                 + ", ".join(f"{k} {v}/{r['cycles']}" for k, v in alive.items()))
    for kind, chains in r["why"].items():
        lines.append(f"  what keeps a closed cycle's {kind} (a process of two cycles, searched):")
        lines.extend(f"    {c}" for c in chains)
    return lines


def main(argv: Optional[List[str]] = None) -> int:
    """Run both processes, print the figures, exit 1 above the target."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("vmcore", nargs="*", help="vmcores to go round (default: every kernel's reference dumps, "
                                              "ELF and zlib kdump)")
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--python", default=sys.executable, help="interpreter of the measured processes")
    args = ap.parse_args(argv)
    dumps = args.vmcore or fleet_dumps()
    with tempfile.TemporaryDirectory(prefix="kdbg-bench-fleet-") as work:
        env = child_env(os.path.join(work, "cache"))
        r = fleet(dumps, args.cycles, args.python, env)
    ok = r["ratio"] <= TARGET
    print(f"peak RSS, {args.cycles} vmcores opened, walked, closed / the largest one: {r['ratio']:.2f}x "
          f"(<= {TARGET}x {'PASS' if ok else 'FAIL'})")
    print("\n".join(report_lines(r)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
