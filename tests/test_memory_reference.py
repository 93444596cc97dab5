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


START_KERNEL_MAP = 0xFFFFFFFF80000000  # x86-64 __START_KERNEL_map
PS = 4096
_PRESENT, _HUGE = 1, 1 << 7
_PFN_MASK = ((1 << 52) - 1) & ~(PS - 1)


def vmcoreinfo_entries(m: CoreMemory) -> Dict[str, str]:
    """The dump's VMCOREINFO note text, split into KEY=VALUE here (not by kdbg)."""
    assert m.vmcoreinfo is not None
    text = m.vmcoreinfo.raw.decode("ascii", "replace")
    return dict(ln.split("=", 1) for ln in text.splitlines() if "=" in ln)


def first_vmalloc_guard_page(m: CoreMemory, core: Dict[str, int]) -> int:
    """The first page of the vmalloc area that the guest's page tables leave unmapped right
    after a mapped one: the guard page after a vmalloc allocation.

    Found by walking the page tables here, from ``init_top_pgt`` (VMCOREINFO) with
    physical reads only, so kdbg's own translation is not the judge of what is mapped.
    """
    info = vmcoreinfo_entries(m)
    phys_base = int(info["NUMBER(phys_base)"])
    levels = 5 if info.get("NUMBER(pgtable_l5_enabled)", "0") == "1" else 4

    def image_pa(vaddr: int) -> int:
        return vaddr - START_KERNEL_MAP + phys_base

    (vmalloc,) = struct.unpack("<Q", m.read(image_pa(core["vmalloc_base"]), 8, physical=True))
    top = image_pa(int(info["SYMBOL(init_top_pgt)"], 16))
    shifts = [12 + 9 * i for i in range(levels - 1, -1, -1)]  # PGD ... PTE

    def mapped_ranges(table: int, level: int, base: int):  # type: ignore[no-untyped-def]
        entries = struct.unpack("<512Q", m.read(table, PS, physical=True))
        shift = shifts[level]
        for i, e in enumerate(entries):
            start = base + (i << shift)
            if level == 0 and i >= 256:  # the upper half: sign-extended (canonical) addresses
                start |= ((1 << 64) - 1) ^ ((1 << (shift + 9)) - 1)
            end = start + (1 << shift)
            if end <= vmalloc or not e & _PRESENT:
                yield (start, end, False)
            elif level == len(shifts) - 1 or (level > 0 and e & _HUGE):
                yield (start, end, True)
            else:
                yield from mapped_ranges(e & _PFN_MASK, level + 1, start)

    prev_mapped = False
    for start, _end, present in mapped_ranges(top, 0, 0):
        if start >= vmalloc and prev_mapped and not present:
            return start
        prev_mapped = present and start >= vmalloc
    raise AssertionError(f"no guard page found above vmalloc_base {vmalloc:#x}")


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
    # a read running from a vmalloc allocation into its guard page (found by walking the
    # guest's page tables) reads up to the page and faults at its first byte
    guard = first_vmalloc_guard_page(m, core)
    assert len(m.read(guard - 8, 8)) == 8
    with pytest.raises(FaultError) as ei:
        m.read(guard - 8, 16)
    assert ei.value.address == guard and not ei.value.physical, (hex(guard), ei.value)
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
