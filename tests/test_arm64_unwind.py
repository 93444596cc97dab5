"""The arm64 frame-record walk (:func:`kdbg.arch.arm64.unwind.unwind_frames`) across
stacks and an EL1 exception frame, on a crafted memory image laid out as the kernel's
entry code and ``call_on_irq_stack`` lay it out (6.1-6.12: ``pt_regs->stackframe`` holds
``{interrupted x29, ELR}``; 6.13+: a metadata frame record ``{0, 0, type}`` with
``FRAME_META_TYPE_PT_REGS`` there and ``FRAME_META_TYPE_FINAL`` in the task's own
``pt_regs``). The reference dumps were taken from idle guests: no task in them was
interrupted in the kernel, so no real stack holds such a boundary (the real walks are
checked in ``test_arm64_stacks`` and, across exception frames, ``test_arm64_crash``).
Return addresses are signed as ``-cpu max`` signs them: the pointer-authentication bits
set to a code, stripped with the mask given.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import pytest

from kdbg.arch.arm64.frames import FINAL_FRAME
from kdbg.arch.arm64.unwind import (
    FRAME_META_TYPE_FINAL,
    FRAME_META_TYPE_PT_REGS,
    Arm64Frame,
    Arm64Unwind,
    PtRegsOffsets,
    pstate_text,
    show_regs_lines,
    unwind_frames,
)
from kdbg.errors import FaultError

pytestmark = pytest.mark.timeout(60)

MASK = 0xFFFF000000000000  # a 48-bit VA kernel's KERNELPACMASK, GENMASK(63, 48)
TASK = (0xFFFF800081000000, 0xFFFF800081004000)
IRQ = (0xFFFF800082000000, 0xFFFF800082004000)
STACKS = [("task", *TASK), ("IRQ", *IRQ)]
#: 6.1's arm64 struct pt_regs (BTF of bookworm's and trixie's kernels).
OFFSETS = PtRegsOffsets(regs=0, sp=248, pc=256, pstate=264, stackframe=304, size=336)
#: name -> [start, end)
FUNCTIONS = {"handler": (0xFFFF800080010000, 0xFFFF800080010100),
             "irq_caller": (0xFFFF800080011000, 0xFFFF800080011100),
             "leaf": (0xFFFF800080012000, 0xFFFF800080012040),
             "leaf_caller": (0xFFFF800080013000, 0xFFFF800080013100),
             "outer": (0xFFFF800080014000, 0xFFFF800080014100)}


def sign(address: int, code: int = 0x2A5B) -> int:
    """``address`` with a pointer-authentication code in the mask's bits (bit 55, which
    tells kernel from user addresses, is kept)."""
    spread = (code & 0x7F) << 48 | (code >> 7 & 0xFF) << 56
    return (address & ~MASK) | (spread & MASK) | (address & 1 << 55)


def same_function(a: int, b: int) -> bool:
    return any(lo <= a < hi and lo <= b < hi for lo, hi in FUNCTIONS.values())


def at(name: str, offset: int) -> int:
    return FUNCTIONS[name][0] + offset


class Memory:
    def __init__(self) -> None:
        self.words: Dict[int, int] = {}

    def record(self, fp: int, next_fp: int, lr: int) -> None:
        self.words[fp], self.words[fp + 8] = next_fp, lr

    def read_u64(self, address: int) -> int:
        if address not in self.words:
            if any(lo <= address < hi for _k, lo, hi in STACKS):
                return 0
            raise FaultError(f"no page at {address:#x}")
        return self.words[address]


def image(pstate: int = 0x5) -> Tuple[Memory, Dict[str, int], int]:
    """An interrupt on the IRQ stack over a leaf interrupted on the task stack."""
    m = Memory()
    regs_at = TASK[0] + 0x1000
    frame = regs_at + OFFSETS.stackframe
    m.record(IRQ[0] + 0x100, IRQ[0] + 0x200, sign(at("irq_caller", 0x20)))
    m.record(IRQ[0] + 0x200, frame, sign(at("outer", 0x80), 0x1111))  # call_on_irq_stack's record
    m.record(frame, TASK[0] + 0x2000, at("leaf", 0x10))  # {x29, ELR}: ELR is not signed
    for i in range(31):
        m.words[regs_at + 8 * i] = 0x1000 + i
    m.words[regs_at + 8 * 29] = TASK[0] + 0x2000
    m.words[regs_at + 8 * 30] = sign(at("leaf_caller", 0x44), 0x3333)  # the leaf never saved x30
    m.words[regs_at + OFFSETS.sp] = TASK[0] + 0x1200
    m.words[regs_at + OFFSETS.pc] = at("leaf", 0x10)
    m.words[regs_at + OFFSETS.pstate] = pstate
    m.record(TASK[0] + 0x2000, TASK[0] + 0x3000, sign(at("outer", 0x10), 0x4444))
    m.record(TASK[0] + 0x3000, 0, 0)  # the final frame record
    start = {f"x{i}": 0 for i in range(31)}
    start.update(x29=IRQ[0] + 0x100, x30=sign(at("irq_caller", 0x20)), sp=IRQ[0] + 0xF0, pc=at("handler", 8),
                 pstate=0x3C5)
    return m, start, regs_at


def test_interrupt_over_a_leaf_crosses_the_irq_stack_and_the_exception_frame() -> None:
    m, start, regs_at = image()
    walk = unwind_frames(m.read_u64, start, True, STACKS, MASK, OFFSETS, same_function)
    exc = _crossed_both_stacks(walk, regs_at)
    assert exc.registers["pstate"] == 0x5
    assert all(f.pc >> 48 == 0xFFFF for f in walk.frames)  # every code stripped


def _crossed_both_stacks(walk: Arm64Unwind, regs_at: int) -> Arm64Frame:
    """The walk of :func:`image`/:func:`meta_image`: from the IRQ handler across the IRQ
    stack, then the exception frame over the leaf, to the task's last frame; the exception
    frame's."""
    assert walk.end == FINAL_FRAME
    assert [f.pc for f in walk.frames] == [at("handler", 8), at("irq_caller", 0x20), at("outer", 0x80),
                                           at("leaf", 0x10), at("leaf_caller", 0x44), at("outer", 0x10)]
    assert [f.interrupted for f in walk.frames] == [True, False, False, True, False, False]
    exc = walk.frames[3]
    assert exc.regs_address == regs_at and exc.sp == TASK[0] + 0x1200 and exc.registers["x3"] == 0x1003
    return exc


def test_an_el0_pt_regs_is_no_exception_boundary() -> None:
    m, start, _regs_at = image(pstate=0x0)
    walk = unwind_frames(m.read_u64, start, True, STACKS, MASK, OFFSETS, same_function)
    assert [f.interrupted for f in walk.frames] == [True, False, False, False, False]
    assert walk.end == FINAL_FRAME


def test_without_pt_regs_offsets_the_walk_is_frame_records_only() -> None:
    m, start, _regs_at = image()
    walk = unwind_frames(m.read_u64, start, True, STACKS, MASK, None, same_function)
    assert [f.pc for f in walk.frames] == [at("handler", 8), at("irq_caller", 0x20), at("outer", 0x80),
                                           at("leaf", 0x10), at("outer", 0x10)]


#: 6.13+'s arm64 struct pt_regs: ``stackframe`` a ``struct frame_record_meta`` (BTF of
#: forky's 7.2 cloud-arm64 kernel).
META_OFFSETS = PtRegsOffsets(regs=0, sp=248, pc=256, pstate=264, stackframe=296, size=320, meta_type=312)


def meta_image(kind: int = FRAME_META_TYPE_PT_REGS) -> Tuple[Memory, Dict[str, int], int]:
    """:func:`image` as 6.13+ lays it out: the EL1 entry's ``pt_regs`` holds a metadata
    record of type *kind* (``x29`` of the handler's first frame points at it), and the
    task's last record is the ``FINAL`` one in the ``pt_regs`` at the top of its stack
    (8-byte aligned only)."""
    m, start, regs_at = image()
    o = META_OFFSETS
    frame = regs_at + o.stackframe
    del m.words[regs_at + OFFSETS.stackframe], m.words[regs_at + OFFSETS.stackframe + 8]
    m.record(IRQ[0] + 0x200, frame, sign(at("outer", 0x80), 0x1111))
    m.record(frame, 0, 0)
    m.words[frame + 16] = kind
    final = TASK[1] - o.size + o.stackframe
    m.record(TASK[0] + 0x2000, final, sign(at("outer", 0x10), 0x4444))
    del m.words[TASK[0] + 0x3000], m.words[TASK[0] + 0x3008]
    m.record(final, 0, 0)
    m.words[final + 16] = FRAME_META_TYPE_FINAL
    return m, start, regs_at


def test_613_metadata_records_cross_pt_regs_and_end_at_final() -> None:
    m, start, regs_at = meta_image()
    assert (TASK[1] - META_OFFSETS.size + META_OFFSETS.stackframe) & 0xF == 8
    walk = unwind_frames(m.read_u64, start, True, STACKS, MASK, META_OFFSETS, same_function)
    _crossed_both_stacks(walk, regs_at)


def test_613_layout_read_the_old_way_ends_at_the_boundary() -> None:
    """Without ``meta_type`` (offsets of a kernel before 6.13) the ``{0, 0}`` record in the
    exception's ``pt_regs`` is the end: the type is what tells 6.13+'s records apart."""
    m, start, _regs_at = meta_image()
    old = PtRegsOffsets(**{**META_OFFSETS.__dict__, "meta_type": None})
    walk = unwind_frames(m.read_u64, start, True, STACKS, MASK, old, same_function)
    assert [f.pc for f in walk.frames] == [at("handler", 8), at("irq_caller", 0x20), at("outer", 0x80)]


@pytest.mark.parametrize("case, reason", [
    ("type 0", "metadata frame record at 0xffff800081001128 has type 0x0, neither final (1) nor pt_regs (2)"),
    ("type 7", "metadata frame record at 0xffff800081001128 has type 0x7, neither final (1) nor pt_regs (2)"),
    ("final inside", "final frame record at 0xffff800081001128 is not in the task's pt_regs at 0xffff800081003ec0"),
])
def test_613_a_bad_metadata_record_ends_the_walk_with_its_reason(case: str, reason: str) -> None:
    kind = {"type 0": 0, "type 7": 7, "final inside": FRAME_META_TYPE_FINAL}[case]
    m, start, _regs_at = meta_image(kind)
    walk = unwind_frames(m.read_u64, start, True, STACKS, MASK, META_OFFSETS, same_function)
    assert walk.end == reason
    assert [f.pc for f in walk.frames][-1] == at("outer", 0x80)


def test_613_pt_regs_must_lie_on_the_records_stack() -> None:
    """A metadata record whose ``pt_regs`` would start below its stack (the record too
    near the bottom) is no boundary the walk can read."""
    m, start, _regs_at = meta_image()
    low = TASK[0] + 0x100
    m.record(IRQ[0] + 0x200, low, sign(at("outer", 0x80)))
    m.record(low, 0, 0)
    m.words[low + 16] = FRAME_META_TYPE_PT_REGS
    walk = unwind_frames(m.read_u64, start, True, STACKS, MASK, META_OFFSETS, same_function)
    assert walk.end == "pt_regs at 0xffff800080ffffd8 of metadata frame record 0xffff800081000100 is not on the " \
                       "record's stack"


@pytest.mark.parametrize("corrupt, reason", [
    ("back to IRQ", "stack recursion: frame pointer 0xffff800082000300 is back on the IRQ stack"),
    ("downwards", "frame pointer 0xffff800081000800 is not above the previous one 0xffff800081002000"),
    ("off stack", "frame pointer 0xffff800090000000 is on no stack of the task (task [0xffff800081000000, "
                  "0xffff800081004000), IRQ [0xffff800082000000, 0xffff800082004000))"),
    ("misaligned", "frame pointer 0xffff800081003004 is not 8-byte aligned"),
])
def test_a_corrupt_stack_ends_in_a_frame_that_names_why(corrupt: str, reason: str) -> None:
    m, start, _regs_at = image()
    bad = {"back to IRQ": IRQ[0] + 0x300, "downwards": TASK[0] + 0x800, "off stack": 0xFFFF800090000000,
           "misaligned": TASK[0] + 0x3004}[corrupt]
    m.record(TASK[0] + 0x2000, bad, sign(at("outer", 0x10)))
    m.record(bad & ~0xF, 0, 0)
    walk = unwind_frames(m.read_u64, start, True, STACKS, MASK, OFFSETS, same_function)
    assert walk.end == reason
    assert walk.frames[-1].pc == at("outer", 0x10)


def test_a_user_mode_context_is_one_user_frame() -> None:
    regs = {f"x{i}": i for i in range(31)}
    regs.update(sp=0xFFFFC0DE0000, pc=0xAAAA00001234, pstate=0x80000000)
    walk = unwind_frames(Memory().read_u64, regs, True, STACKS, MASK, OFFSETS, same_function)
    assert [(f.pc, f.user) for f in walk.frames] == [(0xAAAA00001234, True)] and walk.end == FINAL_FRAME


@pytest.mark.parametrize("pstate, text", [
    # the first two as arm64 oops reports print them, the others composed from the PSR_*_BIT
    # definitions print_pstate reads (IRQ and FIQ masked; SSBS; TCO, DIT and BTYPE)
    (0x60400005, "60400005 (nZCv daif +PAN -UAO -TCO -DIT -SSBS BTYPE=--)"),
    (0x80400009, "80400009 (Nzcv daif +PAN -UAO -TCO -DIT -SSBS BTYPE=--)"),
    (0x604000C9, "604000c9 (nZCv daIF +PAN -UAO -TCO -DIT -SSBS BTYPE=--)"),
    (0x20001000, "20001000 (nzCv daif -PAN -UAO -TCO -DIT +SSBS BTYPE=--)"),
    (0x83400C05, "83400c05 (Nzcv daif +PAN -UAO +TCO +DIT -SSBS BTYPE=jc)"),
])
def test_pstate_as_print_pstate_writes_it(pstate: int, text: str) -> None:
    assert pstate_text(pstate) == text


def test_show_regs_lines_are_the_kernels_layout() -> None:
    regs = {f"x{i}": i for i in range(31)}
    regs.update(sp=0xFFFF800081001200, pc=0, pstate=0x60400005)
    lines: List[str] = show_regs_lines(regs, "leaf+0x10/0x40", "leaf_caller+0x44/0x100")
    assert lines[:4] == ["pstate: 60400005 (nZCv daif +PAN -UAO -TCO -DIT -SSBS BTYPE=--)",
                         "pc : leaf+0x10/0x40", "lr : leaf_caller+0x44/0x100",
                         "sp : ffff800081001200"]
    assert lines[4] == "x29: 000000000000001d x28: 000000000000001c x27: 000000000000001b"
    assert lines[-1] == "x2 : 0000000000000002 x1 : 0000000000000001 x0 : 0000000000000000"
    assert len(lines) == 4 + 10
