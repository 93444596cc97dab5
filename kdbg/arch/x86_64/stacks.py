"""x86-64's per-CPU stacks (``arch/x86/kernel/dumpstack_64.c``): the hardirq stack, the
exception stacks of ``struct cea_exception_stacks`` in the CPU entry area (``DF``,
``NMI``, ``DB``, ``MCE``, ``VC``...) and the entry (trampoline) stack under the TSS's
``sp0``."""

from __future__ import annotations

from typing import List

from kdbg.arch.stacks import CpuStack, PerCpuData, StackKind

__all__ = ["cpu_stacks", "is_user_address"]

#: The lowest user address kdbg calls one (the first page is never mapped).
USER_START = 0x1000
#: The first address above user space's half of the address space.
USER_END = 1 << 63
#: ``sizeof(struct entry_stack)`` where BTF does not say.
DEFAULT_ENTRY_STACK_SIZE = 4096


def cpu_stacks(data: PerCpuData) -> List[CpuStack]:
    """The IRQ, exception and entry stacks of the CPU whose per-CPU ``data`` is given."""
    stacks: List[CpuStack] = []
    # a per-CPU variable before 6.2 and since 6.15, a member of pcpu_hot between
    top = data.word("hardirq_stack_ptr")
    if top is None:
        top = data.word("pcpu_hot", "hardirq_stack_ptr")
    if top:  # points at the top-most word, not past it (dumpstack_64.c in_irq_stack)
        stacks.append(CpuStack("IRQ", StackKind.IRQ, top + 8 - data.thread_size, top + 8))
    cea = data.word("cea_exception_stacks")
    if cea:  # the *_stack members; the *_stack_guard pages between them are no stacks
        for name, offset, size in data.members("struct cea_exception_stacks"):
            if name.endswith("_stack"):
                short = name[:-len("_stack")]
                kind = StackKind.NMI if short == "NMI" else StackKind.EXCEPTION
                stacks.append(CpuStack(short, kind, cea + offset, cea + offset + size))
    sp0 = data.word("cpu_tss_rw", "x86_tss.sp0")
    if sp0:  # the entry stack (in the CPU entry area) ends where the TSS's sp0 points
        size = data.size_of("struct entry_stack") or DEFAULT_ENTRY_STACK_SIZE
        stacks.append(CpuStack("entry", StackKind.EXCEPTION, sp0 - size, sp0))
    return stacks


def is_user_address(address: int) -> bool:
    """Whether ``address`` is in user space's half (the lower) of the address space."""
    return USER_START <= address < USER_END
