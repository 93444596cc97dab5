"""One symbol by name without decoding kallsyms (``kallsyms_seqs_of_names``).

* Real kernels: bookworm's 6.1 carries the 6.2 table as a backport (between the markers
  and the token table), trixie's 6.12 and forky's 7.2 have it after the address table,
  bullseye's 5.10 has none. The table :func:`load_kallsyms_from_memory` returns answers
  lookups by name as the guest's own /proc/kallsyms lists them (repeated names included),
  with the sizes and choices of the fully decoded table, without decoding it; a name it
  does not find makes it decode everything before it says "no such symbol".
* Synthetic images: both places, both entry widths, every address encoding.
* Corrupted tables: whatever a finder answers is what the full decode of the same memory
  answers (a hit is the name compared in full; a miss decodes everything); where the full
  decode refuses the memory, a lookup refuses too or answers from an intact part.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from kdbg.errors import CoreError
from kdbg.memory import open_core
from kdbg.symbols.kallsyms.byname import NameFinder
from kdbg.symbols.kallsyms.decode import tables_from_vmcoreinfo
from kdbg.symbols.kallsyms.lazy import LAZY_LOOKUPS, LazyKallsyms
from kdbg.symbols.kallsyms.mem import decode_kallsyms, load_kallsyms_from_memory
from kdbg.symbols.table import SymbolTable
from tests.conftest import resolve_dump
from tests.kallsyms_synthetic import TEXT_BASE, PatchedMemory, build_kallsyms_image
from tests.kallsyms_truth import truth_vmlinux

#: suite -> where the dump's kallsyms_seqs_of_names is (None: the kernel has none).
SEQS = {"bookworm": "markers", "trixie": "end", "forky": "end", "bullseye": None}


def _by_name(truth: List[Tuple[int, str, str]]) -> Dict[str, List[Tuple[int, str]]]:
    out: Dict[str, List[Tuple[int, str]]] = defaultdict(list)
    for addr, typ, name in truth:
        out[name].append((addr, typ))
    return out


@pytest.mark.parametrize("suite", sorted(SEQS))
def test_real_kernels_by_name(suite: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dump = resolve_dump(suite, "elf", "qemu")
    monkeypatch.setenv("KDBG_CACHE", str(tmp_path))
    truth = _by_name(truth_vmlinux(dump.truth))
    rng = random.Random(suite)
    repeated = sorted(n for n, v in truth.items() if len(v) > 1)
    unique = sorted(n for n, v in truth.items() if len(v) == 1)
    names = ["init_task", "_stext", "__start_BTF", "page_offset_base"] + rng.sample(
        repeated, 40) + rng.sample(unique, 160)
    with open_core(str(dump.path)) as mem:
        table = load_kallsyms_from_memory(mem)
        t = tables_from_vmcoreinfo(mem.vmcoreinfo)
        if SEQS[suite] is None:
            assert t is None and type(table) is SymbolTable
            assert NameFinder.open(mem, decode_kallsyms(mem).tables, mem.vmcoreinfo) is None
            return
        assert isinstance(table, LazyKallsyms) and t is not None
        finder = NameFinder.open(mem, t, mem.vmcoreinfo)
        assert finder is not None
        full = decode_kallsyms(mem, use_cache=False).to_table()
        lazy = LazyKallsyms(finder, lambda: full, lookups=10 * len(names))
        for name in names:
            got = lazy.lookup_all(name)
            assert sorted((s.address, s.type) for s in got) == sorted(truth[name]), name
            assert got == full.lookup_all(name), name  # sizes and order too
            assert lazy.lookup(name) == full.lookup(name), name
            assert name in lazy
        assert len(lazy) == len(full)
        assert not lazy.is_materialized  # nothing decoded for these
        # a name vmlinux does not have: only the full table may say so
        assert lazy.get("no_such_symbol_anywhere") is None
        assert lazy.is_materialized
        assert lazy.names == full.names and lazy.addresses == full.addresses
        at = truth["init_task"][0][0]
        assert lazy.symbolize(at) == full.symbolize(at)


def test_lookup_budget_then_full_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dump = resolve_dump("bookworm", "elf", "qemu")
    monkeypatch.setenv("KDBG_CACHE", str(tmp_path))
    truth = truth_vmlinux(dump.truth)
    with open_core(str(dump.path)) as mem:
        table = load_kallsyms_from_memory(mem)
        assert isinstance(table, LazyKallsyms)
        by_name = _by_name(truth)
        names = sorted(n for n, v in by_name.items() if len(v) == 1)[:LAZY_LOOKUPS + 5]
        want = {n: by_name[n][0][0] for n in names}
        for k, name in enumerate(names):
            assert table.lookup(name).address == want[name]
            assert table.is_materialized == (k >= LAZY_LOOKUPS)


def _synthetic_symbols(n: int = 700) -> List[Tuple[str, str, int]]:
    rng = random.Random(5)
    words = ["do", "sys", "net", "__x64", "page", "lock", "a", "b", "_", "9"]
    syms = [("fixed_percpu_data", "A", 0), ("cpu_number", "A", 0x2000),
            ("_stext", "T", TEXT_BASE)]
    addr = TEXT_BASE
    for i in range(n):
        name = "_".join(rng.choice(words) for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.8:
            name += str(i)  # the rest repeat names
        addr += rng.choice([0, 8, 16, 64])
        syms.append((name, rng.choice("TtDdRrBb"), addr))
    syms.append(("init_uts_ns", "D", addr + 0x1000))
    return syms


@pytest.mark.parametrize("seqs_at", ["markers", "end"])
@pytest.mark.parametrize("width", [3, 4])
@pytest.mark.parametrize("encoding", ["absolute-percpu", "base-relative", "pc-relative", "absolute"])
def test_synthetic_layouts(seqs_at: str, width: int, encoding: str) -> None:
    syms = _synthetic_symbols()
    if encoding not in ("absolute-percpu", "absolute"):
        syms = [s for s in syms if s[1] != "A"]
    layout = "5.10" if seqs_at == "markers" else "6.4"
    mem, _ = build_kallsyms_image(syms, layout=layout, encoding=encoding, seqs_of_names=True,
                                  seqs_at=seqs_at, seqs_width=width)
    t = tables_from_vmcoreinfo(mem.vmcoreinfo)
    assert t is not None
    finder = NameFinder.open(mem, t, mem.vmcoreinfo)
    assert finder is not None and finder.encoding == encoding
    full = decode_kallsyms(mem, use_cache=False).to_table()
    for name in sorted({s[0] for s in syms}):
        want = [i for i, s in enumerate(syms) if s[0] == name]
        assert finder.indices(name) == want, name
        for i in want:
            sym = full.lookup_all(name)[want.index(i)]
            assert (finder.name(i), finder.type(i), finder.address(i), finder.size(i)) == (
                sym.name, sym.type, sym.address, sym.size), name
    assert finder.indices("no_such") == [] and finder.indices("") == []
    without, _ = build_kallsyms_image(syms, layout=layout, encoding=encoding)
    assert NameFinder.open(without, tables_from_vmcoreinfo(without.vmcoreinfo),
                           without.vmcoreinfo) is None
    assert type(load_kallsyms_from_memory(without, use_cache=False)) is SymbolTable


def test_corrupted_tables_never_give_a_wrong_symbol() -> None:
    """Random bytes of the seqs table, the markers or the names changed: the table either
    opens lazily or decodes in full; either way every lookup equals the full decode of the
    same (corrupted) memory, or both refuse."""
    syms = _synthetic_symbols(1500)
    mem, where = build_kallsyms_image(syms, layout="6.4", seqs_of_names=True, seqs_at="end")
    rng = random.Random(9)
    count = len(syms)
    names = sorted({s[0] for s in syms})
    regions = {
        "seqs": (where["kallsyms_seqs_of_names"], 3 * count),
        "markers": (where["kallsyms_markers"], 4 * ((count + 255) // 256)),
        "names": (where["kallsyms_names"], where["kallsyms_markers"] - where["kallsyms_names"]),
    }
    opened = 0
    for trial in range(60):
        what = list(regions)[trial % 3]
        at, size = regions[what]
        patches = {at + rng.randrange(size): bytes([rng.randrange(256)]) for _ in range(rng.randint(1, 3))}
        bad = PatchedMemory(mem, patches)
        ref: Optional[SymbolTable]
        try:
            ref = decode_kallsyms(bad, use_cache=False).to_table()
        except CoreError:
            ref = None
        try:
            table = load_kallsyms_from_memory(bad, use_cache=False)
        except CoreError:
            assert ref is None, (what, patches)  # refused only what the full decode refuses
            continue
        opened += isinstance(table, LazyKallsyms)
        for name in rng.sample(names, 40):
            if ref is not None:
                assert table.lookup_all(name) == ref.lookup_all(name), (what, patches, name)
                continue
            # the full decode refuses this memory: a lookup refuses too, or answers from
            # an intact part of the tables, with the name compared in full
            try:
                got = table.lookup_all(name)
            except CoreError:
                continue
            assert got and all(s.name == name for s in got), (what, patches, name)
    assert opened >= 20  # most single-byte changes leave the finder usable: it was tested
