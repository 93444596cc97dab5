"""Architecture support: one module per architecture behind one interface.

* :mod:`kdbg.arch.x86_64`: x86-64 (4- and 5-level paging, KASLR region bases).
* :mod:`kdbg.arch.arm64`: arm64 (4K/16K/64K granules, 48/52-bit VA, LPA/LPA2 descriptors).

The memory layer names the dumped machine (``uname -m`` spelling: ``x86_64``,
``aarch64``, from the ELF header, the kdump header or VMCOREINFO) and asks
:func:`translator_for` for its :class:`Translator`; :data:`MACHINES` is what kdbg reads,
and :func:`unsupported_machine` the one-line refusal of anything else.
"""

from __future__ import annotations

from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Set,
    Tuple,
    overload,
)

from kdbg.arch import arm64, x86_64
from kdbg.arch.arm64 import Arm64Translator
from kdbg.arch.arm64 import entry as arm64_entry
from kdbg.arch.arm64 import insn as arm64_insn
from kdbg.arch.arm64 import pte as arm64_pte
from kdbg.arch.arm64 import signal as arm64_signal
from kdbg.arch.arm64 import stacks as arm64_stacks
from kdbg.arch.arm64 import unwind as arm64_unwind
from kdbg.arch.arm64.coderefs import adrp_references
from kdbg.arch.arm64.translate import arm64_parameters, kernel_version
from kdbg.arch.decoder import capstone_modules, decoder_missing
from kdbg.arch.layout import LayoutBase, PageTableLeaf, PteFields
from kdbg.arch.stacks import CpuStack, PerCpuData
from kdbg.arch.x86_64 import X86_64Translator
from kdbg.arch.x86_64 import insn as x86_64_insn
from kdbg.arch.x86_64 import ptes as x86_64_ptes
from kdbg.arch.x86_64 import stacks as x86_64_stacks
from kdbg.arch.x86_64.coderefs import rip_references
from kdbg.errors import CoreError

if TYPE_CHECKING:  # pragma: no cover
    from kdbg.memory.vmcoreinfo import VMCoreInfo

__all__ = [
    "Arm64Translator",
    "X86_64Translator",
    "Translator",
    "PageTableLeaf",
    "PteFields",
    "MACHINES",
    "X86_64",
    "AARCH64",
    "translator_for",
    "image_phys_base",
    "text_link_address",
    "unsupported_machine",
    "sparsemem_defaults",
    "is_entry_frame",
    "is_syscall_frame",
    "is_fault_plumbing",
    "cpu_note_page_table_roots",
    "show_regs_lines",
    "frame_slot",
    "switched_out_sp",
    "code_references",
    "instruction_decoder",
    "kcore_layout",
    "cpu_stacks",
    "is_user_address",
    "signals",
    "sigaction_flags",
    "tif_sigpending",
    "pte_fields",
    "page_table_level_names",
    "vtop_walk_lines",
]

#: ``uname -m`` of the machines kdbg reads.
X86_64 = "x86_64"
AARCH64 = "aarch64"


class Translator(Protocol):
    """What the memory layer and the helpers use of an architecture's translator."""

    tcache: Dict[int, int]
    pgd: int
    max_physical_address: int

    @property
    def pgd_va(self) -> int:
        """The virtual address of the kernel's top-level page table."""

    def translate(self, va: int) -> int:
        """Physical address of kernel virtual ``va``; ``FaultError`` when not mapped."""

    def translate_page(self, va: int) -> int:
        """Physical base of the 4 KiB piece holding ``va`` (cached in :attr:`tcache`)."""

    def translate_run(self, va: int, size: int) -> Tuple[int, int]:
        """``(pa, n)``: the next ``n <= size`` bytes from ``va`` are contiguous at ``pa``."""

    def walk(self, va: int) -> int:
        """``va`` translated by a page-table walk (no caches)."""

    def walk_root(self, root: int, va: int) -> Tuple[int, int]:
        """``(pa, page size)`` of ``va`` under the top-level table at physical ``root``."""

    def walk_entries(self, va: int, root: Optional[int] = None) -> List[Tuple[int, int, int]]:
        """The walk of ``va`` level by level (the kernel's tables, or those at physical
        ``root``): ``(shift, physical address of the entry, entry)`` of each level read,
        up to the leaf or the first entry that maps nothing."""

    def leaf(self, shift: int, entry: int) -> PageTableLeaf:
        """What the last entry of :meth:`walk_entries` maps, by the machine's rules."""

    def pa_symbol(self, va: int) -> int:
        """``__pa_symbol``: the physical address of a kernel-image address, by the
        machine's linear rule (x86-64: ``va - __START_KERNEL_map + phys_base``; arm64:
        ``va - kimage_voffset``)."""

    def attach_symbols(self, address_of: Callable[[str], Optional[int]]) -> None:
        """Give the translator a symbol lookup (name -> address or ``None``)."""

    @property
    def layout(self) -> Mapping[str, LayoutBase]:
        """``page_offset_base``, ``vmalloc_base``, ``vmemmap_base`` and their sources."""

    @property
    def layout_notes(self) -> List[str]:
        """Disagreements found while choosing the layout, one line each."""

    @property
    def page_offset_base(self) -> Optional[int]:
        """Virtual address of physical 0 in the direct (linear) map."""

    @property
    def vmalloc_base(self) -> Optional[int]:
        """Start of the vmalloc area."""

    @property
    def vmemmap_base(self) -> Optional[int]:
        """``struct page`` of pfn 0."""

    def set_page_offset_base(self, value: int) -> None:
        """Override :attr:`page_offset_base`."""


#: Machine name -> translator class (called as ``cls(read_phys, vmcoreinfo,
#: phys_base_hint, max_physical_address)``).
MACHINES: Dict[str, Callable[..., Translator]] = {X86_64: X86_64Translator, AARCH64: Arm64Translator}


def unsupported_machine(machine: str) -> Optional[str]:
    """Why kdbg cannot read a dump of ``machine`` (``None`` when it can; an empty name,
    a machine the source did not record, passes)."""
    if not machine or machine in MACHINES:
        return None
    return f"kdbg supports {' and '.join(sorted(MACHINES))} dumps; this one is {machine}"


@overload
def translator_for(
    read_phys: Callable[[int, int], bytes],
    vmcoreinfo: VMCoreInfo,
    phys_base_hint: Optional[int] = None,
    max_physical_address: Optional[int] = None,
) -> X86_64Translator: ...


@overload
def translator_for(
    read_phys: Callable[[int, int], bytes],
    vmcoreinfo: VMCoreInfo,
    phys_base_hint: Optional[int],
    max_physical_address: Optional[int],
    machine: str,
) -> Translator: ...


def translator_for(
    read_phys: Callable[[int, int], bytes],
    vmcoreinfo: VMCoreInfo,
    phys_base_hint: Optional[int] = None,
    max_physical_address: Optional[int] = None,
    machine: str = X86_64,
) -> Translator:
    """The translator for the dumped ``machine`` (``x86_64`` or ``aarch64``)."""
    return MACHINES[machine](read_phys, vmcoreinfo, phys_base_hint, max_physical_address)


def image_phys_base(machine: str, loads: Sequence[Tuple[int, int]]) -> Optional[int]:
    """The kernel image's ``phys_base`` that ELF segments ``(vaddr, paddr)`` of a dump of
    ``machine`` show (x86-64: a kernel-text segment), or ``None``."""
    if machine == X86_64:
        return x86_64.image_phys_base(loads)
    return None


def text_link_address(machine: str, vmcoreinfo: Optional[VMCoreInfo]) -> Optional[int]:
    """The address ``_text`` is linked at on ``machine`` (KASLR adds ``KERNELOFFSET``):
    x86-64's ``__START_KERNEL``, arm64's ``KIMAGE_VADDR`` (from VMCOREINFO); ``None`` when
    unknown."""
    if machine == AARCH64:
        return arm64.text_link_address(vmcoreinfo) if vmcoreinfo is not None else None
    return x86_64.START_KERNEL


def sparsemem_defaults(machine: str, l5: bool) -> Optional[Tuple[int, int]]:
    """``(SECTION_SIZE_BITS, MAX_PHYSMEM_BITS)`` of ``machine`` for a kernel whose
    VMCOREINFO lacks them (before 5.9): x86-64's fixed values (``l5``: 5-level paging);
    ``None`` for arm64, whose values depend on its configuration (page size, PA bits) and
    whose VMCOREINFO carries both."""
    if machine == AARCH64:
        return None
    return x86_64.SECTION_SIZE_BITS, x86_64.MAX_PHYSMEM_BITS_L5 if l5 else x86_64.MAX_PHYSMEM_BITS_L4


def is_entry_frame(machine: str, name: str) -> bool:
    """Whether a frame's function ``name`` is ``machine``'s exception, interrupt or NMI
    entry: where one context's stack continues with another's."""
    if machine == AARCH64:
        return arm64_entry.is_entry_frame(name)
    return x86_64.is_entry_frame(name)


def is_syscall_frame(machine: str, name: str) -> bool:
    """Whether ``name`` is ``machine``'s system-call entry or a new task's first frame."""
    if machine == AARCH64:
        return arm64_entry.is_syscall_frame(name)
    return x86_64.is_syscall_frame(name)


def is_fault_plumbing(machine: str, name: str) -> bool:
    """Whether ``name`` is ``machine``'s fault, trap or IPI plumbing between an exception's
    entry and the report it prints."""
    if machine == AARCH64:
        return arm64_entry.is_fault_plumbing(name)
    return x86_64.is_fault_plumbing(name)


def cpu_note_page_table_roots(machine: str, notes: Sequence[Tuple[str, int, bytes]]) -> List[int]:
    """The page-table roots a dump's notes give for its CPUs, beyond the kernel's own, on
    ``machine``: x86-64's CR3 from QEMU's per-CPU notes (where libkdumpfile walks from);
    none on arm64, whose kernel mappings hang off one root for every CPU."""
    if machine == X86_64:
        return x86_64.cpu_note_page_table_roots(notes)
    return []


def show_regs_lines(machine: str, regs: Dict[str, int], user: bool, symbolize: Callable[[int], str],
                    pac_mask: int = 0) -> List[str]:
    """The registers of an interrupted or user context (drgn's register names) as
    ``machine``'s ``__show_regs`` prints them, one string a line; ``symbolize`` formats a
    kernel code address as ``%pS`` does (``function+0xoff/0xsize [module]``). arm64's
    ``lr`` is shown without its pointer-authentication code (``pac_mask``)."""
    if machine == AARCH64:
        if "pc" not in regs:
            return []
        pc = f"{regs['pc']:016x}" if user else symbolize(regs["pc"])
        lr = f"{regs['x30']:016x}" if user else symbolize(arm64.strip_pac(regs["x30"], pac_mask))
        return arm64_unwind.show_regs_lines(regs, pc, lr)
    return x86_64.show_regs_lines(regs, user, symbolize)


def frame_slot(machine: str, sp: int, interrupted: bool) -> int:
    """The stack address crash's ``bt`` shows for a frame whose stack pointer (the CFA,
    drgn's ``StackFrame.sp``) is ``sp``: x86-64's return-address slot
    (:func:`kdbg.arch.x86_64.frame_slot`); on arm64 the frame's own ``sp``."""
    if machine == AARCH64:
        return sp
    return x86_64.frame_slot(sp, interrupted)


def switched_out_sp(machine: str, task: Any) -> Optional[int]:
    """Where a switched-out task's saved context starts on its stack, the address crash's
    ``bt`` gives its first frame: x86-64's ``task->thread.sp`` (its ``struct
    inactive_task_frame``); ``None`` on arm64, whose context is saved in the task."""
    if machine == AARCH64:
        return None
    return int(task.thread.sp)


def code_references(machine: str) -> Tuple[Optional[Callable[[bytes, int], Set[int]]], str]:
    """``(decode, "")``: the decoder of the data addresses ``machine``'s code at an address
    refers to (arm64: :func:`kdbg.arch.arm64.coderefs.adrp_references`; x86-64:
    :func:`kdbg.arch.x86_64.coderefs.rip_references`), or ``(None, why)``: another
    machine, or capstone missing."""
    decoders = {AARCH64: adrp_references, X86_64: rip_references}
    if machine not in decoders:
        return None, f"code references are not decoded on {machine}"
    missing = decoder_missing()
    if missing is not None:
        return None, missing
    return decoders[machine], ""


#: What :func:`instruction_decoder` gives: ``decode(code, address, bug_bytes)``.
Decoder = Callable[[bytes, int, int], Iterator[Dict[str, Any]]]


def instruction_decoder(machine: str) -> Tuple[Optional[Decoder], str]:
    """``(decode, "")``: ``machine``'s instruction decoder for ``dis``
    (:func:`kdbg.arch.x86_64.insn.decode`, :func:`kdbg.arch.arm64.insn.decode`), or
    ``(None, why)``: another machine, or capstone missing."""
    decoders: Dict[str, Decoder] = {X86_64: x86_64_insn.decode, AARCH64: arm64_insn.decode}
    if machine not in decoders:
        return None, f"instructions are not decoded on {machine}"
    try:
        capstone_modules("x86" if machine == X86_64 else "arm64")
    except RuntimeError as e:
        return None, str(e)
    return decoders[machine], ""


def kcore_layout(machine: str, segments: Sequence[Tuple[int, int, int]], l5: bool,
                 variable: Callable[[str], Tuple[Optional[int], str]],
                 vmcoreinfo: Optional[VMCoreInfo] = None) -> Dict[str, LayoutBase]:
    """The region bases of a live ``machine``: x86-64's randomized ones from its kernel's
    variables or its ``/proc/kcore`` segments ``(start, end, paddr)``
    (:func:`kdbg.arch.x86_64.kcore_layout`); arm64's from the VMCOREINFO note of its
    ``/proc/kcore`` (:func:`kdbg.arch.arm64.vmcoreinfo_layout`, as a dump's translator
    has them); none without that note or on another machine."""
    if machine == X86_64:
        return x86_64.kcore_layout(segments, l5, variable)
    if machine == AARCH64 and vmcoreinfo is not None:
        try:
            return arm64.vmcoreinfo_layout(vmcoreinfo)
        except CoreError:  # the note lacks what the layout follows from: unknown, as without it
            return {}
    return {}


def cpu_stacks(machine: str, data: PerCpuData) -> List[CpuStack]:
    """The stacks of one CPU of ``machine`` beyond its tasks' own (IRQ, exception, NMI,
    entry, overflow), read from that CPU's per-CPU ``data``: ``kdbg.arch.<arch>.stacks``;
    none on a machine kdbg knows no stacks of."""
    if machine == X86_64:
        return x86_64_stacks.cpu_stacks(data)
    if machine == AARCH64:
        return arm64_stacks.cpu_stacks(data)
    return []


def is_user_address(machine: str, address: int) -> bool:
    """Whether ``address`` (a stack pointer) is a user-space address on ``machine``
    (``False`` on a machine kdbg does not know)."""
    if machine == X86_64:
        return x86_64_stacks.is_user_address(address)
    if machine == AARCH64:
        return arm64_stacks.is_user_address(address)
    return False


def signals(machine: str) -> Sequence[Tuple[str, int]]:
    """``(name, number)`` of ``machine``'s signals, a number's preferred name before its
    aliases, ``SIGRTMIN`` and ``SIGRTMAX`` last (:data:`kdbg.arch.x86_64.SIGNALS`,
    :data:`kdbg.arch.arm64.signal.SIGNALS`)."""
    return arm64_signal.SIGNALS if machine == AARCH64 else x86_64.SIGNALS


def sigaction_flags(machine: str) -> Sequence[Tuple[str, int]]:
    """``(name, value)`` of ``machine``'s ``sa_flags`` bits, preferred name before its
    aliases."""
    return arm64_signal.SIGACTION_FLAGS if machine == AARCH64 else x86_64.SIGACTION_FLAGS


def tif_sigpending(machine: str, signal_wake_up_state: Optional[Tuple[bytes, int]] = None) -> int:
    """The bit of ``thread_info.flags`` that says a signal is pending on ``machine``.

    arm64: 0 (``arch/arm64/include/asm/thread_info.h``, 5.10 to 7.x). x86-64: 2 in its own
    ``thread_info.h`` until x86 took the generic TIF bits (``asm-generic/thread_info_tif.h``:
    1; Debian's 7.2 has them), so where the code of ``signal_wake_up_state`` (``(bytes,
    address)``) is given, the bit its ``set_tsk_thread_flag(t, TIF_SIGPENDING)`` sets
    (:func:`kdbg.arch.x86_64.insn.first_bit_set`; capstone decodes it), else 2."""
    if machine == AARCH64:
        return arm64_signal.TIF_SIGPENDING
    decode, _ = instruction_decoder(X86_64)
    if signal_wake_up_state is not None and decode is not None:
        bit = x86_64_insn.first_bit_set(decode(*signal_wake_up_state, 0))
        if bit is not None:
            return bit
    return x86_64.TIF_SIGPENDING


def pte_fields(machine: str, vmcoreinfo: Optional[VMCoreInfo], entry: int, shift: Optional[int],
               leaf_of: Callable[[int], PageTableLeaf]) -> PteFields:
    """A page-table ``entry`` as crash's ``pte`` and ``vtop`` show it on ``machine``: the
    last entry of a walk at level ``shift`` (``None``: a leaf, of the smallest pages
    unless it says it is a block, as ``pte ENTRY`` takes it); ``leaf_of(shift)`` is the
    translator's reading of it (:func:`kdbg.helpers.addrspace.page_table_leaf`), which
    arm64 uses for the frame and swap fields by the kernel's version. arm64 needs
    ``vmcoreinfo`` (page size, version, LPA2: ``CoreError`` without it)."""
    if machine != AARCH64:
        return x86_64_ptes.pte_fields(entry, shift)
    p = _arm64_parameters(vmcoreinfo)
    page_shift = p.page_size.bit_length() - 1
    version = kernel_version(vmcoreinfo) if vmcoreinfo is not None else (1 << 16, 0)
    if shift is None:  # a valid descriptor without the table/page bit is a block: at least a PMD's
        shift = page_shift + (page_shift - 3 if entry & 3 == 1 else 0)
    return arm64_pte.pte_fields(p, version, entry, leaf_of(shift))


def _arm64_parameters(vmcoreinfo: Optional[VMCoreInfo]) -> arm64.Arm64Parameters:
    if vmcoreinfo is None:
        raise CoreError("arm64 page tables are read with the dump's VMCOREINFO, which this target lacks")
    return arm64_parameters(vmcoreinfo)


def _page_shift(vmcoreinfo: Optional[VMCoreInfo]) -> int:
    return _arm64_parameters(vmcoreinfo).page_size.bit_length() - 1


def page_table_level_names(machine: str, vmcoreinfo: Optional[VMCoreInfo], shifts: Sequence[int]) -> List[str]:
    """crash's names (``PGD``, ``PUD``, ``PMD``, ``PTE``...) of the levels of a walk on
    ``machine`` whose entries translate address bits from ``shifts``, top first."""
    if machine != AARCH64:
        return x86_64_ptes.level_names(shifts)
    return arm64_pte.level_names(_page_shift(vmcoreinfo), shifts)


def vtop_walk_lines(machine: str, vmcoreinfo: Optional[VMCoreInfo], pgd_va: int,
                    entries: Sequence[Tuple[int, int, int]], frame: int, span: int,
                    ptov: Callable[[int], int]) -> List[str]:
    """The page-table walk of ``vtop`` as crash prints it on ``machine``, from its
    directory to its ``PAGE:`` line: ``entries`` are ``(shift, entry's physical address,
    entry)`` of the tables at ``pgd_va`` (a walk's), mapping ``span`` bytes at physical
    ``frame``; ``ptov`` gives an entry's address in the direct map, where arm64's crash
    shows them (x86-64's shows physical ones)."""
    if machine != AARCH64:
        return x86_64_ptes.vtop_walk_lines(pgd_va, entries, frame, span)
    return arm64_pte.vtop_walk_lines(_arm64_parameters(vmcoreinfo), pgd_va, entries, frame, span, ptov)
