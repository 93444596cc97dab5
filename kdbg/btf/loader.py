"""Find BTF bytes in the files users have: raw BTF, ELF ``.BTF`` sections (vmlinux, ``.ko``,
compressed ``.ko.xz``/``.ko.zst``/``.ko.gz``) and kernel images (``vmlinuz``): x86's
bzImage, whose embedded vmlinux is found and decompressed the way the kernel's
extract-vmlinux does, and arm64's ``Image`` (raw, or compressed as Debian's before 7.x),
which is no ELF: its BTF is found by its validated header.
"""

from __future__ import annotations

import bz2
import io
import lzma
import os
import zlib
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

from kdbg.btf.cache import open_btf
from kdbg.btf.index import BTF
from kdbg.btf.memory import find_btf_in_image
from kdbg.errors import BTFError

__all__ = [
    "load_btf_file",
    "load_btf_files",
    "btf_bytes_from_file",
    "btf_from_elf",
    "extract_vmlinux",
    "btf_from_kernel_image",
    "decompress_module",
]

_ELF_MAGIC = b"\x7fELF"
#: File names of kernel images (``/boot/vmlinuz-*``, x86's ``bzImage``, arm64's ``Image``).
_IMAGE_NAMES = ("vmlinuz", "bzImage", "Image")
#: Largest decompressed kernel image accepted (bounds memory on hostile input).
MAX_IMAGE = 1 << 30


def _is_btf(data: bytes) -> bool:
    return data[:2] in (b"\x9f\xeb", b"\xeb\x9f")


def btf_from_elf(data: bytes, what: str) -> bytes:
    """Return the ``.BTF`` section of an ELF image (vmlinux or module)."""
    # lazy: pyelftools takes about 0.1 s to import and only an ELF image (--btf vmlinux) needs it
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(data))
        sec = elf.get_section_by_name(".BTF")
    except (ELFError, ValueError, KeyError, IndexError, OSError) as e:
        raise BTFError(f"{what}: unreadable ELF: {e}") from None
    except Exception as e:  # pyelftools raises assorted errors on corrupt input
        raise BTFError(f"{what}: unreadable ELF ({type(e).__name__}: {e})") from None
    if sec is None:
        raise BTFError(f"{what}: ELF file has no .BTF section (kernel built without CONFIG_DEBUG_INFO_BTF?)")
    try:
        if sec["sh_type"] == "SHT_NOBITS":
            raise BTFError(f"{what}: .BTF section has no file contents")
        if sec["sh_offset"] + sec["sh_size"] > len(data):
            raise BTFError(f"{what}: .BTF section at {sec['sh_offset']:#x} runs past the end of the file")
        return bytes(sec.data())
    except BTFError:
        raise
    except Exception as e:
        raise BTFError(f"{what}: cannot read .BTF section ({type(e).__name__}: {e})") from None


def _gunzip(data: bytes, at: int) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    return d.decompress(data[at:], MAX_IMAGE)


def _unxz(data: bytes, at: int) -> bytes:
    d = lzma.LZMADecompressor(lzma.FORMAT_XZ)
    return d.decompress(data[at:], MAX_IMAGE)


def _unlzma(data: bytes, at: int) -> bytes:
    d = lzma.LZMADecompressor(lzma.FORMAT_ALONE)
    return d.decompress(data[at:], MAX_IMAGE)


def _bunzip2(data: bytes, at: int) -> bytes:
    d = bz2.BZ2Decompressor()
    return d.decompress(data[at:], MAX_IMAGE)


def _unzstd(data: bytes, at: int) -> bytes:
    try:
        import zstandard  # an optional extra, loaded by the first zstd image
    except ImportError:
        raise BTFError("a zstd-compressed image needs the 'zstd' extra: pip install kdbg[zstd]") from None
    d = zstandard.ZstdDecompressor().decompressobj()
    out = bytearray()
    view = memoryview(data)[at:]
    step = 1 << 20
    for i in range(0, len(view), step):
        try:
            out += d.decompress(view[i : i + step])
        except zstandard.ZstdError:
            break
        if len(out) > MAX_IMAGE:
            raise BTFError("decompressed zstd image exceeds 1 GiB")
        if d.eof:
            break
    return bytes(out)


def _unlz4_legacy(data: bytes, at: int) -> bytes:
    """LZ4 legacy frames (``lz4 -l``, what the kernel's ``KERNEL_LZ4`` uses)."""
    try:
        import lz4.block  # an optional extra, loaded by the first lz4 image
    except ImportError:
        raise BTFError("an lz4-compressed kernel image needs the 'lz4' extra: pip install kdbg[lz4]") from None
    out = bytearray()
    pos = at + 4
    n = len(data)
    while pos + 4 <= n:
        size = int.from_bytes(data[pos : pos + 4], "little")
        if size == 0x184C2102:  # a following legacy frame
            pos += 4
            continue
        if size == 0 or pos + 4 + size > n:
            break
        try:
            out += lz4.block.decompress(data[pos + 4 : pos + 4 + size], uncompressed_size=8 << 20)
        except lz4.block.LZ4BlockError:
            break
        if len(out) > MAX_IMAGE:
            raise BTFError("decompressed lz4 image exceeds 1 GiB")
        pos += 4 + size
    return bytes(out)


#: (name, magic, decompressor) in the order extract-vmlinux tries them.
_CODECS: Sequence[Tuple[str, bytes, Callable[[bytes, int], bytes]]] = (
    ("gzip", b"\x1f\x8b\x08", _gunzip),
    ("xz", b"\xfd7zXZ\x00", _unxz),
    ("bzip2", b"BZh", _bunzip2),
    ("lzma", b"\x5d\x00\x00\x00", _unlzma),
    ("zstd", b"\x28\xb5\x2f\xfd", _unzstd),
    ("lz4", b"\x02\x21\x4c\x18", _unlz4_legacy),
)


def _payloads(image: bytes, tried: List[str]) -> Iterator[bytes]:
    """What each occurrence of each codec's magic in ``image`` decompresses to, in the
    order the kernel's ``scripts/extract-vmlinux`` tries them (each one tried is named in
    ``tried``)."""
    for name, magic, fn in _CODECS:
        pos = image.find(magic)
        while pos >= 0:
            try:
                out = fn(image, pos)
            except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error):
                out = b""
            tried.append(f"{name}@{pos:#x}")
            if out:
                yield out
            pos = image.find(magic, pos + 1)


def extract_vmlinux(image: bytes, what: str = "kernel image") -> bytes:
    """Find and decompress the ELF vmlinux inside a compressed kernel image (bzImage).

    Every occurrence of each codec's magic is tried, as the kernel's
    ``scripts/extract-vmlinux`` does, until one decompresses to an ELF file.
    """
    if image[:4] == _ELF_MAGIC:
        return image
    tried: List[str] = []
    for out in _payloads(image, tried):
        if out[:4] == _ELF_MAGIC:
            return out
    detail = ", ".join(tried[:6]) or "no compressed payload magic found"
    raise BTFError(f"{what}: no compressed vmlinux found ({detail}; lzo payloads are not supported)")


def btf_from_kernel_image(image: bytes, what: str = "kernel image") -> bytes:
    """The vmlinux BTF of a kernel image: the ``.BTF`` of the ELF vmlinux it is or holds
    compressed (x86's bzImage), else the BTF found by its validated header in the raw
    image (:func:`kdbg.btf.memory.find_btf_in_image`: arm64's ``Image``, as it is or
    inside a compressed ``Image.gz``); ``BTFError`` in one line when there is none."""
    if image[:4] == _ELF_MAGIC:
        return btf_from_elf(image, what)
    found = find_btf_in_image(image)
    if found is not None:
        return found
    tried: List[str] = []
    for out in _payloads(image, tried):
        if out[:4] == _ELF_MAGIC:
            return btf_from_elf(out, what)
        found = find_btf_in_image(out)
        if found is not None:
            return found
    detail = f"decompressed {', '.join(tried[:6])}" if tried else "no compressed payload in it"
    raise BTFError(f"{what}: no BTF in this kernel image: no ELF vmlinux and no valid BTF header (magic 0xeb9f), "
                   f"raw or {detail} (kernel built without CONFIG_DEBUG_INFO_BTF?)")


def decompress_module(data: bytes, path: str) -> bytes:
    """Decompress a ``.ko.xz``/``.ko.zst``/``.ko.gz`` module (by content, not name)."""
    try:
        if data[:6] == b"\xfd7zXZ\x00":
            return lzma.decompress(data)
        if data[:4] == b"\x28\xb5\x2f\xfd":
            return _unzstd(data, 0)
        if data[:2] == b"\x1f\x8b":
            return _gunzip(data, 0)
    except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error) as e:
        raise BTFError(f"{path}: cannot decompress module: {e}") from None
    return data


def btf_bytes_from_file(path: str) -> bytes:
    """Return raw BTF bytes from any supported file kind."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise BTFError(f"{path}: {e.strerror or e}") from None
    if _is_btf(data):
        return data
    data = decompress_module(data, path)
    if data[:4] == _ELF_MAGIC:
        return btf_from_elf(data, path)
    if _is_btf(data):
        return data
    # A bzImage: the real-mode header carries "HdrS" at 0x202; other kernel images go by name.
    if data[0x202:0x206] == b"HdrS" or os.path.basename(path).startswith(_IMAGE_NAMES):
        return btf_from_kernel_image(data, path)
    found = find_btf_in_image(data)  # a raw Image under another name
    if found is not None:
        return found
    raise BTFError(f"{path}: not BTF, an ELF file with .BTF, or a kernel image")


def load_btf_file(path: str, base: Optional[BTF] = None) -> BTF:
    """Load BTF from ``path``; split BTF (a module) goes on top of ``base``."""

    data = btf_bytes_from_file(path)
    return open_btf(data, base=base, name=path)


def load_btf_files(paths: Sequence[str]) -> List[BTF]:
    """Load base BTF from ``paths[0]`` and each further path as split BTF on that base.

    Several modules share one base; the list returned is ``[base, split1, split2, ...]``.
    """
    if not paths:
        raise BTFError("no BTF file given")
    base = load_btf_file(paths[0])
    return [base] + [load_btf_file(p, base=base) for p in paths[1:]]
