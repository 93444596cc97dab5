"""The kallsyms cache entry is per kernel build, not per boot.

Two boots of one Debian kernel (bookworm's panic dump and its reference dump, of whichever
kernel the suite serves: same ``BUILD-ID``, different KASLR slides, as each guest's own
/proc/kallsyms shows) share one entry, and the addresses served from it are the second
guest's own.  Synthetic images check the same for tables found by scanning and for every
address encoding, and that an entry which no longer matches memory is not used.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import List, Tuple

import pytest

from kdbg.memory import open_core
from kdbg.symbols.kallsyms.mem import decode_kallsyms
from tests.conftest import resolve_crash_dump
from tests.kallsyms_synthetic import TEXT_BASE, PatchedMemory, build_kallsyms_image
from tests.kallsyms_truth import assert_matches_truth, truth_vmlinux


def test_two_boots_of_one_kernel_share_the_entry(reference_dumps_all: list, tmp_path: Path) -> None:
    first_boot = resolve_crash_dump("bookworm", "panic", "kdump-zlib")
    ref = next(d for d in reference_dumps_all if d.suite == "bookworm" and d.form == "kdump-zlib")
    assert ref.release == first_boot.release
    truth_a = Path(first_boot.truth)
    truth_b = Path(ref.truth)
    stext = {t: next(a for a, _, n in truth_vmlinux(t) if n == "_stext")
             for t in (truth_a, truth_b)}
    assert stext[truth_a] != stext[truth_b], "the two guests booted with the same KASLR slide"
    with open_core(str(first_boot.path)) as mem:
        first = decode_kallsyms(mem, cache_dir=str(tmp_path))
        assert not first.from_cache
        assert_matches_truth(first, truth_a)
        build = mem.vmcoreinfo.get("BUILD-ID")  # type: ignore[union-attr]
    with open_core(str(ref.path)) as mem:
        assert mem.vmcoreinfo.get("BUILD-ID") == build  # type: ignore[union-attr]
        second = decode_kallsyms(mem, cache_dir=str(tmp_path))
        assert second.from_cache and second.key == first.key
        assert_matches_truth(second, truth_b)
    assert len(list(tmp_path.glob("kallsyms/*.kce"))) == 1


SLIDES = (0, 0x2E400000, 0x1200000)


def many_symbols(n: int = 600) -> List[Tuple[str, str, int]]:
    """Enough symbols (digits included) for the token table to look like a kernel's."""
    syms = [("fixed_percpu_data", "A", 0), ("cpu_number", "A", 0x2000),
            ("_stext", "T", TEXT_BASE)]
    for i in range(n):
        syms.append((f"{('do', 'sys', 'net', '__x64')[i % 4]}_{'rwxl'[i % 3]}{i}",
                     "Tt"[i % 2], TEXT_BASE + 0x40 + 0x10 * i))
    syms.append(("init_uts_ns", "D", TEXT_BASE + 0xF000 + 0x10 * n))
    return syms


@pytest.mark.parametrize("encoding", ["absolute-percpu", "base-relative", "pc-relative",
                                      "absolute"])
@pytest.mark.parametrize("in_vmcoreinfo", [True, False])
def test_synthetic_slides_share_the_entry(encoding: str, in_vmcoreinfo: bool,
                                          tmp_path: Path) -> None:
    syms = many_symbols()
    if encoding not in ("absolute-percpu", "absolute"):  # no absolute symbols there
        syms = [s for s in syms if s[1] != "A"]
    keys = set()
    for i, slide in enumerate(SLIDES):
        mem, _ = build_kallsyms_image(syms, encoding=encoding, in_vmcoreinfo=in_vmcoreinfo,
                                      slide=slide)
        d = decode_kallsyms(mem, cache_dir=str(tmp_path))
        assert d.from_cache == (i > 0), slide
        want = [(n, t, a if t == "A" else a + slide) for n, t, a in syms]
        assert list(zip(d.names, d.types, d.addresses, strict=True)) == want
        keys.add(d.key)
    assert len(keys) == 1


def test_entry_that_memory_contradicts_is_not_used(tmp_path: Path) -> None:
    """Same build id, same tables, but one symbol's address-table entry differs: the
    sampled comparison with memory turns the entry down and the fresh decode wins."""
    syms = [("fixed_percpu_data", "A", 0)] + [
        (f"fn_{i:04d}", "t", TEXT_BASE + 0x10 * i) for i in range(2000)]
    syms[1] = ("_stext", "T", TEXT_BASE)
    mem, where = build_kallsyms_image(syms, encoding="base-relative")
    first = decode_kallsyms(mem, cache_dir=str(tmp_path))
    assert not first.from_cache
    victim = len(syms) - 1  # the last entry is always sampled
    entry = where["kallsyms_offsets"] + 4 * victim
    (raw,) = struct.unpack("<I", mem.read(entry, 4))
    changed = PatchedMemory(mem, {entry: struct.pack("<I", raw + 0x10)})
    d = decode_kallsyms(changed, cache_dir=str(tmp_path))
    assert not d.from_cache
    assert d.addresses[victim] == first.addresses[victim] + 0x10
    again = decode_kallsyms(changed, cache_dir=str(tmp_path))
    assert again.from_cache and again.addresses == d.addresses
