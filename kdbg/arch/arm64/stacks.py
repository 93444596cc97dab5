"""arm64's per-CPU stacks (``arch/arm64/include/asm/stacktrace.h``): the IRQ stack that
``irq_stack_ptr`` points at (``IRQ_STACK_SIZE`` = ``THREAD_SIZE``) and the overflow stack
``overflow_stack`` taken on a stack overflow exception."""

from __future__ import annotations

from typing import List

from kdbg.arch.stacks import CpuStack, PerCpuData, StackKind

__all__ = ["cpu_stacks", "is_user_address"]

#: The bit of a virtual address that selects the kernel's half (TTBR1); bits 56-63 may
#: hold a memory tag.
KERNEL_HALF_BIT = 55


def cpu_stacks(data: PerCpuData) -> List[CpuStack]:
    """The IRQ and overflow stacks of the CPU whose per-CPU ``data`` is given; one whose
    per-CPU variable cannot be read is left out."""
    stacks: List[CpuStack] = []
    irq = data.word("irq_stack_ptr")
    if irq:
        stacks.append(CpuStack("IRQ", StackKind.IRQ, irq, irq + data.thread_size))
    overflow = data.extent("overflow_stack")
    if overflow is not None:
        address, size = overflow
        stacks.append(CpuStack("overflow", StackKind.EXCEPTION, address, address + size))
    return stacks


def is_user_address(address: int) -> bool:
    """Whether ``address`` is a user (TTBR0) address."""
    return not address >> KERNEL_HALF_BIT & 1
