"""Benchmark: the REPL prompt and ``-x ps``, kdbg (BTF + kallsyms) vs drgn 0.3.0 + Debian's DWARF.

Both read the same ELF vmcore (by default the bookworm 6.1 ``elf-paging`` reference dump;
drgn cannot read the kdump forms); every ratio is kdbg / drgn measured in this run, median
of ``--runs``, runs interleaved:

* **prompt**: a new process in a pty (80x24) until ``>>> `` appears on it:
  ``kdbg -c DUMP`` against ``drgn -c DUMP -s VMLINUX``; then Ctrl-D.  *warm*: kdbg with
  the private cache (``$KDBG_CACHE``) its first run filled; *cold*: the cache emptied
  before each run (drgn has no cache).  Target <= 1.0x (warm, the usual case; cold shown).
* **ps**: ``kdbg -c DUMP -x ps`` (warm cache) against ``drgn -c DUMP -s VMLINUX SCRIPT``
  where SCRIPT prints pid, ppid, cpu, state and comm of every ``for_each_task`` task.
  Output to a pipe.  Target <= 1.0x.

Usage::

    python3 benchmarks/bench_repl.py [VMCORE --vmlinux PATH] [--runs N]

Exits 1 when a target fails.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.drgn_target import add_target_arguments, child_env, run_child, target_from_args  # noqa: E402

DRGN_PS = """\
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.sched import task_cpu, task_state_to_char
for t in for_each_task(prog):
    print(int(t.pid), int(t.real_parent.tgid), task_cpu(t), task_state_to_char(t),
          t.comm.string_().decode(errors="replace"))
"""


def _child_env(cache: str) -> Dict[str, str]:
    env = child_env(cache)
    env.pop("NO_COLOR", None)
    env["TERM"] = "xterm"
    env["XDG_STATE_HOME"] = os.path.join(cache, "state")
    return env


def time_to_prompt(cmd: List[str], env: Dict[str, str], timeout: float = 60.0) -> float:
    """Seconds from spawning ``cmd`` on a pty until its ``>>>`` prompt is written to it."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    seen = b""
    try:
        while True:
            left = timeout - (time.perf_counter() - t0)
            if left <= 0:
                raise SystemExit(f"{cmd[0]}: no prompt in {timeout:.0f} s; it wrote {seen[-300:]!r}")
            r, _, _ = select.select([master], [], [], left)
            if not r:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:
                data = b""
            if not data:
                raise SystemExit(f"{cmd[0]} exited before its prompt; it wrote {seen[-300:]!r}")
            seen += data
            if b">>>" in seen:  # prompt_toolkit moves the cursor instead of writing the space
                dt = time.perf_counter() - t0
                break
            if b"\x1b[6n" in data:  # a cursor-position query (prompt_toolkit): answer it
                os.write(master, b"\x1b[1;1R")
        os.write(master, b"\x04")
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)
    return dt


def _run(cmd: List[str], env: Dict[str, str]) -> Tuple[float, str]:
    return run_child(cmd, env)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the benchmark; print the table; 1 when a target fails."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_target_arguments(ap)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args(argv)
    dump, vmlinux = target_from_args(ap, a)
    drgn_exe = shutil.which("drgn")
    drgn = [drgn_exe] if drgn_exe else [sys.executable, "-m", "drgn"]
    with tempfile.TemporaryDirectory(prefix="kdbg-bench-repl-") as work:
        cache = os.path.join(work, "cache")
        env = _child_env(cache)
        cold_cache = os.path.join(work, "cold-cache")
        cold_env = _child_env(cold_cache)
        script = os.path.join(work, "ps_drgn.py")
        Path(script).write_text(DRGN_PS)
        kdbg_repl = [sys.executable, "-m", "kdbg", "-c", dump]
        drgn_repl = drgn + ["-c", dump, "-s", vmlinux]
        kdbg_ps = [sys.executable, "-m", "kdbg", "-c", dump, "-x", "ps"]
        drgn_ps = drgn + ["-q", "-c", dump, "-s", vmlinux, script]
        # warm the page cache, the bytecode and kdbg's cache (not timed); check the outputs
        time_to_prompt(kdbg_repl, env)
        time_to_prompt(drgn_repl, env)
        _, kout = _run(kdbg_ps, env)
        _, dout = _run(drgn_ps, env)
        kpids = {int(line.lstrip(">").split()[0]) for line in kout.splitlines()[1:]}
        dpids = {int(line.split()[0]) for line in dout.splitlines()}
        if not dpids <= kpids:
            raise SystemExit(f"ps: drgn lists PIDs kdbg does not: {sorted(dpids - kpids)[:10]}")
        warm: List[float] = []
        cold: List[float] = []
        dprompt: List[float] = []
        kps: List[float] = []
        dps: List[float] = []
        for _ in range(a.runs):
            warm.append(time_to_prompt(kdbg_repl, env))
            dprompt.append(time_to_prompt(drgn_repl, env))
            kps.append(_run(kdbg_ps, env)[0])
            dps.append(_run(drgn_ps, env)[0])
            shutil.rmtree(cold_cache, ignore_errors=True)  # a cache of its own: the others stay warm
            cold.append(time_to_prompt(kdbg_repl, cold_env))
    mw, mc, md = statistics.median(warm), statistics.median(cold), statistics.median(dprompt)
    mk, mdp = statistics.median(kps), statistics.median(dps)
    rows = [
        ("prompt shown (warm cache)", mw, md, 1.0),
        ("prompt shown (cold cache)", mc, md, None),
        ("-x ps", mk, mdp, 1.0),
    ]
    print(f"dump {dump}; median of {a.runs} runs; {len(kpids)} tasks (kdbg, idle included), "
          f"{len(dpids)} (drgn)")
    print(f"{'row':<28} {'kdbg':>9} {'drgn':>9} {'ratio':>7}  target")
    failed = False
    for name, k, d, target in rows:
        ratio = k / d
        verdict = ""
        if target is not None:
            ok = ratio <= target
            failed |= not ok
            verdict = f"<= {target:.1f}x {'PASS' if ok else 'FAIL'}"
        print(f"{name:<28} {k * 1e3:>7.0f}ms {d * 1e3:>7.0f}ms {ratio:>6.2f}x  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
