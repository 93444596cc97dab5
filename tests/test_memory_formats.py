"""Dump formats from first principles: writers for ELF, kdump and flattened files built to
the makedumpfile/QEMU layouts (the page data compressed by the real zlib, liblzo2, snappy
and zstd libraries), and readers checked against the memory they were written from.

The ``make_*`` helpers are also used by ``test_memory_reference.py`` (to re-encode real
dumps with every codec) and ``test_fuzz_memory.py``.
"""

from __future__ import annotations

import os
import random
import re
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import pytest

from kdbg.errors import CoreError, FaultError
from kdbg.memory import open_core, open_kcore, open_physical
from kdbg.memory.decompress import decompress_page
from kdbg.memory.lzo1x import LZOError, lzo1x_decompress_safe
from kdbg.memory.pagecache import PageCache
from tests.cli_support import clean_env

PS = 4096

# ----------------------------------------------------------------------------- codecs


def _lzo_compress(page: bytes) -> bytes:
    import lzo

    return bytes(lzo.compress(page, 1, False))


def _snappy_compress(page: bytes) -> bytes:
    import snappy

    return bytes(snappy.compress(page))


def _zstd_compress(page: bytes) -> bytes:
    import zstandard

    return bytes(zstandard.ZstdCompressor(level=1).compress(page))


CODECS: Dict[str, Tuple[int, Callable[[bytes], bytes]]] = {
    "none": (0, lambda p: p),
    "zlib": (0x1, lambda p: zlib.compress(p, 1)),
    "lzo": (0x2, _lzo_compress),
    "snappy": (0x4, _snappy_compress),
    "zstd": (0x20, _zstd_compress),
}

# ----------------------------------------------------------------------------- writers


def make_notes(notes: Iterable[Tuple[bytes, int, bytes]]) -> bytes:
    """ELF note area from ``(name, type, desc)``."""
    out = b""
    for name, ntype, desc in notes:
        n = name + b"\0"
        out += struct.pack("<III", len(n), len(desc), ntype)
        out += n + bytes(-len(n) % 4) + desc + bytes(-len(desc) % 4)
    return out


def make_elf(
    loads: Sequence[Tuple[int, int, bytes, int]],
    notes: bytes = b"",
) -> bytes:
    """ELF64 core: ``loads`` are ``(vaddr, paddr, data, memsz)``."""
    phnum = len(loads) + (1 if notes else 0)
    phoff = 64
    data_off = phoff + 56 * phnum
    eh = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    eh += struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, phoff, 0, 0, 64, 56, phnum, 64, 0, 0)
    phdrs = b""
    body = b""
    off = data_off
    if notes:
        phdrs += struct.pack("<IIQQQQQQ", 4, 0, off, 0, 0, len(notes), 0, 0)
        body += notes
        off += len(notes)
    for vaddr, paddr, data, memsz in loads:
        phdrs += struct.pack("<IIQQQQQQ", 1, 7, off, vaddr, paddr, len(data), memsz, 0)
        body += data
        off += len(data)
    return eh + phdrs + body


def _bitmap(pfns: Set[int], nbytes: int) -> bytearray:
    bm = bytearray(nbytes)
    for p in pfns:
        bm[p >> 3] |= 1 << (p & 7)
    return bm


def make_kdump(
    mem: bytes,
    codec: str = "zlib",
    dumped: Optional[Set[int]] = None,
    present: Optional[Set[int]] = None,
    vmcoreinfo: bytes = b"",
    header_version: int = 6,
    phys_base: int = 0,
    page_size: int = PS,
    notes: bytes = b"",
    page_data: Optional[Callable[[int], bytes]] = None,
    max_mapnr: Optional[int] = None,
) -> bytes:
    """A kdump-compressed file laid out as makedumpfile writes it.

    Zero pages share one descriptor (as makedumpfile does); a page whose compressed form is
    not smaller than the page is stored raw with flags 0. ``page_data(pfn)`` overrides
    ``mem`` as the source of pages (for re-encoding large dumps lazily).
    """
    ps = page_size
    nr = max_mapnr if max_mapnr is not None else len(mem) // ps
    present = set(range(nr)) if present is None else present
    dumped = set(present) if dumped is None else dumped
    flag, compress = CODECS[codec]
    bm_bytes = -(-((nr + 7) // 8) // ps) * ps
    bitmap_blocks = 2 * (bm_bytes // ps)
    # sub-header block(s): kdump_sub_header then the notes and the VMCOREINFO text
    sub = bytearray(112)
    notes_off_rel = 112
    vmci_off_rel = notes_off_rel + len(notes)
    sub_len = vmci_off_rel + len(vmcoreinfo)
    sub_hdr_size = -(-sub_len // ps)
    offset_note = ps + notes_off_rel if notes else 0
    offset_vmci = ps + vmci_off_rel if vmcoreinfo else 0
    struct.pack_into(
        "<Qii QQ qQ qQ qQ QQQ",
        sub,
        0,
        phys_base,
        0,
        0,
        0,
        nr,
        offset_vmci,
        len(vmcoreinfo),
        offset_note,
        len(notes),
        0,
        0,
        0,
        nr,
        nr,
    )
    sub_area = bytes(sub) + notes + vmcoreinfo
    sub_area += bytes(sub_hdr_size * ps - len(sub_area))
    hdr = bytearray(ps)
    hdr[0:8] = b"KDUMP   "
    struct.pack_into("<i", hdr, 8, header_version)
    hdr[12 + 65 * 2 : 12 + 65 * 2 + 5] = b"6.1.0"
    hdr[12 + 65 * 4 : 12 + 65 * 4 + 6] = b"x86_64"
    struct.pack_into(
        "<IiiIIIIIIi", hdr, 424, 0, ps, sub_hdr_size, bitmap_blocks, nr & 0xFFFFFFFF, 0, 0, 0, 0, 1
    )
    bm1 = _bitmap(present, bm_bytes)
    bm2 = _bitmap(dumped, bm_bytes)
    desc_off = (1 + sub_hdr_size + bitmap_blocks) * ps
    ndesc = len(dumped)
    data_off = desc_off + 24 * ndesc
    descs = bytearray()
    data = bytearray()
    zero = bytes(ps)
    zero_desc: Optional[bytes] = None
    for pfn in sorted(dumped):
        page = page_data(pfn) if page_data else mem[pfn * ps : (pfn + 1) * ps]
        if page == zero and zero_desc is not None:
            descs += zero_desc
            continue
        c = compress(page)
        f = flag
        if len(c) >= ps:
            c, f = page, 0
        d = struct.pack("<qIIQ", data_off + len(data), len(c), f, 0)
        data += c
        if page == zero:
            zero_desc = d
        descs += d
    return bytes(hdr) + sub_area + bytes(bm1) + bytes(bm2) + bytes(descs) + bytes(data)


def make_flattened(
    image: bytes, chunk: int = 5000, seed: int = 0, overlap: bool = True, end: bool = True
) -> bytes:
    """A makedumpfile flattened stream of ``image``: shuffled records, optionally with
    garbage records later overwritten (the last record for a byte wins)."""
    rnd = random.Random(seed)
    recs: List[Tuple[int, bytes]] = []
    pos = 0
    while pos < len(image):
        n = min(len(image) - pos, rnd.randint(1, chunk))
        recs.append((pos, image[pos : pos + n]))
        pos += n
    rnd.shuffle(recs)
    if overlap:
        garbage = [(o, bytes(rnd.randrange(256) for _ in range(len(d)))) for o, d in recs[:8]]
        recs = garbage + recs
    out = bytearray(4096)
    out[0:12] = b"makedumpfile"
    struct.pack_into(">qq", out, 16, 1, 1)
    for o, d in recs:
        out += struct.pack(">qq", o, len(d)) + d
    if end:
        out += struct.pack(">qq", -1, -1)
    return bytes(out)


def sample_memory(pages: int = 48, seed: int = 1) -> bytes:
    """Deterministic memory with text-like, random and zero pages."""
    rnd = random.Random(seed)
    out = bytearray()
    for i in range(pages):
        kind = i % 4
        if kind == 0:
            out += bytes(PS)
        elif kind == 1:
            out += bytes(rnd.randrange(256) for _ in range(PS))
        else:
            word = f"page {i:04d} ".encode()
            out += (word * (PS // len(word) + 1))[:PS]
    return bytes(out)


def write(tmp: Path, name: str, data: bytes) -> str:
    p = tmp / name
    p.write_bytes(data)
    return str(p)


# ----------------------------------------------------------------------------- tests

ALL_CODECS = ["none", "zlib", "lzo", "snappy", "zstd"]


@pytest.mark.parametrize("codec", ALL_CODECS)
@pytest.mark.parametrize("flat", [False, True])
def test_kdump_roundtrip(tmp_path: Path, codec: str, flat: bool) -> None:
    mem = sample_memory()
    nr = len(mem) // PS
    present = set(range(nr)) - {40, 41}
    dumped = present - {5, 6, 17}
    img = make_kdump(mem, codec, dumped=dumped, present=present, vmcoreinfo=b"OSRELEASE=x\n")
    if flat:
        img = make_flattened(img)
    m = open_core(write(tmp_path, "dump", img))
    assert m.vmcoreinfo is not None and m.vmcoreinfo.osrelease == "x"
    for pfn in sorted(dumped):
        assert m.read(pfn * PS, PS, physical=True) == mem[pfn * PS : (pfn + 1) * PS]
    # reads crossing pages, unaligned
    assert m.read(0x1FF0, 0x2020, physical=True) == mem[0x1FF0 : 0x1FF0 + 0x2020]
    with pytest.raises(FaultError, match="excluded from the dump") as ei:
        m.read(5 * PS + 8, 8, physical=True)
    assert ei.value.address == 5 * PS + 8 and ei.value.physical
    # a read running into an excluded page reports the first byte of that page
    with pytest.raises(FaultError, match="excluded") as ei:
        m.read(4 * PS + 100, PS, physical=True)
    assert ei.value.address == 5 * PS
    with pytest.raises(FaultError, match="not in the dump") as ei:
        m.read(40 * PS, 4, physical=True)
    assert ei.value.address == 40 * PS
    with pytest.raises(FaultError):
        m.read(nr * PS + 0x10000, 8, physical=True)
    # bulk path (no caching) gives the same bytes
    assert m.read(7 * PS, 10 * PS, physical=True) == mem[7 * PS : 17 * PS]
    big = m.read(18 * PS, 22 * PS, physical=True)
    assert big == mem[18 * PS : 40 * PS]
    # what a memory search scans: the runs of dumped pages
    runs = [(pfn * PS, (pfn + 1) * PS) for pfn in sorted(dumped)]
    merged = [runs[0]]
    for start, end in runs[1:]:
        merged[-1:] = [(merged[-1][0], end)] if start == merged[-1][1] else [merged[-1], (start, end)]
    assert m.physical_ranges() == merged == [(0, 5 * PS), (7 * PS, 17 * PS), (18 * PS, 40 * PS), (42 * PS, nr * PS)]
    m.close()


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5, 6])
def test_kdump_header_versions(tmp_path: Path, version: int) -> None:
    mem = sample_memory(16)
    vmci = b"OSRELEASE=v\nPAGESIZE=4096\n"
    notes = make_notes([(b"CORE", 1, b"\1" * 336), (b"CORE", 1, b"\2" * 336)])
    img = make_kdump(mem, "zlib", vmcoreinfo=vmci, header_version=version, notes=notes)
    phys = open_physical(write(tmp_path, "d", img))
    assert phys.read(3 * PS, PS) == mem[3 * PS : 4 * PS]
    if version >= 3:
        assert phys.vmcoreinfo is not None and phys.vmcoreinfo.osrelease == "v"
    else:
        assert phys.vmcoreinfo is None
    assert len(phys.prstatus) == (2 if version >= 4 else 0)
    phys.close()


def test_elf_segments_holes_and_zero_fill(tmp_path: Path) -> None:
    mem = sample_memory(8)
    notes = make_notes(
        [(b"CORE", 1, b"r" * 336), (b"VMCOREINFO", 0, b"OSRELEASE=e\n"), (b"CORE", 1, b"s" * 8)]
    )
    loads = [(0, 0x1000, mem[: 4 * PS], 4 * PS), (0, 0x10000, mem[4 * PS : 6 * PS], 3 * PS)]
    m = open_core(write(tmp_path, "e", make_elf(loads, notes)))
    assert m.vmcoreinfo is not None and m.vmcoreinfo.osrelease == "e"
    assert len(m.prstatus) == 2
    assert m.read(0x1000, 4 * PS, physical=True) == mem[: 4 * PS]
    # memsz > filesz: pages a filter dropped (makedumpfile -E): excluded, not zeros
    with pytest.raises(FaultError, match="excluded") as ex:
        m.read(0x10000 + 2 * PS, PS, physical=True)
    assert ex.value.address == 0x10000 + 2 * PS
    with pytest.raises(FaultError, match="not in the dump") as ei:
        m.read(0x1000 + 4 * PS - 8, 16, physical=True)
    assert ei.value.address == 0x5000
    with pytest.raises(FaultError):
        m.read(0, 1, physical=True)
    # what a memory search scans: the file data, not the dropped pages
    assert m.physical_ranges() == [(0x1000, 0x1000 + 4 * PS), (0x10000, 0x10000 + 2 * PS)]


def test_no_vmcoreinfo_physical_ok_virtual_clear_error(tmp_path: Path) -> None:
    mem = sample_memory(4)
    for img in (make_elf([(0, 0, mem, len(mem))]), make_kdump(mem, "zlib")):
        m = open_core(write(tmp_path, "nv", img))
        assert m.read(PS, 16, physical=True) == mem[PS : PS + 16]
        with pytest.raises(CoreError, match="VMCOREINFO"):
            m.read(0xFFFFFFFF81000000, 8)


def test_flattened_truncated_and_corrupt(tmp_path: Path) -> None:
    img = make_kdump(sample_memory(8), "zlib")
    flat = make_flattened(img, overlap=False)
    # cut short: opens with a warning (issue 6; it used to be refused with a CoreError)
    m = open_core(write(tmp_path, "f1", flat[:-100]))
    assert len(m.warnings) == 1 and "truncated" in m.warnings[0], m.warnings
    m.close()
    bad = bytearray(flat)
    struct.pack_into(">qq", bad, 4096, -5, 10)
    with pytest.raises(CoreError, match="corrupt flattened record"):
        open_core(write(tmp_path, "f2", bytes(bad)))
    # stream without the end marker but whole records: still usable
    m = open_core(write(tmp_path, "f3", make_flattened(img, end=False, overlap=False)))
    assert m.read(PS, 8, physical=True) == sample_memory(8)[PS : PS + 8]
    assert m.warnings and "no end marker" in m.warnings[0], m.warnings


def _desc_offset(img: bytes) -> int:
    sub_hdr_size, bitmap_blocks = struct.unpack_from("<iI", img, 432)
    return (1 + sub_hdr_size + bitmap_blocks) * PS


def test_kdump_bad_descriptors(tmp_path: Path) -> None:
    mem = sample_memory(8)
    img = make_kdump(mem, "zlib")
    d0 = _desc_offset(img)
    cases = {
        "size larger than page": lambda b: struct.pack_into("<qI", b, d0 + 24, 9999, PS + 1),
        "past the end": lambda b: struct.pack_into("<q", b, d0 + 24, len(b) - 10),
        "unknown compression": lambda b: struct.pack_into("<I", b, d0 + 24 + 12, 0x3),
        "corrupt": lambda b: b.__setitem__(slice(d0 + 24 * 8, d0 + 24 * 8 + 64), b"\xff" * 64),
    }
    # one bad page is a FaultError at its physical address (issue 6: it was a CoreError)
    for what, mutate in cases.items():
        b = bytearray(img)
        mutate(b)
        m = open_core(write(tmp_path, "bd", bytes(b)))
        with pytest.raises(FaultError, match="corrupt") as ei:
            for pfn in range(8):
                m.read(pfn * PS, PS, physical=True)
        assert ei.value.physical and ei.value.address % PS == 0, what
        m.close()
    # truncated inside the page data: opens with a warning, the lost pages fault
    m = open_core(write(tmp_path, "tr", img[: len(img) - 3000]))
    assert len(m.warnings) == 1 and "truncated" in m.warnings[0], m.warnings
    with pytest.raises(FaultError, match="page missing from the truncated dump"):
        m.read(0, 8 * PS, physical=True)
    # truncated inside the bitmaps
    with pytest.raises(CoreError, match="past the end"):
        open_core(write(tmp_path, "tr2", img[: 3 * PS]))
    # a bogus bitmap_blocks count
    b = bytearray(img)
    struct.pack_into("<I", b, 436, 0xFFFFFFF0)
    with pytest.raises(CoreError):
        open_core(write(tmp_path, "bb", bytes(b)))


@pytest.mark.parametrize("codec", ["zlib", "lzo", "snappy", "zstd"])
def test_page_decompressing_past_page_is_fault_error(codec: str) -> None:
    # a bad page is a FaultError at its address (issue 6: it was a CoreError)
    flag, compress = CODECS[codec]
    two_pages = compress(b"A" * (2 * PS))
    with pytest.raises(FaultError, match="past the page|decompressed to") as ei:
        decompress_page(two_pages, flag, PS, 0x5000)
    assert ei.value.address == 0x5000 and ei.value.physical
    short = compress(b"B" * 100)
    with pytest.raises(FaultError, match="page data is corrupt"):
        decompress_page(short, flag, PS, 0x5000)
    with pytest.raises(FaultError, match="page data is corrupt"):
        decompress_page(b"\x00\x01garbage" * 3, flag, PS, 0x5000)


def test_missing_codec_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    import kdbg.memory.decompress as dec

    real_import = builtins.__import__

    def fake_import(name: str, *a: object, **k: object) -> object:
        if name in ("zstandard", "cramjam", "snappy"):
            raise ImportError(name)
        return real_import(name, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(dec, "_zstd_mod", None)
    monkeypatch.setattr(dec, "_snappy_fn", None)
    with pytest.raises(CoreError, match=r"'zstd' extra: pip install kdbg\[zstd\]"):
        decompress_page(b"\x28\xb5\x2f\xfd" + bytes(10), 0x20, PS, 0)
    with pytest.raises(CoreError, match=r"'snappy' extra: pip install kdbg\[snappy\]"):
        decompress_page(b"\x80\x20" + bytes(10), 0x4, PS, 0)


def test_pure_python_lzo_matches_liblzo() -> None:
    import lzo

    rnd = random.Random(7)
    for i in range(150):
        n = rnd.randint(0, 3 * PS)
        alpha = bytes(rnd.sample(range(256), rnd.randint(1, 12)))
        data = bytes(rnd.choice(alpha) for _ in range(n)) if i % 5 else os.urandom(n)
        for level in (1, 9):
            c = lzo.compress(data, level, False)
            assert lzo1x_decompress_safe(c, max(n, 1)) == data
    c = lzo.compress(b"x" * PS, 1, False)
    with pytest.raises(LZOError):
        lzo1x_decompress_safe(c, PS - 1)
    for cut in range(1, len(c)):
        with pytest.raises(LZOError):
            lzo1x_decompress_safe(c[:cut], PS)


def _lzop_blocks(blob: bytes) -> List[Tuple[bytes, int]]:
    """``(compressed block, uncompressed size)`` from an lzop file."""
    assert blob[:9] == b"\x89LZO\x00\r\n\x1a\n"
    p = 9
    version = struct.unpack_from(">H", blob, p)[0]
    p += 4  # version, lib_version
    if version >= 0x0940:
        p += 2  # version_needed
    p += 1  # method
    if version >= 0x0940:
        p += 1  # level
    flags = struct.unpack_from(">I", blob, p)[0]
    p += 4
    if flags & 0x800:  # F_H_FILTER
        p += 4
    p += 8  # mode, mtime_low
    if version >= 0x0940:
        p += 4  # mtime_high
    p += 1 + blob[p] + 4  # name, header checksum
    if flags & 0x40:  # F_H_EXTRA_FIELD
        p += 4 + struct.unpack_from(">I", blob, p)[0] + 4
    out = []
    while True:
        dst = struct.unpack_from(">I", blob, p)[0]
        p += 4
        if dst == 0:
            return out
        src = struct.unpack_from(">I", blob, p)[0]
        p += 4
        p += 4 if flags & 0x1 else 0  # adler32 of decompressed
        p += 4 if flags & 0x100 else 0  # crc32 of decompressed
        if src < dst:
            p += 4 if flags & 0x2 else 0
            p += 4 if flags & 0x200 else 0
        out.append((blob[p : p + src], dst) if src < dst else (b"", dst))
        p += src


def test_pure_python_lzo_decodes_lzop_output(tmp_path: Path) -> None:
    data = Path(__file__).read_bytes() * 4 + os.urandom(5000) + bytes(70000)
    for level in ("-1", "-9"):
        blob = subprocess.run(
            ["lzop", level, "-c"], input=data, capture_output=True, check=True
        , env=clean_env()).stdout
        got = b""
        pos = 0
        for block, n in _lzop_blocks(blob):
            got += lzo1x_decompress_safe(block, n) if block else data[pos : pos + n]
            pos += n
        assert got == data


def test_page_cache_lru() -> None:
    calls: List[int] = []

    def fetch(p: int) -> bytes:
        calls.append(p)
        return bytes([p % 256]) * 8

    c = PageCache(fetch, capacity=3)
    for p in (1, 2, 3, 1, 4, 1, 2):
        assert c.get(p)[0] == p
    assert calls == [1, 2, 3, 4, 2]
    assert 1 in c and 3 not in c and len(c) == 3
    assert c.get_uncached(9)[0] == 9 and 9 not in c


def test_open_errors(tmp_path: Path) -> None:
    with pytest.raises(CoreError, match="unknown dump format"):
        open_core(write(tmp_path, "x", b"hello world" * 10))
    with pytest.raises(CoreError, match="cannot open"):
        open_core(str(tmp_path / "missing"))
    with pytest.raises(CoreError, match="program header"):
        open_core(write(tmp_path, "t", make_elf([(0, 0, b"a" * 64, 64)])[:70]))


def test_open_kcore_missing_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each reason kcore cannot be opened gets its own one-line CoreError (whatever this
    host's own /proc/kcore is like: the failures are made, not found)."""
    missing = tmp_path / "kcore"
    with pytest.raises(CoreError, match=f"unavailable: {re.escape(str(missing))} does not exist"):
        open_kcore(str(missing))
    with pytest.raises(CoreError, match="unavailable: cannot open .*Not a directory"):
        open_kcore(write(tmp_path, "file", b"") + "/kcore")
    real_open = os.open

    def denied(path: str, *args: object, **kw: object) -> int:
        if path == str(tmp_path / "noperm"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(CoreError, match="unavailable: permission denied opening .*noperm"):
        open_kcore(str(tmp_path / "noperm"))


def test_kcore_virtual_and_physical(tmp_path: Path) -> None:
    mem = sample_memory(8)
    base = 0xFFFF888000000000
    notes = make_notes([(b"CORE", 1, b"p" * 336), (b"VMCOREINFO", 0, b"OSRELEASE=k\n")])
    loads = [
        (base, 0, mem, len(mem)),
        (0xFFFFC90000000000, (1 << 64) - 1, mem[:PS], PS),
    ]
    k = open_kcore(write(tmp_path, "kcore", make_elf(loads, notes)))
    assert k.vmcoreinfo is not None and k.vmcoreinfo.osrelease == "k"
    assert k.read(base + 0x1FF0, 0x20) == mem[0x1FF0:0x2010]
    assert k.read(0x1FF0, 0x20, physical=True) == mem[0x1FF0:0x2010]
    assert k.read(0xFFFFC90000000010, 4) == mem[16:20]
    assert k.translate(base + 0x3000) == 0x3000
    with pytest.raises(FaultError) as ei:
        k.read(base + len(mem) - 4, 8)
    assert ei.value.address == base + len(mem)
    assert k.physical_ranges() == [(0, len(mem))]  # the vmalloc segment has no physical address
    k.close()


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_kcore_machine_and_layout(tmp_path: Path, machine: str) -> None:
    """/proc/kcore's ``e_machine`` names the machine (62 x86-64, 183 arm64); x86-64's
    region bases are guessed from its segments (RAM at its direct-map address, no
    symbols attached), arm64 has none to guess (its linear map follows from ``VA_BITS``)."""
    mem = sample_memory(4)
    base = 0xFFFF888040000000 if machine == "x86_64" else 0xFFFF000040000000
    notes = make_notes([(b"VMCOREINFO", 0, b"OSRELEASE=k\n")])
    image = bytearray(make_elf([(base, 0x40000000, mem, len(mem))], notes))
    image[18:20] = struct.pack("<H", 62 if machine == "x86_64" else 183)
    k = open_kcore(write(tmp_path, "kcore", bytes(image)))
    try:
        assert k.machine == machine and k.read(base + 8, 8) == mem[8:16]
        if machine == "x86_64":
            b = k.layout["page_offset_base"]
            assert (b.value, b.source) == (base - 0x40000000, "kcore segments"), b
        else:
            assert k.layout == {}
    finally:
        k.close()
