"""arm64 registers and frame records: what a stack trace starts from and walks.

* ``NT_PRSTATUS`` notes (:func:`prstatus_registers`): ``struct elf_prstatus`` with
  ``pr_reg`` = ``struct user_pt_regs`` (``x0``-``x30``, ``sp``, ``pc``, ``pstate``).
* Frame records (:func:`walk_frame_records`): ``x29`` points at ``{caller's x29, x30}``;
  every return address is stripped of its pointer-authentication code with
  ``KERNELPACMASK`` (:func:`strip_pac`); the walk ends at the task's final frame record
  (``{0, 0}`` in its ``pt_regs``) or names why it stopped.
* A context stopped anywhere (:func:`walk_interrupted`) adds ``x30`` when the function
  had not saved it yet.

The walk across the task's stacks and exception frames, and 6.13+'s metadata frame
records, is :mod:`kdbg.arch.arm64.unwind`; this plain walk of one stack reads every
``{0, 0}`` record as the end (before 6.13 only the task's last record is one; on 6.13+ an
EL1 exception's ``pt_regs`` holds one too, which only that walk crosses).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List, Optional, Tuple

from kdbg.errors import CoreError, FaultError

__all__ = [
    "thread_size",
    "strip_pac",
    "FrameRecords",
    "FINAL_FRAME",
    "walk_frame_records",
    "walk_interrupted",
    "REGISTER_NAMES",
    "prstatus_registers",
    "prstatus_regs_image",
]

_U64 = (1 << 64) - 1


def thread_size(page_size: int) -> int:
    """arm64's ``THREAD_SIZE`` without KASAN: ``1 << max(14, PAGE_SHIFT)`` (16 KiB, 64 KiB
    with 64K pages)."""
    return max(1 << 14, page_size)


def strip_pac(address: int, pac_mask: int) -> int:
    """A return address without its pointer-authentication code: the ``KERNELPACMASK``
    bits set for a kernel address (bit 55 set), cleared for a user one (the kernel's
    ``ptrauth_strip_kernel_insn_pac`` / ``ptrauth_strip_user_insn_pac``)."""
    if address >> 55 & 1:
        return (address | pac_mask) & _U64
    return address & ~pac_mask & _U64


@dataclasses.dataclass(frozen=True)
class FrameRecords:
    """What a walk of a task's frame records found: the return addresses in order (the
    first is the start pc), the frame pointer of each record read, and why it ended."""

    pcs: List[int]
    fps: List[int]
    end: str


#: What :func:`walk_frame_records` says when it reached the task's last frame record.
FINAL_FRAME = "final frame record"


def walk_frame_records(
    read_u64: Callable[[int], int],
    pc: int,
    fp: int,
    stack: Tuple[int, int],
    pac_mask: int,
    limit: int = 1024,
) -> FrameRecords:
    """Follow arm64 frame records (``x29`` points at ``{next x29, x30}``) from ``pc``/``fp``
    inside the task stack ``[lo, hi)``, stripping ``pac_mask`` from every return address,
    as the kernel's own ``unwind_next_frame`` does for a blocked task (which starts from
    ``thread.cpu_context.pc``/``.fp``). Ends at the final frame record (``{0, 0}``, the one
    in the task's ``pt_regs``), at a frame pointer of 0, and otherwise names why: a frame
    pointer outside the stack, not 8-byte aligned (the kernel's own rule: 6.13+'s final
    record in ``pt_regs`` is only 8-byte aligned), or not above the previous one (a
    corrupt stack), an unreadable record, or ``limit`` frames."""
    lo, hi = stack
    pcs = [pc]
    fps: List[int] = []
    prev = lo - 1
    while True:
        if fp == 0:
            return FrameRecords(pcs, fps, FINAL_FRAME)
        if len(pcs) >= limit:
            return FrameRecords(pcs, fps, f"stopped after {limit} frames")
        if fp & 0x7:
            return FrameRecords(pcs, fps, f"frame pointer {fp:#x} is not 8-byte aligned")
        if not lo <= fp <= hi - 16:
            return FrameRecords(pcs, fps, f"frame pointer {fp:#x} is outside the task's stack [{lo:#x}, {hi:#x})")
        if fp <= prev:
            return FrameRecords(pcs, fps, f"frame pointer {fp:#x} is not above the previous one {prev:#x}")
        try:
            next_fp, lr = read_u64(fp), read_u64(fp + 8)
        except (FaultError, CoreError) as e:
            return FrameRecords(pcs, fps, f"frame record at {fp:#x} is unreadable ({e})")
        fps.append(fp)
        if next_fp == 0 and lr == 0:
            return FrameRecords(pcs, fps, FINAL_FRAME)
        pcs.append(strip_pac(lr, pac_mask))
        prev, fp = fp, next_fp


def walk_interrupted(
    read_u64: Callable[[int], int],
    regs: Dict[str, int],
    stack: Tuple[int, int],
    pac_mask: int,
    same_function: Callable[[int, int], bool],
    limit: int = 1024,
) -> FrameRecords:
    """:func:`walk_frame_records` of a context stopped anywhere (a dump note's or a
    ``pt_regs``' registers): ``pc``, then ``x30`` when the function has not saved it yet (a
    leaf, or stopped in its prologue: the record ``x29`` points at holds another return
    address and ``x30`` is not inside ``pc``'s own function, which ``same_function(a, b)``
    tells from the symbols), then the frame records from ``x29``."""
    pc, fp = regs["pc"], regs["x29"]
    lr = strip_pac(regs["x30"], pac_mask)
    saved: Optional[int] = None
    if fp and not fp & 0x7 and stack[0] <= fp <= stack[1] - 16:
        try:
            saved = strip_pac(read_u64(fp + 8), pac_mask)
        except (FaultError, CoreError):
            saved = None
    if lr and lr != saved and lr >> 55 & 1 and not same_function(pc, lr):
        rest = walk_frame_records(read_u64, lr, fp, stack, pac_mask, limit - 1)
        return FrameRecords([pc, *rest.pcs], rest.fps, rest.end)
    return walk_frame_records(read_u64, pc, fp, stack, pac_mask, limit)


#: The registers of arm64's ``struct user_pt_regs`` (``elf_gregset_t``), in order.
REGISTER_NAMES = tuple(f"x{i}" for i in range(31)) + ("sp", "pc", "pstate")
#: ``struct elf_prstatus`` (64-bit): ``pr_pid`` at 32, ``pr_reg`` at 112.
_PR_PID = 32
_PR_REG = 112


def prstatus_regs_image(desc: bytes) -> bytes:
    """``pr_reg`` of an arm64 ``NT_PRSTATUS`` note: ``struct user_pt_regs``, the head of
    the kernel's ``struct pt_regs``."""
    return bytes(desc[_PR_REG : _PR_REG + 8 * len(REGISTER_NAMES)])


def prstatus_registers(desc: bytes) -> Tuple[int, Dict[str, int]]:
    """``(pr_pid, {register: value})`` of an arm64 ``NT_PRSTATUS`` note (QEMU writes the
    CPU number + 1 as ``pr_pid``); ``CoreError`` when the note is too short."""
    need = _PR_REG + 8 * len(REGISTER_NAMES)
    if len(desc) < need:
        raise CoreError(f"arm64 NT_PRSTATUS note is {len(desc)} bytes, shorter than its {need}-byte registers")
    pid = int.from_bytes(desc[_PR_PID : _PR_PID + 4], "little", signed=True)
    regs = {name: int.from_bytes(desc[_PR_REG + 8 * i : _PR_REG + 8 * i + 8], "little")
            for i, name in enumerate(REGISTER_NAMES)}
    return pid, regs
