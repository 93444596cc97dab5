"""Address translation and the randomized layout on the real reference dumps (Debian 5.10,
6.1, 6.12 under QEMU, every dump form), against ground truth from outside kdbg.

Ground truth:
* the guest's own ``/proc/kallsyms`` and ``/proc/iomem`` (``truth/``);
* drgn (a separate implementation: its own ELF reader and x86-64 page-table walker) on the
  suite's QEMU ELF dump, with no debug info: it says which kernel-image pages the page
  tables map, and what the bytes of ``page_offset_base``, ``vmalloc_base`` and
  ``vmemmap_base`` are. The other forms of a suite hold the same machine state.

What is proved: a read just past the last page the page tables map after ``_end`` raises
``FaultError`` naming that address (kdbg used to translate the whole image range linearly
and returned unrelated memory); every page around the image is readable exactly when drgn
can read it, with the same bytes; the bases kdbg uses are the kernel's variables and
behave as those regions must (the direct map aliases kernel code at its iomem address,
struct pages of RAM are mapped in vmemmap, the page below vmalloc is unmapped); the
page-table guesses agree with the variables on all three kernels, and when a "variable"
is wrong the policy documented in :func:`kdbg.arch.x86_64.choose_base` applies.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Tuple

import drgn
import pytest

import kdbg
from kdbg.arch.x86_64 import LAYOUT_BASES
from kdbg.errors import FaultError
from kdbg.memory import CoreMemory, open_core

PS = 4096


def truth_symbols(truth: Path) -> Dict[str, int]:
    """Core kernel symbols (first address of each name) from the guest's /proc/kallsyms."""
    out: Dict[str, int] = {}
    for line in (truth / "kallsyms").read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.setdefault(parts[2], int(parts[0], 16))
    return out


def iomem(truth: Path) -> List[Tuple[int, int, str]]:
    """``(start, end inclusive, name)`` of every line of the guest's /proc/iomem."""
    rows = []
    for line in (truth / "iomem").read_text().splitlines():
        m = re.match(r"^\s*([0-9a-f]+)-([0-9a-f]+) : (.*)$", line)
        if m:
            rows.append((int(m.group(1), 16), int(m.group(2), 16), m.group(3)))
    return rows


class SuiteTruth:
    """What drgn and the guest say about one suite's machine state."""

    def __init__(self, dumps: List[Any]) -> None:
        self.dumps = dumps
        elf = next(d for d in dumps if d.form == "elf")
        self.truth = Path(elf.truth)
        self.syms = truth_symbols(self.truth)
        self.iomem = iomem(self.truth)
        prog = drgn.Program()
        prog.set_core_dump(str(elf.path))
        self.drgn = prog
        #: The kernel variables' values, read by drgn at the guest's kallsyms addresses.
        self.bases = {n: int.from_bytes(prog.read(self.syms[n], 8), "little") for n in LAYOUT_BASES}
        end = (self.syms["_end"] + PS - 1) & ~(PS - 1)
        self.first_unmapped = next(a for a in range(end, end + (64 << 20), PS) if not self.readable(a))

    def readable(self, va: int) -> bool:
        try:
            self.drgn.read(va, 1)
        except drgn.FaultError:
            return False
        return True


@pytest.fixture(scope="module")
def suites(reference_dumps_all: List[Any]) -> Dict[str, SuiteTruth]:
    by: Dict[str, List[Any]] = defaultdict(list)
    for d in reference_dumps_all:
        by[d.suite].append(d)
    assert {"bullseye", "bookworm", "trixie"} <= set(by), sorted(by)
    return {suite: SuiteTruth(dumps) for suite, dumps in sorted(by.items())}


def test_read_past_end_faults_on_every_kernel_and_form(suites: Dict[str, SuiteTruth]) -> None:
    checked = 0
    for suite, st in suites.items():
        bad = st.first_unmapped
        assert st.readable(bad - PS), f"{suite}: the image's last mapped page is readable"
        for d in st.dumps:
            with open_core(str(d.path)) as m:
                reads = [(bad, 8), (bad + 0x123, 1)]
                if "d31" not in d.form:  # filtered dumps may drop the free page before it
                    reads += [(bad - 8, 16), (bad - PS, 2 * PS)]
                for addr, size in reads:
                    with pytest.raises(FaultError) as ei:
                        m.read(addr, size)
                    assert ei.value.address == max(addr, bad), (suite, d.form, hex(addr))
                    assert not ei.value.physical
                    assert f"{max(addr, bad):#x}" in str(ei.value)
                if "d31" not in d.form:
                    assert m.read(bad - PS, PS) == st.drgn.read(bad - PS, PS), (suite, d.form)
            checked += 1
    assert checked == sum(len(st.dumps) for st in suites.values()) >= 3 * 5


def test_image_pages_readable_exactly_where_the_page_tables_map(suites: Dict[str, SuiteTruth]) -> None:
    for suite, st in suites.items():
        elf = next(d for d in st.dumps if d.form == "elf")
        lo = (st.syms["_text"] & ~((2 << 20) - 1)) - (2 << 20)
        hi = st.first_unmapped + (4 << 20)
        mapped = 0
        with open_core(str(elf.path)) as m:
            for va in range(lo, hi, PS):
                if st.readable(va):
                    mapped += 1
                    assert m.read(va, PS) == st.drgn.read(va, PS), (suite, hex(va))
                else:
                    with pytest.raises(FaultError):
                        m.read(va, PS)
        image_pages = (st.syms["_end"] - st.syms["_text"]) // PS
        assert image_pages <= mapped < image_pages + 1024, (suite, mapped, image_pages)


def _check_layout_semantics(suite: str, st: SuiteTruth, m: CoreMemory) -> None:
    """The bases behave as their regions must, judged by drgn and the guest's iomem."""
    pob, vmalloc, vmemmap = (st.bases[n] for n in LAYOUT_BASES)
    code = next(r for r in st.iomem if r[2] == "Kernel code")
    # the image translates to where the guest says its code is, and the direct map at the
    # base aliases it there (both read through drgn's own page-table walk)
    assert m.translate(st.syms["_text"]) == code[0], suite
    assert st.drgn.read(pob + code[0], 256) == st.drgn.read(st.syms["_text"], 256), suite
    assert m.read(pob + code[0], 256) == st.drgn.read(st.syms["_text"], 256), suite
    # struct page of the first pfn of every System RAM range is mapped in vmemmap
    page_size = m.vmcoreinfo.size("page") if m.vmcoreinfo is not None else 64
    ram = [r for r in st.iomem if r[2] == "System RAM"]
    assert ram, suite
    for start, _end, _ in ram:
        assert st.readable(vmemmap + (start // PS) * page_size), (suite, hex(start))
    # vmalloc starts after an unmapped randomization gap: the read runs off into a fault
    assert not st.readable(vmalloc - PS), suite
    with pytest.raises(FaultError) as ei:
        m.read(vmalloc - 8, 16)
    assert ei.value.address == vmalloc - 8, suite


def test_layout_bases_are_the_kernel_variables_and_the_guess_agrees(suites: Dict[str, SuiteTruth]) -> None:
    for suite, st in suites.items():
        for d in st.dumps:
            with open_core(str(d.path)) as m:
                guessed = {n: m.arch.layout[n] for n in LAYOUT_BASES}
                for n in LAYOUT_BASES:  # before symbols: the page tables alone
                    assert guessed[n].source == "page tables", (suite, d.form, n)
                    assert guessed[n].value == st.bases[n], (suite, d.form, n)
                m.attach_symbols(st.syms.get)
                for n in LAYOUT_BASES:
                    b = m.arch.layout[n]
                    assert (b.source, b.value, b.variable, b.guess) == (
                        "kernel variable",
                        st.bases[n],
                        st.bases[n],
                        st.bases[n],
                    ), (suite, d.form, b)
                    assert getattr(m, n) == getattr(m.arch, n) == st.bases[n]
                assert m.layout_notes == [], (suite, d.form)
                _check_layout_semantics(suite, st, m)


def test_program_hands_symbols_to_memory(suites: Dict[str, SuiteTruth]) -> None:
    for suite, st in suites.items():
        d = next(d for d in st.dumps if d.form == "kdump-zlib")
        prog = kdbg.open_core(str(d.path))
        try:
            assert prog.memory is not None
            assert prog.memory.arch.layout["page_offset_base"].source == "page tables"
            assert prog.symbol("page_offset_base").address == st.syms["page_offset_base"]
            for n in LAYOUT_BASES:
                b = prog.memory.arch.layout[n]
                assert (b.source, b.value) == ("kernel variable", st.bases[n]), (suite, b)
                assert getattr(prog.memory, n) == st.bases[n]
        finally:
            prog.close()


def test_variable_and_guess_disagree(suites: Dict[str, SuiteTruth]) -> None:
    """Symbols pointing at the wrong variables: a plausible value is trusted (and the
    disagreement noted); one that fails the region's own check loses to the guess."""
    st = suites["bookworm"]
    d = next(d for d in st.dumps if d.form == "elf")
    wrong = {
        "page_offset_base": st.syms["vmalloc_base"],  # maps no RAM: the guess wins
        "vmalloc_base": st.syms["vmemmap_base"],  # plausible (above the direct map): trusted
        "vmemmap_base": st.syms["vmemmap_base"],
    }
    with open_core(str(d.path)) as m:
        m.attach_symbols(wrong.get)
        lay = m.arch.layout
        pob = lay["page_offset_base"]
        assert (pob.value, pob.source, pob.variable) == (
            st.bases["page_offset_base"],
            "page tables",
            st.bases["vmalloc_base"],
        )
        assert "another boot" in pob.note
        vm = lay["vmalloc_base"]
        assert (vm.value, vm.source, vm.guess) == (
            st.bases["vmemmap_base"],
            "kernel variable",
            st.bases["vmalloc_base"],
        )
        assert f"{st.bases['vmalloc_base']:#x}" in vm.note and "using the variable" in vm.note
        # vmemmap is now "below the vmalloc area" it was given, with no better guess
        assert len(m.layout_notes) == 3, m.layout_notes
        # the direct map still reads right, because the guess was kept
        code = next(r for r in st.iomem if r[2] == "Kernel code")
        assert m.read(st.bases["page_offset_base"] + code[0], 64) == st.drgn.read(st.syms["_text"], 64)


KCORE_SCRIPT = r"""
python3 - <<'PY'
import json, struct
names = ("page_offset_base", "vmalloc_base", "vmemmap_base")
syms = {}
for line in open("/proc/kallsyms"):
    a, _t, n = line.split()[:3]
    if n in names and n not in syms:
        syms[n] = int(a, 16)
# the variables' bytes straight from the kernel's /proc/kcore, by its own program headers
f = open("/proc/kcore", "rb")
hdr = f.read(64)
(phoff,) = struct.unpack_from("<Q", hdr, 32)
phentsize, phnum = struct.unpack_from("<HH", hdr, 54)
assert phnum != 0xFFFF
f.seek(phoff)
ph = f.read(phentsize * phnum)
segs = []
for i in range(phnum):
    p_type, _fl, off, vaddr, _pa, filesz, _memsz, _al = struct.unpack_from("<IIQQQQQQ", ph, i * phentsize)
    if p_type == 1:
        segs.append((vaddr, filesz, off))
def read(va, n):
    for v, size, off in segs:
        if v <= va < v + size:
            f.seek(off + va - v)
            return f.read(n)
    raise SystemExit(f"{va:#x} not in kcore")
truth = {n: int.from_bytes(read(syms[n], 8), "little") for n in names}
print("TRUTH " + json.dumps(truth))
import kdbg
prog = kdbg.open_live()
m = prog.memory
assert m is not None, prog.memory_unavailable
before = {n: [b.value, b.source] for n, b in m.layout.items()}
prog.symbol_table
after = {n: [b.value, b.source, b.variable, b.guess] for n, b in m.layout.items()}
props = {n: getattr(m, n) for n in names}
print("KDBG " + json.dumps({"before": before, "after": after, "props": props, "notes": m.layout_notes}))
PY
"""


@pytest.mark.live(KCORE_SCRIPT, suite="bookworm")
def test_kcore_layout_in_guest(live_result) -> None:  # type: ignore[no-untyped-def]
    """Live /proc/kcore (bookworm generic kernel in a guest): the bases are the kernel's
    variables, read independently from kcore's own program headers, and the segment-table
    guesses agree with them."""
    res = live_result
    out = res.output.replace("\r\n", "\n")
    assert res.returncode == 0, out[-3000:]
    truth = json.loads(re.search(r"^TRUTH (.*)$", out, re.M).group(1))  # type: ignore[union-attr]
    got = json.loads(re.search(r"^KDBG (.*)$", out, re.M).group(1))  # type: ignore[union-attr]
    assert set(truth) == set(LAYOUT_BASES)
    for n in LAYOUT_BASES:
        v = truth[n]
        assert got["before"][n] == [v, "kcore segments"], (n, got)
        assert got["after"][n] == [v, "kernel variable", v, v], (n, got)
        assert got["props"][n] == v
    assert got["notes"] == []
