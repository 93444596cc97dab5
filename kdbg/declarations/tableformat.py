"""The declaration table's file format: sorted ``name<TAB>declaration...`` lines in
independently zlib-compressed blocks behind a small index, so that a lookup decompresses
one block (:func:`encode_table`, :class:`Blocks`, :func:`decode_table`)."""

from __future__ import annotations

import bisect
import struct
import zlib
from typing import Dict, List, Optional, Sequence, Tuple

from kdbg.errors import DeclarationTableError

__all__ = ["TABLE_MAGIC", "BLOCK_SIZE", "encode_table", "decode_table", "Blocks"]

#: First bytes of a table in the block format.
TABLE_MAGIC = b"KDT1"
#: Uncompressed text per block the generator aims at: one block decompresses in well
#: under a millisecond.
BLOCK_SIZE = 48 * 1024
#: magic, index length, CRC-32 of the index.
_HEADER = struct.Struct("<4sII")


def encode_table(text: str, block_size: int = BLOCK_SIZE) -> bytes:
    """The block format of a table's text (``#`` lines, then ``name<TAB>decl...`` lines
    sorted by name).

    Layout: ``KDT1``, the index's length and CRC-32 (little-endian u32), the index, then
    the blocks. The index is UTF-8 text: the ``#`` lines as they are, then a line
    ``first_name<TAB>offset<TAB>compressed length<TAB>text length<TAB>CRC-32 of the
    compressed bytes`` a block (offsets from the end of the index). A block is
    ``zlib.compress(lines, 9)`` of about ``block_size`` bytes of whole lines; lines of
    one name are never split between blocks. Deterministic: same text, same bytes.
    """
    comments: List[str] = []
    lines: List[str] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("#"):
            comments.append(line if line.endswith("\n") else line + "\n")
        elif line.strip():
            lines.append(line if line.endswith("\n") else line + "\n")
    names = [line.partition("\t")[0] for line in lines]
    if names != sorted(names):
        raise ValueError("a table's lines must be sorted by name to be written in blocks")
    blocks: List[Tuple[str, str]] = []
    chunk: List[str] = []
    size = 0
    for name, line in zip(names, lines):
        if size >= block_size and name != _last_name(chunk):
            blocks.append((chunk[0].partition("\t")[0], "".join(chunk)))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line)
    if chunk:
        blocks.append((chunk[0].partition("\t")[0], "".join(chunk)))
    index = "".join(comments)
    body = bytearray()
    for first, block_text in blocks:
        raw = block_text.encode()
        data = zlib.compress(raw, 9)
        index += f"{first}\t{len(body)}\t{len(data)}\t{len(raw)}\t{zlib.crc32(data)}\n"
        body += data
    head = index.encode()
    return _HEADER.pack(TABLE_MAGIC, len(head), zlib.crc32(head)) + head + bytes(body)


def _last_name(chunk: Sequence[str]) -> Optional[str]:
    """The name of the last line of ``chunk``, or ``None`` when it is empty."""
    return chunk[-1].partition("\t")[0] if chunk else None


class Blocks:
    """The index of a table in the block format and its blocks, decompressed on demand
    (each once)."""

    def __init__(self, data: bytes, origin: str) -> None:
        self.origin = origin
        if len(data) < _HEADER.size:
            raise DeclarationTableError(f"{origin}: not a declaration table (too short)")
        magic, index_len, index_crc = _HEADER.unpack_from(data)
        if magic != TABLE_MAGIC:
            raise DeclarationTableError(f"{origin}: not a declaration table (magic {magic!r})")
        index = data[_HEADER.size : _HEADER.size + index_len]
        if len(index) != index_len or zlib.crc32(index) != index_crc:
            raise DeclarationTableError(f"{origin}: damaged declaration table (index checksum)")
        self.comments: List[str] = []
        self.firsts: List[str] = []
        self.spans: List[Tuple[int, int, int, int]] = []
        base = _HEADER.size + index_len
        try:
            for line in index.decode().splitlines():
                if line.startswith("#"):
                    self.comments.append(line[1:].strip())
                    continue
                first, off, clen, tlen, crc = line.split("\t")
                self.firsts.append(first)
                self.spans.append((base + int(off), int(clen), int(tlen), int(crc)))
        except ValueError:
            raise DeclarationTableError(f"{origin}: damaged declaration table (index)") from None
        if self.spans and self.spans[-1][0] + self.spans[-1][1] != len(data):
            raise DeclarationTableError(f"{origin}: damaged declaration table (length {len(data)})")
        self.data = data
        self.texts: Dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.spans)

    def block_of(self, name: str) -> Optional[int]:
        """The block that holds ``name``'s lines if any does."""
        i = bisect.bisect_right(self.firsts, name) - 1
        return i if i >= 0 else None

    def text(self, i: int) -> str:
        """Block ``i``'s lines with a newline in front (decompressed once)."""
        got = self.texts.get(i)
        if got is None:
            off, clen, tlen, crc = self.spans[i]
            data = self.data[off : off + clen]
            try:
                if zlib.crc32(data) != crc:
                    raise zlib.error("checksum")
                raw = zlib.decompress(data)
                if len(raw) != tlen:
                    raise zlib.error("length")
                got = "\n" + raw.decode()
            except (zlib.error, UnicodeDecodeError):
                raise DeclarationTableError(
                    f"{self.origin}: damaged declaration table (block {i} of {len(self)})"
                ) from None
            self.texts[i] = got
        return got

    def whole(self) -> str:
        """Every block's lines, in order (no ``#`` lines)."""
        return "".join(self.text(i)[1:] for i in range(len(self)))


def decode_table(data: bytes, origin: str = "declaration table") -> str:
    """The text a table in the block format was made from (:func:`encode_table` of it
    gives ``data`` again). Raises :class:`DeclarationTableError` (one line) on a file
    that is not one or is damaged."""
    blocks = Blocks(data, origin)
    index_len = _HEADER.unpack_from(data)[1]
    index = data[_HEADER.size : _HEADER.size + index_len].decode()
    comments = "".join(line + "\n" for line in index.splitlines() if line.startswith("#"))
    return comments + blocks.whole()
