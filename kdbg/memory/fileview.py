"""Random-access byte views of dump files.

Dump readers never load a whole file: they ask a :class:`FileView` for ``(offset, size)``
ranges. :class:`RawFile` serves them with ``mmap`` slices (or ``os.pread`` when the file
cannot be mapped, e.g. ``/proc/kcore``); :class:`~kdbg.memory.flattened.FlattenedFile`
serves them from the records of a makedumpfile flattened stream.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from abc import ABC, abstractmethod
from typing import Optional

from kdbg.errors import CoreError

__all__ = ["FileView", "RawFile", "PAGE_MISSING", "truncation_warning"]

#: How every dump reader words a page whose bytes lie past the end of a cut-short file
#: (the :class:`~kdbg.errors.FaultError` message, before the parenthesised detail).
PAGE_MISSING = "page missing from the truncated dump"


def truncation_warning(path: str, missing: int, total: int, unit: str = "bytes") -> str:
    """The one warning line a cut-short dump opens with (the same in every format).

    ``missing`` of ``total`` ``unit`` (bytes of the file, or the dump's pages when the
    file's full size cannot be known, as in a stream) are absent.
    """
    total = max(total, missing, 1)
    pct = 100.0 * missing / total
    share = f"{pct:.0f}%" if pct >= 1 or missing == 0 else "<1%"
    return (
        f"vmcore {path} is truncated: {missing} of {total} {unit} ({share}) missing; "
        "reads of missing pages fail"
    )


class FileView(ABC):
    """A read-only, random-access byte range with a known size."""

    #: Path of the underlying file (for messages).
    path: str = ""

    @property
    @abstractmethod
    def size(self) -> int:
        """Logical size in bytes."""

    @abstractmethod
    def pread(self, offset: int, size: int) -> bytes:
        """Exactly ``size`` bytes at ``offset``; ``CoreError`` when past the end."""

    def missing(self, offset: int, size: int) -> Optional[int]:
        """The first offset in ``[offset, offset + size)`` the file does not hold, or ``None``.

        A plain file holds everything before its end; a truncated flattened stream also
        lacks the ranges whose records were never written.
        """
        end = self.size
        if offset < 0:
            return offset
        if offset + size <= end:
            return None
        return max(offset, end)

    def covered(self, start: int, end: int) -> int:
        """How many bytes of ``[start, end)`` the file holds."""
        return max(0, min(end, self.size) - max(start, 0))

    @property
    def truncated(self) -> bool:
        """Whether the view itself knows it was cut short (a stream without its end)."""
        return False

    def close(self) -> None:  # noqa: B027
        """Release the file (idempotent)."""


class RawFile(FileView):
    """A plain file read through ``mmap`` when possible, else ``os.pread``."""

    def __init__(self, path: str, use_mmap: bool = True) -> None:
        self.path = path
        try:
            self._fd: Optional[int] = os.open(path, os.O_RDONLY)
        except OSError as e:
            raise CoreError(f"cannot open {path}: {e.strerror or e}") from None
        try:
            st = os.fstat(self._fd)
            self._size = st.st_size
        except OSError as e:
            self.close()
            raise CoreError(f"cannot stat {path}: {e.strerror or e}") from None
        self._map: Optional[mmap.mmap] = None
        if use_mmap and self._size > 0:
            try:
                self._map = mmap.mmap(self._fd, 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError, OverflowError):
                self._map = None

    @property
    def size(self) -> int:
        """Size of the file in bytes (as ``fstat`` reports it)."""
        return self._size

    @property
    def mapping(self) -> Optional[mmap.mmap]:
        """The whole-file ``mmap``, or ``None`` when reads go through ``pread``."""
        return self._map

    def pread(self, offset: int, size: int) -> bytes:
        """Exactly ``size`` bytes at ``offset``; ``CoreError`` when the file is shorter."""
        if offset < 0 or size < 0 or offset + size > self._size:
            raise CoreError(
                f"{self.path}: read of {size} bytes at offset {offset:#x} is past the end of "
                f"the file ({self._size:#x} bytes; truncated?)"
            )
        m = self._map
        if m is not None:
            return m[offset : offset + size]
        return self._pread_fd(offset, size)

    def _pread_fd(self, offset: int, size: int) -> bytes:
        if self._fd is None:
            raise CoreError(f"{self.path} is closed")
        chunks = []
        done = 0
        while done < size:
            try:
                chunk = os.pread(self._fd, min(size - done, 1 << 26), offset + done)
            except OSError as e:
                raise CoreError(
                    f"{self.path}: read at offset {offset + done:#x} failed: {e.strerror or e}"
                ) from None
            if not chunk:
                raise CoreError(f"{self.path}: unexpected end of file at {offset + done:#x}")
            chunks.append(chunk)
            done += len(chunk)
        return b"".join(chunks)

    def pread_raw(self, offset: int, size: int) -> bytes:
        """``pread`` without the size check (for files whose size lies, like kcore)."""
        return self._pread_fd(offset, size)

    def close(self) -> None:
        """Unmap and close (idempotent)."""
        if self._map is not None:
            with contextlib.suppress(BufferError, ValueError):
                self._map.close()
            self._map = None
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
