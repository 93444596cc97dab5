"""Physical memory of a dump, and the virtual-memory front end built on it.

Every dump format provides a :class:`PhysicalMemory` (``read(paddr, size)``).
:class:`CoreMemory` turns one into a :class:`~kdbg.memory.base.KernelMemory` by adding the
dump's VMCOREINFO and the dumped machine's address translation (:mod:`kdbg.arch`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, List, Mapping, Optional, Tuple

from kdbg.arch import X86_64, Translator, translator_for
from kdbg.errors import CoreError, FaultError
from kdbg.memory.base import KernelMemory
from kdbg.memory.shrunk import ShrinkRecord
from kdbg.memory.vmcoreinfo import VMCoreInfo

if TYPE_CHECKING:  # pragma: no cover
    from kdbg.arch.layout import LayoutBase

__all__ = ["PhysicalMemory", "CoreMemory", "merge_ranges", "page_spans", "parse_elf_notes"]

#: Largest single read accepted (guards against bogus sizes from callers).
MAX_READ = 1 << 34


class PhysicalMemory(ABC):
    """Physical memory of one dump file."""

    #: Page size in bytes.
    page_size: int = 4096

    #: Parsed VMCOREINFO found in the file, if any.
    vmcoreinfo: Optional[VMCoreInfo] = None

    #: Raw ``NT_PRSTATUS`` descriptors in note order.
    prstatus: List[bytes]

    #: One line per problem the dump has as a whole (e.g. cut short); see KernelMemory.
    warnings: List[str] = []

    #: ``phys_base`` recorded by the dump format itself (kdump sub-header, kernel-text
    #: segment of an ELF core), used when VMCOREINFO lacks ``NUMBER(phys_base)``.
    phys_base_hint: Optional[int] = None

    #: Exclusive upper bound of the physical addresses the dump holds.
    max_physical_address: int = 0

    #: Format name for messages, e.g. ``"ELF"`` or ``"kdump (flattened)"``.
    format_name: str = ""

    #: The dumped machine (``uname -m`` spelling, :data:`kdbg.arch.MACHINES`); empty when
    #: the format does not record it.
    machine: str = ""

    #: The dump's ELF notes as ``(name, type, desc)`` tuples, in file order (VMCOREINFO,
    #: one ``NT_PRSTATUS`` per CPU, ...): what a rewritten dump carries over.
    notes: List[tuple] = []

    #: What ``kdbg shrink`` recorded when it wrote this dump (``None``: it did not).
    shrunk: Optional[ShrinkRecord] = None

    def is_present(self, pfn: int) -> bool:
        """Whether page frame ``pfn`` is memory the dumped machine had, dumped or excluded
        by a dump filter (a read of an excluded one fails saying so)."""
        return False

    def not_held(self, pfn: int, reason: str) -> str:
        """The message of a read of page ``pfn`` that the dump does not hold (``reason``:
        the format's words), which a dump ``kdbg shrink`` wrote explains
        (:meth:`ShrinkRecord.page_reason`)."""
        return reason if self.shrunk is None else self.shrunk.page_reason(pfn, reason)

    @abstractmethod
    def read(self, address: int, size: int) -> bytes:
        """Exactly ``size`` bytes of physical memory or ``FaultError(physical=True)``."""

    def ranges(self) -> List[Tuple[int, int]]:
        """The physical ranges ``[start, end)`` whose bytes the dump holds (a read inside
        one is served; pages a dump filter dropped are not in them), ascending, disjoint,
        adjacent ones merged: what a memory search scans. ``CoreError`` for a source that
        cannot tell."""
        raise CoreError(f"{self.format_name or type(self).__name__}: cannot list the memory it holds")

    def close(self) -> None:  # noqa: B027
        """Release the file (idempotent)."""


def merge_ranges(ranges: Iterable[Tuple[int, int]]) -> List[Tuple[int, int]]:
    """``[start, end)`` ranges sorted, with empty ones dropped and overlapping or adjacent
    ones merged."""
    out: List[Tuple[int, int]] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def page_spans(address: int, size: int, page_size: int) -> Iterator[Tuple[int, int, int]]:
    """``(pfn, offset, length)`` of each page ``[address, address + size)`` touches, in
    order (``page_size`` a power of two)."""
    shift = page_size.bit_length() - 1
    pos = address
    end = address + size
    while pos < end:
        off = pos & (page_size - 1)
        n = min(page_size - off, end - pos)
        yield pos >> shift, off, n
        pos += n


def parse_elf_notes(data: bytes, limit: int = 1 << 16) -> List[tuple]:
    """Split an ELF note area into ``(name, type, desc)`` tuples (bounded, never raises).

    Parsing stops at the first malformed note or after ``limit`` notes.
    """
    out: List[tuple] = []
    off = 0
    n = len(data)
    while off + 12 <= n and len(out) < limit:
        namesz = int.from_bytes(data[off : off + 4], "little")
        descsz = int.from_bytes(data[off + 4 : off + 8], "little")
        ntype = int.from_bytes(data[off + 8 : off + 12], "little")
        off += 12
        name_end = off + namesz
        desc_off = off + ((namesz + 3) & ~3)
        desc_end = desc_off + descsz
        if name_end > n or desc_end > n:
            break
        name = bytes(data[off:name_end]).rstrip(b"\0").decode("latin-1")
        out.append((name, ntype, bytes(data[desc_off:desc_end])))
        off = desc_off + ((descsz + 3) & ~3)
        if namesz == 0 and descsz == 0 and ntype == 0:
            break
    return out


NT_PRSTATUS = 1


def notes_to_info(notes: List[tuple]) -> tuple:
    """``(vmcoreinfo, prstatus)`` from parsed notes."""
    vmci: Optional[VMCoreInfo] = None
    prs: List[bytes] = []
    for name, ntype, desc in notes:
        if name == "VMCOREINFO" and vmci is None:
            try:
                vmci = VMCoreInfo.parse(desc)
            except CoreError:
                vmci = None
        elif name == "CORE" and ntype == NT_PRSTATUS:
            prs.append(desc)
    return vmci, prs


class CoreMemory(KernelMemory):
    """Kernel memory of a vmcore: physical reads plus the machine's virtual translation."""

    def __init__(self, phys: PhysicalMemory, description: str = "") -> None:
        self.phys = phys
        self.vmcoreinfo = phys.vmcoreinfo
        self.prstatus = list(phys.prstatus)
        self.notes = list(phys.notes)
        self.shrunk = phys.shrunk
        self.warnings = list(phys.warnings)
        self.page_size = phys.page_size
        vmci = self.vmcoreinfo
        if vmci is not None and "PAGESIZE" in vmci:  # the kernel's, not a kdump's block size
            try:
                ps = vmci.page_size
            except CoreError:
                ps = 0
            if ps in (4096, 16384, 65536):
                self.page_size = ps
        #: The dumped machine (``x86_64`` when the format does not say).
        self.machine = phys.machine or X86_64
        self.description = description or phys.format_name
        self._arch: Optional[Translator] = None
        self._address_of: Optional[Callable[[str], Optional[int]]] = None

    @property
    def arch(self) -> Translator:
        """The address translator, created on first use; ``CoreError`` without VMCOREINFO."""
        a = self._arch
        if a is None:

            if self.vmcoreinfo is None:
                raise CoreError(
                    f"{self.description}: virtual addresses cannot be read because the dump "
                    "has no VMCOREINFO note (physical reads still work; capture the dump "
                    "with VMCOREINFO, e.g. QEMU's -device vmcoreinfo)"
                )
            a = translator_for(
                self._read_phys,
                self.vmcoreinfo,
                self.phys.phys_base_hint,
                self.phys.max_physical_address,
                self.machine,
            )
            if self._address_of is not None:
                a.attach_symbols(self._address_of)
            self._arch = a
        return a

    def attach_symbols(self, address_of: Callable[[str], Optional[int]]) -> None:
        """Read ``page_offset_base``, ``vmalloc_base`` and ``vmemmap_base`` from the kernel's
        variables from now on (see :meth:`kdbg.arch.Translator.attach_symbols`)."""
        self._address_of = address_of
        if self._arch is not None:
            self._arch.attach_symbols(address_of)

    @property
    def layout(self) -> Mapping[str, LayoutBase]:
        """The translator's layout bases: the kernel's variables once symbols are attached,
        the page-table guesses before (empty when the dump cannot be translated)."""
        try:
            return self.arch.layout
        except CoreError:
            return {}

    def _read_phys(self, address: int, size: int) -> bytes:
        return self.phys.read(address, size)

    def physical_ranges(self) -> List[Tuple[int, int]]:
        """The dump's physical ranges (:meth:`PhysicalMemory.ranges`)."""
        return self.phys.ranges()

    def translate(self, address: int) -> int:
        """Physical address of kernel virtual ``address`` (``FaultError`` when unmapped)."""
        return self.arch.translate(address)

    def read(self, address: int, size: int, physical: bool = False) -> bytes:
        """Exactly ``size`` bytes at ``address``; ``FaultError`` names the failing address."""
        if size < 0 or size > MAX_READ:
            raise FaultError(f"invalid read size {size}", address, physical)
        if physical:
            return self.phys.read(address, size)
        if address < 0 or address + size > 1 << 64:
            raise FaultError("address out of range", address & ((1 << 64) - 1))
        arch = self._arch or self.arch
        # Fast path: within one page.
        off = address & 0xFFF
        if off + size <= 0x1000:
            pa = arch.tcache.get(address >> 12)
            if pa is None:
                pa = arch.translate_page(address)
            try:
                return self.phys.read(pa | off, size)
            except FaultError as e:
                raise FaultError(str(e.args[0]), address + (e.address - (pa | off))) from None
        return self._read_span(arch, address, size)

    def _read_span(self, arch: Translator, address: int, size: int) -> bytes:
        """Read across pages, coalescing physically contiguous runs into one read."""
        parts: List[bytes] = []
        end = address + size
        va = address
        while va < end:
            run_va = va
            run_pa, n = arch.translate_run(va, end - va)
            nxt = va + n
            # Extend the run while the following pages are physically adjacent.
            while nxt < end and nxt - run_va < 1 << 26:
                try:
                    pa, n = arch.translate_run(nxt, end - nxt)
                except FaultError:
                    break
                if pa != run_pa + (nxt - run_va):
                    break
                nxt += n
            try:
                parts.append(self.phys.read(run_pa, nxt - run_va))
            except FaultError as e:
                raise FaultError(str(e.args[0]), run_va + (e.address - run_pa)) from None
            va = nxt
        return b"".join(parts) if len(parts) != 1 else parts[0]

    def close(self) -> None:
        """Close the dump file and drop the translator and the symbol lookup: they refer
        back to this object (and the lookup to its Program), so without this a closed
        dump would wait for the cyclic garbage collector to be freed."""
        self.phys.close()
        self._arch = None
        self._address_of = None

    def __repr__(self) -> str:
        return f"<CoreMemory {self.description}>"
