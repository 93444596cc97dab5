"""Symbolization names an address only where the kernel itself would.

kallsyms has no sizes; the kernel's rule (``kallsyms_lookup_size_offset``, ``is_ksym_addr``
in kernel/kallsyms.c, with ``CONFIG_KALLSYMS_ALL`` as in Debian's kernels) is: a vmlinux
address is named only inside the image (``_stext`` up to ``_end``), by the closest symbol
at or below it (the first alias in table order); a module address only inside that module,
by the module's closest symbol; anything else has no symbol.  x86-64 per-CPU ``A`` symbols
are offsets (``__per_cpu_start`` = 0), not addresses.

Expectations are computed here from each guest's own ``/proc/kallsyms`` (``truth/kallsyms``)
and ``/proc/modules``, never from kdbg.  Each rule is checked on both kinds of table: the
one decoded from the dump's memory (vmlinux only) and the one parsed from the guest's
kallsyms text (with ``[module]`` lines).
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import subprocess
from bisect import bisect_right
from functools import cache
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from kdbg.errors import SymbolNotFoundError
from kdbg.memory import open_core
from kdbg.symbols import SymbolTable, decode_kallsyms, load_kallsyms_file, parse_kallsyms_text
from tests.cli_support import run_kdbg

# Addresses no x86-64 kernel symbol owns: the direct map (default and a randomized base, the
# one from issue 6), vmalloc, vmemmap, user space, the vsyscall page and the very top.
FOREIGN = [0x1, 0x7FFF_FFFF_F000, 0xFFFF_8880_0000_0000, 0xFFFF_8B12_C123_4567,
           0xFFFF_C900_0000_0000, 0xFFFF_EA00_0000_0000, 0xFFFF_FFFF_FF60_0000,
           0xFFFF_FFFF_FFFF_FFFF]


@dataclasses.dataclass
class Truth:
    """A guest's /proc/kallsyms and /proc/modules, indexed the way the kernel searches."""

    vmlinux: List[int]  # unique vmlinux addresses, ascending
    first: Dict[int, str]  # vmlinux address -> first name there in table order
    by_name: Dict[str, int]  # vmlinux name -> address (first occurrence)
    types: Dict[str, str]
    modules: Dict[str, List[int]]  # module -> its unique addresses, ascending
    mod_first: Dict[Tuple[str, int], str]
    mod_base: Dict[str, Tuple[int, int]]  # /proc/modules: (base, size)

    def image_symbol(self, address: int) -> Tuple[str, int]:
        """What the kernel prints for an address inside [_stext, _end)."""
        assert self.by_name["_stext"] <= address < self.by_name["_end"]
        start = self.vmlinux[bisect_right(self.vmlinux, address) - 1]
        return self.first[start], address - start

    def percpu(self) -> List[int]:
        lo, hi = self.by_name["__per_cpu_start"], self.by_name["__per_cpu_end"]
        return [a for a in self.vmlinux if lo <= a <= hi]


@cache
def truth_of(truth_dir: Path) -> Truth:
    vm: Dict[int, str] = {}
    by_name: Dict[str, int] = {}
    types: Dict[str, str] = {}
    mods: Dict[str, Dict[int, str]] = {}
    for line in (truth_dir / "kallsyms").read_text().splitlines():
        head, _, mod = line.partition("\t")
        addr_s, typ, name = head.split(" ")
        addr = int(addr_s, 16)
        if mod:
            mods.setdefault(mod.strip("[]"), {}).setdefault(addr, name)
        else:
            vm.setdefault(addr, name)
            by_name.setdefault(name, addr)
            types.setdefault(name, typ)
    mod_base = {}
    for line in (truth_dir / "modules").read_text().splitlines():
        parts = line.split()
        mod_base[parts[0]] = (int(parts[5], 16), int(parts[1]))
    return Truth(sorted(vm), vm, by_name, types,
                 {m: sorted(d) for m, d in mods.items()},
                 {(m, a): n for m, d in mods.items() for a, n in d.items()}, mod_base)


@dataclasses.dataclass
class Case:
    label: str
    table: SymbolTable
    truth: Truth
    has_modules: bool


@pytest.fixture(scope="session")
def cases(reference_dumps_all: list, sample_dump) -> List[Case]:  # type: ignore[no-untyped-def]
    """Per suite (and the committed sample): the table decoded from a dump's memory and the
    table parsed from the guest's kallsyms text."""
    sources = {}
    for d in reference_dumps_all:
        if d.form == "elf":
            sources.setdefault(d.suite, (d.path, d.truth))
    sources["sample"] = (sample_dump.path, sample_dump.truth)
    out = []
    for label, (path, truth_dir) in sorted(sources.items()):
        truth = truth_of(Path(truth_dir))
        with open_core(str(path)) as mem:
            decoded = decode_kallsyms(mem, use_cache=False).to_table()
        out.append(Case(f"{label}/memory", decoded, truth, False))
        out.append(Case(f"{label}/text", load_kallsyms_file(Path(truth_dir) / "kallsyms"),
                        truth, True))
    assert len(out) == 8, [c.label for c in out]
    return out


def assert_no_symbol(table: SymbolTable, address: int, label: str) -> None:
    with pytest.raises(SymbolNotFoundError, match=f"{address:#x}"):
        sym, off = table.symbolize(address)
        pytest.fail(f"{label}: {address:#x} symbolized as {sym.name}+{off:#x}")
    assert table.format_address(address) == f"{address:#x}", label


def assert_names(table: SymbolTable, address: int, want: Tuple[str, int], label: str,
                 module: Optional[str] = None) -> None:
    sym, off = table.symbolize(address)
    assert (sym.name, off, sym.module) == (*want, module), (label, hex(address))
    text = table.format_address(address)
    assert text.startswith(f"{want[0]}+{want[1]:#x}"), (label, text)
    assert text.endswith(f" [{module}]") if module else "[" not in text, (label, text)


def test_zero_and_foreign_addresses_have_no_symbol(cases: List[Case]) -> None:
    """format_address(0) named fixed_percpu_data and direct-map addresses __per_cpu_end+..."""
    for c in cases:
        for address in [0, *FOREIGN, c.truth.by_name["_stext"] - 1]:
            assert_no_symbol(c.table, address, c.label)


def test_per_cpu_offsets_are_no_addresses(cases: List[Case]) -> None:
    """Every x86-64 per-CPU symbol (an A symbol from 0): its value and the bytes after it are
    no virtual address of any symbol; symbolize_percpu names them as offsets."""
    for c in cases:
        percpu = c.truth.percpu()
        assert len(percpu) > 100 and percpu[0] == 0, c.label
        assert all(c.truth.types[c.truth.first[a]] == "A" for a in percpu), c.label
        for a in percpu:
            assert_no_symbol(c.table, a, c.label)
            assert_no_symbol(c.table, a + 1, c.label)
        rng = random.Random(c.label)
        for i in rng.sample(range(len(percpu) - 1), 60) + [0, len(percpu) - 2]:
            a, nxt = percpu[i], percpu[i + 1]
            for off in {0, nxt - a - 1, rng.randrange(nxt - a)}:
                sym, got = c.table.symbolize_percpu(a + off)
                assert (sym.name, got) == (c.truth.first[a], off), (c.label, hex(a + off))
        end = c.truth.by_name["__per_cpu_end"] - c.truth.by_name["__per_cpu_start"]
        with pytest.raises(SymbolNotFoundError, match="per-CPU"):
            c.table.symbolize_percpu(end + 1)
        assert c.table.percpu_range == (0, end)


def test_nothing_past_end(cases: List[Case]) -> None:
    """The last symbols before _end do not swallow what lies past it, not even the linker's
    own symbols there (sme_workarea, __init_scratch_*: the kernel names none of them)."""
    for c in cases:
        t = c.truth
        end = t.by_name["_end"]
        past = [a for a in t.vmlinux if a > end]
        assert past, c.label  # the .init.scratch symbols
        for address in [end + 1, end + 0x1000, *past, *(a + 8 for a in past)]:
            assert_no_symbol(c.table, address, c.label)
        assert_names(c.table, end - 1, t.image_symbol(end - 1), c.label)
        # _end's own address names _end (5.10's is_kernel takes addr <= _end).
        assert_names(c.table, end, (t.first[end], 0), c.label)


def test_image_addresses_name_the_kernels_symbol(cases: List[Case]) -> None:
    """Inside the image: exact name+offset as the kernel prints it, at section edges and at
    random addresses."""
    for c in cases:
        t = c.truth
        stext, end = t.by_name["_stext"], t.by_name["_end"]
        image = [a for a in t.vmlinux if stext <= a < end]
        edges = [stext, t.by_name["_etext"] - 1, t.by_name["_etext"], t.by_name["_etext"] + 1,
                 t.by_name["_sinittext"], t.by_name["_einittext"] - 1, t.by_name["_sdata"],
                 t.by_name["__bss_start"], t.by_name["__bss_stop"] - 1,
                 t.by_name["__init_begin"], t.by_name["__init_end"] - 1]
        rng = random.Random(c.label)
        for i in rng.sample(range(len(image) - 1), 400):
            edges += [image[i], image[i] + rng.randrange(image[i + 1] - image[i])]
        for address in edges:
            assert_names(c.table, address, t.image_symbol(address), c.label)
        # The first alias wins: _stext's address is startup_64 or _stext, as kallsyms orders.
        assert c.table.symbolize(stext)[0].name == t.first[stext]


def test_module_addresses(cases: List[Case]) -> None:
    """Module addresses name the module's own closest symbol, only inside the module; the
    vmlinux-only table from memory names none of them."""
    for c in cases:
        t = c.truth
        assert list(t.modules) == ["qemu_fw_cfg"] == list(t.mod_base), c.label
        mod = "qemu_fw_cfg"
        addrs = t.modules[mod]
        base, size = t.mod_base[mod]
        assert addrs[0] >= base
        inside = []
        rng = random.Random(c.label)
        for a, nxt in itertools.pairwise(addrs):
            inside += [(a, 0), (a + (nxt - a) // 2, (nxt - a) // 2), (nxt - 1, nxt - 1 - a)]
            inside.append((a + rng.randrange(nxt - a), None))
        # Below the module's base and below its first symbol, and far past it: nothing.
        outside = [base - 1, base - 0x1000, addrs[-1] + 0x100000, 0xFFFFFFFFC0000000,
                   max(base + size, addrs[-1]) + 0x10000]
        if addrs[0] > base:
            outside.append(addrs[0] - 1)
        for address in outside:
            assert_no_symbol(c.table, address, c.label)
        for address, _ in inside:
            start = addrs[bisect_right(addrs, address) - 1]
            want = (t.mod_first[(mod, start)], address - start)
            if c.has_modules:
                assert_names(c.table, address, want, c.label, module=mod)
            else:
                assert_no_symbol(c.table, address, c.label)
        if c.has_modules:
            lo, hi = c.table.module_range(mod)  # type: ignore[misc]
            assert lo == addrs[0] and addrs[-1] < hi <= addrs[-1] + 0x1000


def kdbg(*args: str) -> subprocess.CompletedProcess:
    return run_kdbg("-q", *args)


def test_sym_command_says_no_symbol(sample_dump) -> None:  # type: ignore[no-untyped-def]
    """`sym ADDRESS` on the sample dump: one error line for unowned addresses, the kernel's
    name+offset otherwise; `sym --percpu` for offsets."""
    t = truth_of(Path(sample_dump.truth))
    for address in [0, 0xFFFF8B12C1234567, t.by_name["_end"] + 0x10]:
        p = kdbg("-c", str(sample_dump.path), "-x", f"sym {address:#x}")
        assert p.returncode == 1 and p.stdout == "", p.stdout
        assert p.stderr.strip() == f"kdbg: sym: could not find symbol containing {address:#x}"  # drgn's words
    address = t.by_name["init_task"] + 0x10
    p = kdbg("-c", str(sample_dump.path), "-x", f"sym {address:x}", "-x", "sym --percpu 0n4100")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    name, off = t.image_symbol(address)
    assert lines[0].startswith(f"{address:016x} ({t.types[name]}) {name}+{off:#x}")
    start = max(a for a in t.percpu() if a <= 4100)
    assert lines[1].startswith(f"{4100:016x} (A) {t.first[start]}+{4100 - start:#x}")


def test_pseudo_modules_own_at_most_their_page(sample_dump) -> None:  # type: ignore[no-untyped-def]
    """[bpf] programs and ftrace trampolines (as a live /proc/kallsyms lists them) are each
    their own allocation, scattered among the modules: one never owns the next page."""
    text = (Path(sample_dump.truth) / "kallsyms").read_text()
    text += ("ffffffffc0600000 t bpf_prog_6deef7357e7b4530_sd_fw_egress\t[bpf]\n"
             "ffffffffc0680000 t bpf_prog_aaaaaaaaaaaaaaaa_other\t[bpf]\n"
             "ffffffffc0700800 t ftrace_trampoline\t[__builtin__ftrace]\n")
    table = parse_kallsyms_text(text)
    bpf = "bpf_prog_6deef7357e7b4530_sd_fw_egress"
    assert_names(table, 0xFFFFFFFFC0600010, (bpf, 0x10), "bpf", module="bpf")
    assert_names(table, 0xFFFFFFFFC0600FFF, (bpf, 0xFFF), "bpf", module="bpf")
    assert_names(table, 0xFFFFFFFFC07008FF, ("ftrace_trampoline", 0xFF), "ftrace",
                 module="__builtin__ftrace")
    for address in (0xFFFFFFFFC0601000, 0xFFFFFFFFC0640000, 0xFFFFFFFFC0701000):
        assert_no_symbol(table, address, "pseudo")
