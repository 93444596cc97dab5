"""arm64 stack unwinding over frame records, across stacks and exception frames.

What the kernel's own ``unwind_next_frame`` (arch/arm64/kernel/stacktrace.c, 6.1-6.12)
does, over a dump: ``x29`` points at a frame record ``{caller's x29, x30}``; every return
address loses its pointer-authentication code (:func:`kdbg.arch.arm64.frames.strip_pac`
with ``KERNELPACMASK``); a record must lie on one of the task's stacks (its task stack,
and for a task running on a CPU that CPU's IRQ and overflow stacks), the walk may move
to another stack but never back to one it left, and within a stack each record lies
above the previous one. It ends at the final frame record (``{0, 0}``, in the task's
``pt_regs``) or names why it stopped.

Exception boundaries, 6.1-6.12: the EL1 entry code (``kernel_entry 1``) saves a ``struct
pt_regs`` and puts a frame record ``{interrupted x29, ELR}`` in its ``stackframe``; a
record whose surrounding ``pt_regs`` holds that ``pc`` and ``x29`` with an EL1 ``pstate``
is that boundary, and its frame is *interrupted* with the ``pt_regs``' registers.

6.13 and later (``pt_regs.stackframe`` is a ``struct frame_record_meta``: ``{record,
type}``, which BTF describes) mark both ends themselves, as ``kunwind_next_frame_record``
reads them: a record ``{0, 0}`` is a metadata record whose ``type`` says what it is.
``FRAME_META_TYPE_FINAL`` (the entry from EL0, a new task's and each CPU's first stack
frame) ends the walk, and only in the task's own ``pt_regs`` at the top of its stack;
``FRAME_META_TYPE_PT_REGS`` (the entry from EL1) says the ``pt_regs`` around it holds
the interrupted context: its ``pc`` is the next frame (interrupted, with the
``pt_regs``' registers) and its ``x29`` the next record. Any other type ends the walk
with a reason, as the kernel's does (``-EINVAL``). The types are macros of
``arch/arm64/include/asm/stacktrace/frame.h`` (not in BTF): :data:`FRAME_META_TYPE_FINAL`,
:data:`FRAME_META_TYPE_PT_REGS`.

At either kind of boundary, as drgn's CFI unwinder does (and unlike the kernel's
frame-record walk, which does not look at ``x30``), the interrupted function's own
return address ``x30`` is a frame when that function had not saved it yet (a leaf, or
stopped in its prologue).

Pure: memory comes through ``read_u64``, symbols through ``same_function``; the glue to
a Program is :mod:`kdbg.unwind.frame_records`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from kdbg.arch.arm64.frames import FINAL_FRAME, strip_pac
from kdbg.errors import CoreError, FaultError, KdbgError

__all__ = ["PtRegsOffsets", "pt_regs_offsets", "Arm64Frame", "Arm64Unwind", "decode_pt_regs", "unwind_frames",
           "is_user_mode", "show_regs_lines", "pstate_text", "MAX_FRAMES", "FRAME_META_TYPE_FINAL",
           "FRAME_META_TYPE_PT_REGS"]

#: The most frames one trace may have (a 16 KiB stack holds at most 1024 records).
MAX_FRAMES = 4096
#: ``frame_record_meta.type`` of the last record of a task's stack (6.13+; a macro
#: in ``arch/arm64/include/asm/stacktrace/frame.h``, so not in BTF).
FRAME_META_TYPE_FINAL = 1
#: ``frame_record_meta.type`` of the record in an EL1 exception's ``pt_regs`` (6.13+).
FRAME_META_TYPE_PT_REGS = 2
#: A stack: ``(kind, begin, end)``.
StackRange = Tuple[str, int, int]


@dataclasses.dataclass(frozen=True)
class PtRegsOffsets:
    """Byte offsets in arm64's ``struct pt_regs`` (from BTF): ``regs[0]``, ``sp``,
    ``pc``, ``pstate``, ``stackframe`` and its size; on 6.13+, where ``stackframe`` is a
    ``struct frame_record_meta``, ``meta_type`` is the offset of its ``type`` (``None``
    before: ``u64 stackframe[2]``, no metadata records)."""

    regs: int
    sp: int
    pc: int
    pstate: int
    stackframe: int
    size: int
    meta_type: Optional[int] = None


def pt_regs_offsets(pt_regs: Any) -> PtRegsOffsets:
    """:class:`PtRegsOffsets` of BTF's ``struct pt_regs`` (a composite type with
    ``offsetof(designator)`` and ``size``); the ``KdbgError`` of a missing member but
    ``stackframe.type``, whose absence means a kernel before 6.13."""
    try:
        meta: Optional[int] = pt_regs.offsetof("stackframe.type")
    except KdbgError:  # 6.1-6.12: u64 stackframe[2]
        meta = None
    return PtRegsOffsets(pt_regs.offsetof("regs"), pt_regs.offsetof("sp"), pt_regs.offsetof("pc"),
                         pt_regs.offsetof("pstate"), pt_regs.offsetof("stackframe"), pt_regs.size or 0, meta)


@dataclasses.dataclass
class Arm64Frame:
    """One unwound frame: its pc (exact when :attr:`interrupted`, else a return
    address), its stack pointer (an interrupted frame's saved ``sp``, else the address of
    the frame record the pc came from, as crash shows it), the registers known there
    (drgn's names), and where a ``pt_regs`` gave them."""

    pc: int
    sp: int
    interrupted: bool
    registers: Dict[str, int]
    regs_address: Optional[int] = None
    user: bool = False


@dataclasses.dataclass
class Arm64Unwind:
    """The frames, innermost first, and why the walk ended (:data:`FINAL_FRAME` at a
    normal end)."""

    frames: List[Arm64Frame]
    end: str


def decode_pt_regs(words: Callable[[int], int], offsets: PtRegsOffsets) -> Dict[str, int]:
    """drgn-named registers (``x0``-``x30``, ``fp``, ``lr``, ``sp``, ``pc``, ``pstate``)
    of a ``pt_regs`` whose word at byte offset ``o`` is ``words(o)``."""
    regs = {f"x{i}": words(offsets.regs + 8 * i) for i in range(31)}
    regs["fp"], regs["lr"] = regs["x29"], regs["x30"]
    regs["sp"] = words(offsets.sp)
    regs["pc"] = words(offsets.pc)
    regs["pstate"] = words(offsets.pstate)
    return regs


def is_user_mode(pstate: int) -> bool:
    """Whether ``pstate`` is EL0 (``PSR_MODE_EL0t``: mode bits 0, AArch64)."""
    return pstate & 0x1F == 0


def _el1(pstate: int) -> bool:
    return pstate & 0x1F in (0x4, 0x5)  # PSR_MODE_EL1t, PSR_MODE_EL1h


class _Walker:
    """The state of one walk: the stacks, which were left, the frames so far."""

    def __init__(self, read_u64: Callable[[int], int], stacks: Sequence[StackRange], pac_mask: int,
                 offsets: Optional[PtRegsOffsets], same_function: Callable[[int, int], bool], limit: int) -> None:
        self.read_u64 = read_u64
        self.stacks = stacks
        self.pac_mask = pac_mask
        self.offsets = offsets
        self.same_function = same_function
        self.limit = limit
        self.frames: List[Arm64Frame] = []
        self.current: Optional[StackRange] = None
        self.left: Set[str] = set()

    def stack_of(self, address: int, size: int) -> Optional[StackRange]:
        for s in self.stacks:
            if s[1] <= address and address + size <= s[2]:
                return s
        return None

    def saved_lr(self, fp: int) -> Optional[int]:
        """The return address in the record at ``fp`` (stripped), if it is readable on a
        stack."""
        if not fp or fp & 0x7 or self.stack_of(fp, 16) is None:
            return None
        try:
            return strip_pac(self.read_u64(fp + 8), self.pac_mask)
        except (FaultError, CoreError):
            return None

    def interrupted(self, regs: Dict[str, int], regs_address: Optional[int]) -> None:
        """The frame of an interrupted context, and its unsaved ``x30`` when it is one."""
        pc = strip_pac(regs["pc"], self.pac_mask)
        self.frames.append(Arm64Frame(pc, regs["sp"], True, dict(regs), regs_address))
        lr = strip_pac(regs["x30"], self.pac_mask)
        if lr and lr >> 55 & 1 and lr != self.saved_lr(regs["x29"]) and not self.same_function(pc, lr):
            self.frames.append(Arm64Frame(lr, regs["sp"], False, {"x29": regs["x29"], "fp": regs["x29"]}))

    def exception_regs(self, fp: int, next_fp: int, lr: int) -> Optional[Tuple[int, Dict[str, int]]]:
        """``(address, registers)`` of the ``pt_regs`` whose ``stackframe`` is the record
        at ``fp`` (an EL1 exception boundary before 6.13), else ``None``."""
        o = self.offsets
        if o is None or o.meta_type is not None or self.current is None:
            return None
        base = fp - o.stackframe
        if not (self.current[1] <= base and base + o.size <= self.current[2]):
            return None
        try:
            if self.read_u64(base + o.pc) != lr or self.read_u64(base + o.regs + 8 * 29) != next_fp:
                return None
            regs = decode_pt_regs(lambda off: self.read_u64(base + off), o)
        except (FaultError, CoreError):
            return None
        return (base, regs) if _el1(regs["pstate"]) else None

    def metadata(self, fp: int, o: PtRegsOffsets, meta_type: int) -> Tuple[Optional[str], int]:
        """The metadata record at ``fp`` (6.13+): ``(why the walk ends, 0)`` at the final
        record or a bad one, else ``(None, the interrupted x29)`` once the ``pt_regs``
        around it is an interrupted frame."""
        base = fp - o.stackframe
        try:
            kind = self.read_u64(base + meta_type)
        except (FaultError, CoreError) as e:
            return f"metadata frame record at {fp:#x} is unreadable ({e})", 0
        if kind == FRAME_META_TYPE_FINAL:
            task = next((s for s in self.stacks if s[0] == "task"), None)
            if task is not None and base != task[2] - o.size:
                return (f"final frame record at {fp:#x} is not in the task's pt_regs at "
                        f"{task[2] - o.size:#x}"), 0
            return FINAL_FRAME, 0
        if kind != FRAME_META_TYPE_PT_REGS:
            return (f"metadata frame record at {fp:#x} has type {kind:#x}, neither final "
                    f"({FRAME_META_TYPE_FINAL}) nor pt_regs ({FRAME_META_TYPE_PT_REGS})"), 0
        if self.current is None or not (self.current[1] <= base and base + o.size <= self.current[2]):
            return f"pt_regs at {base:#x} of metadata frame record {fp:#x} is not on the record's stack", 0
        try:
            regs = decode_pt_regs(lambda off: self.read_u64(base + off), o)
        except (FaultError, CoreError) as e:
            return f"pt_regs at {base:#x} is unreadable ({e})", 0
        self.interrupted(regs, base)
        return None, regs["x29"]

    def enter(self, fp: int, prev: int) -> Optional[str]:
        """Why the record at ``fp`` may not be read (``None`` when it may), making its
        stack the current one."""
        if fp & 0x7:  # the kernel's rule (6.13+'s records in pt_regs are 8-byte aligned)
            return f"frame pointer {fp:#x} is not 8-byte aligned"
        s = self.stack_of(fp, 16)
        if s is None:
            where = ", ".join(f"{k} [{b:#x}, {e:#x})" for k, b, e in self.stacks)
            return f"frame pointer {fp:#x} is on no stack of the task ({where})"
        if s is self.current:
            if fp <= prev:
                return f"frame pointer {fp:#x} is not above the previous one {prev:#x}"
            return None
        if s[0] in self.left:
            return f"stack recursion: frame pointer {fp:#x} is back on the {s[0]} stack"
        if self.current is not None:
            self.left.add(self.current[0])
        self.current = s
        return None

    def walk(self, fp: int) -> str:
        """Follow the records from ``fp``; why the walk ended."""
        prev = 0
        while True:
            if fp == 0:
                return FINAL_FRAME
            if len(self.frames) >= self.limit:
                return f"stopped after {self.limit} frames"
            why = self.enter(fp, prev)
            if why:
                return why
            try:
                next_fp, lr = self.read_u64(fp), self.read_u64(fp + 8)
            except (FaultError, CoreError) as e:
                return f"frame record at {fp:#x} is unreadable ({e})"
            if next_fp == 0 and lr == 0:
                o = self.offsets
                if o is None or o.meta_type is None:
                    return FINAL_FRAME  # before 6.13: {0, 0} only in the task's pt_regs
                end, next_fp = self.metadata(fp, o, o.meta_type)
                if end is not None:
                    return end
                # the next record lies above the whole pt_regs (the kernel consumes it)
                prev, fp = fp - o.stackframe + o.size - 1, next_fp
                continue
            exc = self.exception_regs(fp, next_fp, lr)
            if exc is not None:
                self.interrupted(exc[1], exc[0])
            else:
                self.frames.append(Arm64Frame(strip_pac(lr, self.pac_mask), fp, False,
                                              {"x29": next_fp, "fp": next_fp}))
            prev, fp = fp, next_fp


def unwind_frames(
    read_u64: Callable[[int], int],
    regs: Dict[str, int],
    interrupted: bool,
    stacks: Sequence[StackRange],
    pac_mask: int,
    offsets: Optional[PtRegsOffsets],
    same_function: Callable[[int, int], bool],
    limit: int = MAX_FRAMES,
) -> Arm64Unwind:
    """Every frame from ``regs`` (``pc``, ``x29``, ``sp``; for an ``interrupted`` context,
    a dump note's, every register) on ``stacks``: an interrupted context in user mode is
    one user frame; otherwise the first frame, then (interrupted) its unsaved ``x30``,
    then the frame records from ``x29``, each ``pt_regs`` boundary an interrupted frame."""
    w = _Walker(read_u64, stacks, pac_mask, offsets, same_function, limit)
    if interrupted:
        if "pstate" in regs and is_user_mode(regs["pstate"]):
            return Arm64Unwind([Arm64Frame(regs["pc"], regs["sp"], True, dict(regs), user=True)], FINAL_FRAME)
        w.interrupted(regs, None)
    else:
        w.frames.append(Arm64Frame(strip_pac(regs["pc"], pac_mask), regs["sp"], False, dict(regs)))
    return Arm64Unwind(w.frames, w.walk(regs["x29"]))


#: ``PSR_*_BIT`` of the flags ``print_pstate`` shows as letters (upper case when set).
_PSTATE_LETTERS = ((31, "N"), (30, "Z"), (29, "C"), (28, "V"), None, (9, "D"), (8, "A"), (7, "I"), (6, "F"))
#: ``PSR_*_BIT`` of the features it shows as ``+``/``-``.
_PSTATE_FEATURES = ((22, "PAN"), (23, "UAO"), (25, "TCO"), (24, "DIT"), (12, "SSBS"))
_BTYPES = ("--", "j-", "-c", "jc")


def pstate_text(pstate: int) -> str:
    """``pstate`` as arm64's ``print_pstate`` writes an AArch64 one: ``60400005 (nZCv daif
    +PAN -UAO -TCO -DIT -SSBS BTYPE=--)``."""
    flags = "".join(" " if f is None else (f[1] if pstate >> f[0] & 1 else f[1].lower()) for f in _PSTATE_LETTERS)
    features = " ".join(("+" if pstate >> bit & 1 else "-") + name for bit, name in _PSTATE_FEATURES)
    return f"{pstate:08x} ({flags} {features} BTYPE={_BTYPES[pstate >> 10 & 3]})"


def show_regs_lines(regs: Dict[str, int], pc_text: str, lr_text: str) -> List[str]:
    """The registers of an interrupted or user context as arm64's ``__show_regs`` prints
    them (``__show_regs``, arch/arm64/kernel/process.c): ``pstate`` (:func:`pstate_text`),
    ``pc``, ``lr`` (``pc_text``/``lr_text``: ``%pS`` in kernel mode, hex in user mode),
    ``sp``, then ``x29`` down to ``x0``, three a line."""
    out = [f"pstate: {pstate_text(regs.get('pstate', 0))}", f"pc : {pc_text}", f"lr : {lr_text}",
           f"sp : {regs['sp']:016x}"]
    i = 29
    while i >= 0:
        row = [f"x{i:<2}: {regs[f'x{i}']:016x}"]
        while i % 3:
            i -= 1
            row.append(f"x{i:<2}: {regs[f'x{i}']:016x}")
        i -= 1
        out.append(" ".join(row))
    return out
