"""Benchmark: decoding vmlinux kallsyms from an ELF vmcore, kdbg vs drgn 0.3.0.

Both open the same dump first (not timed), then decode the kernel's compressed kallsyms
from memory (timed, best of ``--repeat``):

* drgn: ``drgn.helpers.linux.kallsyms.load_vmlinux_kallsyms(prog)`` (C decoder, tables
  from VMCOREINFO; Linux >= 6.0 only);
* kdbg: :func:`kdbg.symbols.decode_kallsyms` without the cache (cold), then the cached
  second start (fresh process state: new memory object, cache file present).

Usage::

    python benchmarks/bench_kallsyms.py [VMCORE ...] [--repeat N] [--json]

Without arguments, the ELF reference dumps of the built suites are used.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.drgn_target import best_of  # noqa: E402
from kdbg.memory import open_core  # noqa: E402
from kdbg.symbols import decode_kallsyms  # noqa: E402
from vmcores.build import reference_dumps  # noqa: E402


def bench_drgn(path: str, repeat: int) -> Optional[Dict[str, float]]:
    """drgn 0.3.0: time ``load_vmlinux_kallsyms`` on a core opened with set_core_dump."""
    try:
        import drgn  # the peer, optional here: without it the drgn row is left out
        from drgn.helpers.linux.kallsyms import load_vmlinux_kallsyms
    except ImportError:
        return None
    prog = drgn.Program()
    prog.set_core_dump(path)
    indexes: List[object] = []

    def run() -> None:
        indexes.append(load_vmlinux_kallsyms(prog))  # symbols listed outside the timing

    try:
        t = best_of(repeat, run)
    except Exception as e:  # drgn cannot read some dumps (e.g. < 6.0: no VMCOREINFO tables)
        print(f"  drgn failed: {e}", file=sys.stderr)
        return None
    count = len(indexes[-1](None, None, None, False))  # type: ignore[operator]
    return {"seconds": t, "symbols": count}


def bench_kdbg(path: str, repeat: int, cache_dir: str) -> Dict[str, float]:
    """kdbg: cold decode (no cache) and cached second start (new memory object)."""
    mem = open_core(path)
    count = 0

    def cold() -> None:
        nonlocal count
        count = len(decode_kallsyms(mem, use_cache=False))

    t_cold = best_of(repeat, cold)
    decode_kallsyms(open_core(path), cache_dir=cache_dir)  # fill the cache

    def cached() -> None:
        d = decode_kallsyms(open_core(path), cache_dir=cache_dir)
        assert d.from_cache

    t_cached = best_of(repeat, cached)
    return {"seconds": t_cold, "cached_seconds": t_cached, "symbols": count}


def default_dumps() -> List[str]:
    """ELF reference dumps that exist (built by vmcores.build), one per suite."""
    try:
        return [str(d.path) for d in reference_dumps(build=False, forms=["elf"])]
    except Exception:
        return []


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("vmcores", nargs="*")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    paths = args.vmcores or default_dumps()
    if not paths:
        print("no vmcores given or built", file=sys.stderr)
        return 2
    results = []
    with tempfile.TemporaryDirectory() as cache_dir:
        for path in paths:
            k = bench_kdbg(path, args.repeat, os.path.join(cache_dir, Path(path).parent.name))
            d = bench_drgn(path, args.repeat)
            row = {"vmcore": path, "kdbg": k, "drgn": d}
            if d:
                row["ratio_cold"] = k["seconds"] / d["seconds"]
                row["ratio_cached"] = k["cached_seconds"] / d["seconds"]
            results.append(row)
            if not args.json:
                line = (f"{path}: {int(k['symbols'])} symbols  kdbg cold {k['seconds']:.3f}s "
                        f"cached {k['cached_seconds']:.3f}s")
                if d:
                    line += (f"  drgn {d['seconds']:.3f}s ({int(d['symbols'])} symbols)  "
                             f"ratio cold {row['ratio_cold']:.2f}x "
                             f"cached {row['ratio_cached']:.2f}x")
                else:
                    line += "  drgn: n/a"
                print(line)
    if args.json:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
