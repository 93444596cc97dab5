"""The interface every memory source offers to the layers above it (symbols, types, Program).

Reading kernel memory is the only thing the upper layers need; how a dump stores pages,
compression, and the machine's address translation are hidden behind :class:`KernelMemory`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Callable, List, Mapping, Optional, Tuple

from kdbg.errors import CoreError
from kdbg.memory.vmcoreinfo import VMCoreInfo

if TYPE_CHECKING:  # pragma: no cover
    from kdbg.arch.layout import LayoutBase


class KernelMemory(ABC):
    """Readable kernel memory plus what the dump says about itself.

    ``read(address, size)`` reads kernel *virtual* memory (direct map, kernel text with
    KASLR applied, vmalloc and modules through the page tables); ``physical=True`` reads
    physical memory. Unreadable bytes raise :class:`~kdbg.errors.FaultError` carrying the
    address.
    """

    #: Parsed VMCOREINFO note, or ``None`` when the source has none.
    vmcoreinfo: Optional[VMCoreInfo] = None

    #: Whether this is the running kernel's memory (it changes while it is read).
    is_live: bool = False

    #: The machine (``uname -m`` spelling, :data:`kdbg.arch.MACHINES`); a source that
    #: cannot tell says x86-64.
    machine: str = "x86_64"

    #: Raw ``NT_PRSTATUS`` note descriptors, one per CPU, in note order.
    prstatus: List[bytes] = []

    #: Every ELF note of the dump as ``(name, type, descriptor)``, in order (none live).
    notes: List[tuple] = []

    #: What ``kdbg shrink`` recorded in the dump (:class:`kdbg.memory.shrunk.ShrinkRecord`),
    #: ``None`` for any other source.
    shrunk: Any = None

    #: One line per problem the source has as a whole (e.g. a dump cut short), for the
    #: command line to print as ``kdbg: warning: ...``; empty when all is well.
    warnings: List[str] = []

    @abstractmethod
    def read(self, address: int, size: int, physical: bool = False) -> bytes:
        """Return exactly ``size`` bytes at ``address`` or raise ``FaultError``."""

    #: Page size of the dumped machine in bytes.
    page_size: int = 4096

    #: A short human description of the source (path and format).
    description: str = ""

    def physical_ranges(self) -> List[Tuple[int, int]]:
        """The physical ranges ``[start, end)`` whose bytes the source holds (a read inside
        one is served), ascending, disjoint and merged: what a memory search scans.
        ``CoreError`` for a source that cannot tell."""
        raise CoreError(f"{type(self).__name__} cannot list the physical memory it holds")

    def translate(self, address: int) -> int:
        """Physical address that kernel virtual ``address`` maps to.

        Raises :class:`~kdbg.errors.FaultError` when it is not mapped and
        :class:`~kdbg.errors.CoreError` when the source cannot translate at all.
        """
        raise CoreError(f"{type(self).__name__} cannot translate virtual addresses")

    def attach_symbols(self, address_of: Callable[[str], Optional[int]]) -> None:  # noqa: B027
        """Let memory read the kernel's own layout variables once symbols are loaded.

        ``address_of(name)`` returns a kernel symbol's address or ``None``. The Program calls
        this after loading symbols (data flows memory -> symbols; memory never imports
        them). Afterwards :attr:`page_offset_base`, :attr:`vmalloc_base` and
        :attr:`vmemmap_base` are the values of those kernel variables, with what the
        source guessed on its own kept as the fallback. The default does nothing.
        """

    @property
    def layout(self) -> Mapping[str, LayoutBase]:
        """``{name: LayoutBase}`` for ``page_offset_base``, ``vmalloc_base`` and
        ``vmemmap_base``: each value and where it came from (the kernel's variable, the
        source's own guess); empty for a source that cannot tell. The properties below read
        it."""
        return {}

    def _layout_base(self, name: str) -> Optional[int]:
        base = self.layout.get(name)
        return base.value if base is not None else None

    @property
    def page_offset_base(self) -> Optional[int]:
        """Start of the kernel's direct map of physical memory, ``None`` when unknown."""
        return self._layout_base("page_offset_base")

    @property
    def vmalloc_base(self) -> Optional[int]:
        """``VMALLOC_START``, ``None`` when unknown."""
        return self._layout_base("vmalloc_base")

    @property
    def vmemmap_base(self) -> Optional[int]:
        """``VMEMMAP_START``: the ``struct page`` array indexed by pfn, ``None`` when unknown."""
        return self._layout_base("vmemmap_base")

    @property
    def layout_notes(self) -> List[str]:
        """One line per layout base whose kernel variable and own guess disagree (or that
        could not be read); empty when everything agrees."""
        return [f"{b.name}: {b.note}" for b in self.layout.values() if b.note]

    def read_u64(self, address: int, physical: bool = False) -> int:
        """Little-endian unsigned 64-bit integer at ``address``."""
        return int.from_bytes(self.read(address, 8, physical), "little")

    def close(self) -> None:  # noqa: B027
        """Release files held by the source (idempotent)."""

    def __enter__(self) -> KernelMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
