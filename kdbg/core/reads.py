"""drgn's typed reads of a ``Program``'s memory (``read_u8`` ... ``read_word``,
``read_c_string``, ``address_size``), over its one ``read``; mixed into
:class:`~kdbg.core.program.Program`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from kdbg.btf.constants import POINTER_SIZE
from kdbg.core.value import read_c_string

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["TypedReads"]

#: drgn's ``read_c_string`` reads to the NUL however far it is.
_NO_LIMIT = 1 << 62


class TypedReads:
    """The typed reads, each a :meth:`read` of the program's memory, little-endian."""

    if TYPE_CHECKING:  # what the Program provides

        def read(self, address: int, size: int, physical: bool = False) -> bytes: ...

    def read_u8(self, address: int, physical: bool = False) -> int:
        """The byte at ``address``."""
        return self.read(address, 1, physical)[0]

    def read_u16(self, address: int, physical: bool = False) -> int:
        """The little-endian u16 at ``address``."""
        return int.from_bytes(self.read(address, 2, physical), "little")

    def read_u32(self, address: int, physical: bool = False) -> int:
        """The little-endian u32 at ``address``."""
        return int.from_bytes(self.read(address, 4, physical), "little")

    def read_u64(self, address: int, physical: bool = False) -> int:
        """The little-endian u64 at ``address``."""
        return int.from_bytes(self.read(address, 8, physical), "little")

    def read_word(self, address: int, physical: bool = False) -> int:
        """The machine word (8 bytes on x86-64 and arm64) at ``address``."""
        return self.read_u64(address, physical)

    def read_c_string(self, address: int, physical: bool = False, *, max_size: Optional[int] = None) -> bytes:
        """The NUL-terminated string at ``address`` without its NUL, at most ``max_size``
        bytes (drgn's ``prog.read_c_string``)."""
        prog: Program = self  # type: ignore[assignment]
        return read_c_string(prog, int(address), _NO_LIMIT if max_size is None else int(max_size), physical)

    def address_size(self) -> int:
        """The size of an address in bytes (8: the 64-bit kernels kdbg reads)."""
        return POINTER_SIZE
