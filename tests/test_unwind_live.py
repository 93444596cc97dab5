"""Stack traces on a live kernel's /proc/kcore, inside a QEMU guest (bookworm's generic
kernel, this checkout over 9p): the ground truth is the guest's own ``/proc/PID/stack``
(the kernel's ORC unwinder, scheduler functions left out, no user frame), read in the
same boot for tasks that stay asleep (PID 1 in wait4, a ``sleep`` in nanosleep, a
kthread). A task running on a CPU (the reader itself) cannot be unwound: one line says
so; a live kernel has no crashed thread.
"""

from __future__ import annotations

import re
from typing import Dict, List

import pytest

from vmcores.live import LiveResult

SCRIPT = r"""
sleep 600 &
SLEEPER=$!
sleep 1
KTHREAD=$(grep -l '^kthreadd$' /proc/[0-9]*/comm | head -1 | cut -d/ -f3)
echo "==PIDS"; echo "1 $SLEEPER $KTHREAD"
for p in 1 $SLEEPER $KTHREAD; do echo "==PROC $p"; cat /proc/$p/stack; done
echo "==SCHED"; grep -E ' __sched_text_(start|end)$' /proc/kallsyms
echo "==KDBG"
python3 - 1 $SLEEPER $KTHREAD <<'PY'
import os, sys
import kdbg
from kdbg.unwind import UnwindError
prog = kdbg.open_live()
assert prog.memory is not None, prog.memory_unavailable
for pid in map(int, sys.argv[1:]):
    trace = prog.stack_trace(pid)
    print(f"--{pid} {len(trace)} {trace.stop_reason}")
    for f in trace:
        print(f"{f.pc:x} {'user' if f.user else 'kernel'} {f.format()}")
try:
    prog.stack_trace(os.getpid())
    print("--SELF unwound")
except UnwindError as e:
    print(f"--SELF {e}")
try:
    prog.crashed_thread()
    print("--CRASHED found")
except UnwindError as e:
    print(f"--CRASHED {e}")
PY
echo "==END"
"""


def _sections(text: str) -> Dict[str, str]:
    return {m.group(1): m.group(2)
            for m in re.finditer(r"^==([\w ]+)\n(.*?)(?=^==[\w ]+\n)", text, re.S | re.M)}


@pytest.mark.live(SCRIPT, suite="bookworm")
def test_live_traces_equal_proc_stack(live_result: LiveResult) -> None:
    res = live_result
    assert res.returncode == 0, res.output[-3000:]
    s = _sections(res.output.replace("\r\n", "\n"))
    pids = [int(x) for x in s["PIDS"].split()]
    sched = {line.split()[2]: int(line.split()[0], 16) for line in s["SCHED"].splitlines()}
    lo, hi = sched["__sched_text_start"], sched["__sched_text_end"]
    kd = s["KDBG"]
    for pid in pids:
        proc = [line.split("] ", 1)[1] for line in s[f"PROC {pid}"].splitlines() if line.startswith("[<")]
        assert proc, s[f"PROC {pid}"]
        block = re.search(rf"^--{pid} (\d+) (\S+)\n(.*?)(?=^--)", kd, re.S | re.M)
        assert block, kd
        assert block.group(2) == "None", block.group(0)
        frames: List[str] = []
        for line in block.group(3).splitlines():
            pc, kind, text = line.split(" ", 2)
            if kind == "kernel" and not lo <= int(pc, 16) < hi:
                frames.append(text)
        assert frames == proc, f"pid {pid}: kdbg {frames} /proc {proc}"
        if pid != pids[2]:  # user processes end in user mode, the kthread at ret_from_fork
            assert block.group(3).splitlines()[-1].split()[1] == "user"
        else:
            assert proc[-1].startswith("ret_from_fork")
    self_line = re.search(r"^--SELF (.*)$", kd, re.M)
    assert self_line and re.fullmatch(
        r"task \d+ \(python3\) \(this process, reading /proc/kcore\) is running on CPU \d+ of the "
        r"live kernel: nothing saved its registers, so its stack cannot be unwound", self_line.group(1)), kd
    assert re.search(r"^--CRASHED a live kernel has no crashed thread$", kd, re.M), kd
