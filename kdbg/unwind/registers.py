"""x86-64 register sets: the dump's ``NT_PRSTATUS`` notes and ``struct pt_regs``.

Register names are drgn's (``rip``, ``rsp``, ``rbp``, ``rflags``, ``cs``...). A
``struct pt_regs`` member maps to one of them by :data:`PT_REGS_NAMES`; its layout is read
from BTF. ``pr_reg`` of ``struct elf_prstatus`` is ``struct user_regs_struct``, whose
first 21 words are laid out as ``struct pt_regs``.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from kdbg.errors import KdbgError
from kdbg.helpers.common import program_cache

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["PT_REGS_NAMES", "USER_REGS_NAMES", "PtRegsLayout", "pt_regs_layout", "PrStatus", "prstatus_notes"]

#: ``struct pt_regs`` member -> drgn register name (``orig_ax`` is no register).
PT_REGS_NAMES = {
    "r15": "r15", "r14": "r14", "r13": "r13", "r12": "r12", "bp": "rbp", "bx": "rbx",
    "r11": "r11", "r10": "r10", "r9": "r9", "r8": "r8", "ax": "rax", "cx": "rcx",
    "dx": "rdx", "si": "rsi", "di": "rdi", "ip": "rip", "cs": "cs", "flags": "rflags",
    "sp": "rsp", "ss": "ss",
}

#: ``struct user_regs_struct`` (``pr_reg``), in order, as drgn names them.
USER_REGS_NAMES = (
    "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx",
    "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "rflags", "rsp", "ss", "fs.base",
    "gs.base", "ds", "es", "fs", "gs",
)

#: drgn's order of the x86-64 registers (``StackFrame.registers()``).
DRGN_ORDER = (
    "rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11",
    "r12", "r13", "r14", "r15", "rip", "rflags", "es", "cs", "ss", "ds", "fs", "gs",
    "fs.base", "gs.base",
)
_RANK = {n: i for i, n in enumerate(DRGN_ORDER)}


def ordered(regs: Dict[str, int]) -> Dict[str, int]:
    """``regs`` in drgn's register order."""
    return dict(sorted(regs.items(), key=lambda kv: _RANK.get(kv[0], 99)))


class PtRegsLayout:
    """Byte offsets of ``struct pt_regs``'s words (from BTF; the fixed x86-64 layout when
    BTF lacks it), and its size."""

    def __init__(self, prog: Program) -> None:
        offsets: Dict[str, int] = {}
        size = 168
        try:
            t = prog.type("struct pt_regs").strip_typedefs()
            size = t.size or size
            for m in t.members:  # type: ignore[attr-defined]
                if m.name in PT_REGS_NAMES:
                    offsets[m.name] = m.bit_offset // 8
                elif not m.name:  # 6.x: cs and ss sit in anonymous unions
                    for sub in m.type.strip_typedefs().members:
                        if sub.name in PT_REGS_NAMES:
                            offsets[sub.name] = (m.bit_offset + sub.bit_offset) // 8
        except (KdbgError, LookupError, AttributeError):
            offsets = {}
        if len(offsets) != len(PT_REGS_NAMES):
            order = ("r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx",
                     "dx", "si", "di", "orig_ax", "ip", "cs", "flags", "sp", "ss")
            offsets = {n: 8 * i for i, n in enumerate(order) if n in PT_REGS_NAMES}
            size = 168
        self.size = size
        #: member -> offset
        self.offsets = offsets
        #: (drgn name, offset) of every register word
        self.words: List[Tuple[str, int]] = sorted(((PT_REGS_NAMES[k], v) for k, v in offsets.items()),
                                                   key=lambda kv: kv[1])
        #: offset of ``ip``: the start of the hardware (iret) frame
        self.iret_offset = offsets["ip"]

    def decode(self, data: bytes, base: int = 0) -> Dict[str, int]:
        """drgn-named registers of the pt_regs image at ``data[base:]`` (words that lie
        outside ``data`` are left out: an iret frame alone has five)."""
        out: Dict[str, int] = {}
        n = len(data)
        for name, off in self.words:
            o = base + off
            if o >= 0 and o + 8 <= n:
                out[name] = struct.unpack_from("<Q", data, o)[0]
        return out


def pt_regs_layout(prog: Program) -> PtRegsLayout:
    """The Program's :class:`PtRegsLayout`, computed once."""

    return program_cache(prog, "unwind.pt_regs", lambda: PtRegsLayout(prog))


class PrStatus:
    """One ``NT_PRSTATUS`` note: ``pr_pid`` and the registers (drgn names)."""

    __slots__ = ("index", "pid", "registers", "raw_regs")

    def __init__(self, index: int, pid: int, registers: Dict[str, int], raw_regs: bytes) -> None:
        self.index = index
        self.pid = pid
        self.registers = registers
        #: ``pr_reg`` as bytes (``struct user_regs_struct``)
        self.raw_regs = raw_regs


def _prstatus_offsets(prog: Program) -> Tuple[int, int]:
    """``(offset of pr_pid, offset of pr_reg)`` in ``struct elf_prstatus`` (BTF; 5.10
    has the members at the top, 6.x inside ``common``)."""
    try:
        t = prog.type("struct elf_prstatus").strip_typedefs()
        reg = t.offsetof("pr_reg")  # type: ignore[attr-defined]
        try:
            pid = t.offsetof("common.pr_pid")  # type: ignore[attr-defined]
        except KdbgError:
            pid = t.offsetof("pr_pid")  # type: ignore[attr-defined]
        return pid, reg
    except (KdbgError, LookupError, AttributeError):
        return 32, 112


def prstatus_notes(prog: Program) -> List[PrStatus]:
    """The dump's ``NT_PRSTATUS`` notes in note order, decoded (empty when it has none)."""

    def make() -> List[PrStatus]:
        raw = list(getattr(prog.memory, "prstatus", None) or [])
        if not raw:
            return []
        pid_off, reg_off = _prstatus_offsets(prog)
        out = []
        for i, desc in enumerate(raw):
            if len(desc) < reg_off + 8 * len(USER_REGS_NAMES):
                continue
            pid = struct.unpack_from("<i", desc, pid_off)[0]
            vals = struct.unpack_from(f"<{len(USER_REGS_NAMES)}Q", desc, reg_off)
            regs = {n: v for n, v in zip(USER_REGS_NAMES, vals) if n != "orig_rax"}
            out.append(PrStatus(i, pid, regs, bytes(desc[reg_off:reg_off + 8 * len(USER_REGS_NAMES)])))
        return out

    return program_cache(prog, "unwind.prstatus", make)


def prstatus_for_cpu(prog: Program, cpu: int, pid: Optional[int]) -> Optional[PrStatus]:
    """The note of CPU ``cpu``, whose current task has PID ``pid``. QEMU's dumps number
    their notes' ``pr_pid`` 1, 2, ... by CPU: note ``i`` is CPU ``i``. The kernel's
    (kexec) notes carry the PID of the task each CPU ran: matched by it when it is
    unique and not 0 (idle), else by position."""
    notes = prstatus_notes(prog)
    if not notes:
        return None
    qemu_style = all(n.pid == i + 1 for i, n in enumerate(notes))
    if not qemu_style and pid:
        hits = [n for n in notes if n.pid == pid]
        if len(hits) == 1:
            return hits[0]
    return notes[cpu] if 0 <= cpu < len(notes) else None
