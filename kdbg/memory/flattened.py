"""makedumpfile's flattened format, read in place (no ``makedumpfile -R`` needed).

makedumpfile ``-F`` and QEMU ``dump-guest-memory -z`` write a kdump-compressed file as a
stream: a 4096-byte header (``"makedumpfile"`` signature, big-endian ``type`` and
``version``), then records of ``(offset, size)`` (big-endian int64) followed by ``size``
bytes that belong at ``offset`` of the reassembled file, then an end marker
``(-1, -1)``. :class:`FlattenedFile` indexes the records once and serves random reads of the
reassembled file straight from the stream. Later records win where they overlap, as when
the stream is replayed; bytes no record wrote read as zeros (as in a reassembled file).
"""

from __future__ import annotations

import bisect
from typing import List, Tuple

from kdbg.errors import CoreError
from kdbg.memory.fileview import FileView, RawFile

__all__ = ["MAKEDUMPFILE_SIGNATURE", "FlattenedFile", "is_flattened"]

MAKEDUMPFILE_SIGNATURE = b"makedumpfile"
MAX_SIZE_MDF_HEADER = 4096
TYPE_FLAT_HEADER = 1
END_FLAG_FLAT_HEADER = -1
#: The reassembled file may not claim to be larger than this (1 PiB).
MAX_LOGICAL_SIZE = 1 << 50


def is_flattened(head: bytes) -> bool:
    """Whether ``head`` (the first bytes of a file) starts a flattened stream."""
    return head[:16] == MAKEDUMPFILE_SIGNATURE + b"\0" * 4


class FlattenedFile(FileView):
    """The reassembled file of a flattened stream, as a random-access :class:`FileView`."""

    def __init__(self, raw: RawFile) -> None:
        self.raw = raw
        self.path = raw.path
        try:
            self._index()
        except BaseException:
            raw.close()
            raise

    def _index(self) -> None:
        raw = self.raw
        path = self.path
        if raw.size < MAX_SIZE_MDF_HEADER:
            raise CoreError(f"{path}: too short for a flattened dump header")
        head = raw.pread(0, 32)
        if not is_flattened(head):
            raise CoreError(f"{path}: not a makedumpfile flattened file")
        ftype = int.from_bytes(head[16:24], "big", signed=True)
        if ftype != TYPE_FLAT_HEADER:
            raise CoreError(f"{path}: flattened header type {ftype} is not {TYPE_FLAT_HEADER}")
        # Non-overlapping segments sorted by logical start: (start, end, raw offset).
        starts: List[int] = []
        segs: List[Tuple[int, int, int]] = []
        pos = MAX_SIZE_MDF_HEADER
        fsize = raw.size
        mapping = raw.mapping
        ended = False
        while pos + 16 <= fsize:
            rec = mapping[pos : pos + 16] if mapping is not None else raw.pread(pos, 16)
            off = int.from_bytes(rec[:8], "big", signed=True)
            size = int.from_bytes(rec[8:16], "big", signed=True)
            pos += 16
            if off == END_FLAG_FLAT_HEADER and size == END_FLAG_FLAT_HEADER:
                ended = True
                break
            if off < 0 or size < 0 or off + size > MAX_LOGICAL_SIZE:
                raise CoreError(
                    f"{path}: corrupt flattened record at {pos - 16:#x} (offset {off}, size {size})"
                )
            if pos + size > fsize:
                raise CoreError(
                    f"{path}: flattened record at {pos - 16:#x} ({size} bytes) runs past the "
                    "end of the file (truncated)"
                )
            if size:
                self._insert(starts, segs, off, off + size, pos)
            pos += size
        if not ended and pos != fsize:
            raise CoreError(f"{path}: flattened stream ends inside a record header (truncated)")
        if not segs:
            raise CoreError(f"{path}: flattened stream has no data records")
        self._starts = starts
        self._segs = segs
        self._size = segs[-1][1]
        if self._size > 2 * fsize + (1 << 20):
            raise CoreError(
                f"{path}: flattened records claim a {self._size:#x}-byte file from a "
                f"{fsize:#x}-byte stream (corrupt)"
            )
        #: Whether the stream ended with the end marker (False: truncated but usable).
        self.complete = ended

    @staticmethod
    def _insert(
        starts: List[int], segs: List[Tuple[int, int, int]], s: int, e: int, ro: int
    ) -> None:
        if not segs or s >= segs[-1][1]:
            starts.append(s)
            segs.append((s, e, ro))
            return
        i = bisect.bisect_right(starts, s) - 1
        if i < 0:
            i = 0
        new: List[Tuple[int, int, int]] = []
        j = i
        while j < len(segs) and segs[j][0] < e:
            a, b, o = segs[j]
            if b <= s:  # entirely before
                new.append((a, b, o))
            else:
                if a < s:
                    new.append((a, s, o))
                if b > e:
                    new.append((e, b, o + (e - a)))
            j += 1
        new.append((s, e, ro))
        new.sort(key=lambda t: t[0])
        segs[i:j] = new
        starts[i:j] = [t[0] for t in new]

    @property
    def size(self) -> int:
        """Size of the reassembled file."""
        return self._size

    @property
    def record_count(self) -> int:
        """Number of indexed (non-overlapping) data segments."""
        return len(self._segs)

    def pread(self, offset: int, size: int) -> bytes:
        """Exactly ``size`` bytes of the reassembled file at ``offset``."""
        if offset < 0 or size < 0 or offset + size > self._size:
            raise CoreError(
                f"{self.path}: read of {size} bytes at offset {offset:#x} is past the end of "
                f"the reassembled dump ({self._size:#x} bytes)"
            )
        i = bisect.bisect_right(self._starts, offset) - 1
        if i >= 0:
            a, b, o = self._segs[i]
            if offset + size <= b:
                return self.raw.pread(o + offset - a, size)
        parts: List[bytes] = []
        pos = offset
        end = offset + size
        segs = self._segs
        if i < 0:
            i = 0
        while pos < end:
            if i < len(segs) and segs[i][1] <= pos:
                i += 1
                continue
            if i >= len(segs) or segs[i][0] >= end:
                parts.append(bytes(end - pos))
                break
            a, b, o = segs[i]
            if a > pos:
                parts.append(bytes(a - pos))
                pos = a
            n = min(b, end) - pos
            parts.append(self.raw.pread(o + pos - a, n))
            pos += n
            i += 1
        return b"".join(parts)

    def close(self) -> None:
        """Close the stream file."""
        self.raw.close()
