"""The arm64 frame source of :mod:`kdbg.unwind.trace`: where an arm64 trace starts and
on which stacks, unwound by :func:`kdbg.arch.arm64.unwind.unwind_frames` (frame records,
pointer authentication stripped with ``KERNELPACMASK``, ``pt_regs`` boundaries).

* a sleeping task starts from ``task->thread.cpu_context`` (``x19``-``x28``, ``fp``,
  ``sp``, ``pc``: the return address into ``__switch_to`` that ``cpu_switch_to`` saved),
  on its task stack;
* a task running on a CPU of a dump starts from that CPU's ``NT_PRSTATUS`` note
  (``struct user_pt_regs``), on its task stack and the CPU's IRQ stack
  (``irq_stack_ptr``) and overflow stack (``overflow_stack``) when per-CPU data is
  readable;
* a ``struct pt_regs`` starts from its registers, on the ``THREAD_SIZE``-aligned stack
  holding its ``sp`` and every CPU's IRQ and overflow stacks.

``struct pt_regs``' layout comes from BTF (:func:`kdbg.arch.arm64.unwind.pt_regs_offsets`),
its ``stackframe.type`` too on 6.13+ (the metadata frame records).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple

from kdbg.arch.arm64 import kernel_pac_mask, prstatus_registers, prstatus_regs_image
from kdbg.arch.arm64.unwind import (
    Arm64Unwind,
    PtRegsOffsets,
    StackRange,
    decode_pt_regs,
    pt_regs_offsets,
    unwind_frames,
)
from kdbg.errors import KdbgError, UnwindError
from kdbg.helpers.common import program_cache
from kdbg.helpers.cpu_stacks import cpu_stacks
from kdbg.helpers.cpumask import for_each_possible_cpu
from kdbg.helpers.sched import thread_size
from kdbg.unwind.unwinder import PAGE, RawFrame

if TYPE_CHECKING:
    from kdbg.core.object import Object
    from kdbg.core.program import Program

__all__ = ["task_frames", "pt_regs_frames", "pac_mask"]

_CONTEXT = ("x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "fp", "sp", "pc")


def pac_mask(prog: Program) -> int:
    """The kernel's pointer-authentication mask: what the translator took from
    VMCOREINFO's ``KERNELPACMASK``, or on a live kernel (``/proc/kcore`` has no
    translator) the ``VMCOREINFO`` note of ``/proc/kcore``; 0 without pointer authentication."""
    params = getattr(getattr(prog.memory, "arch", None), "params", None)
    if params is not None:
        return int(getattr(params, "pac_mask", 0) or 0)
    vmci = getattr(prog.memory, "vmcoreinfo", None)
    return kernel_pac_mask(vmci) if vmci is not None else 0


def _offsets(prog: Program) -> Optional[PtRegsOffsets]:
    def find() -> Optional[PtRegsOffsets]:
        try:
            return pt_regs_offsets(prog.type("struct pt_regs").strip_typedefs())
        except (KdbgError, LookupError, AttributeError):
            return None  # no boundaries recognised: frame records only

    return program_cache(prog, "unwind.arm64.pt_regs", find)


def _context_offsets(prog: Program) -> Optional[Tuple[Tuple[str, int], ...]]:
    """``((register, byte offset), ...)`` of :data:`_CONTEXT` in ``struct cpu_context``,
    every one 8 bytes (one read of the struct then gives them all); ``None`` when BTF
    says otherwise (each member is then read as an object)."""

    def find() -> Optional[Tuple[Tuple[str, int], ...]]:
        try:
            ctype = prog.type("struct cpu_context").strip_typedefs()
            out = []
            for name in _CONTEXT:
                member = ctype.member(name)
                if member.bitfield_size or member.bit_offset % 8 or member.type.size != 8:
                    return None
                out.append((name, member.bit_offset // 8))
            return tuple(out)
        except (KdbgError, LookupError, AttributeError):
            return None

    return program_cache(prog, "unwind.arm64.cpu_context", find)


def _context_registers(prog: Program, task: Object) -> Dict[str, int]:
    """A sleeping task's ``thread.cpu_context``: ``{register: value}`` of :data:`_CONTEXT`."""
    cc = task.thread.cpu_context
    offsets = _context_offsets(prog)
    if offsets is None:
        return {name: int(cc.member_(name)) for name in _CONTEXT}
    image = cc.to_bytes_()
    return {name: struct.unpack_from("<Q", image, offset)[0] for name, offset in offsets}


def _reader(prog: Program) -> Callable[[int], int]:
    """``read_u64`` for one unwind, page-cached."""
    pages: Dict[int, bytes] = {}

    def read_u64(address: int) -> int:
        page = address & ~(PAGE - 1)
        data = pages.get(page)
        if data is None:
            data = pages[page] = prog.read(page, PAGE)
        return struct.unpack_from("<Q", data, address - page)[0]

    return read_u64


def _same_function(prog: Program) -> Callable[[int, int], bool]:
    def same(a: int, b: int) -> bool:
        try:
            return prog.symbol(a).address == prog.symbol(b).address
        except (KdbgError, LookupError):
            return False

    return same


def _cpu_stacks(prog: Program, cpu: int) -> List[StackRange]:
    """CPU ``cpu``'s IRQ and overflow stacks (:func:`kdbg.helpers.cpu_stacks.cpu_stacks`;
    none when per-CPU data is unreadable)."""
    return [(s.name, s.begin, s.end) for s in cpu_stacks(prog, cpu)]


def _raw(result: Arm64Unwind) -> List[RawFrame]:
    frames = [RawFrame(f.pc, f.sp, f.interrupted, f.registers, regs_address=f.regs_address, user=f.user)
              for f in result.frames]
    if result.end != "final frame record" and frames:
        frames[-1].stop_reason = result.end
    return frames


def _unwind(prog: Program, regs: Dict[str, int], interrupted: bool, stacks: List[StackRange]) -> List[RawFrame]:
    return _raw(unwind_frames(_reader(prog), regs, interrupted, stacks, pac_mask(prog), _offsets(prog),
                              _same_function(prog)))


def task_frames(prog: Program, task: Object, cpu: Optional[int], note: Optional[bytes]) -> List[RawFrame]:
    """The frames of ``task``: from ``note`` (the ``NT_PRSTATUS`` of the CPU ``cpu`` it
    runs on) when given, else from its ``thread.cpu_context``."""
    base = int(task.stack)
    stacks: List[StackRange] = [("task", base, base + thread_size(prog))]
    if note is not None:
        _pid, regs = prstatus_registers(note)
        regs = dict(regs, fp=regs["x29"], lr=regs["x30"])
        frames = _unwind(prog, regs, True, stacks + (_cpu_stacks(prog, cpu) if cpu is not None else []))
        frames[0].regs_image = prstatus_regs_image(note)
        return frames
    regs = _context_registers(prog, task)
    regs["x29"] = regs["fp"]
    return _unwind(prog, regs, False, stacks)


def pt_regs_frames(prog: Program, regs_obj: Object, image: bytes) -> Tuple[List[RawFrame], int]:
    """The frames from a ``struct pt_regs`` (``image``, its bytes) and its ``sp``."""
    offsets = _offsets(prog)
    if offsets is None:
        raise UnwindError("BTF has no arm64 struct pt_regs with regs, sp, pc, pstate and stackframe")
    if len(image) < offsets.size:
        raise UnwindError(f"a struct pt_regs is {offsets.size} bytes; {len(image)} given")
    regs = decode_pt_regs(lambda o: int(struct.unpack_from("<Q", image, o)[0]), offsets)
    size = thread_size(prog)
    sp = regs["sp"]
    stacks: List[StackRange] = [("task", sp & ~(size - 1), (sp & ~(size - 1)) + size)]
    try:
        cpus = list(for_each_possible_cpu(prog))
    except KdbgError:  # no cpu_possible_mask: the task stack only
        cpus = []
    for cpu in cpus:
        stacks += [(f"{k}.{cpu}", b, e) for k, b, e in _cpu_stacks(prog, cpu) if not b <= sp < e]
    frames = _unwind(prog, regs, True, stacks)
    if frames and regs_obj.address_ is not None:
        frames[0].regs_address = regs_obj.address_
    return frames, sp
