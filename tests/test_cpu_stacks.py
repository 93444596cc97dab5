"""Each architecture's per-CPU stack facts (``kdbg.arch.<arch>.stacks``, through
:func:`kdbg.arch.cpu_stacks`) on a crafted CPU's per-CPU data, laid out as the kernel
lays it out: x86-64's ``hardirq_stack_ptr`` points at the IRQ stack's top-most word
(``arch/x86/kernel/dumpstack_64.c`` ``in_irq_stack``: ``end = ptr + 1``, ``begin = end -
IRQ_STACK_SIZE``), ``struct cea_exception_stacks`` alternates ``X_stack_guard`` and
``X_stack`` members, the entry stack ends at the TSS's ``sp0``
(``cpu_entry_stack(cpu) + 1``); arm64's ``irq_stack_ptr`` is the IRQ stack's base
(``IRQ_STACK_SIZE`` = ``THREAD_SIZE``) and ``overflow_stack`` a per-CPU array. The
walks over real dumps are ``test_helpers_stack``, ``test_unwind_*`` and
``test_arm64_stacks``."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import pytest

from kdbg.arch import AARCH64, X86_64, cpu_stacks, is_user_address
from kdbg.arch.stacks import CpuStack, StackKind

pytestmark = pytest.mark.timeout(60)

THREAD_SIZE = 0x4000


class FakeCpu:
    """One CPU's per-CPU data: ``words`` by ``(var, member)``, ``extents`` by var,
    ``structs`` by name; anything else is missing."""

    def __init__(self, words: Dict[Tuple[str, Optional[str]], int],
                 extents: Optional[Dict[str, Tuple[int, int]]] = None,
                 structs: Optional[Dict[str, List[Tuple[str, int, int]]]] = None,
                 sizes: Optional[Dict[str, int]] = None) -> None:
        self.words = words
        self.extents = extents or {}
        self.structs = structs or {}
        self.sizes = sizes or {}

    @property
    def thread_size(self) -> int:
        return THREAD_SIZE

    def word(self, var: str, member: Optional[str] = None) -> Optional[int]:
        return self.words.get((var, member))

    def extent(self, var: str) -> Optional[Tuple[int, int]]:
        return self.extents.get(var)

    def members(self, struct: str) -> Sequence[Tuple[str, int, int]]:
        return self.structs.get(struct, [])

    def size_of(self, type_name: str) -> Optional[int]:
        return self.sizes.get(type_name)


#: 6.1's struct cea_exception_stacks with 8 KiB stacks and 4 KiB guards (EXCEPTION_STKSZ).
CEA_MEMBERS = [(f"{name}{suffix}", off, size) for i, name in enumerate(("DF", "NMI", "DB", "MCE"))
               for suffix, off, size in (("_stack_guard", i * 0x3000, 0x1000), ("_stack", i * 0x3000 + 0x1000, 0x2000))]
IRQ_TOP = 0xFFFFC90000003FF8
CEA = 0xFFFFFE0000009000
SP0 = 0xFFFFFE0000003000


def test_x86_64_stacks_are_the_kernels() -> None:
    cpu = FakeCpu({("pcpu_hot", "hardirq_stack_ptr"): IRQ_TOP, ("cea_exception_stacks", None): CEA,
                   ("cpu_tss_rw", "x86_tss.sp0"): SP0},
                  structs={"struct cea_exception_stacks": CEA_MEMBERS}, sizes={"struct entry_stack": 0x1000})
    assert cpu_stacks(X86_64, cpu) == [
        CpuStack("IRQ", StackKind.IRQ, IRQ_TOP + 8 - THREAD_SIZE, IRQ_TOP + 8),
        CpuStack("DF", StackKind.EXCEPTION, CEA + 0x1000, CEA + 0x3000),
        CpuStack("NMI", StackKind.NMI, CEA + 0x4000, CEA + 0x6000),
        CpuStack("DB", StackKind.EXCEPTION, CEA + 0x7000, CEA + 0x9000),
        CpuStack("MCE", StackKind.EXCEPTION, CEA + 0xA000, CEA + 0xC000),
        CpuStack("entry", StackKind.EXCEPTION, SP0 - 0x1000, SP0),
    ]


def test_x86_64_hardirq_stack_ptr_as_a_variable_wins_and_missing_stacks_are_left_out() -> None:
    """Before 6.2 and since 6.15 ``hardirq_stack_ptr`` is a per-CPU variable of its own."""
    cpu = FakeCpu({("hardirq_stack_ptr", None): IRQ_TOP, ("pcpu_hot", "hardirq_stack_ptr"): 0x1234})
    assert cpu_stacks(X86_64, cpu) == [CpuStack("IRQ", StackKind.IRQ, IRQ_TOP + 8 - THREAD_SIZE, IRQ_TOP + 8)]
    assert cpu_stacks(X86_64, FakeCpu({})) == []


def test_arm64_stacks_are_the_kernels() -> None:
    irq, ovf = 0xFFFF800080000000, 0xFFFF0000FF7B1000
    cpu = FakeCpu({("irq_stack_ptr", None): irq}, extents={"overflow_stack": (ovf, 0x1000)})
    assert cpu_stacks(AARCH64, cpu) == [CpuStack("IRQ", StackKind.IRQ, irq, irq + THREAD_SIZE),
                                        CpuStack("overflow", StackKind.EXCEPTION, ovf, ovf + 0x1000)]
    assert cpu_stacks(AARCH64, FakeCpu({("irq_stack_ptr", None): 0})) == []  # not yet allocated


def test_user_addresses() -> None:
    assert is_user_address(X86_64, 0x7FFD12345678)
    assert not is_user_address(X86_64, 0xFFFF888000000000)
    assert not is_user_address(X86_64, 0x10)  # the first page is no user address either
    assert is_user_address(AARCH64, 0x0000FFFFC0001000)
    assert is_user_address(AARCH64, 0x0B00FFFFC0001000)  # a memory tag in bits 56-63
    assert not is_user_address(AARCH64, 0xFFFF800080000000)
    assert cpu_stacks("riscv64", FakeCpu({})) == [] and not is_user_address("riscv64", 0x1000)
