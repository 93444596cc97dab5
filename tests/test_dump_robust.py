"""Every dump form opens robustly and fails the same way (issue 6), on the real reference dumps.

* Another architecture is refused at open, naming it: copies of real dumps with only the
  fields that mark the architecture changed (ELF ``e_machine``, the kdump header's
  ``utsname.machine``, the same field inside a flattened stream), and a 32-bit ELF core.
* A dump cut short (a truncated copy of each real dump) opens with one warning saying how
  much is missing, serves the pages before the cut and raises ``FaultError`` for the pages
  after it. Truth is independent of kdbg: the ELF file's raw bytes at ``p_offset``; for
  kdump and flattened dumps, the same page in QEMU's ELF dump of the same guest (vmcores/
  build.py stops the guest, then writes the ELF, the flattened kdump (reassembled with
  ``makedumpfile -R``) and, from the ``-p`` ELF, every makedumpfile form: one guest state).
  Which pages survive a cut is worked out here from the formats' own layouts (headers,
  bitmaps, page descriptors, flattened records), parsed with ``struct``.
* One failing page is a ``FaultError`` at its physical address, worded alike, in every form
  and codec (corrupt data, a bad descriptor, data past the end); ``CoreError`` is kept for a
  dump unusable as a whole.
"""

from __future__ import annotations

import builtins
import re
import shutil
import struct
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import pytest
from test_memory_formats import make_flattened, make_kdump

from kdbg.errors import CoreError, FaultError
from kdbg.memory import open_core

PS = 4096
UTS_MACHINE = 12 + 65 * 4  # offset of utsname.machine in disk_dump_header
#: How every form words one unreadable page: "<what> (<detail>): physical address 0x..".
FAULT_SHAPE = re.compile(r"^page [a-z ]+( \(.+\))?: physical address 0x[0-9a-f]+$")


# ------------------------------------------------------------------ independent readers


def _dump(dumps: List[Any], suite: str, form: str, tool: str = "") -> Any:
    return next(d for d in dumps if d.suite == suite and d.form == form and tool in d.tool)


def elf_loads(path: Path) -> List[Tuple[int, int, int]]:
    """``(paddr, offset, filesz)`` of each PT_LOAD of a 64-bit ELF core."""
    with path.open("rb") as f:
        head = f.read(64)
        phoff, = struct.unpack_from("<Q", head, 32)
        phnum, = struct.unpack_from("<H", head, 56)
        f.seek(phoff)
        table = f.read(56 * phnum)
    out = []
    for i in range(phnum):
        p_type, _fl, off, _va, pa, filesz = struct.unpack_from("<IIQQQQ", table, 56 * i)
        if p_type == 1:
            out.append((pa, off, filesz))
    return out


def elf_page(path: Path, loads: List[Tuple[int, int, int]], paddr: int) -> Optional[bytes]:
    """The raw bytes of the page at ``paddr`` in an ELF core, or None when not stored."""
    for pa, off, filesz in loads:
        if pa <= paddr and paddr + PS <= pa + filesz:
            with path.open("rb") as f:
                f.seek(off + paddr - pa)
                return f.read(PS)
    return None


class Coverage:
    """Which bytes of a file (or of a flattened stream's reassembled file) exist."""

    def __init__(self, data: bytes, have: bytearray) -> None:
        self.data = data
        self.have = have

    def has(self, off: int, size: int) -> bool:
        return off >= 0 and off + size <= len(self.have) and all(self.have[off : off + size])

    def get(self, off: int, size: int) -> bytes:
        return self.data[off : off + size]


def plain_coverage(data: bytes) -> Coverage:
    return Coverage(data, bytearray(b"\1") * len(data))


def flat_coverage(stream: bytes) -> Coverage:
    """Replay a (possibly cut-short) flattened stream as ``makedumpfile -R`` would."""
    recs = []
    pos = 4096
    while pos + 16 <= len(stream):
        off, size = struct.unpack_from(">qq", stream, pos)
        pos += 16
        if off == -1 and size == -1:
            break
        size = min(size, len(stream) - pos)
        recs.append((off, pos, size))
        pos += size
    end = max(o + s for o, _p, s in recs)
    data = bytearray(end)
    have = bytearray(end)
    for off, p, size in recs:
        data[off : off + size] = stream[p : p + size]
        have[off : off + size] = b"\1" * size
    return Coverage(bytes(data), have)


class KdumpLayout:
    """The parts of a kdump file that say where each page is (makedumpfile diskdump_mod.h)."""

    def __init__(self, cov: Coverage) -> None:
        hdr = cov.get(0, 464)
        assert hdr[:8] == b"KDUMP   "
        self.bs, self.sub_hdr_size, self.bitmap_blocks, mapnr32 = struct.unpack_from(
            "<iiII", hdr, 428
        )
        assert self.bs == PS
        bm_off = (1 + self.sub_hdr_size) * PS
        half = self.bitmap_blocks * PS // 2
        self.bitmap2 = cov.get(bm_off + half, half)
        self.desc_off = bm_off + 2 * half
        self.dumped = [
            pfn for pfn in range(half * 8) if self.bitmap2[pfn >> 3] >> (pfn & 7) & 1
        ]
        self.data_start = self.desc_off + 24 * len(self.dumped)

    def descs(self, cov: Coverage) -> Iterator[Tuple[int, Optional[Tuple[int, int, int]]]]:
        """``(pfn, (offset, size, flags) or None when the descriptor is missing)``."""
        for i, pfn in enumerate(self.dumped):
            at = self.desc_off + 24 * i
            if cov.has(at, 24):
                off, size, flags = struct.unpack_from("<qII", cov.get(at, 24))
                yield pfn, (off, size, flags)
            else:
                yield pfn, None


def copy_prefix(src: Path, dst: Path, size: int) -> Path:
    with src.open("rb") as f, dst.open("wb") as g:
        g.write(f.read(size))
    return dst


def patched_copy(src: Path, dst: Path, patches: Dict[int, bytes]) -> Path:
    """A full copy of ``src`` with bytes replaced at the given offsets (never in place)."""
    shutil.copyfile(src, dst)
    with dst.open("r+b") as g:
        for off, data in patches.items():
            g.seek(off)
            g.write(data)
    return dst


def flat_record_offset(stream_path: Path, logical: int) -> int:
    """Offset in the stream of the byte that lands at ``logical`` in the reassembled file."""
    data = stream_path.read_bytes()
    pos = 4096
    found = -1
    while pos + 16 <= len(data):
        off, size = struct.unpack_from(">qq", data, pos)
        pos += 16
        if off == -1:
            break
        if off <= logical < off + size:
            found = pos + logical - off  # later records win: keep looking
        pos += size
    assert found >= 0
    return found


# ------------------------------------------------------------------ 1. architecture


def test_elf_of_another_architecture_is_refused(reference_dumps_all: List[Any], tmp_path: Path) -> None:
    src = Path(_dump(reference_dumps_all, "bookworm", "elf").path)
    for e_machine, name in ((243, "riscv64"), (22, "s390x")):
        bad = patched_copy(src, tmp_path / "arm.elf", {18: struct.pack("<H", e_machine)})
        with pytest.raises(CoreError, match=f"kdbg supports aarch64 and x86_64 dumps; this one is {name}$"):
            open_core(str(bad))
    # arm64 is read, but not an x86-64 kernel's memory under an arm64 header
    bad = patched_copy(src, tmp_path / "arm.elf", {18: struct.pack("<H", 183)})
    with pytest.raises(CoreError, match="header says aarch64 but its VMCOREINFO describes an x86_64 kernel$"):
        open_core(str(bad))
    # the untouched original opens (the copy differs only in e_machine)
    with open_core(str(src)) as m:
        assert m.warnings == []


def test_32bit_elf_core_is_refused(reference_dumps_all: List[Any], tmp_path: Path) -> None:
    """An ELF32 core (i386, arm) built from the real dump's notes and first megabyte."""
    src = Path(_dump(reference_dumps_all, "bookworm", "elf").path)
    raw = src.read_bytes()[: 64 << 20]
    phoff, = struct.unpack_from("<Q", raw, 32)
    phnum, = struct.unpack_from("<H", raw, 56)
    notes = b""
    mem = b""
    for i in range(phnum):
        p_type, _fl, off, _va, pa, filesz = struct.unpack_from("<IIQQQQ", raw, phoff + 56 * i)
        if p_type == 4:
            notes = raw[off : off + filesz]
        elif p_type == 1 and not mem:
            mem = raw[off : off + min(filesz, 1 << 20)]
    assert notes and mem
    for e_machine, name in ((3, "i386"), (40, "arm")):
        ph_off = 52
        data_off = ph_off + 2 * 32
        eh = b"\x7fELF" + bytes([1, 1, 1]) + bytes(9)
        eh += struct.pack("<HHIIIIIHHHHHH", 4, e_machine, 1, 0, ph_off, 0, 0, 52, 32, 2, 40, 0, 0)
        ph = struct.pack("<8I", 4, data_off, 0, 0, len(notes), 0, 0, 0)
        ph += struct.pack("<8I", 1, data_off + len(notes), 0, 0, len(mem), len(mem), 7, 0)
        path = tmp_path / f"core32-{name}"
        path.write_bytes(eh + ph + notes + mem)
        with pytest.raises(CoreError, match=f"kdbg supports aarch64 and x86_64 dumps; this one is {name}$"):
            open_core(str(path))


@pytest.mark.parametrize("form,tool", [("kdump-zlib", "qemu"), ("kdump-zlib", "makedumpfile")])
def test_kdump_of_another_architecture_is_refused(
    reference_dumps_all: List[Any], tmp_path: Path, form: str, tool: str
) -> None:
    src = Path(_dump(reference_dumps_all, "bookworm", form, tool).path)
    assert src.read_bytes()[UTS_MACHINE : UTS_MACHINE + 7] == b"x86_64\0"
    bad = patched_copy(src, tmp_path / "rv.kdump", {UTS_MACHINE: b"riscv64\0"})
    with pytest.raises(CoreError, match="kdbg supports aarch64 and x86_64 dumps; this one is riscv64$"):
        open_core(str(bad))
    bad = patched_copy(src, tmp_path / "arm.kdump", {UTS_MACHINE: b"aarch64\0"})
    with pytest.raises(CoreError, match="header says aarch64 but its VMCOREINFO describes an x86_64 kernel$"):
        open_core(str(bad))
    # an empty machine field: VMCOREINFO (init_top_pgt, phys_base) says x86-64, so it opens
    blank = patched_copy(src, tmp_path / "blank.kdump", {UTS_MACHINE: bytes(8)})
    with open_core(str(blank)) as m:
        assert m.read(0x100000, 16, physical=True) is not None


def test_kdump_without_machine_field_asks_vmcoreinfo(
    reference_dumps_all: List[Any], tmp_path: Path
) -> None:
    """An empty ``utsname.machine``: VMCOREINFO's s390-only entry betrays the machine.

    Only the architecture marks change: the x86-64-only ``SYMBOL(init_top_pgt)=`` becomes
    the s390-only ``SYMBOL(lowcore_ptr)=`` (after a newline: the same length) and
    ``NUMBER(phys_base)`` another name, in both copies of VMCOREINFO the headers carry
    (ELF note and text).
    """
    src = Path(_dump(reference_dumps_all, "bookworm", "kdump-zlib", "qemu").path)
    head = src.read_bytes()[: 64 * PS]
    patches = {UTS_MACHINE: bytes(8)}
    for old, new in ((b"SYMBOL(init_top_pgt)=", b"\nSYMBOL(lowcore_ptr)="),
                     (b"NUMBER(phys_base)=", b"NUMBER(xxxx_base)=")):  # fmt: skip
        at = [m.start() for m in re.finditer(re.escape(old), head)]
        assert at, old
        patches.update({i: new for i in at})
    bad = patched_copy(src, tmp_path / "s390.kdump", patches)
    with pytest.raises(CoreError, match="kdbg supports aarch64 and x86_64 dumps; this one is s390x$"):
        open_core(str(bad))


@pytest.mark.parametrize("form", ["kdump-zlib-flat", "kdump-zlib-d31-flat"])
def test_flattened_of_another_architecture_is_refused(
    reference_dumps_all: List[Any], tmp_path: Path, form: str
) -> None:
    src = Path(_dump(reference_dumps_all, "bookworm", form).path)
    at = flat_record_offset(src, UTS_MACHINE)
    bad = patched_copy(src, tmp_path / "rv.flat", {at: b"riscv64\0"})
    with pytest.raises(CoreError, match="kdbg supports aarch64 and x86_64 dumps; this one is riscv64$"):
        open_core(str(bad))


# ------------------------------------------------------------------ 2. cut short


def _assert_missing_fault(m: Any, paddr: int) -> None:
    with pytest.raises(FaultError) as ei:
        m.read(paddr, PS, physical=True)
    e = ei.value
    assert e.physical and e.address == paddr, (hex(paddr), str(e))
    assert str(e).startswith("page missing from the truncated dump"), str(e)
    assert FAULT_SHAPE.match(str(e)), str(e)


@pytest.mark.parametrize("suite", ["bookworm", "trixie"])
def test_truncated_elf(reference_dumps_all: List[Any], tmp_path: Path, suite: str) -> None:
    src = Path(_dump(reference_dumps_all, suite, "elf").path)
    loads = elf_loads(src)
    expected = max(off + filesz for _pa, off, filesz in loads)
    cut = expected * 45 // 100 + 123  # not page aligned
    path = copy_prefix(src, tmp_path / "cut.elf", cut)
    with open_core(str(path)) as m:
        assert m.warnings == [
            f"vmcore {path} is truncated: {expected - cut} of {expected} bytes (55%) missing; "
            "reads of missing pages fail"
        ]
        early = late = 0
        for pa, off, filesz in loads:
            for rel in range(0, filesz - PS + 1, 97 * PS):
                paddr = pa + rel
                if off + rel + PS <= cut:
                    want = elf_page(src, loads, paddr)
                    assert m.read(paddr, PS, physical=True) == want, hex(paddr)
                    early += 1
                elif off + rel >= cut:
                    _assert_missing_fault(m, paddr)
                    late += 1
        assert early > 50 and late > 50, (early, late)


def _check_kdump_cut(m: Any, layout: KdumpLayout, cov: Coverage, elf: Path) -> Tuple[int, int, int]:
    """Pages kdbg must serve (compared with the ELF dump of the same guest) or refuse."""
    loads = elf_loads(elf)
    served = refused = lost = 0
    for i, (pfn, desc) in enumerate(layout.descs(cov)):
        readable = (
            desc is not None and desc[0] > 0 and desc[1] > 0 and cov.has(desc[0], desc[1])
        )
        lost += not readable
        if i % 23:
            continue
        paddr = pfn * PS
        if readable:
            want = elf_page(elf, loads, paddr)
            if want is None:
                continue
            assert m.read(paddr, PS, physical=True) == want, hex(paddr)
            served += 1
        else:
            _assert_missing_fault(m, paddr)
            refused += 1
    return served, refused, lost


@pytest.mark.parametrize(
    "form,tool", [("kdump-zlib", "qemu"), ("kdump-zlib", "makedumpfile"), ("kdump-lzo-d31", "")]
)
def test_truncated_kdump(
    reference_dumps_all: List[Any], tmp_path: Path, form: str, tool: str
) -> None:
    d = _dump(reference_dumps_all, "bookworm", form, tool)
    elf = Path(_dump(reference_dumps_all, "bookworm", "elf", "qemu").path)
    full = Path(d.path).read_bytes()
    layout = KdumpLayout(plain_coverage(full))
    data_end = max(
        o + z for _pfn, (o, z, _f) in layout.descs(plain_coverage(full))  # type: ignore[misc]
    )
    assert data_end == len(full)
    cut = len(full) // 2 + 7
    path = copy_prefix(Path(d.path), tmp_path / "cut.kdump", cut)
    with open_core(str(path)) as m:
        assert m.warnings == [
            f"vmcore {path} is truncated: {data_end - cut} of {data_end} bytes (50%) missing; "
            "reads of missing pages fail"
        ]
        served, refused, _lost = _check_kdump_cut(m, layout, plain_coverage(full[:cut]), elf)
        assert served > 100 and refused > 100, (served, refused)
    # cut inside the page descriptor table: every page is gone, the headers are not
    cut = layout.desc_off + 24 * 1000 + 5
    path = copy_prefix(Path(d.path), tmp_path / "cut2.kdump", cut)
    with open_core(str(path)) as m:
        n = len(layout.dumped)
        assert m.warnings == [
            f"vmcore {path} is truncated: {n} of {n} pages (100%) missing; "
            "reads of missing pages fail"
        ]
        assert m.vmcoreinfo is not None
        for pfn in (layout.dumped[10], layout.dumped[2000]):
            _assert_missing_fault(m, pfn * PS)


@pytest.mark.parametrize("form", ["kdump-zlib-flat", "kdump-zlib-d31-flat"])
@pytest.mark.parametrize("share", [30, 60, 90])
def test_truncated_flattened(
    reference_dumps_all: List[Any], tmp_path: Path, form: str, share: int
) -> None:
    """QEMU's and makedumpfile -F's streams cut anywhere (inside a record) still open."""
    d = _dump(reference_dumps_all, "bookworm", form)
    elf = Path(_dump(reference_dumps_all, "bookworm", "elf", "qemu").path)
    stream = Path(d.path).read_bytes()
    cut = len(stream) * share // 100 + 11
    path = tmp_path / "cut.flat"
    path.write_bytes(stream[:cut])
    cov = flat_coverage(stream[:cut])
    layout = KdumpLayout(cov)
    with open_core(str(path)) as m:
        served, refused, lost = _check_kdump_cut(m, layout, cov, elf)
        n = len(layout.dumped)
        assert len(m.warnings) == 1, m.warnings
        pct = round(100 * lost / n)
        assert m.warnings[0] == (
            f"vmcore {path} is truncated: {lost} of {n} pages ({pct}%) missing; "
            "reads of missing pages fail"
        )
        assert served > 20 and refused > 20, (served, refused)


def test_whole_dumps_have_no_warnings(reference_dumps_all: List[Any]) -> None:
    forms = [d for d in reference_dumps_all if d.suite == "bookworm"]
    assert len({d.form for d in forms}) >= 8
    for d in forms:
        with open_core(str(d.path)) as m:
            assert m.warnings == [], (d.form, m.warnings)


# ------------------------------------------------------------------ 3. one failure, one type


def _first_real_page(layout: KdumpLayout, cov: Coverage, skip: int = 50) -> Tuple[int, int, int]:
    """``(pfn, data offset, data size)`` of a compressed, non-zero page."""
    for pfn, desc in layout.descs(cov):
        if desc and desc[0] > layout.data_start and 64 < desc[1] < PS and desc[2]:
            skip -= 1
            if skip <= 0:
                return pfn, desc[0], desc[1]
    raise AssertionError("no compressed page")


def _assert_corrupt(path: Path, paddr: int, what: str) -> None:
    with open_core(str(path)) as m:
        assert m.warnings == []
        with pytest.raises(FaultError) as ei:
            m.read(paddr + 8, 8, physical=True)
        e = ei.value
        assert e.physical and e.address == paddr + 8, str(e)
        assert str(e).startswith(what), str(e)
        assert FAULT_SHAPE.match(str(e)), str(e)


@pytest.mark.parametrize(
    "form,tool,codec",
    [("kdump-zlib", "makedumpfile", "zlib"), ("kdump-lzo", "", "lzo"), ("kdump-zlib", "qemu", "zlib")],
)
def test_corrupt_page_in_real_kdump_is_fault_error(
    reference_dumps_all: List[Any], tmp_path: Path, form: str, tool: str, codec: str
) -> None:
    src = Path(_dump(reference_dumps_all, "bookworm", form, tool).path)
    cov = plain_coverage(src.read_bytes())
    layout = KdumpLayout(cov)
    pfn, off, size = _first_real_page(layout, cov)
    bad = patched_copy(src, tmp_path / "bad-data", {off: b"\xff" * min(size, 32)})
    _assert_corrupt(bad, pfn * PS, f"page data is corrupt ({codec}:")
    # a descriptor claiming more than a page
    idx = layout.dumped.index(pfn)
    bad = patched_copy(src, tmp_path / "bad-desc", {layout.desc_off + 24 * idx + 8: struct.pack("<I", PS + 1)})
    _assert_corrupt(bad, pfn * PS, "page descriptor is corrupt")


def test_corrupt_page_in_real_flattened_is_fault_error(
    reference_dumps_all: List[Any], tmp_path: Path
) -> None:
    src = Path(_dump(reference_dumps_all, "bookworm", "kdump-zlib-flat").path)
    cov = flat_coverage(src.read_bytes())
    layout = KdumpLayout(cov)
    pfn, off, size = _first_real_page(layout, cov)
    bad = patched_copy(src, tmp_path / "bad.flat", {flat_record_offset(src, off): b"\xff" * 32})
    _assert_corrupt(bad, pfn * PS, "page data is corrupt (zlib:")


@pytest.mark.parametrize("codec", ["zlib", "lzo", "snappy", "zstd"])
def test_corrupt_page_every_codec_is_fault_error(
    reference_dumps_all: List[Any], tmp_path: Path, codec: str
) -> None:
    """Real pages (the bookworm ELF dump's first megabytes) re-encoded with each codec."""
    elf = Path(_dump(reference_dumps_all, "bookworm", "elf", "qemu").path)
    loads = elf_loads(elf)
    pages: Dict[int, bytes] = {}
    for pfn in range(0, 0x8000, 13):
        page = elf_page(elf, loads, pfn * PS)
        if page and page != bytes(PS) and len(pages) < 400:
            pages[pfn] = page
    assert len(pages) == 400
    img = bytearray(
        make_kdump(b"", codec, dumped=set(pages), present=set(pages), page_data=pages.__getitem__,
                   max_mapnr=0x8000)
    )  # fmt: skip
    cov = plain_coverage(bytes(img))
    layout = KdumpLayout(cov)
    pfn, off, size = _first_real_page(layout, cov, skip=3)
    img[off : off + min(size, 24)] = b"\x5a" * min(size, 24)
    for flat in (False, True):
        path = tmp_path / f"bad-{codec}-{flat}"
        path.write_bytes(make_flattened(bytes(img), overlap=False) if flat else bytes(img))
        _assert_corrupt(path, pfn * PS, "page data is corrupt")
        with open_core(str(path)) as m:  # the other pages are intact
            other = next(p for p in pages if p != pfn)
            assert m.read(other * PS, PS, physical=True) == pages[other]


def test_missing_codec_is_core_error_at_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A codec this Python lacks makes the whole dump unreadable: CoreError when opened."""
    import kdbg.memory.decompress as dec

    img = bytearray(make_kdump(bytes(PS) + b"x" * PS * 3, "zstd"))
    struct.pack_into("<I", img, 424, 0x20)  # status: zstd, as makedumpfile -z records it
    path = tmp_path / "zstd.kdump"
    path.write_bytes(bytes(img))
    real_import = builtins.__import__

    def fake_import(name: str, *a: Any, **k: Any) -> Any:
        if name in ("zstandard", "cramjam"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(dec, "_zstd_mod", None)
    with pytest.raises(CoreError, match=r"'zstd' extra"):
        open_core(str(path))


def test_same_words_everywhere(reference_dumps_all: List[Any], tmp_path: Path) -> None:
    """A page past the cut reads the same way in ELF, kdump and flattened dumps."""
    messages: Set[str] = set()
    for form, tool in (("elf", "qemu"), ("kdump-zlib", "qemu"), ("kdump-zlib-flat", "")):
        src = Path(_dump(reference_dumps_all, "bookworm", form, tool).path)
        path = copy_prefix(src, tmp_path / f"cut-{form}", src.stat().st_size // 2)
        with open_core(str(path)) as m:
            with pytest.raises(FaultError) as ei:
                m.read(120 << 20, PS, physical=True)
            assert ei.value.physical and ei.value.address == 120 << 20
            messages.add(str(ei.value).split(" (")[0])
    assert messages == {"page missing from the truncated dump"}, messages
