"""arm64 page-table walks kdbg's guests cannot boot here: 16K and 64K granules, 39/42/47-bit
VA, 52-bit physical addresses in FEAT_LPA (64K) and FEAT_LPA2 (4K, 16K) descriptors, and
tagged (TBI/MTE) pointers.

Debian's arm64 archive has a 16K flavour (trixie's and forky's ``arm64-16k``, whose guest
builds 16K/52-bit LPA2 tables: ``tests/test_arm64_kallsyms_all.py`` and every test over
:data:`vmcores.arm64.PAGE_SIZE_KERNELS`) but no 64K one, and no 39/42/47-bit or FEAT_LPA
kernel (the other real-guest checks are 4K/48-bit in ``tests/test_arm64_dumps.py`` and
4K/52-bit LPA2 in ``tests/test_arm64_kallsyms_all.py``), so the other cases' tables are
written here from the Arm ARM's VMSAv8-64 descriptor formats (D8.3):
``valid`` bit 0, ``table``/``page`` bit 1, block and page output addresses from bit
``PAGE_SHIFT``; LPA puts PA[51:48] in bits [15:12], LPA2 PA[51:50] in bits [9:8]. The
builder keeps its own index arithmetic (levels from the Arm ARM's table of the initial
lookup level, not kdbg's formula).
"""

from __future__ import annotations

from typing import Dict, Tuple

import pytest

from kdbg.arch.arm64 import Arm64Translator, untag
from kdbg.errors import CoreError, FaultError
from kdbg.memory.vmcoreinfo import VMCoreInfo

pytestmark = pytest.mark.timeout(120)

U64 = (1 << 64) - 1

#: (granule, VA bits) -> the level the walk starts at (Arm ARM, "initial lookup level"):
#: the walk always ends at level 3.
START_LEVEL = {
    (4096, 39): 1, (4096, 48): 0, (4096, 52): -1,
    (16384, 36): 2, (16384, 47): 1, (16384, 48): 0, (16384, 52): 0,
    (65536, 42): 2, (65536, 48): 1, (65536, 52): 1,
}


class Tables:
    """Physical memory holding page tables built one mapping at a time."""

    def __init__(self, granule: int, va_bits: int, pa52: bool) -> None:
        self.granule = granule
        self.shift = granule.bit_length() - 1
        self.va_bits = va_bits
        self.pa52 = pa52
        self.levels = 3 - START_LEVEL[(granule, va_bits)] + 1
        self.mem: Dict[int, bytearray] = {}
        self.next_free = 0x8000_0000
        self.root = self.alloc()

    def alloc(self) -> int:
        pa = self.next_free
        self.next_free += self.granule
        self.mem[pa] = bytearray(self.granule)
        return pa

    def read(self, pa: int, size: int) -> bytes:
        base = pa & ~(self.granule - 1)
        page = self.mem.get(base)
        if page is None or pa - base + size > self.granule:
            raise FaultError("not in the fake memory", pa, physical=True)
        return bytes(page[pa - base : pa - base + size])

    def encode(self, pa: int) -> int:
        if not self.pa52:
            return pa
        if self.granule == 65536:  # FEAT_LPA
            return (pa & ((1 << 48) - 1)) | ((pa >> 48) & 0xF) << 12
        return (pa & ((1 << 50) - 1)) | ((pa >> 50) & 0x3) << 8  # FEAT_LPA2

    def decode(self, desc: int) -> int:
        if not self.pa52:
            return desc & ((1 << 48) - 1) & ~(self.granule - 1)
        if self.granule == 65536:
            return (desc & ((1 << 48) - 1) & ~0xFFFF) | ((desc >> 12) & 0xF) << 48
        return (desc & ((1 << 50) - 1) & ~(self.granule - 1)) | ((desc >> 8) & 0x3) << 50

    def index(self, va: int, level: int) -> int:
        bits = self.shift - 3
        lsb = self.shift + (3 - level) * bits
        top = START_LEVEL[(self.granule, self.va_bits)]
        width = self.va_bits - lsb if level == top else bits
        return (va >> lsb) & ((1 << width) - 1)

    def map(self, va: int, pa: int, level: int = 3) -> None:
        """Map ``va`` to ``pa`` with a page (level 3) or a block at ``level``."""
        table = self.root
        for lvl in range(START_LEVEL[(self.granule, self.va_bits)], level):
            slot = table + 8 * self.index(va, lvl)
            desc = int.from_bytes(self.read(slot, 8), "little")
            if not desc & 1:
                new = self.alloc()
                desc = self.encode(new) | 0b11
                self.mem[slot & ~(self.granule - 1)][slot % self.granule : slot % self.granule + 8] = \
                    desc.to_bytes(8, "little")
            table = self.decode(desc)
        slot = table + 8 * self.index(va, level)
        kind = 0b11 if level == 3 else 0b01
        desc = self.encode(pa) | kind | 1 << 10  # AF
        self.mem[slot & ~(self.granule - 1)][slot % self.granule : slot % self.granule + 8] = \
            desc.to_bytes(8, "little")

    def translator(self, t1sz_bits: int = 0, release: str = "6.12.0") -> Arm64Translator:
        kernel = (U64 - (1 << (self.va_bits - 1)) + 1) + (64 << 20)  # an upper-half image address
        swapper_va = kernel + 0x1234000
        kimage_voffset = (swapper_va - self.root) & U64
        text = (
            f"PAGESIZE={self.granule}\nNUMBER(VA_BITS)={self.va_bits}\n"
            f"NUMBER(TCR_EL1_T1SZ)={64 - (t1sz_bits or self.va_bits)}\n"
            f"NUMBER(kimage_voffset)={kimage_voffset:#x}\nNUMBER(PHYS_OFFSET)=0x40000000\n"
            f"NUMBER(MAX_PHYSMEM_BITS)={52 if self.pa52 else 48}\nSYMBOL(swapper_pg_dir)={swapper_va:x}\n"
            f"OSRELEASE={release}\n"
        )
        return Arm64Translator(self.read, VMCoreInfo.parse(text.encode()), None, 0x40000000 + (64 << 20))


CASES = [
    (4096, 39, False), (4096, 48, False), (4096, 52, True),
    (16384, 36, False), (16384, 47, False), (16384, 48, False), (16384, 52, True),
    (65536, 42, False), (65536, 48, False), (65536, 52, True),
]


def _vmalloc_va(va_bits: int, offset: int) -> int:
    """An address in the upper (TTBR1) half, ``offset`` above its bottom."""
    return (U64 - (1 << va_bits) + 1 + offset) & U64


@pytest.mark.parametrize("granule, va_bits, pa52", CASES)
def test_pages_and_blocks(granule: int, va_bits: int, pa52: bool) -> None:
    t = Tables(granule, va_bits, pa52)
    high = (1 << 50 | 1 << 48) if pa52 else 0  # PA bits only the 52-bit encodings carry
    page_va = _vmalloc_va(va_bits, (1 << (va_bits - 2)) + 5 * granule)
    page_pa = high | 0x1_2345_0000 & ~(granule - 1)
    t.map(page_va, page_pa)
    block_level = 2
    block = 1 << (t.shift + (3 - block_level) * (t.shift - 3))
    block_va = _vmalloc_va(va_bits, (1 << (va_bits - 3)) + 7 * block)
    block_pa = high | (3 * block)
    t.map(block_va, block_pa, block_level)
    tr = t.translator()
    assert tr.levels == t.levels and tr.page_size == granule
    for off in (0, 8, granule - 8):
        assert tr.translate(page_va + off) == page_pa + off
        assert tr.walk(page_va + off) == page_pa + off
    for off in (0, 0x1238, block - 8):
        assert tr.translate(block_va + off) == block_pa + off
    assert tr.translate_run(block_va + 16, 1 << 40) == (block_pa + 16, block - 16)
    for unmapped in (page_va + granule, page_va - granule, block_va + block):
        with pytest.raises(FaultError):
            tr.walk(unmapped)
    below = (U64 - (1 << va_bits) + 1 - granule) & U64  # under the TTBR1 range
    with pytest.raises(FaultError, match="below the TTBR1 range"):
        tr.walk(below)


@pytest.mark.parametrize("granule, va_bits, pa52", [(4096, 48, False), (65536, 52, True)])
def test_tagged_pointers_translate_as_untagged(granule: int, va_bits: int, pa52: bool) -> None:
    """A pointer with an MTE tag in bits 56-59 (KASAN hw-tags) or a TBI top byte is the
    kernel address with all-ones top byte."""
    t = Tables(granule, va_bits, pa52)
    va = _vmalloc_va(va_bits, 1 << 30)
    t.map(va, 0x4000_0000 + 9 * granule)
    tr = t.translator()
    for tag in (0xF0, 0xF7, 0x00, 0x3A):
        tagged = (va & 0x00FF_FFFF_FFFF_FFFF) | tag << 56
        assert untag(tagged) == va
        assert tr.translate(tagged + 24) == 0x4000_0000 + 9 * granule + 24


def test_linear_map() -> None:
    """``va - PAGE_OFFSET + PHYS_OFFSET`` in dumped RAM, with no walk at all."""
    t = Tables(4096, 48, False)
    tr = t.translator()
    page_offset = (U64 - (1 << 48) + 1) & U64
    assert tr.page_offset_base == page_offset - 0x40000000
    assert tr.translate(page_offset + 0x123456) == 0x40000000 + 0x123456
    assert tr.layout["page_offset_base"].value == page_offset - 0x40000000


def test_52bit_kernel_on_48bit_hardware_is_not_a_contradiction() -> None:
    """``VA_BITS=52`` with ``T1SZ=16``: a 52-bit kernel on a CPU without LVA/LPA2 runs
    48-bit kernel addresses; any other mismatch is refused."""
    t = Tables(65536, 52, True)
    assert t.translator(t1sz_bits=48).params.va_bits_actual == 48
    with pytest.raises(CoreError, match="contradicts itself"):
        Tables(65536, 48, False).translator(t1sz_bits=42)


def test_walk_cost_is_bounded() -> None:
    """Every walk reads one descriptor per level (no scans)."""
    t = Tables(4096, 52, True)
    va = _vmalloc_va(52, 1 << 45)
    t.map(va, 0x5000_0000)
    reads: Dict[Tuple[int, int], int] = {}
    inner = t.read

    def counting(pa: int, size: int) -> bytes:
        reads[(pa, size)] = reads.get((pa, size), 0) + 1
        return inner(pa, size)

    t.read = counting  # type: ignore[method-assign]
    tr = t.translator()
    reads.clear()
    tr.walk(va)
    assert sum(reads.values()) == t.levels == 5


def _set(t: Tables, slot: int, desc: int) -> None:
    t.mem[slot & ~(t.granule - 1)][slot % t.granule : slot % t.granule + 8] = desc.to_bytes(8, "little")


@pytest.mark.parametrize("granule, va_bits, pa52", CASES)
def test_walk_entries_and_leaves(granule: int, va_bits: int, pa52: bool) -> None:
    """``walk_entries`` reads one descriptor per level, top first, each at its table's
    slot, ending at the page (shift ``PAGE_SHIFT``) or the block; ``leaf`` gives the frame
    and the level's span (``vm -p``)."""
    t = Tables(granule, va_bits, pa52)
    high = (1 << 50 | 1 << 48) if pa52 else 0
    page_va = _vmalloc_va(va_bits, (1 << (va_bits - 2)) + 3 * granule)
    t.map(page_va, high | 0x7_0000_0000)
    block = 1 << (t.shift + (t.shift - 3))  # a level-2 block
    block_va = _vmalloc_va(va_bits, (1 << (va_bits - 3)) + 5 * block)
    t.map(block_va, high | (9 * block), 2)
    tr = t.translator()
    entries = tr.walk_entries(page_va + 8)
    assert [sh for sh, _at, _e in entries] == [t.shift + (3 - lvl) * (t.shift - 3) for lvl in range(4 - t.levels, 4)]
    assert entries[0][1] == t.root + 8 * t.index(page_va, 4 - t.levels)
    shift, _at, last = entries[-1]
    assert tr.leaf(shift, last) == (granule, high | 0x7_0000_0000, None)
    shift, _at, last = tr.walk_entries(block_va + granule)[-1]
    assert shift == t.shift + (t.shift - 3) and tr.leaf(shift, last) == (block, high | (9 * block), None)


#: A last-level descriptor the MMU does not use, as the kernel writes it (the swap-entry
#: and ``PROT_NONE`` layouts of ``arch/arm64/include/asm/pgtable{,-prot}.h``): 6.10+ keeps
#: the swap type in bits 6-10 and the offset from bit 12, with ``PTE_PRESENT_INVALID`` (bit
#: 11, ``PTE_NG``) marking ``PROT_NONE``; 5.19-6.9 the type in bits 3-7, the offset from bit
#: 8, ``PTE_PROT_NONE`` bit 58.
SWAP_CASES = [("6.12.117+deb13-arm64-16k", 6, 12, 1 << 11), ("6.1.0-50-cloud-arm64", 3, 8, 1 << 58)]


@pytest.mark.parametrize("release, type_shift, offset_shift, prot_none", SWAP_CASES)
@pytest.mark.parametrize("granule", (4096, 16384))
def test_leaf_of_prot_none_and_swap_entries(release: str, type_shift: int, offset_shift: int, prot_none: int,
                                            granule: int) -> None:
    """A ``PROT_NONE`` page maps its frame (``pte_present``); a swap entry is its type and
    offset by the dumped kernel's layout (VMCOREINFO's ``OSRELEASE``); an empty descriptor
    maps nothing."""
    t = Tables(granule, 48, False)
    va = _vmalloc_va(48, 1 << 40)
    t.map(va, 0x4321 * granule)
    tr = t.translator(release=release)
    shift, at, desc = tr.walk_entries(va)[-1]
    frame = desc & ((1 << 48) - 1) & ~(granule - 1)
    _set(t, at, (desc & ~1) | prot_none)  # PAGE_NONE: the valid bit cleared
    assert tr.walk_entries(va)[-1][2] == (desc & ~1) | prot_none
    assert tr.leaf(shift, (desc & ~1) | prot_none) == (granule, frame, None)
    swap = 7 << type_shift | 0x12345 << offset_shift
    assert tr.leaf(shift, swap) == (granule, None, (7, 0x12345))
    assert tr.leaf(shift, 0) == (granule, None, None)
    with pytest.raises(FaultError):
        tr.walk(va)
