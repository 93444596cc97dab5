"""``drgn.helpers.linux.stack`` (``kernel_stack_trace``, ``LinuxKernelStack``,
``StackSegment``, ``StackKind``) against drgn 0.3.0 with Debian's DWARF on the same dump, for
every task of each reference kernel: the same segments (kind, and the pc of each frame drgn
unwinds outside inlining: kdbg has no inline frames, DWARF-only), and the same ``str()``
but for what only DWARF has: drgn's lines of inline frames are taken out (and the frames
renumbered) and its source locations (DWARF's line tables) cut off its lines.

Where a frame's name differs, the kernel's own name wins: the one its ``%pS`` prints, the
first kallsyms symbol at the greatest address not above the pc (the call before a return
address), from the guest's own ``/proc/kallsyms`` (drgn names by an ELF symbol:
``entry_SYSCALL_64`` where the kernel prints ``entry_SYSCALL_64_after_hwframe``).

A task that exited and whose stack the kernel freed (its ``task->stack`` is NULL, as drgn
itself reads) has no stack to unwind: drgn unwinds whatever the NULL-based address gives
(a fault, or a frame at pc 0), kdbg says so in one line. The kernel's record wins."""

from __future__ import annotations

import bisect
import re
from pathlib import Path
from typing import Any, List, Optional

import pytest

import kdbg
from kdbg.errors import UnwindError
from kdbg.helpers import for_each_task, kernel_stack_trace
from tests.kallsyms_truth import truth_vmlinux
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES
from vmcores.oracle import Query, ask_drgn

pytestmark = pytest.mark.timeout(1800)

_S = "__import__('drgn.helpers.linux.stack').helpers.linux.stack"
_PID = "__import__('drgn.helpers.linux.pid').helpers.linux.pid"
#: drgn's source location after a frame's name: `` (file:line:column)``.
_SOURCE = re.compile(r" \([^()]*:\d+:\d+\)$")


def _queries(pid: int) -> List[Query]:
    trace = f"{_S}.kernel_stack_trace(prog, {pid})"
    return [Query(f"seg:{pid}", f"[(s.kind.name, [hex(f.pc) for f in s.frames if not f.is_inline]) "
                                f"for s in {trace}.segments]"),
            Query(f"str:{pid}", f"(lambda t: [str(t), [f.is_inline for f in t]])({trace})"),
            Query(f"stack:{pid}", f"{_PID}.find_task(prog, {pid}).stack.value_()")]


def _without_dwarf(text: str, inline: List[bool]) -> Optional[str]:
    """drgn's ``str()`` of a trace without its inline frames' lines (the rest renumbered)
    and source locations; ``None`` when its frame lines are not one per frame."""
    out, frame = [], 0
    for line in text.splitlines():
        m = re.match(r"#(\d+) *(.*)$", line)
        if m is None:
            out.append(line)
            continue
        if int(m.group(1)) != frame or frame >= len(inline):
            return None
        if not inline[frame]:
            number = sum(1 for x in inline[:frame] if not x)
            out.append(f"#{number:<2d} {_SOURCE.sub('', m.group(2))}")
        frame += 1
    return "\n".join(out) if frame == len(inline) else None


class KernelNames:
    """The name the kernel's ``%pS`` gives an address, from its ``/proc/kallsyms``."""

    def __init__(self, truth: Path) -> None:
        lines = truth_vmlinux(truth)
        self.addresses = [a for a, _t, _n in lines]
        self.names = [n for _a, _t, n in lines]

    def __call__(self, address: int) -> str:
        i = bisect.bisect_right(self.addresses, address) - 1
        while i > 0 and self.addresses[i - 1] == self.addresses[i]:  # the first of aliases
            i -= 1
        return self.names[i]


def _kernel_wins(ours: str, drgns: str, stack: Any, kernel: KernelNames) -> bool:
    """Whether every line that differs names a frame as the kernel does."""
    a, b = ours.splitlines(), drgns.splitlines()
    if len(a) != len(b):
        return False
    frames = list(stack)
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        m = re.match(r"#(\d+) +(\S+)$", x)
        if m is None:
            return False
        frame = frames[int(m.group(1))]
        if m.group(2) != kernel(frame.pc - (0 if frame.interrupted else 1)):
            return False
    return True


@pytest.mark.parametrize("suite", SUITES)
def test_kernel_stack_trace_as_drgn(suite: str) -> None:
    dump = oracle_dump(suite)
    prog = kdbg.open_core(str(dump.path))
    pids = sorted({int(t.pid) for t in for_each_task(prog)})
    kernel = KernelNames(dump.truth)
    kernel_won = 0
    answers = ask_drgn(suite, dump.path, [q for p in pids for q in _queries(p)]).records
    differ: List[str] = []
    compared_str = 0
    for pid in pids:
        seg = answers[f"seg:{pid}"]
        if answers[f"stack:{pid}"].get("value") == 0:  # freed: the kernel's record
            with pytest.raises(UnwindError, match="has no stack"):
                kernel_stack_trace(prog, pid)
            continue
        stack = kernel_stack_trace(prog, pid)
        ours: Any = [[s.kind.name, [hex(f.pc) for f in s.frames]] for s in stack.segments]
        if ours != seg.get("value"):
            differ.append(f"PID {pid} segments: {ours} vs drgn's {seg.get('value', seg)}")
        text, inline = answers[f"str:{pid}"]["value"]
        want = _without_dwarf(text, inline)
        if want is not None:
            compared_str += 1
            if str(stack) != want and _kernel_wins(str(stack), want, stack, kernel):
                kernel_won += 1
            elif str(stack) != want:
                differ.append(f"PID {pid} str():\n{stack}\nvs drgn's\n{want}")
        frames = list(stack)
        assert len(stack) == len(frames) and frames == [stack[i] for i in range(len(stack))]
    assert compared_str >= len(pids) // 2, (compared_str, len(pids))
    assert not differ, f"{suite}: {len(differ)} of {len(pids)} tasks differ:\n" + "\n".join(differ[:10])


@pytest.mark.parametrize("suite", SUITES)
def test_stack_trace_from_pcs_as_drgn(suite: str) -> None:
    """``prog.stack_trace_from_pcs(pcs)`` of the kernel return addresses drgn unwinds for
    every task, and of an address no symbol holds: the same frames outside inlining (pc,
    name, registers), each named by the call before it; a name that differs is the
    kernel's own (the guest's /proc/kallsyms)."""
    dump = oracle_dump(suite)
    prog = kdbg.open_core(str(dump.path))
    kernel = KernelNames(dump.truth)
    pcs_text = ("sorted({f.pc for t in prog.threads() if t.object.stack for f in prog.stack_trace(t.object) "
                "if not f.is_inline and f.pc >> 63} | {0x1001})")
    pcs = ask_drgn(suite, dump.path, [Query("pcs", pcs_text)]).records["pcs"]["value"]
    assert len(pcs) > 20, pcs
    text = (f"[[f.pc, f.name, f.registers(), f.interrupted] for f in prog.stack_trace_from_pcs({pcs!r}) "
            "if not f.is_inline]")
    want = ask_drgn(suite, dump.path, [Query("frames", text)]).records["frames"]["value"]
    trace = prog.stack_trace_from_pcs(pcs)
    got = [[f.pc, f.name, f.registers(), f.interrupted] for f in trace]
    assert len(got) == len(want) == len(pcs)
    differ = [(g, w) for g, w in zip(got, want, strict=True)
              if g != w and not (g[0] == w[0] and g[2:] == w[2:] and g[1] == kernel(g[0] - 1))]
    assert not differ, f"{suite}: {len(differ)} of {len(pcs)} frames differ, e.g. {differ[:5]}"
