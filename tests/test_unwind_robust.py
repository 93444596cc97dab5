"""A corrupt stack or ORC table ends a trace with its last frame marked with the reason,
never a traceback or a hang (the reference dumps with bytes replaced through
:mod:`tests.memory_overlay`; the frames before the damage are drgn's).

Both ORC encodings are covered: 6.1 (type CALL=0 and the ``end`` bit) and 6.12 (the 6.4+
types and the ``signal`` bit).
"""

from __future__ import annotations

import struct
from typing import Callable, List, Tuple

import pytest

import kdbg
from kdbg.core.program import Program
from kdbg.symbols.table import SymbolTable
from kdbg.unwind import StackTrace, UnwindError
from kdbg.unwind.orc import orc_info
from tests.conftest import resolve_dump
from tests.memory_overlay import overlay
from vmcores.oracle import ORACLE_FORM, drgn_stack_traces

SUITES = ("bookworm", "trixie")


def fresh(suite: str) -> Program:
    return kdbg.open_core(str(resolve_dump(suite, "elf", "qemu").path))


def drgn_init(suite: str) -> List[List[object]]:
    """drgn's frames of PID 1 (sleeping in wait4)."""
    truth = drgn_stack_traces(suite, resolve_dump(suite, ORACLE_FORM, "qemu").path)
    return next(r["frames"] for r in truth.tasks.values() if r["pid"] == 1)


def orc_entry_address(prog: Program, pc: int) -> Tuple[int, bytes]:
    """Address and bytes of vmlinux's ORC entry that unwinds the return address ``pc``."""
    table = orc_info(prog).vmlinux
    index = table.index(pc - 1)
    assert index is not None
    start = prog.symbol_table.address_of("__start_orc_unwind")
    assert start is not None
    return start + 6 * index, prog.read(start + 6 * index, 6)


def patched_orc(suite: str, frame: int, change: Callable[[bytes, bool], bytes]) -> StackTrace:
    """PID 1's trace after ``change(entry bytes, new encoding) -> bytes`` rewrote the ORC
    entry that unwinds its frame ``frame``."""
    probe = fresh(suite)
    pc = probe.stack_trace(1)[frame].pc
    addr, raw = orc_entry_address(probe, pc)
    new = orc_info(probe).layout.new
    prog = fresh(suite)
    overlay(prog).patches[addr] = change(raw, new)
    return prog.stack_trace(1)


def with_bits(raw: bytes, *, sp_reg: int = -1, type_: int = -1, flag: int = -1, new: bool) -> bytes:
    word = struct.unpack_from("<H", raw, 4)[0]
    if sp_reg >= 0:
        word = (word & ~0xF) | sp_reg
    tbits = 3 if new else 2
    if type_ >= 0:
        word = (word & ~(((1 << tbits) - 1) << 8)) | (type_ << 8)
    if flag >= 0:
        bit = 8 + tbits
        word = (word & ~(1 << bit)) | (flag << bit)
    return raw[:4] + struct.pack("<H", word)


def check_cut(trace: StackTrace, suite: str, frames: int, reason: str) -> None:
    assert len(trace) == frames, str(trace)
    assert [[f.pc, f.sp] for f in trace] == [fr[:2] for fr in drgn_init(suite)[:frames]]
    assert trace.stop_reason is not None and reason in trace.stop_reason, trace.stop_reason
    assert trace[-1].stop_reason == trace.stop_reason
    assert str(trace).splitlines()[-1] == f"    (unwinding stopped: {trace.stop_reason})"


@pytest.mark.parametrize("suite", SUITES)
def test_unknown_sp_register(suite: str) -> None:
    trace = patched_orc(suite, 1, lambda raw, new: with_bits(raw, sp_reg=15, new=new))
    check_cut(trace, suite, 2, "unknown ORC stack pointer register 15")


@pytest.mark.parametrize("suite", SUITES)
def test_unknown_entry_type(suite: str) -> None:
    trace = patched_orc(suite, 2, lambda raw, new: with_bits(raw, type_=7 if new else 3, new=new))
    check_cut(trace, suite, 3, "unknown ORC entry type")


@pytest.mark.parametrize("suite", SUITES)
def test_undefined_entry(suite: str) -> None:
    def undefined(raw: bytes, new: bool) -> bytes:
        if new:
            return with_bits(raw, type_=0, new=new)
        return with_bits(raw, sp_reg=0, flag=0, new=new)  # before 6.4: no sp_reg, no end bit

    check_cut(patched_orc(suite, 2, undefined), suite, 3, "undefined")


@pytest.mark.parametrize("suite", SUITES)
def test_end_of_stack_entry_is_a_normal_end(suite: str) -> None:
    def end(raw: bytes, new: bool) -> bytes:
        if new:
            return with_bits(raw, type_=1, new=new)
        return with_bits(raw, sp_reg=0, flag=1, new=new)

    trace = patched_orc(suite, 2, end)
    assert len(trace) == 3 and trace.stop_reason is None


@pytest.mark.parametrize("suite", SUITES)
def test_stack_going_the_wrong_way(suite: str) -> None:
    # sp_offset 0 on an SP-based call entry: the caller's sp would be this frame's
    trace = patched_orc(suite, 2, lambda raw, new: struct.pack("<h", 0) + raw[2:])
    assert len(trace) == 3 and "wrong direction" in (trace.stop_reason or ""), str(trace)


@pytest.mark.parametrize("suite", SUITES)
def test_return_address_into_nowhere(suite: str) -> None:
    probe = fresh(suite)
    f2 = probe.stack_trace(1)[2]
    prog = fresh(suite)
    overlay(prog).patches[f2.sp - 8] = struct.pack("<Q", 0x1234)
    trace = prog.stack_trace(1)
    assert len(trace) == 3 and trace[2].pc == 0x1234 and trace[2].name == "0x1234"  # drgn's fallback: the pc
    assert trace.stop_reason == "no ORC entry for 0x1234"
    assert str(trace).splitlines()[2] == "#2  0x1234"


@pytest.mark.parametrize("suite", SUITES)
def test_return_addresses_in_a_loop_end(suite: str) -> None:
    """Every word of the stack above frame 1 made schedule()'s return address: each step
    unwinds the same function again, climbing the stack, until it leaves it."""
    probe = fresh(suite)
    trace0 = probe.stack_trace(1)
    pc1, sp1 = trace0[1].pc, trace0[1].sp
    task = probe.stack_trace(1).task
    assert task is not None
    from kdbg.core.object import Object

    base = int(Object(probe, "struct task_struct", address=task).stack)
    prog = fresh(suite)
    patch = overlay(prog).patches
    patch[sp1] = struct.pack("<Q", pc1) * ((base + 16384 - sp1) // 8)
    trace = prog.stack_trace(1)
    assert 2 < len(trace) < 16384 // 8
    assert all(f.pc == pc1 for f in trace[1:])
    assert "stack" in (trace.stop_reason or ""), trace.stop_reason


@pytest.mark.parametrize("suite", SUITES)
def test_saved_stack_pointer_off_the_stack(suite: str) -> None:
    prog = fresh(suite)
    init = prog.stack_trace(1)
    from kdbg.core.object import Object

    assert init.task is not None
    task = Object(prog, "struct task_struct", address=init.task)
    sp_addr = task.thread.sp.address_
    assert sp_addr is not None
    # onto another task's stack (kthreadd's): readable, on no stack of this task
    other = int(prog.stack_trace(2)[0].sp) - 56
    overlay(prog).patches[sp_addr] = struct.pack("<Q", other)
    trace = prog.stack_trace(1)
    assert len(trace) == 1 and "is on no stack of the task" in (trace.stop_reason or "")
    overlay(prog).patches[sp_addr] = struct.pack("<Q", 0x10)
    with pytest.raises(UnwindError, match="cannot read the saved frame of task 1"):
        prog.stack_trace(1)


def test_no_orc_in_the_kernel() -> None:
    prog = fresh("bookworm")
    start = prog.symbol_table.address_of("__start_orc_unwind_ip")
    stop = prog.symbol_table.address_of("__stop_orc_unwind_ip")
    assert start is not None and stop is not None
    table = prog.symbol_table
    # a kernel without the symbols (CONFIG_UNWINDER_FRAME_POINTER): one line
    prog._symbols = SymbolTable.from_columns(
        [n for n in table.names if n != "__start_orc_unwind_ip"],
        [a for n, a in zip(table.names, table.addresses, strict=True) if n != "__start_orc_unwind_ip"],
        "".join(t for n, t in zip(table.names, table.types, strict=True) if n != "__start_orc_unwind_ip"),
    )
    with pytest.raises(UnwindError, match=r"no ORC in this kernel: no __start_orc_unwind_ip"):
        prog.stack_trace(1)


@pytest.mark.parametrize("suite", SUITES)
def test_iret_frame(suite: str) -> None:
    """A REGS_PARTIAL entry (the kernel's UNWIND_HINT_IRET_REGS): the caller's pc and sp
    come from the hardware iret frame (ip, cs, flags, sp, ss) the entry's sp points at,
    and the frame is interrupted. schedule()'s entry is made one pointing 0x400 below its
    frame (the unused part of the sleeping task's stack), where an iret frame holding
    do_wait's pc and sp is written."""
    probe = fresh(suite)
    orig = probe.stack_trace(1)
    addr, raw = orc_entry_address(probe, orig[1].pc)
    new = orc_info(probe).layout.new
    entry = struct.pack("<h", -0x400) + raw[2:4] + raw[4:]
    if new:
        entry = with_bits(entry, sp_reg=5, type_=4, flag=1, new=True)
    else:
        entry = with_bits(entry, sp_reg=5, type_=2, new=False)
    prog = fresh(suite)
    patch = overlay(prog).patches
    patch[addr] = entry
    iret = orig[1].sp - 0x400
    patch[iret] = struct.pack("<5Q", orig[2].pc, 0x10, 0x246, orig[2].sp, 0x18)
    trace = prog.stack_trace(1)
    assert trace.stop_reason is None, str(trace)
    assert [(f.pc, f.sp) for f in trace] == [(f.pc, f.sp) for f in orig]
    third = trace[2]
    assert third.interrupted and not orig[2].interrupted
    regs = third.registers()
    assert {k: regs[k] for k in ("rip", "cs", "rflags", "rsp", "ss")} == {
        "rip": orig[2].pc, "cs": 0x10, "rflags": 0x246, "rsp": orig[2].sp, "ss": 0x18}
    assert "rax" not in regs  # an iret frame holds five registers only
    assert third.regs is not None and third.regs.address_ == iret - 16 * 8
    assert int(third.regs.ip) == orig[2].pc
