"""Fuzz the dump readers: mutate the headers of small real dump slices and assert that only
CoreError / FaultError escape (no other exception, no hang, no huge allocation).

Each case runs under a watchdog (``tests/fuzz_harness.py``) that raises inside a hang, and
the test reports and asserts its reach: how many cases opened and how many then read data.

The seeds are cut from the bookworm reference dump: its real ELF program headers and note
segment (VMCOREINFO, PRSTATUS) with a 64-page PT_LOAD slice of its memory around the kernel
banner, and the same pages as kdump (zlib and zstd, with real VMCOREINFO and notes in the
sub-header) and as a flattened stream of that kdump.

Normal runs try a small budget; the dedicated run is
``KDBG_FUZZ_EXAMPLES=100000 pytest tests/test_fuzz_memory.py``.
"""

from __future__ import annotations

import contextlib
import os
import struct
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_memory_formats import make_elf, make_flattened, make_kdump

from kdbg.errors import CoreError, FaultError
from kdbg.memory import open_core
from tests.conftest import resolve_dump
from tests.fuzz_harness import CaseHang, Reach, watchdog

EXAMPLES = int(os.environ.get("KDBG_FUZZ_EXAMPLES", "300"))
PS = 4096
SLICE_PAGES = 64

def _table_pages(m: Any, va: int) -> Dict[int, bytes]:
    """pfn -> bytes of each page-table page that a 4-level walk of ``va`` reads."""
    out: Dict[int, bytes] = {}
    table = m.arch.pgd
    for shift in (39, 30, 21, 12):
        page = out[table // PS] = m.read(table, PS, physical=True)
        idx = (va >> shift) & 0x1FF
        entry = int.from_bytes(page[idx * 8 : idx * 8 + 8], "little")
        if shift == 12 or entry & 0x80:
            break
        table = entry & 0x000FFFFFFFFFF000
    return out


def _real_slice() -> Dict[str, Any]:
    d = resolve_dump("bookworm", "elf", "qemu")
    core = {}
    for line in (Path(d.truth) / "kallsyms").read_text().splitlines():
        a, _t, name = line.split()[:3]
        core.setdefault(name, int(a, 16))
    with Path(d.path).open("rb") as raw:
        head = raw.read(64)
        phoff = struct.unpack_from("<Q", head, 32)[0]
        phnum = struct.unpack_from("<H", head, 56)[0]
        raw.seek(phoff)
        phdrs = raw.read(56 * phnum)
        notes = b""
        for i in range(phnum):
            p_type, _f, off, _v, _p, filesz = struct.unpack_from("<IIQQQQ", phdrs, 56 * i)
            if p_type == 4:
                raw.seek(off)
                notes = raw.read(filesz)
    with open_core(str(d.path)) as m:
        banner = core["linux_banner"]
        pa = m.translate(banner) & ~(PS - 1)
        base = pa - 16 * PS
        pages = m.read(base, SLICE_PAGES * PS, physical=True)
        tables = _table_pages(m, banner)
        assert m.vmcoreinfo is not None
        vmci = m.vmcoreinfo.raw
        # the guest's own vmalloc area start (randomized per boot), read from the dump
        (vmalloc,) = struct.unpack("<Q", m.read(core["vmalloc_base"], 8))
    # physical memory image: the slice at its real physical address, plus the page-table
    # pages that translate the banner (kernel-image addresses go through the page tables)
    mem_pages = {base // PS + i: pages[i * PS : (i + 1) * PS] for i in range(SLICE_PAGES)}
    extra = {p: data for p, data in tables.items() if p not in mem_pages}
    mem_pages.update(extra)
    nr = max(mem_pages) + 1
    loads = [(0, base, pages, len(pages))] + [(0, p * PS, data, PS) for p, data in sorted(extra.items())]
    elf = make_elf(loads, notes)
    kd = {
        codec: make_kdump(
            b"",
            codec,
            dumped=set(mem_pages),
            present=set(mem_pages) | {1, 2, 3},
            vmcoreinfo=vmci,
            notes=notes,
            page_data=lambda p: mem_pages[p],
            max_mapnr=nr,
        )
        for codec in ("zlib", "zstd")
    }
    return {
        "seeds": {
            "elf": elf,
            "kdump-zlib": kd["zlib"],
            "kdump-zstd": kd["zstd"],
            "flat": make_flattened(kd["zlib"], chunk=20000, overlap=False),
        },
        "vaddrs": [banner, banner + PS - 3, core["init_task"], vmalloc + PS],
        "paddrs": [base, base + 5 * PS - 4, PS, 0],
    }


@pytest.fixture(scope="session")
def fuzz_seeds() -> Dict[str, Any]:
    return _real_slice()


@pytest.fixture(scope="session")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the cases are written (pytest's own temporary directory, made when a test
    runs, not when the module is collected, and cleaned with pytest's old basetemps)."""
    return tmp_path_factory.mktemp("fuzz-memory")


STAGES = ["opened", "read"]


def _check(data: bytes, vaddrs: List[int], paddrs: List[int], path: Path) -> str:
    """Open and read; return the stage reached (``""`` refused at open, ``"opened"``,
    ``"read"``: at least one read returned its bytes)."""
    path.write_bytes(data)
    try:
        m = open_core(str(path))
    except (CoreError, FaultError):
        return ""
    got = 0
    try:
        for a in paddrs:
            for size in (8, 3 * PS):
                with contextlib.suppress(CoreError, FaultError):
                    got += len(m.read(a, size, physical=True)) == size
        for a in vaddrs:
            with contextlib.suppress(CoreError, FaultError):
                got += len(m.read(a, 64)) == 64
    finally:
        m.close()
    return "read" if got else "opened"


def _region(kind: str, data: bytes) -> Tuple[int, int]:
    """The header area worth mutating: ELF headers+notes, kdump metadata, flat records."""
    if kind == "elf":
        phoff, phnum = struct.unpack_from("<Q", data, 32)[0], struct.unpack_from("<H", data, 56)[0]
        end = phoff + 56 * phnum
        note_off, note_size = struct.unpack_from("<QQ", data, phoff + 8)[0], 0
        note_size = struct.unpack_from("<Q", data, phoff + 32)[0]
        return 0, max(end, note_off + note_size)
    if kind.startswith("kdump"):
        sub, bm = struct.unpack_from("<iI", data, 432)
        d0 = (1 + sub + bm) * PS
        return 0, d0 + 24 * (SLICE_PAGES + 2)
    return 0, len(data)


mutation = st.tuples(
    st.floats(min_value=0, max_value=1, exclude_max=True),
    st.one_of(
        st.binary(min_size=1, max_size=8),
        st.sampled_from([b"\xff" * 8, b"\x00" * 8, b"\x7f\xff\xff\xff", b"\x00\x10\x00\x00", b"\x01"]),
    ),
)


def test_fuzz_dump_headers(fuzz_seeds: Dict[str, Any], fuzz_dir: Path) -> None:
    """Only CoreError/FaultError escape, no case hangs, and many cases open and read."""
    reach = Reach("fuzz_memory", STAGES)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        derandomize=EXAMPLES <= 1000,
    )
    @given(
        kind=st.sampled_from(["elf", "kdump-zlib", "kdump-zstd", "flat"]),
        mutations=st.lists(mutation, min_size=1, max_size=6),
        truncate=st.one_of(st.none(), st.floats(min_value=0, max_value=1)),
        anywhere=st.booleans(),
    )
    def case(kind: str, mutations: List[Tuple[float, bytes]], truncate: Any, anywhere: bool) -> None:
        data = bytearray(fuzz_seeds["seeds"][kind])
        lo, hi = (0, len(data)) if anywhere else _region(kind, bytes(data))
        hi = min(hi, len(data))
        for where, blob in mutations:
            off = lo + int(where * (hi - lo))
            data[off : off + len(blob)] = blob
        if truncate is not None:
            del data[int(truncate * len(data)) :]
        args = (kind, mutations, truncate, anywhere)
        try:
            with watchdog(what=f"fuzz_memory {args!r}"[:500]):
                reach.record(_check(bytes(data), fuzz_seeds["vaddrs"], fuzz_seeds["paddrs"],
                                    fuzz_dir / f"case-{os.getpid()}"))
        except CaseHang as e:
            reach.hangs.append(str(e))  # recorded, not shrunk: each retry would hang again

    case()
    reach.check({"opened": 0.3, "read": 0.2}, min(EXAMPLES, 100))


def test_fuzz_seeds_are_valid(fuzz_seeds: Dict[str, Any], fuzz_dir: Path) -> None:
    """The unmutated seeds open and read the real banner (so the fuzz exercises real paths),
    and reach the last stage."""
    for kind, data in fuzz_seeds["seeds"].items():
        path = fuzz_dir / f"seed-{kind}"
        path.write_bytes(data)
        with open_core(str(path)) as m:
            assert b"Linux version" in m.read(fuzz_seeds["vaddrs"][0], 64), kind
        assert _check(data, fuzz_seeds["vaddrs"], fuzz_seeds["paddrs"], path) == "read", kind
