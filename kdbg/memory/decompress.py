"""Page decompression for kdump-compressed dumps: zlib, lzo, snappy, zstd.

Each codec decompresses one page and must produce exactly ``page_size`` bytes; anything
else (corrupt data, a page claiming to decompress past the page, unknown compression flags)
is a fault of that one page: :class:`~kdbg.errors.FaultError` at the page's physical
address, worded ``page data is corrupt (...)``, as every dump form reports a bad page.
Output is always bounded by ``page_size``.

Optional codecs: lzo uses ``python-lzo`` (falls back to the bundled pure-Python
:mod:`kdbg.memory.lzo1x`), snappy uses ``python-snappy`` or ``cramjam``, zstd uses
``zstandard`` or ``cramjam``. A missing codec makes the whole dump unreadable, so it is a
``CoreError`` naming the extra; :func:`require_codec` raises it when the dump is opened.
"""

from __future__ import annotations

import io
import zlib
from typing import Any, Callable, Dict, Optional

from kdbg.errors import CoreError, FaultError
from kdbg.memory.lzo1x import LZOError, lzo1x_decompress_safe

__all__ = [
    "DUMP_DH_COMPRESSED_ZLIB",
    "DUMP_DH_COMPRESSED_LZO",
    "DUMP_DH_COMPRESSED_SNAPPY",
    "DUMP_DH_COMPRESSED_INCOMPLETE",
    "DUMP_DH_EXCLUDED_VMEMMAP",
    "DUMP_DH_COMPRESSED_ZSTD",
    "decompress_page",
    "require_codec",
    "PAGE_CORRUPT",
    "codec_name",
    "available_codecs",
]

DUMP_DH_COMPRESSED_ZLIB = 0x1
DUMP_DH_COMPRESSED_LZO = 0x2
DUMP_DH_COMPRESSED_SNAPPY = 0x4
DUMP_DH_COMPRESSED_INCOMPLETE = 0x8
DUMP_DH_EXCLUDED_VMEMMAP = 0x10
DUMP_DH_COMPRESSED_ZSTD = 0x20
COMPRESSION_MASK = (
    DUMP_DH_COMPRESSED_ZLIB
    | DUMP_DH_COMPRESSED_LZO
    | DUMP_DH_COMPRESSED_SNAPPY
    | DUMP_DH_COMPRESSED_ZSTD
)

#: How a page whose stored bytes cannot be decoded is reported (FaultError message prefix).
PAGE_CORRUPT = "page data is corrupt"


class _BadPage(Exception):
    """Internal: why one page's data did not decode (becomes a FaultError)."""


_NAMES = {
    DUMP_DH_COMPRESSED_ZLIB: "zlib",
    DUMP_DH_COMPRESSED_LZO: "lzo",
    DUMP_DH_COMPRESSED_SNAPPY: "snappy",
    DUMP_DH_COMPRESSED_ZSTD: "zstd",
}


def codec_name(flags: int) -> str:
    """Name of the compression a page descriptor's ``flags`` select (``"none"``)."""
    c = flags & COMPRESSION_MASK
    return _NAMES.get(c, "none" if c == 0 else f"flags {c:#x}")


def _missing(extra: str, pkg: str) -> CoreError:
    return CoreError(
        f"decompressing this dump's {extra} pages needs the {extra!r} extra: "
        f"pip install kdbg[{extra}]  (package {pkg})"
    )


def _zlib(data: bytes, page_size: int) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, page_size)
    except zlib.error as e:
        raise _BadPage(f"zlib: {e}") from None
    if d.unconsumed_tail:
        raise _BadPage(f"zlib: decompresses past the page size ({page_size} bytes)")
    return out


_lzo_mod: Any = None
_lzo_checked = False


def _lzo(data: bytes, page_size: int) -> bytes:
    global _lzo_mod, _lzo_checked
    if not _lzo_checked:
        _lzo_checked = True
        try:
            import lzo  # an optional extra, loaded by the first lzo page

            _lzo_mod = lzo
        except ImportError:
            _lzo_mod = None
    if _lzo_mod is not None:
        try:
            out = _lzo_mod.decompress(data, False, page_size)
        except Exception as e:  # lzo.error: includes output overrun
            raise _BadPage(f"lzo: corrupt or decompresses past the page: {e}") from None
        return bytes(out)
    try:
        return lzo1x_decompress_safe(data, page_size)
    except LZOError as e:
        raise _BadPage(f"lzo: corrupt or decompresses past the page: {e}") from None


def _varint(data: bytes) -> Optional[int]:
    v = 0
    for i in range(min(len(data), 10)):
        b = data[i]
        v |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            return v
    return None


_snappy_fn: Optional[Callable[[bytes], Any]] = None


def _load_snappy() -> Callable[[bytes], Any]:
    global _snappy_fn
    if _snappy_fn is None:
        try:
            import snappy  # an optional extra, loaded by the first snappy page

            _snappy_fn = snappy.uncompress
        except ImportError:
            try:
                import cramjam  # the optional fallback, loaded by the first snappy page

                _snappy_fn = cramjam.snappy.decompress_raw
            except ImportError:
                raise _missing("snappy", "python-snappy") from None
    return _snappy_fn


def _snappy(data: bytes, page_size: int) -> bytes:
    fn = _load_snappy()
    n = _varint(data)
    if n is None:
        raise _BadPage("snappy: bad length header")
    if n > page_size:
        raise _BadPage(f"snappy: claims {n} bytes, past the page size ({page_size})")
    try:
        return bytes(fn(data))
    except Exception as e:  # snappy.UncompressError and friends
        raise _BadPage(f"snappy: {e}") from None


_zstd_mod: Any = None


def _load_zstd() -> Any:
    global _zstd_mod
    if _zstd_mod is None:
        try:
            import zstandard  # an optional extra, loaded by the first zstd page

            _zstd_mod = zstandard
        except ImportError:
            try:
                import cramjam  # the optional fallback, loaded by the first zstd page

                _zstd_mod = cramjam
            except ImportError:
                raise _missing("zstd", "zstandard") from None
    return _zstd_mod


def _zstd(data: bytes, page_size: int) -> bytes:
    mod = _load_zstd()
    try:
        if mod.__name__ == "zstandard":
            reader = mod.ZstdDecompressor().stream_reader(io.BytesIO(data))
            out = reader.read(page_size + 1)
        else:
            out = bytes(mod.zstd.decompress(data, output_len=page_size + 1))
    except Exception as e:  # zstandard.ZstdError and friends
        raise _BadPage(f"zstd: {e}") from None
    if len(out) > page_size:
        raise _BadPage(f"zstd: decompresses past the page size ({page_size} bytes)")
    return bytes(out)


_CODECS: Dict[int, Callable[[bytes, int], bytes]] = {
    DUMP_DH_COMPRESSED_ZLIB: _zlib,
    DUMP_DH_COMPRESSED_LZO: _lzo,
    DUMP_DH_COMPRESSED_SNAPPY: _snappy,
    DUMP_DH_COMPRESSED_ZSTD: _zstd,
}


def decompress_page(data: bytes, flags: int, page_size: int, address: int) -> bytes:
    """Decompress the page at physical ``address``; exactly ``page_size`` bytes.

    Corrupt data raises :class:`~kdbg.errors.FaultError` (``physical=True``) at
    ``address``; a codec this Python lacks raises :class:`~kdbg.errors.CoreError`.
    """
    c = flags & COMPRESSION_MASK
    try:
        if c == 0:
            if len(data) != page_size:
                raise _BadPage(f"uncompressed page has {len(data)} bytes, not {page_size}")
            return data
        fn = _CODECS.get(c)
        if fn is None:
            raise _BadPage(f"page descriptor has unknown compression flags {flags:#x}")
        out = fn(data, page_size)
        if len(out) != page_size:
            raise _BadPage(
                f"{codec_name(flags)}: decompressed to {len(out)} bytes, not {page_size}"
            )
    except _BadPage as e:
        raise FaultError(f"{PAGE_CORRUPT} ({e})", address, physical=True) from None
    return out


def require_codec(flags: int) -> None:
    """``CoreError`` naming the extra to install when the codec ``flags`` select is missing."""
    c = flags & COMPRESSION_MASK
    if c == DUMP_DH_COMPRESSED_SNAPPY:
        _load_snappy()
    elif c == DUMP_DH_COMPRESSED_ZSTD:
        _load_zstd()


def available_codecs() -> Dict[str, str]:
    """Which implementation serves each codec here (``"missing"`` when none)."""
    res = {"zlib": "zlib (stdlib)"}
    try:
        import lzo  # noqa: F401  # an optional extra: is it installed?

        res["lzo"] = "python-lzo"
    except ImportError:
        res["lzo"] = "kdbg.memory.lzo1x (pure Python)"
    for name, mods in (("snappy", ("snappy", "cramjam")), ("zstd", ("zstandard", "cramjam"))):
        res[name] = "missing"
        for m in mods:
            try:
                __import__(m)
            except ImportError:
                continue
            res[name] = m
            break
    return res
