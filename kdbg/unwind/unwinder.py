"""The ORC unwinder: arch/x86/kernel/unwind_orc.c's ``unwind_next_frame`` over a dump.

Each step looks the ORC entry of the current pc up (the pc itself for an interrupted
frame, the call instruction before a return address otherwise), finds the caller's stack
pointer from ``sp_reg``/``sp_offset`` (SP, BP, SP_INDIRECT, BP_INDIRECT, R10, R13, DI,
DX), then its pc: a return address below it (CALL), or a ``struct pt_regs`` (REGS) or
an iret frame (REGS_PARTIAL) at it; then its frame pointer from ``bp_reg``. Every word
read must lie on a known stack of the task (its task stack; for a task running on a CPU
also that CPU's IRQ, exception and entry stacks), each stack entered once, and the stack
pointer must grow within a stack. The trace ends at an END_OF_STACK entry, after a
``pt_regs`` of user mode (its frame is the last, as drgn shows it), or, marked with the
reason, at anything the kernel's unwinder calls an error. One step goes where the kernel's
does not: a CPU stopped at the first byte of a retpoline or return thunk, which ORC marks as
an end of stack, has its caller's return address at ``[rsp]`` (:func:`is_call_thunk`). Never a hang: a depth bound
stops a trace that somehow goes on.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional, Set, Tuple

from kdbg.arch.x86_64.frames import is_call_thunk
from kdbg.errors import KdbgError, UnwindError
from kdbg.unwind.orc import (
    NULL_ORC_ENTRY,
    ORC_REG_BP,
    ORC_REG_BP_INDIRECT,
    ORC_REG_DI,
    ORC_REG_DX,
    ORC_REG_PREV_SP,
    ORC_REG_R10,
    ORC_REG_R13,
    ORC_REG_SP,
    ORC_REG_SP_INDIRECT,
    ORC_REG_UNDEFINED,
    ORC_TYPE_CALL,
    ORC_TYPE_END_OF_STACK,
    ORC_TYPE_REGS,
    ORC_TYPE_REGS_PARTIAL,
    ORC_TYPE_UNDEFINED,
    OrcUnwindInfo,
)
from kdbg.unwind.registers import PtRegsLayout

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["MAX_FRAMES", "Stack", "RawFrame", "StartState", "unwind"]

#: The most frames one trace may have (a 16 KiB stack holds at most 2048 return
#: addresses; the stacks of a CPU add a few more).
MAX_FRAMES = 4096
PAGE = 4096
MASK = 0xFFFFFFFFFFFFFFFF
_SP_REG_MEMBERS = {ORC_REG_R10: "r10", ORC_REG_R13: "r13", ORC_REG_DI: "rdi", ORC_REG_DX: "rdx"}


@dataclass(frozen=True)
class Stack:
    """One stack: ``[begin, end)`` and its kind (``task``, ``IRQ``, ``NMI``...)."""

    kind: str
    begin: int
    end: int

    def holds(self, address: int, size: int = 8) -> bool:
        """Whether ``[address, address + size)`` lies on this stack."""
        return self.begin <= address and address + size <= self.end


@dataclass
class RawFrame:
    """One unwound frame before symbolization."""

    pc: int
    sp: int
    interrupted: bool
    registers: Dict[str, int]
    #: address of the ``struct pt_regs`` this frame's registers came from
    regs_address: Optional[int] = None
    #: the registers' image when they are not in memory (a PRSTATUS note)
    regs_image: Optional[bytes] = None
    #: whether the frame is user mode (the end of a kernel trace)
    user: bool = False
    #: why the unwind stopped after this frame, when it was not a normal end
    stop_reason: Optional[str] = None


@dataclass
class StartState:
    """Where an unwind starts: the first frame's pc, sp, bp and what else is known."""

    pc: int
    sp: int
    bp: int
    #: look the first pc's entry up as is (an interrupted pc, or a fresh ret_from_fork)
    signal: bool
    interrupted: bool
    registers: Dict[str, int]
    #: full registers of an interrupted start (a PRSTATUS note), drgn-named
    full_regs: Optional[Dict[str, int]] = None
    regs_image: Optional[bytes] = None
    stacks: List[Stack] = field(default_factory=list)


class _StackMemory:
    """Page-cached reads of stack memory for one unwind, each address checked against
    the known stacks as the kernel's ``stack_access_ok``."""

    def __init__(self, prog: Program, stacks: List[Stack]) -> None:
        self.prog = prog
        self.stacks = stacks
        self.pages: Dict[int, bytes] = {}
        self.current: Optional[Stack] = None
        self.visited: Set[str] = set()
        self.failure = ""

    def enter(self, address: int, size: int = 8) -> bool:
        """Make the stack holding ``[address, address + size)`` current (each stack is
        entered once, as the kernel's visit mask allows); False when there is none."""
        cur = self.current
        if cur is not None and cur.holds(address, size):
            return True
        for s in self.stacks:
            if s.holds(address, size):
                if s.kind in self.visited:
                    self.failure = f"stack recursion: {address:#x} is on the {s.kind} stack again"
                    return False
                self.visited.add(s.kind)
                self.current = s
                return True
        self.failure = f"{address:#x} is on no stack of the task"
        return False

    def read(self, address: int, size: int) -> Optional[bytes]:
        """``size`` bytes at ``address`` on a known stack, or ``None`` (reason in
        :attr:`failure`)."""
        if not self.enter(address, size):
            return None
        out = b""
        addr, left = address, size
        while left:
            page = addr & ~(PAGE - 1)
            data = self.pages.get(page)
            if data is None:
                try:
                    data = self.pages[page] = self.prog.read(page, PAGE)
                except KdbgError as e:
                    self.failure = f"cannot read the stack at {addr:#x}: {e}"
                    return None
            off = addr - page
            chunk = data[off:off + left]
            out += chunk
            addr += len(chunk)
            left -= len(chunk)
        return out

    def word(self, address: int) -> Optional[int]:
        """The word at ``address`` on a known stack, or ``None``."""
        data = self.read(address, 8)
        return None if data is None else struct.unpack("<Q", data)[0]


def _user_mode(regs: Dict[str, int]) -> bool:
    cs = regs.get("cs")
    return cs is not None and (cs & 3) != 0


def unwind(prog: Program, orc: OrcUnwindInfo, layout: PtRegsLayout, start: StartState) -> List[RawFrame]:
    """Every frame from ``start`` to the end of the stack (the last frame carries a
    ``stop_reason`` when the kernel's unwinder would call it an error)."""
    mem = _StackMemory(prog, start.stacks)
    first = RawFrame(start.pc, start.sp, start.interrupted, dict(start.registers), regs_image=start.regs_image)
    frames = [first]
    regs = start.full_regs
    if regs is not None and _user_mode(regs):
        first.user = True
        return frames
    if not mem.enter(start.sp, 1):
        first.stop_reason = f"the stack pointer {mem.failure}"
        return frames
    ip, sp, bp, signal = start.pc, start.sp, start.bp, start.signal
    full_regs = regs is not None
    prev_regs: Optional[Dict[str, int]] = None

    def get_reg(name: str) -> Optional[int]:
        if regs is None:
            return None
        if full_regs:
            return regs.get(name)
        if prev_regs is not None:
            return prev_regs.get(name)
        return None

    def stop(reason: str) -> List[RawFrame]:
        frames[-1].stop_reason = reason
        return frames

    while True:
        if regs is not None and _user_mode(regs):
            return frames
        if len(frames) >= MAX_FRAMES:
            return stop(f"more than {MAX_FRAMES} frames")
        lookup = ip if signal else ip - 1
        try:
            entry, _mod = orc.find(lookup)
        except UnwindError as e:  # a page of the tables the dump does not hold
            return stop(str(e))
        if entry is not None and entry.type in (ORC_TYPE_UNDEFINED, ORC_TYPE_END_OF_STACK) \
                and lookup == ip and _at_call_thunk(prog, ip):
            entry = NULL_ORC_ENTRY
        if entry is None:
            return stop(f"no ORC entry for {ip:#x}")
        if entry.type == ORC_TYPE_UNDEFINED:
            return stop(f"ORC marks {ip:#x} as undefined (no unwind information)")
        if entry.type == ORC_TYPE_END_OF_STACK:
            return frames
        if orc.layout.new:
            signal = entry.signal
        prev_sp = sp
        prev_stack = mem.current
        indirect = False
        reg = entry.sp_reg
        if reg == ORC_REG_SP:
            new_sp = sp + entry.sp_offset
        elif reg == ORC_REG_BP:
            new_sp = bp + entry.sp_offset
        elif reg == ORC_REG_SP_INDIRECT:
            new_sp, indirect = sp, True
        elif reg == ORC_REG_BP_INDIRECT:
            new_sp, indirect = bp + entry.sp_offset, True
        elif reg in _SP_REG_MEMBERS:
            value = get_reg(_SP_REG_MEMBERS[reg])
            if value is None:
                return stop(f"missing {_SP_REG_MEMBERS[reg]} value at {ip:#x}")
            new_sp = value
        else:
            return stop(f"unknown ORC stack pointer register {reg} at {ip:#x}")
        new_sp &= MASK
        if indirect:
            value = mem.word(new_sp)
            if value is None:
                return stop(mem.failure)
            new_sp = value
            if reg == ORC_REG_SP_INDIRECT:
                new_sp = (new_sp + entry.sp_offset) & MASK
        typ = entry.type
        regs_address: Optional[int] = None
        if typ == ORC_TYPE_CALL:
            value = mem.word(new_sp - 8)
            if value is None:
                return stop(mem.failure)
            ip, sp = value, new_sp
            regs, prev_regs = None, None
            if not orc.layout.new:
                signal = False
            interrupted = False
            known = {"rip": ip, "rsp": sp}
        elif typ == ORC_TYPE_REGS:
            data = mem.read(new_sp, layout.size)
            if data is None:
                return stop(f"cannot access registers at {ip:#x}: {mem.failure}")
            regs = layout.decode(data)
            ip, sp = regs["rip"], regs["rsp"]
            prev_regs, full_regs = None, True
            if not orc.layout.new:
                signal = True
            interrupted = True
            regs_address = new_sp
            known = dict(regs)
        elif typ == ORC_TYPE_REGS_PARTIAL:
            size = layout.size - layout.iret_offset
            data = mem.read(new_sp, size)
            if data is None:
                return stop(f"cannot access iret registers at {ip:#x}: {mem.failure}")
            partial = layout.decode(data, -layout.iret_offset)
            ip, sp = partial["rip"], partial["rsp"]
            if full_regs:
                prev_regs = regs
            regs, full_regs = partial, False
            if not orc.layout.new:
                signal = True
            interrupted = True
            regs_address = new_sp - layout.iret_offset
            known = dict(partial)
        else:
            return stop(f"unknown ORC entry type {typ} at {ip:#x}")
        breg = entry.bp_reg
        if breg == ORC_REG_UNDEFINED:
            value = get_reg("rbp")
            if value is not None:
                bp = value
        elif breg == ORC_REG_PREV_SP:
            value = mem.word((new_sp + entry.bp_offset) & MASK)
            if value is None:
                return stop(mem.failure)
            bp = value
        elif breg == ORC_REG_BP:
            value = mem.word((bp + entry.bp_offset) & MASK)
            if value is None:
                return stop(mem.failure)
            bp = value
        else:
            return stop(f"unknown ORC frame pointer register {breg} at {ip:#x}")
        known.setdefault("rbp", bp)
        frame = RawFrame(ip, sp, interrupted, known, regs_address=regs_address)
        if regs is not None and _user_mode(regs):
            frame.user = True
            frames.append(frame)
            return frames
        if mem.current is prev_stack and prev_stack is not None and prev_stack.holds(sp) and sp <= prev_sp:
            return stop(f"stack going in the wrong direction at {frames[-1].pc:#x}")
        frames.append(frame)


def _at_call_thunk(prog: Program, ip: int) -> bool:
    """Whether ``ip`` is the first byte of a retpoline or return thunk: an interrupted CPU
    there has pushed nothing since the ``call`` (or the ``jmp`` in place of ``ret``)."""
    return any(is_call_thunk(s.name) for s in prog.symbol_table.in_range(ip, ip + 1))


def fresh_fork_addresses(prog: Program) -> Tuple[int, ...]:
    """Addresses a never-run task's ``inactive_task_frame.ret_addr`` may hold
    (``ret_from_fork``, 6.x's ``ret_from_fork_asm``): the kernel looks their entry up
    without backing up one byte."""
    out = []
    for name in ("ret_from_fork_asm", "ret_from_fork"):
        a = prog.symbol_table.address_of(name)
        if a is not None:
            out.append(a)
    return tuple(out)
