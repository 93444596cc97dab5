"""C header benchmark: kdbg's ``header_c`` vs ``bpftool btf dump file F format c``.

    python benchmarks/bench_btf_header.py [BTF_FILE] [--repeat N]

Default file: ``/sys/kernel/btf/vmlinux``. Prints the best-of-N wall time of bpftool (a
subprocess writing the header to a pipe), of kdbg parsing the BTF bytes plus writing the
header in-process, and their ratio (target: <= 3). ``time_header(data)`` is what the main
BTF benchmark can import and time.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kdbg.btf.header import HeaderWriter  # noqa: E402
from kdbg.btf.index import BTF  # noqa: E402

BPFTOOL = shutil.which("bpftool") or "/usr/sbin/bpftool"


def time_header(data: bytes) -> Dict[str, float]:
    """One run: seconds spent parsing ``data``, decoding it for the writer, and rendering."""
    t0 = time.perf_counter()
    btf = BTF(data)
    t1 = time.perf_counter()
    w = HeaderWriter(btf)
    t2 = time.perf_counter()
    "".join(w.render())
    t3 = time.perf_counter()
    return {"parse": t1 - t0, "decode": t2 - t1, "render": t3 - t2, "total": t3 - t0}


def time_bpftool(path: str) -> float:
    """One run of ``bpftool btf dump file PATH format c`` (wall seconds)."""
    t = time.perf_counter()
    subprocess.run([BPFTOOL, "btf", "dump", "file", path, "format", "c"], check=True,
                   stdout=subprocess.PIPE)
    return time.perf_counter() - t


def _best(fn: Callable[[], float], repeat: int) -> float:
    return min(fn() for _ in range(repeat))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file", nargs="?", default="/sys/kernel/btf/vmlinux")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    data = Path(args.file).read_bytes()
    runs = [time_header(data) for _ in range(args.repeat)]
    best = {k: min(r[k] for r in runs) for k in runs[0]}
    peer = _best(lambda: time_bpftool(args.file), args.repeat)
    print(f"bpftool format c : {peer:.3f} s")
    print(f"kdbg header_c    : {best['total']:.3f} s (parse {best['parse']:.3f}, "
          f"decode {best['decode']:.3f}, render {best['render']:.3f})")
    print(f"ratio            : {best['total'] / peer:.2f} (target <= 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
