"""Memory read benchmark: kdbg vs drgn on the same ELF vmcore.

    python benchmarks/bench_memory.py [VMCORE] [--kallsyms FILE]

Without arguments it uses the bookworm reference dump (built on demand by
``vmcores.build``). Measures random 8-byte virtual reads in the direct map and in kernel
text, and one 64 MB sequential virtual read of the direct map, and prints kdbg/drgn time
ratios (target: <= 1.5).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Callable, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kdbg.memory import open_core  # noqa: E402

N_RANDOM = 200_000
SEQ_SIZE = 64 << 20


def _best(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _default_dump() -> Tuple[str, Optional[str]]:
    from vmcores.build import reference_dumps

    d = next(d for d in reference_dumps(["bookworm"]) if d.form == "elf")
    return str(d.path), str(Path(d.truth) / "kallsyms")


def main(argv: Optional[List[str]] = None) -> int:
    """Run the benchmark and print a table of timings and ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("vmcore", nargs="?")
    ap.add_argument("--kallsyms", help="the guest's /proc/kallsyms (for the text range)")
    ap.add_argument("-n", type=int, default=N_RANDOM, help="random reads per kind")
    args = ap.parse_args(argv)
    path, ksyms = (args.vmcore, args.kallsyms) if args.vmcore else _default_dump()

    import drgn

    prog = drgn.Program()
    prog.set_core_dump(path)
    mem = open_core(path)
    assert mem.vmcoreinfo is not None
    vmci = mem.vmcoreinfo
    stext = vmci.symbol("_stext")
    etext = stext + (8 << 20)
    if ksyms:
        for line in Path(ksyms).read_text().splitlines():
            a, _t, name = line.split()[:3]
            if name == "_etext":
                etext = int(a, 16)
    pob = mem.arch.page_offset_base
    assert pob is not None
    ram = min(mem.phys.max_physical_address, 96 << 20)
    rnd = random.Random(1)
    direct = [pob + rnd.randrange(0x100000, ram - 8) & ~7 for _ in range(args.n)]
    text = [rnd.randrange(stext, etext - 8) & ~7 for _ in range(args.n)]
    seq_start = pob + 0x100000

    # sanity: same bytes
    for a in direct[:200] + text[:200]:
        assert mem.read(a, 8) == prog.read(a, 8), hex(a)
    assert mem.read(seq_start, 1 << 20) == prog.read(seq_start, 1 << 20)

    rows = []
    for label, addrs in (("random 8B direct map", direct), ("random 8B kernel text", text)):
        kread, dread = mem.read, prog.read

        def run_k(addrs: List[int] = addrs, kread: Callable = kread) -> None:
            for a in addrs:
                kread(a, 8)

        def run_d(addrs: List[int] = addrs, dread: Callable = dread) -> None:
            for a in addrs:
                dread(a, 8)

        tk, td = _best(run_k), _best(run_d)
        rows.append((label, tk / len(addrs) * 1e6, td / len(addrs) * 1e6, "us/read"))
    tk = _best(lambda: mem.read(seq_start, SEQ_SIZE))
    td = _best(lambda: prog.read(seq_start, SEQ_SIZE))
    rows.append(("64 MB sequential", tk * 1e3, td * 1e3, "ms"))

    print(f"vmcore: {path}")
    print(f"{'benchmark':26} {'kdbg':>10} {'drgn':>10}  unit     kdbg/drgn")
    worst = 0.0
    for label, k, d, unit in rows:
        ratio = k / d
        worst = max(worst, ratio)
        print(f"{label:26} {k:10.3f} {d:10.3f}  {unit:8} {ratio:6.2f}x")
    print(f"worst ratio {worst:.2f}x (target <= 1.5x)")
    mem.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
