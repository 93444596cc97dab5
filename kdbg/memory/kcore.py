"""The live kernel's memory through ``/proc/kcore``.

``/proc/kcore`` is an ELF core whose ``PT_LOAD`` segments are keyed by kernel *virtual*
address (direct map, kernel text, vmalloc, modules, vmemmap); RAM and text segments also
carry their physical address in ``p_paddr`` (others have ``-1``), which serves physical
reads. Recent kernels put a ``VMCOREINFO`` note in it. The file's reported size is
meaningless, so reads use ``os.pread`` against the segment table, never ``mmap``.
"""

from __future__ import annotations

import bisect
import errno
import os
from typing import Callable, Dict, List, Optional, Tuple

from kdbg.arch import kcore_layout
from kdbg.arch.layout import LayoutBase, layout_variable
from kdbg.errors import CoreError, FaultError
from kdbg.memory.base import KernelMemory
from kdbg.memory.elfcore import ElfSegment, build_segment_table, read_elf_headers
from kdbg.memory.fileview import RawFile
from kdbg.memory.physical import merge_ranges, notes_to_info

__all__ = ["KcoreMemory", "open_kcore"]


class _KcoreFile(RawFile):
    """``/proc/kcore`` reports a size that has nothing to do with what can be read."""

    def __init__(self, path: str) -> None:
        super().__init__(path, use_mmap=False)
        if self._size < 1 << 47:  # regular files (tests) keep their real size
            return
        self._size = 1 << 63


class KcoreMemory(KernelMemory):
    """Kernel memory of the running kernel, read from ``/proc/kcore``."""

    is_live = True

    def __init__(self, path: str = "/proc/kcore") -> None:
        self.path = path
        self.description = f"live kernel memory ({path})"
        self.file = _KcoreFile(path)
        try:
            hdrs = read_elf_headers(self.file)
            self.machine = hdrs.machine
            self.vmcoreinfo, self.prstatus = notes_to_info(hdrs.notes)
            if self.vmcoreinfo is not None and "PAGESIZE" in self.vmcoreinfo:
                self.page_size = self.vmcoreinfo.page_size
            self.segments = build_segment_table(hdrs.loads, self.file.size, physical=False)
            self.psegments = build_segment_table(hdrs.loads, self.file.size, physical=True)
            if not self.segments:
                raise CoreError(f"{path}: no PT_LOAD segments")
        except BaseException:
            self.file.close()
            raise
        self._vstarts = [s.start for s in self.segments]
        self._pstarts = [s.start for s in self.psegments]
        self._address_of: Optional[Callable[[str], Optional[int]]] = None
        self._layout: Optional[Dict[str, LayoutBase]] = None

    # -- the randomized layout -------------------------------------------------------------

    def attach_symbols(self, address_of: Callable[[str], Optional[int]]) -> None:
        """Read the layout bases from the kernel's variables from now on (the segment
        table's own evidence stays as the fallback; see :attr:`layout`)."""
        self._address_of = address_of
        self._layout = None

    @property
    def layout(self) -> Dict[str, LayoutBase]:
        """``{name: LayoutBase}`` of the machine's randomized region bases (x86-64:
        ``page_offset_base``, ``vmalloc_base``, ``vmemmap_base``; arm64: the same names
        from the VMCOREINFO note)."""
        if self._layout is None:
            self._layout = self._resolve_layout()
        return self._layout

    def _l5(self) -> bool:
        return self.vmcoreinfo is not None and self.vmcoreinfo.pgtable_l5_enabled

    def _variable(self, name: str) -> Tuple[Optional[int], str]:
        return layout_variable(name, self._address_of, self.read_u64)

    def _resolve_layout(self) -> Dict[str, LayoutBase]:
        """The machine's region bases (:func:`kdbg.arch.kcore_layout`): x86-64's from the
        kernel's variables when sane, else from the segments; arm64's from VMCOREINFO."""
        segments = [(s.start, s.end, s.paddr) for s in self.segments]
        return kcore_layout(self.machine, segments, self._l5(), self._variable, self.vmcoreinfo)

    def physical_ranges(self) -> List[Tuple[int, int]]:
        """The physical ranges of the segments that record one (RAM and kernel text)."""
        return merge_ranges((s.start, s.start + s.filesz) for s in self.psegments)

    def translate(self, address: int) -> int:
        """Physical address of ``address`` when its kcore segment records one."""
        i = bisect.bisect_right(self._vstarts, address) - 1
        if i >= 0:
            s = self.segments[i]
            if address < s.end and s.paddr != (1 << 64) - 1:
                return s.paddr + (address - s.start)
        raise FaultError("no physical address known for this kcore address", address)

    def read(self, address: int, size: int, physical: bool = False) -> bytes:
        """Exactly ``size`` bytes of live kernel memory (virtual, or physical via p_paddr)."""
        segs = self.psegments if physical else self.segments
        starts = self._pstarts if physical else self._vstarts
        if size < 0:
            raise FaultError(f"invalid read size {size}", address, physical)
        parts: List[bytes] = []
        pos = address
        end = address + size
        while pos < end:
            i = bisect.bisect_right(starts, pos) - 1
            s: ElfSegment = segs[i] if i >= 0 else None  # type: ignore[assignment]
            if s is None or pos >= s.end:
                raise FaultError("address not in /proc/kcore", pos, physical)
            n = min(end, s.end) - pos
            rel = pos - s.start
            if rel >= s.filesz:
                parts.append(bytes(n))
                pos += n
                continue
            n = min(n, s.filesz - rel)
            try:
                data = os.pread(self._fd(), n, s.offset + rel)
            except OSError as e:
                raise FaultError(f"read failed: {e.strerror or e}", pos, physical) from None
            if not data:
                raise FaultError("read returned no data", pos, physical)
            parts.append(data)
            pos += len(data)
        return b"".join(parts)

    def _fd(self) -> int:
        fd = self.file._fd
        if fd is None:
            raise CoreError(f"{self.path} is closed")
        return fd

    def close(self) -> None:
        """Close ``/proc/kcore``."""
        self.file.close()


def open_kcore(path: str = "/proc/kcore") -> KcoreMemory:
    """Open live kernel memory; ``CoreError`` saying why memory is unavailable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        if e.errno == errno.ENOENT:
            why = f"{path} does not exist (kernel built without CONFIG_PROC_KCORE?)"
        elif e.errno in (errno.EACCES, errno.EPERM):
            why = f"permission denied opening {path} (needs root with CAP_SYS_RAWIO)"
        else:
            why = f"cannot open {path}: {e.strerror or e}"
        raise CoreError(f"live kernel memory is unavailable: {why}") from None
    os.close(fd)
    return KcoreMemory(path)
