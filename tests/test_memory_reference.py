"""Memory readers against real vmcores of real Debian kernels, checked with the guest's own
ground truth (its /proc/kallsyms, /sys/kernel/btf/vmlinux bytes and uname -r).

Every dump form the reference builder produced (QEMU ELF, ELF with paging, kdump zlib
flattened, kdump reassembled by makedumpfile -R, and makedumpfile's own forms where it
could make them) must give the same bytes. The QEMU kdump is also re-encoded page by page
with liblzo2 (python-lzo), snappy and zstd into the makedumpfile layout to cover those
codecs, and read again with the pure-Python LZO decoder.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from test_memory_formats import make_kdump

import kdbg.memory.decompress as dec
from kdbg.errors import FaultError
from kdbg.memory import CoreMemory, KdumpPhysicalMemory, open_core


def kallsyms(truth: Path) -> Tuple[Dict[str, int], Dict[str, Tuple[int, str]]]:
    """``(core symbols, module symbols -> (address, module))`` from the guest's kallsyms."""
    core: Dict[str, int] = {}
    mods: Dict[str, Tuple[int, str]] = {}
    for line in (truth / "kallsyms").read_text().splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        addr = int(parts[0], 16)
        if len(parts) > 3:
            mods.setdefault(parts[2], (addr, parts[3].strip("[]")))
        else:
            core.setdefault(parts[2], addr)
    return core, mods


def by_suite(dumps: List[Any]) -> Dict[str, List[Any]]:
    out: Dict[str, List[Any]] = defaultdict(list)
    for d in dumps:
        out[d.suite].append(d)
    return out


def check_truth(m: CoreMemory, truth: Path) -> Dict[str, bytes]:
    """Assert the ground truth and return a few reads for cross-form comparison."""
    core, mods = kallsyms(truth)
    release = (truth / "uname").read_text().split()[0]
    assert m.vmcoreinfo is not None
    assert m.vmcoreinfo.osrelease == release
    banner = m.read(core["linux_banner"], 256)
    assert f"Linux version {release} ".encode() in banner
    btf = (truth / "btf" / "vmlinux").read_bytes()
    assert m.read(core["__start_BTF"], len(btf)) == btf
    assert core["__stop_BTF"] - core["__start_BTF"] == len(btf)
    # the direct map: page_offset_base found in the page tables equals the variable
    pob = int.from_bytes(m.read(core["page_offset_base"], 8), "little")
    assert m.arch.page_offset_base == pob
    # init_task.comm-ish: the swapper name is in init_task in every kernel
    assert b"swapper" in m.read(core["init_task"], 4096)
    # a module function, through vmalloc page tables
    mod_syms = [(a, n) for n, (a, mod) in mods.items() if mod == "qemu_fw_cfg"]
    assert mod_syms, "the guest loaded qemu_fw_cfg"
    maddr = min(mod_syms)[0]
    mod_bytes = m.read(maddr, 64)
    assert mod_bytes != bytes(64)
    modules = (truth / "modules").read_text()
    line = next(ln for ln in modules.splitlines() if ln.startswith("qemu_fw_cfg "))
    mod_base = int(next(t for t in line.split() if t.startswith("0x")), 16)
    assert m.read(mod_base, 16) == m.read(m.translate(mod_base), 16, physical=True)
    # the direct-map alias of the BTF bytes reads the same
    pa = m.translate(core["__start_BTF"])
    assert m.read(pob + pa, 4096) == btf[:4096]
    # a read running into an unmapped vmalloc guard page reports the exact address
    with pytest.raises(FaultError) as ei:
        m.read(0xFFFFC90000000000 - 8, 16)
    assert ei.value.address in (0xFFFFC90000000000 - 8, 0xFFFFC90000000000)
    return {
        "banner": banner,
        "btf_head": btf[:64],
        "module": mod_bytes,
        # the direct-map alias of kernel text (never filtered out, unlike an arbitrary page)
        "direct": m.read(pob + m.translate(core["_stext"]), 4096),
        "text": m.read(core["_stext"], 4096),
    }


def test_every_form_matches_guest_truth(reference_dumps_all: List[Any]) -> None:
    assert reference_dumps_all
    for suite, dumps in by_suite(reference_dumps_all).items():
        reads: Dict[str, Dict[str, bytes]] = {}
        for d in dumps:
            with open_core(str(d.path)) as m:
                assert isinstance(m, CoreMemory)
                reads[d.form] = check_truth(m, Path(d.truth))
        forms = sorted(reads)
        assert "elf" in forms and any(f.startswith("kdump") for f in forms), forms
        first = reads[forms[0]]
        for f in forms[1:]:
            assert reads[f] == first, f"{suite}: {f} differs from {forms[0]}"


def _reencode(src: KdumpPhysicalMemory, codec: str, vmcoreinfo: bytes, notes: bytes) -> bytes:
    nr = src.max_mapnr
    present = {p for p in range(nr) if src.is_present(p)}
    dumped = {p for p in present if src.is_dumped(p)}
    return make_kdump(
        b"",
        codec,
        dumped=dumped,
        present=present,
        vmcoreinfo=vmcoreinfo,
        phys_base=(src.phys_base_hint or 0) & ((1 << 64) - 1),
        notes=notes,
        page_data=src.read_page,
        max_mapnr=nr,
    )


@pytest.mark.parametrize("codec", ["lzo", "snappy", "zstd", "lzo-pure-python"])
def test_reencoded_codecs_match_truth(
    reference_dumps_all: List[Any],
    tmp_path: Path,
    codec: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    d = next(d for d in reference_dumps_all if d.suite == "bookworm" and d.form == "kdump-zlib")
    src = open_core(str(d.path))
    phys = src.phys
    assert isinstance(phys, KdumpPhysicalMemory)
    assert src.vmcoreinfo is not None
    real = codec.split("-")[0]
    img = _reencode(phys, real, src.vmcoreinfo.raw, b"")
    flags = {struct.unpack_from("<I", img, off)[0] for off in _desc_flag_offsets(img, 64)}
    assert flags & {0x2, 0x4, 0x20}, flags
    path = tmp_path / f"bookworm.{codec}"
    path.write_bytes(img)
    if codec == "lzo-pure-python":
        monkeypatch.setattr(dec, "_lzo_checked", True)
        monkeypatch.setattr(dec, "_lzo_mod", None)
    with open_core(str(path)) as m:
        check_truth(m, Path(d.truth))
    src.close()


def _desc_flag_offsets(img: bytes, count: int) -> List[int]:
    sub_hdr_size, bitmap_blocks = struct.unpack_from("<iI", img, 432)
    d0 = (1 + sub_hdr_size + bitmap_blocks) * 4096
    return [d0 + 24 * i + 12 for i in range(count)]


def test_sample_dump_matches_truth(sample_dump: Any) -> None:
    """The committed sample dump (no QEMU needed) passes the same truth checks."""
    with open_core(str(sample_dump.path)) as m:
        assert m.vmcoreinfo is not None
        assert m.vmcoreinfo.osrelease == sample_dump.release
        check_truth(m, Path(sample_dump.truth))
