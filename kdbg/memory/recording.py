"""Which pages of a dump an analysis read: the record ``kdbg shrink`` writes a small dump from.

:class:`RecordingMemory` wraps a dump's :class:`~kdbg.memory.physical.PhysicalMemory` and
notes, for every physical read that succeeds, the page frames it touched and the bytes of
each it returned, under the *phase* the reader is in (``"symbols"`` while the program loads
its symbol table, ``"open"`` while it loads its types and sets up, ``"crash"`` while it reads
what crash needs, ``"analysis"`` while the commands or script run).
:class:`RecordingCoreMemory` is :class:`~kdbg.memory.physical.CoreMemory` on top of it that
tags the translator's page-table reads as ``"page-table"``: a rewritten dump keeps those
pages whole, since another reader (crash, drgn) walks other entries of them.

A read the dump cannot serve (an excluded or missing page) is not recorded: it fails the
same way, and a dump written from the record must leave it unservable too.
"""

from __future__ import annotations

from typing import Dict, FrozenSet, Iterator, List, Optional, Set, Tuple

from kdbg.errors import FaultError
from kdbg.memory.physical import CoreMemory, PhysicalMemory, page_spans

__all__ = ["OPEN", "SYMBOLS", "ANALYSIS", "PAGE_TABLE", "CRASH", "PHASES", "RecordingMemory", "RecordingCoreMemory"]

#: Reads while the program opens (VMCOREINFO-driven setup, BTF).
OPEN = "open"
#: Reads while the program loads its symbol table (the kallsyms tables).
SYMBOLS = "symbols"
#: Reads of the commands, report or script being recorded.
ANALYSIS = "analysis"
#: Page-table pages the address translator walked.
PAGE_TABLE = "page-table"
#: Reads of the pages crash needs (``kdbg shrink --for crash``), before the analysis.
CRASH = "crash"
#: Every phase, in the order a page's reason is reported (the first that read it wins).
PHASES = (SYMBOLS, OPEN, PAGE_TABLE, CRASH, ANALYSIS)


class RecordingMemory(PhysicalMemory):
    """A :class:`PhysicalMemory` that serves reads from ``inner`` and records them."""

    def __init__(self, inner: PhysicalMemory) -> None:
        self.inner = inner
        self.page_size = inner.page_size
        self.vmcoreinfo = inner.vmcoreinfo
        self.prstatus = list(inner.prstatus)
        self.warnings = list(inner.warnings)
        self.phys_base_hint = inner.phys_base_hint
        self.max_physical_address = inner.max_physical_address
        self.format_name = inner.format_name
        self.machine = inner.machine
        self.notes = list(inner.notes)
        #: The phase reads are recorded under now (see the module docstring).
        self.phase = OPEN
        #: Whether reads are recorded at all (off while kdbg inspects the record itself).
        self.recording = True
        self._shift = self.page_size.bit_length() - 1
        #: pfn -> bit mask of the bytes read (bit i: byte i of the page).
        self._bytes: Dict[int, int] = {}
        #: pfn -> the first phase that read it.
        self._phase: Dict[int, str] = {}
        #: pfn -> every phase that read it.
        self._phases: Dict[int, Set[str]] = {}
        #: pfn -> why the dump could not serve a read of it (the reader's words).
        self.unservable: Dict[int, str] = {}
        self.shrunk = inner.shrunk

    def read(self, address: int, size: int) -> bytes:
        """``inner.read``, recording the pages and bytes it returned (or the page it could
        not serve, and why)."""
        return self.read_tagged(address, size, self.phase)

    def read_tagged(self, address: int, size: int, phase: str) -> bytes:
        """:meth:`read`, recorded under ``phase`` whatever the current one is."""
        try:
            data = self.inner.read(address, size)
        except FaultError as e:
            if self.recording and e.physical:
                self.unservable.setdefault(e.address >> self._shift, e.message)
            raise
        if self.recording and size > 0:
            self._note(address, size, phase)
        return data

    def _note(self, address: int, size: int, phase: str) -> None:
        masks = self._bytes
        first = self._phase
        every = self._phases
        for pfn, off, n in page_spans(address, size, self.page_size):
            masks[pfn] = masks.get(pfn, 0) | (((1 << n) - 1) << off)
            if pfn not in first:
                first[pfn] = phase
                every[pfn] = {phase}
            else:
                every[pfn].add(phase)

    def is_present(self, pfn: int) -> bool:
        """Whether the dump holds ``pfn`` as memory (see :meth:`PhysicalMemory.is_present`)."""
        return self.inner.is_present(pfn)

    def ranges(self) -> List[Tuple[int, int]]:
        """The wrapped dump's ranges (listing them reads nothing)."""
        return self.inner.ranges()

    # -- the record ----------------------------------------------------------------------

    def pages(self) -> List[int]:
        """Every page frame read, ascending."""
        return sorted(self._bytes)

    def phase_of(self, pfn: int) -> Optional[str]:
        """The first phase that read ``pfn`` (``None`` when none did)."""
        return self._phase.get(pfn)

    def phases_of(self, pfn: int) -> FrozenSet[str]:
        """Every phase that read ``pfn``."""
        return frozenset(self._phases.get(pfn, ()))

    def read_mask(self, pfn: int) -> int:
        """Bit mask of the bytes of ``pfn`` that were read (bit ``i``: byte ``i``)."""
        return self._bytes.get(pfn, 0)

    def page_table_pages(self) -> Set[int]:
        """Page frames first read as page tables."""
        return {pfn for pfn, ph in self._phase.items() if ph == PAGE_TABLE}

    def page(self, pfn: int) -> bytes:
        """The whole page ``pfn`` from the dump (not recorded)."""
        return self.inner.read(pfn << self._shift, self.page_size)

    def runs(self, pfns: List[int]) -> Iterator[Tuple[int, int]]:
        """``(first_pfn, count)`` runs of consecutive frames in the sorted ``pfns``."""
        start: Optional[int] = None
        prev = -2
        for pfn in pfns:
            if pfn != prev + 1:
                if start is not None:
                    yield start, prev - start + 1
                start = pfn
            prev = pfn
        if start is not None:
            yield start, prev - start + 1

    def close(self) -> None:
        """Close the wrapped dump."""
        self.inner.close()


class RecordingCoreMemory(CoreMemory):
    """:class:`CoreMemory` over a :class:`RecordingMemory`, whose address translator's
    reads are recorded as page-table reads."""

    phys: RecordingMemory

    def __init__(self, phys: RecordingMemory, description: str = "") -> None:
        super().__init__(phys, description)

    def _read_phys(self, address: int, size: int) -> bytes:
        return self.phys.read_tagged(address, size, PAGE_TABLE)
