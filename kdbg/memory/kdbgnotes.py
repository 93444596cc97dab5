"""kdbg's own notes in a dump: what ``kdbg shrink`` carries instead of kernel pages.

A note is named ``KDBG``; its type says what it holds (the vmlinux BTF an analysis used,
the kallsyms symbols it used); its data is compressed, xz (the first such dumps wrote
zlib, told apart by the stream's magic). The layers that own the contents write and read
them through :func:`kdbg_note` and :func:`kdbg_note_data`.
"""

from __future__ import annotations

import lzma
import zlib
from typing import List, Optional, Sequence, Tuple

from kdbg.errors import CoreError

__all__ = ["KDBG_NOTE_NAME", "kdbg_note", "kdbg_note_data"]

#: The ELF note name of kdbg's notes.
KDBG_NOTE_NAME = "KDBG"
#: The magic of an xz stream (a zlib one starts otherwise).
_XZ_MAGIC = b"\xfd7zXZ\x00"


def kdbg_note(ntype: int, data: bytes) -> Tuple[str, int, bytes]:
    """The ``(name, type, desc)`` note carrying ``data`` compressed."""
    return (KDBG_NOTE_NAME, ntype, lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))


def kdbg_note_data(notes: Sequence[Tuple[str, int, bytes]], ntype: int, what: str) -> Optional[bytes]:
    """The data of the first kdbg note of type ``ntype`` among ``notes``, decompressed
    (``None`` when there is none); :class:`CoreError` naming ``what`` (the dump) when it
    does not decompress."""
    found: List[bytes] = [bytes(desc) for name, t, desc in notes if (name, t) == (KDBG_NOTE_NAME, ntype)]
    if not found:
        return None
    try:
        return lzma.decompress(found[0]) if found[0].startswith(_XZ_MAGIC) else zlib.decompress(found[0])
    except (lzma.LZMAError, zlib.error) as e:
        raise CoreError(f"{what}: kdbg's note {ntype:#x} does not decompress ({e})") from None
