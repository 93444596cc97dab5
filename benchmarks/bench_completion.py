#!/usr/bin/env python3
"""Latency of the REPL's completer (:func:`kdbg.ui.completion.complete`) on a vmcore.

Usage: ``python benchmarks/bench_completion.py [VMCORE] [--runs N]`` (default: the
bookworm ELF reference dump, built if missing).

Rows, in one process, wall time in milliseconds:

- the first completion of a session, which loads kallsyms and the BTF (once per session);
- the first and median of ``--runs`` completions of each text once those layers are loaded
  (the first ``struct``/symbol completion also sorts the name list it searches).

The issue's target: member completion on ``struct task_struct`` (``prog["init_task"].``)
answers in under 50 ms. There is no peer to compare against (drgn's REPL completes
attributes by evaluating them through rlcompleter).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from kdbg.target import open_core  # noqa: E402
from kdbg.ui.completion import Completions, complete  # noqa: E402
from kdbg.ui.evaluate import script_globals  # noqa: E402
from tests.conftest import resolve_dump  # noqa: E402

TEXTS = [
    'prog["init_task"].',
    'prog["init_task"].co',
    'prog["init_task"].se.avg.',
    'prog["init_task"].mm.',
    "ptype struct task_st",
    'prog["init_t',
    "sym init_t",
]


def main(argv: List[str]) -> int:
    """Print the latency rows."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("vmcore", nargs="?")
    ap.add_argument("--runs", type=int, default=50)
    ns = ap.parse_args(argv)
    path = ns.vmcore
    if path is None:
        path = str(resolve_dump("bookworm", "elf", "qemu").path)
    prog = open_core(path)
    g = script_globals(prog)
    names = Completions(prog)
    t = time.perf_counter()
    complete(prog, g, TEXTS[0], names)
    print(f"{path}: {len(prog.symbol_table)} symbols, {sum(len(b) for b in prog.btfs)} types")
    print(f"{'first completion (loads kallsyms + BTF)':<44} {1000 * (time.perf_counter() - t):8.2f} ms")
    for text in TEXTS:
        times = []
        for _ in range(ns.runs):
            t = time.perf_counter()
            _, found = complete(prog, g, text, names)
            times.append(1000 * (time.perf_counter() - t))
        print(f"{text!r:<44} first {times[0]:7.2f} ms  median {statistics.median(times):7.2f} ms"
              f"  max {max(times):7.2f} ms  ({len(found)} candidates)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
