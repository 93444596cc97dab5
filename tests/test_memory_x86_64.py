"""x86-64 translation on synthetic page tables: 4 and 5 levels, 4 KiB / 2 MiB / 1 GiB pages,
a KASLR-randomized direct map found in the page tables, and exact fault addresses.
(Real 4-level kernels are covered by test_memory_reference.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import pytest
from test_memory_formats import make_elf, make_notes

from kdbg.arch.x86_64 import START_KERNEL_MAP, X86_64Translator
from kdbg.errors import FaultError
from kdbg.memory import open_core
from kdbg.memory.vmcoreinfo import VMCoreInfo

PS = 4096
PHYS_BASE = -0x100000
POB = 0xFFFF8A4C40000000  # a randomized, 1 GiB aligned direct map
POB_L5 = 0xFF11234540000000


class PageTables:
    """Builds page tables inside a small physical memory image."""

    def __init__(self, levels: int, size: int = 64 * PS) -> None:
        self.mem = bytearray(size)
        self.levels = levels
        self.shifts = [48, 39, 30, 21, 12][5 - levels :]
        self.next = 0x2000
        self.pgd = 0x1000

    def _alloc(self) -> int:
        t = self.next
        self.next += PS
        return t

    def _entry(self, table: int, idx: int) -> int:
        return int.from_bytes(self.mem[table + idx * 8 : table + idx * 8 + 8], "little")

    def _set(self, table: int, idx: int, val: int) -> None:
        self.mem[table + idx * 8 : table + idx * 8 + 8] = val.to_bytes(8, "little")

    def map(self, va: int, pa: int, size: int) -> None:
        table = self.pgd
        for shift in self.shifts:
            idx = (va >> shift) & 0x1FF
            if 1 << shift == size:
                flags = 0x63 | (0x80 if size > PS else 0) | (1 << 63)  # NX set, masked off
                self._set(table, idx, pa | flags)
                return
            e = self._entry(table, idx)
            if not e & 1:
                e = self._alloc() | 0x63
                self._set(table, idx, e)
            table = e & 0x000FFFFFFFFFF000
        raise AssertionError(size)

    def vmcoreinfo(self, **extra: str) -> bytes:
        text = (
            "OSRELEASE=test\nPAGESIZE=4096\n"
            f"SYMBOL(init_top_pgt)={START_KERNEL_MAP + self.pgd - PHYS_BASE:x}\n"
            f"NUMBER(phys_base)={PHYS_BASE}\n"
            f"NUMBER(pgtable_l5_enabled)={1 if self.levels == 5 else 0}\n"
            "KERNELOFFSET=0\n"
        )
        text += "".join(f"{k}={v}\n" for k, v in extra.items())
        return text.encode()


def _build(levels: int) -> Dict[str, int]:
    return {
        "vmalloc": 0xFFFFC90000003000 if levels == 4 else 0xFFA0000000003000,
        "module2m": 0xFFFFFFFFC0200000,
        "pob": POB if levels == 4 else POB_L5,
    }


@pytest.mark.parametrize("levels", [4, 5])
def test_translate_synthetic(tmp_path: Path, levels: int) -> None:
    pt = PageTables(levels)
    a = _build(levels)
    pt.map(a["vmalloc"], 0x30000, PS)
    pt.map(a["vmalloc"] + PS, 0x20000, PS)
    pt.map(a["module2m"], 0x40000000, 2 << 20)
    pt.map(a["pob"], 0, 1 << 30)
    text_va = START_KERNEL_MAP + 0x5000 - PHYS_BASE
    pt.map(text_va, 0x5000, PS)  # the kernel image is translated through the page tables too
    pt.mem[0x30000:0x31000] = b"V" * PS
    pt.mem[0x20000:0x21000] = b"W" * PS
    pt.mem[0x5000:0x5010] = b"direct-map-bytes"
    vmci = pt.vmcoreinfo()
    notes = make_notes([(b"VMCOREINFO", 0, vmci)])
    path = tmp_path / "core"
    path.write_bytes(make_elf([(0, 0, bytes(pt.mem), len(pt.mem))], notes))
    m = open_core(str(path))
    arch = m.arch
    assert arch.levels == levels
    assert arch.page_offset_base == a["pob"]
    assert m.translate(a["vmalloc"] + 5) == 0x30005
    assert m.translate(a["module2m"] + 0x12345) == 0x40012345
    assert arch.walk(a["pob"] + 0x3456789) == 0x3456789  # 1 GiB page
    assert m.read(a["vmalloc"] + PS - 2, 4) == b"VVWW"
    assert m.read(a["pob"] + 0x5000, 16) == b"direct-map-bytes"
    assert m.read(text_va, 16) == b"direct-map-bytes"
    with pytest.raises(FaultError, match="not mapped") as ei:
        m.read(text_va + PS, 8)  # inside the image range, not mapped: no linear guess
    assert ei.value.address == text_va + PS
    with pytest.raises(FaultError) as ei:
        m.read(a["vmalloc"] + PS + 8, PS)
    assert ei.value.address == a["vmalloc"] + 2 * PS and not ei.value.physical
    with pytest.raises(FaultError, match="not mapped") as ei:
        m.read(a["vmalloc"] - PS + 7, 1)
    assert ei.value.address == a["vmalloc"] - PS + 7
    with pytest.raises(FaultError):
        m.read(a["module2m"], 8)  # mapped, but its physical page is not in the dump
    with pytest.raises(FaultError, match="non-canonical"):
        arch.walk(0x0000900000000000 if levels == 4 else 0x0100000000000000)


def test_page_offset_base_from_vmcoreinfo_symbol() -> None:
    pt = PageTables(4)
    sym_pa = 0x9000
    pt.mem[sym_pa : sym_pa + 8] = (POB + (1 << 30)).to_bytes(8, "little")
    vmci = VMCoreInfo.parse(pt.vmcoreinfo(**{"SYMBOL(page_offset_base)": f"{START_KERNEL_MAP + sym_pa - PHYS_BASE:x}"}))
    mem = bytes(pt.mem)

    def read(a: int, n: int) -> bytes:
        if a + n > len(mem):
            raise FaultError("x", a, True)
        return mem[a : a + n]

    tr = X86_64Translator(read, vmci, None, len(mem))
    assert tr.page_offset_base == POB + (1 << 30)
    assert tr.translate(POB + (1 << 30) + 0x1234) == 0x1234
    tr.set_page_offset_base(POB)
    assert tr.translate(POB + 0x10) == 0x10
