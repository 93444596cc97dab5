"""A CPU stopped at the first byte of a retpoline, ITS or return thunk
(``arch/x86/lib/retpoline.S``) unwinds to its caller.

The kernel's ORC marks the thunks UNWIND_HINT_EMPTY (5.10) or UNWIND_HINT_UNDEFINED (6.x):
its own unwinder stops there. Yet a thunk is entered only by a ``call`` (or a tail ``jmp``)
in place of ``call *%reg``, or by a ``jmp`` in place of ``ret``, so at its first byte the
return address is the word at ``rsp``. A second boot of the soft-lockup scenario caught the
panicking CPU there, in ``panic()``'s blink loop (``panic_blink`` is called through a
retpoline), and kdbg's trace was that one frame.

The moment is transient, so it is made here: the oops dump's saved ``pt_regs`` (the page
fault's) get ``rip`` = a thunk of the guest's own ``/proc/kallsyms`` and ``rsp`` = the slot
holding the faulting function's return address, as if its caller had called the thunk
there. The trace must then be that thunk, then the console's Call Trace (the kernel's own
report of the same stack).
"""

from __future__ import annotations

import struct
from typing import Dict, List, Set, Tuple

import pytest

import kdbg
from kdbg.core.program import Program
from tests import stack_truth
from tests.memory_overlay import overlay
from vmcores.crash import CrashDump, crash_dumps

SUITES = ("bullseye", "bookworm", "trixie")

#: retpoline.S's thunk families, named by the first register's thunk, and its return thunks.
THUNKS = ("__x86_indirect_thunk_rax", "__x86_indirect_call_thunk_rax", "__x86_indirect_jump_thunk_rax",
          "__x86_indirect_its_thunk_rax", "__x86_indirect_thunk_r11", "__x86_return_thunk",
          "retbleed_return_thunk", "srso_return_thunk", "srso_alias_return_thunk",
          "call_depth_return_thunk", "its_return_thunk")


def oops_dump(suite: str) -> CrashDump:
    dumps = crash_dumps(suites=[suite], scenarios=["oops"], forms=["elf"])
    assert dumps, f"no {suite} oops elf crash dump was built"
    return dumps[0]


def guest_names(dump: CrashDump) -> Dict[int, Set[str]]:
    """This guest's ``/proc/kallsyms``: the names at each address."""
    out: Dict[int, Set[str]] = {}
    for line in (dump.truth / "kallsyms").read_text().splitlines():
        addr, _kind, name = line.split()[:3]
        out.setdefault(int(addr, 16), set()).add(name)
    return out


def guest_thunks(dump: CrashDump) -> Dict[str, int]:
    """The thunks this guest's ``/proc/kallsyms`` lists, with their addresses."""
    return {name: addr for addr, names in guest_names(dump).items() for name in names if name in THUNKS}


def thunk_start(dump: CrashDump, thunk: int, delta: int = 0) -> Tuple[Program, object, List[str]]:
    """A Program of the oops dump whose ``pt_regs`` (its address is returned) stand ``delta``
    bytes into ``thunk``, called from the faulting function's caller; and the console's frames
    after the fault."""
    oops = stack_truth.parse_panic((dump.truth / "console.log").read_text(errors="replace"))
    assert oops.rip is not None
    probe = kdbg.open_core(str(dump.path))
    try:
        fault = next(f for f in probe.crashed_thread().stack_trace() if f.format() == str(oops.rip))
        regs = fault.regs
        assert regs is not None and regs.address_ is not None
        caller = probe.stack_trace(regs.address_of_())[1]
        assert not caller.interrupted
        slot = caller.sp - 8  # where the call into the faulting function left its return address
        assert struct.unpack("<Q", probe.read(slot, 8))[0] == caller.pc
        at = {m: regs.address_ + regs.type_.member(m).offset for m in ("ip", "sp")}
        pointer = regs.address_of_().value_()
    finally:
        probe.close()
    prog = kdbg.open_core(str(dump.path))  # nothing read yet: every read sees the overlay
    patches = overlay(prog).patches
    patches[at["ip"]] = struct.pack("<Q", thunk + delta)
    patches[at["sp"]] = struct.pack("<Q", slot)
    return prog, kdbg.Object(prog, "struct pt_regs *", pointer), [str(f) for f in oops.frames if f.reliable]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("suite", SUITES)
def test_a_cpu_at_a_thunk_unwinds_to_its_caller(suite: str) -> None:
    dump = oops_dump(suite)
    names = guest_names(dump)
    thunks = guest_thunks(dump)
    assert "__x86_indirect_thunk_rax" in thunks and "__x86_return_thunk" in thunks, thunks
    for name, address in sorted(thunks.items()):
        prog, regs, console = thunk_start(dump, address)
        try:
            trace = prog.stack_trace(regs)
            got = [f.format() for f in trace if not f.user]
            assert trace[0].pc == address and got[0].split("+0x0/")[0] in names[address], f"{name}:\n{trace}"
            assert got[1:] == console, f"{name}:\nkdbg:\n{trace}\nconsole: {console}"
            assert trace.stop_reason is None, f"{name}: {trace.stop_reason}"
        finally:
            prog.close()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("suite", SUITES)
def test_inside_a_retpoline_the_trace_is_not_guessed(suite: str) -> None:
    """One byte in, a retpoline's own ``call`` may have pushed a word: the rule holds at the
    first byte only, and the trace ends where the kernel's ORC ends it (an end of stack on
    5.10, an undefined entry, with the reason, on 6.x)."""
    dump = oops_dump(suite)
    prog, regs, _console = thunk_start(dump, guest_thunks(dump)["__x86_indirect_thunk_rax"], 1)
    try:
        trace = prog.stack_trace(regs)
        assert len(trace) == 1, str(trace)
        assert trace.stop_reason is None or "undefined" in trace.stop_reason, trace.stop_reason
    finally:
        prog.close()
