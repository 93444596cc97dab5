"""The guests' ``/proc/<pid>/stat`` lines (``truth/proc-stat``), every field, numbered as
proc(5) numbers them (1 pid, 2 comm, 3 state, ... 23 vsize, 24 rss, 31 signal, 32 blocked,
33 sigignore, 34 sigcatch).

PID 1 was running the snapshot (state ``R``): its counters, memory and signal masks are
those of that moment, not the dump's; every other task slept from then to the dump.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List


def proc_stat(truth: Path) -> Dict[int, List[str]]:
    """``{pid: fields}`` with ``fields[n]`` proc(5)'s field ``n`` (``fields[0]`` unused)."""
    out: Dict[int, List[str]] = {}
    for line in (truth / "proc-stat").read_text(errors="replace").splitlines():
        if " (" not in line:
            continue
        pid, rest = line.split(" (", 1)
        comm, tail = rest.rsplit(") ", 1)
        out[int(pid)] = ["", pid, comm, *tail.split()]
    return out
