"""kallsyms decoded from memory.

* Synthetic images: every layout (pre-6.4, 6.4+, with kallsyms_seqs_of_names), every
  address encoding, one- and two-byte name lengths, tables from VMCOREINFO and by scan.
* Real Debian kernels (bookworm 6.1, trixie 6.12, bullseye 5.10) in every reference dump
  form: each vmlinux line of the guest's own /proc/kallsyms (name, address, type letter)
  must be reproduced; on 6.x also with the VMCOREINFO kallsyms entries removed (scan).
* Cache: second start from the cache, corrupt or stale cache entries ignored.
* Garbage: mutated real tables give CoreError (or a still-correct result), never a hang.
"""

from __future__ import annotations

import os
import random
from functools import cache
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from kdbg.cache import _entry_path
from kdbg.errors import CoreError, FaultError
from kdbg.memory import open_core
from kdbg.symbols.kallsyms.mem import (
    DecodedKallsyms,
    decode_kallsyms,
    expand_names,
    tables_from_vmcoreinfo,
)
from tests.conftest import resolve_dump
from tests.fuzz_harness import watchdog
from tests.kallsyms_synthetic import (
    TEXT_BASE,
    FakeVMCoreInfo,
    PatchedMemory,
    build_kallsyms_image,
)
from tests.kallsyms_truth import assert_matches_truth, truth_vmlinux

# -- synthetic -----------------------------------------------------------------------------


def synthetic_symbols(n: int = 400, seed: int = 7) -> List[Tuple[str, str, int]]:
    rng = random.Random(seed)
    words = ["sys", "read", "write", "lock", "unlock", "init", "exit", "page", "task", "net",
             "dev", "irq", "cpu", "mm", "fs", "__x64", "do", "get", "put", "alloc", "free",
             "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "Q", "Z", ".", "$"]
    syms: List[Tuple[str, str, int]] = [("fixed_percpu_data", "A", 0),
                                        ("cpu_number", "D", 0x1234)]
    addr = TEXT_BASE
    syms.append(("_stext", "T", addr))
    for i in range(n):
        name = "_".join(rng.choice(words) for _ in range(rng.randint(1, 5))) + str(i)
        typ = rng.choice("TtTtWRrDdBb")
        addr += rng.choice([0, 8, 16, 64, 200])
        syms.append((name, typ, addr))
    # Long names force the two-byte length encoding (compressed length >= 128).
    syms.append(("long_" + "".join(chr(97 + rng.randrange(26)) for _ in range(300)), "t",
                 addr + 16))
    syms.append(("another_long_" + "q" * 200 + "xyz", "t", addr + 32))
    syms.append(("init_uts_ns", "D", addr + 0x100000))
    return syms


@cache
def _syms() -> Tuple[Tuple[str, str, int], ...]:
    return tuple(synthetic_symbols())


LAYOUTS = [("6.4", False, 4), ("5.10", False, 4), ("5.10", False, 8), ("6.4", True, 4),
           ("5.10", True, 4)]
ENCODINGS = ["absolute-percpu", "base-relative", "pc-relative", "absolute"]


@pytest.mark.parametrize("layout,seqs,width", LAYOUTS)
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("in_vmcoreinfo", [True, False])
def test_synthetic_roundtrip(layout: str, seqs: bool, width: int, encoding: str,
                             in_vmcoreinfo: bool) -> None:
    syms = list(_syms())
    if encoding != "absolute-percpu":
        # Only absolute-percpu can hold small absolute addresses next to kernel ones.
        syms = [s for s in syms if s[1] not in "A" and s[2] >= TEXT_BASE]
    mem, where = build_kallsyms_image(syms, layout=layout, encoding=encoding,
                                      markers_width=width, seqs_of_names=seqs,
                                      in_vmcoreinfo=in_vmcoreinfo)
    d = decode_kallsyms(mem, use_cache=False)
    assert d.names == [s[0] for s in syms]
    assert d.types == "".join(s[1] for s in syms)
    assert d.addresses == [s[2] for s in syms]
    assert d.encoding == encoding
    assert d.tables.found_by == ("vmcoreinfo" if in_vmcoreinfo else "scan")
    assert d.tables.names == where["kallsyms_names"]
    table = d.to_table()
    assert table.lookup("_stext").address == TEXT_BASE
    assert len(table) == len(syms)


def test_expand_names_random_codes() -> None:
    """Random code streams (separator collisions, many two-byte lengths) expand exactly."""
    rng = random.Random(3)
    tokens = ["".join(chr(65 + rng.randrange(26)) for _ in range(rng.randint(0, 4)))
              for _ in range(256)]
    blob = bytearray()
    want = []
    for _ in range(3000):
        n = rng.choice([1, 2, 7, 127, 128, 300, 16383 if rng.random() < 0.01 else 5])
        codes = rng.randbytes(n)
        blob += bytes([n]) if n < 128 else bytes([(n & 0x7F) | 0x80, n >> 7])
        blob += codes
        want.append("".join(tokens[c] for c in codes))
    names, used = expand_names(bytes(blob) + b"\xff" * 9, 3000, tokens)
    assert names == want and used == len(blob)
    with pytest.raises(CoreError, match="truncated"):
        expand_names(bytes(blob[:-1]), 3000, tokens)


def test_no_tables_anywhere() -> None:
    mem, _ = build_kallsyms_image(list(_syms()), in_vmcoreinfo=False)
    blank = type(mem)({TEXT_BASE: b"\0" * 0x20000}, mem.vmcoreinfo)
    with pytest.raises(CoreError, match="no kallsyms tables"):
        decode_kallsyms(blank, use_cache=False, scan_limit=0x20000)
    with pytest.raises(CoreError, match="neither _stext nor KERNELOFFSET"):
        decode_kallsyms(blank, FakeVMCoreInfo({}), use_cache=False)


def test_wrong_stext_is_rejected() -> None:
    mem, _ = build_kallsyms_image(list(_syms()))
    vm = FakeVMCoreInfo(dict(mem.vmcoreinfo.entries, **{"SYMBOL(_stext)": "ffffffff81000008"}))
    with pytest.raises(CoreError, match="no address encoding reproduces _stext"):
        decode_kallsyms(mem, vm, use_cache=False)


# -- cache ---------------------------------------------------------------------------------


def test_cache_hit_and_corruption(tmp_path: Path) -> None:
    mem, _ = build_kallsyms_image(list(_syms()))
    first = decode_kallsyms(mem, cache_dir=str(tmp_path))
    assert not first.from_cache and first.key.startswith("build-id:")
    second = decode_kallsyms(mem, cache_dir=str(tmp_path))
    assert second.from_cache
    assert (second.names, second.types, second.addresses) == (
        first.names, first.types, first.addresses)
    path = Path(_entry_path(str(tmp_path), "kallsyms", first.key))
    good = path.read_bytes()
    for bad in (b"", good[:100], good[:-1], good[:50] + bytes([good[50] ^ 1]) + good[51:],
                b"KDBGCE01" + os.urandom(200)):
        path.write_bytes(bad)
        d = decode_kallsyms(mem, cache_dir=str(tmp_path))
        assert not d.from_cache and d.names == first.names
    # Image and tables moved but symbols not (inconsistent with the cached kernel): a miss.
    path.write_bytes(good)
    moved, _ = build_kallsyms_image([(n, t, a + (0x200000 if t not in "A" else 0))
                                     for n, t, a in _syms()])
    d = decode_kallsyms(moved, cache_dir=str(tmp_path))
    assert not d.from_cache
    assert d.addresses[d.names.index("_stext")] == TEXT_BASE + 0x200000


def test_cache_without_build_id(tmp_path: Path) -> None:
    mem, _ = build_kallsyms_image(list(_syms()), build_id=None, in_vmcoreinfo=False)
    first = decode_kallsyms(mem, cache_dir=str(tmp_path))
    assert first.key.startswith("release:")
    second = decode_kallsyms(mem, cache_dir=str(tmp_path))
    assert second.from_cache and second.addresses == first.addresses


def test_unwritable_cache_dir_is_harmless(tmp_path: Path) -> None:
    mem, _ = build_kallsyms_image(list(_syms()))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    d = decode_kallsyms(mem, cache_dir=str(blocker / "sub"))
    assert len(d) == len(_syms())


# -- real kernels --------------------------------------------------------------------------


EXPECTED = {  # suite -> (encoding, how the tables are found)
    "bookworm": ("absolute-percpu", "vmcoreinfo"),
    "trixie": ("absolute-percpu", "vmcoreinfo"),
    "bullseye": ("absolute-percpu", "scan"),
}


def test_real_kernels_every_form(reference_dumps_all: list) -> None:
    suites = set()
    for dump in reference_dumps_all:
        with open_core(str(dump.path)) as mem:
            d = decode_kallsyms(mem, use_cache=False)
            assert (d.encoding, d.tables.found_by) == EXPECTED[dump.suite], dump
            assert_matches_truth(d, Path(dump.truth))
        suites.add(dump.suite)
    assert suites >= set(EXPECTED)


@pytest.mark.parametrize("form, tool", [("elf", "qemu"), ("kdump-zlib", "qemu"),
                                        ("kdump-lzo-d31", "makedumpfile")])
def test_place_relative_real_kernel(form: str, tool: str) -> None:
    """Linux >= 6.15 stores each kallsyms offset relative to its own table slot
    ("pc-relative" here).  Debian forky's kernel (7.2 in 2026-12; an extra suite, built on
    first use) decodes to exactly the guest's own /proc/kallsyms, in raw and filtered
    dumps, and its BTF read through the decoded __start_BTF is the guest's."""
    from kdbg.btf.memory import read_vmlinux_btf

    dump = resolve_dump("forky", form, tool)
    major, minor = (int(x) for x in (dump.truth / "uname").read_text().split(".")[:2])
    assert (major, minor) >= (6, 15), dump.release
    with open_core(str(dump.path)) as mem:
        d = decode_kallsyms(mem, use_cache=False)
        assert (d.encoding, d.tables.found_by) == ("pc-relative", "vmcoreinfo")
        assert_matches_truth(d, dump.truth)
        btf = (dump.truth / "btf" / "vmlinux").read_bytes()
        assert read_vmlinux_btf(mem, d.to_table().address_of) == btf


def _one_per_suite(dumps: list) -> Dict[str, object]:
    out: Dict[str, object] = {}
    for d in dumps:
        if d.form == "elf":
            out.setdefault(d.suite, d)
    return out


def test_real_kernels_scan_without_vmcoreinfo_tables(reference_dumps_all: list) -> None:
    for suite, dump in _one_per_suite(reference_dumps_all).items():
        with open_core(str(dump.path)) as mem:  # type: ignore[attr-defined]
            assert mem.vmcoreinfo is not None
            vm = FakeVMCoreInfo({k: v for k, v in mem.vmcoreinfo.entries.items()
                                 if "kallsyms" not in k})
            d = decode_kallsyms(mem, vm, use_cache=False)
            assert d.tables.found_by == "scan", suite
            assert_matches_truth(d, Path(dump.truth))  # type: ignore[attr-defined]


def test_real_kernel_cache(reference_dumps_all: list, tmp_path: Path) -> None:
    for dump in _one_per_suite(reference_dumps_all).values():
        with open_core(str(dump.path)) as mem:  # type: ignore[attr-defined]
            a = decode_kallsyms(mem, cache_dir=str(tmp_path))
            b = decode_kallsyms(mem, cache_dir=str(tmp_path))
            assert b.from_cache and not a.from_cache
            assert (b.names, b.addresses, b.types) == (a.names, a.addresses, a.types)
            assert_matches_truth(b, Path(dump.truth))  # type: ignore[attr-defined]


def _mutations(t: object, rng: random.Random) -> List[Tuple[str, Dict[int, int]]]:
    out: List[Tuple[str, Dict[int, int]]] = [
        ("num_syms huge", {t.num_syms + 3: 0x7F}),  # type: ignore[attr-defined]
        ("num_syms +1", {t.num_syms + 2: 0x10}),  # type: ignore[attr-defined]
        ("token_index[0]", {t.token_index: 5}),  # type: ignore[attr-defined]
        ("token_index order", {t.token_index + 101: 0xFF}),  # type: ignore[attr-defined]
        ("token NUL removed", {t.token_table + 1: 0x41}),  # type: ignore[attr-defined]
        ("first name length", {t.names: 0xFF, t.names + 1: 0xFF}),  # type: ignore
        ("_stext offset", {}),
    ]
    for _ in range(12):
        off = rng.randrange(0, 200_000)
        out.append((f"names byte {off}", {t.names + off: rng.randrange(256)}))  # type: ignore
    for k in range(4):
        out.append((f"offsets byte {k}", {  # type: ignore[attr-defined]
            t.offsets + 4 * rng.randrange(0, 50_000) + 3: rng.randrange(256)}))
    return out


@pytest.mark.parametrize("suite", sorted(EXPECTED))
def test_mutated_real_tables(suite: str) -> None:
    """Real tables with one corrupted field decode sanely or give CoreError, never hang.

    Bullseye's 5.10 lists no tables in VMCOREINFO: its tables are the ones the scan finds,
    and the mutated memory is scanned again."""
    rng = random.Random(11)
    dump = resolve_dump(suite, "elf", "qemu")
    with open_core(str(dump.path)) as mem:
        ref = decode_kallsyms(mem, use_cache=False)
        assert ref.tables.found_by == EXPECTED[suite][1]
        if ref.tables.found_by == "vmcoreinfo":
            assert tables_from_vmcoreinfo(mem.vmcoreinfo) == ref.tables
        refused = 0
        for what, patches in _mutations(ref.tables, rng):
            patched = PatchedMemory(mem, {a: bytes([v]) for a, v in patches.items()})
            try:
                with watchdog(what=f"{suite}: {what}"):
                    d: Optional[DecodedKallsyms] = decode_kallsyms(patched, use_cache=False)
            except CoreError:
                refused += 1
                continue
            # A benign change (e.g. a name byte) may decode; it must stay sane.
            assert len(d) == len(ref) and d.encoding == ref.encoding, (suite, what)
        # the structural corruptions (counts, token table and index, a name length) are
        # noticed: a run where nothing is refused tests nothing
        assert refused >= 3, (suite, refused)


def test_faulting_tables_give_core_error() -> None:
    mem, where = build_kallsyms_image(list(_syms()))

    class Holey:
        vmcoreinfo = mem.vmcoreinfo

        def read(self, address: int, size: int, physical: bool = False) -> bytes:
            if address <= where["kallsyms_token_table"] < address + size:
                raise FaultError("hole", where["kallsyms_token_table"])
            return mem.read(address, size)

    with pytest.raises(CoreError, match="cannot read"):
        decode_kallsyms(Holey(), use_cache=False)


def test_real_symbol_table_queries(reference_dumps_all: list) -> None:
    """SymbolTable built from decoded kallsyms answers like the guest's truth file."""
    for suite, dump in _one_per_suite(reference_dumps_all).items():
        want = truth_vmlinux(Path(dump.truth))  # type: ignore[attr-defined]
        with open_core(str(dump.path)) as mem:  # type: ignore[attr-defined]
            table = decode_kallsyms(mem, use_cache=False).to_table()
        assert len(table) == len(want)
        rng = random.Random(suite)
        end = next(a for a, _, n in want if n == "_end")
        for addr, typ, name in rng.sample(want, 500):
            assert any(s.address == addr and s.type == typ for s in table.lookup_all(name))
            if addr > end:  # the linker's few symbols past _end own no address (kernel rule)
                continue
            # Per-CPU "A" symbols are offsets, never virtual addresses (tests/test_symbolize.py).
            find = table.symbolize_percpu if typ == "A" else table.symbolize
            sym, off = find(addr)
            assert off == 0 and sym.address == addr
            if sym.size and sym.size > 1:
                sym2, off2 = find(addr + 1)
                assert (sym2.address, off2) == (addr, 1)
                if typ != "A":
                    assert table.format_address(addr + 1) == f"{sym2.name}+0x1/{sym.size:#x}"
        assert table.lookup("_stext").address == int(
            mem.vmcoreinfo.get("SYMBOL(_stext)"), 16)  # type: ignore[union-attr]
