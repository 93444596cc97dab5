"""/proc/kallsyms text parsing and SymbolTable queries.

Checked against a real /proc/kallsyms (the committed sample guest's, Debian 6.1 with
modules loaded; line count from ``wc -l``, entries spot-checked with an independent
``grep``) and against the reference guests' kallsyms truth files, never the host's own.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from kdbg.errors import CoreError, SymbolNotFoundError
from kdbg.symbols import Symbol, SymbolTable, load_kallsyms_file, parse_kallsyms_text
from tests.cli_support import clean_env

PROC = str(Path(__file__).resolve().parent.parent / "vmcores" / "sample" / "truth" / "kallsyms")
"""A guest's /proc/kallsyms as root read it (real addresses, module symbols included)."""


def test_proc_kallsyms_count_and_spot_checks() -> None:
    table = load_kallsyms_file(PROC)
    wc = int(subprocess.run(["wc", "-l", PROC], capture_output=True, text=True,
                            check=True, env=clean_env()).stdout.split()[0])
    assert len(table) == wc > 50_000, (len(table), wc)
    assert len([s for s in table if s.module is not None]) > 10
    for name in ("_stext", "_text", "__start_BTF", "__stop_BTF", "schedule", "do_sys_open",
                 "_printk"):
        out = subprocess.run(["grep", "-m1", f" {name}$", PROC], capture_output=True,
                             text=True, env=clean_env()).stdout.split()
        assert out, name
        addr, typ, _ = out
        sym = table.lookup(name)
        assert sym.address == int(addr, 16) and sym.type == typ and sym.module is None
    # Random lines, grepped independently by their exact text.
    lines = Path(PROC).read_text().splitlines()
    rng = random.Random(1234)
    for line in rng.sample(lines, 50):
        parts = line.split()
        cands = table.lookup_all(parts[2])
        want_mod = parts[3][1:-1] if len(parts) > 3 else None
        assert any(s.address == int(parts[0], 16) and s.type == parts[1]
                   and s.module == want_mod for s in cands), line


def test_symbolize_roundtrip() -> None:
    table = load_kallsyms_file(PROC)
    sched = table.lookup("schedule")
    assert sched.size is not None and 0 < sched.size < 1 << 16
    sym, off = table.symbolize(sched.address + 5)
    assert sym.address == sched.address and off == 5
    assert table.format_address(sched.address + 5).endswith(f"+0x5/{sched.size:#x}")


SAMPLE = """\
0000000000000000 A fixed_percpu_data
0000000000001000 A cpu_tlbstate
ffffffff81000000 T _stext
ffffffff81000000 T _text
ffffffff81000040 t helper
ffffffff81000100 T schedule
ffffffff81000180 t helper
ffffffff81000200 T _etext
ffffffff82000000 D init_task
ffffffff82000400 d local_data
ffffffffc0001000 t mod_init\t[foo]
ffffffffc0001040 T foo_exported\t[foo]
ffffffffc0002000 t ftrace_trampoline\t[__builtin__ftrace]
"""


def test_parse_sample_and_queries() -> None:
    t = parse_kallsyms_text(SAMPLE, "sample")
    assert len(t) == 13
    assert t.lookup("schedule") == Symbol("schedule", 0xFFFFFFFF81000100, 0x80, "T", None)
    assert [s.address for s in t.lookup_all("helper")] == [0xFFFFFFFF81000040,
                                                          0xFFFFFFFF81000180]
    assert t.lookup("mod_init").module == "foo"
    assert t.lookup("mod_init").size == 0x40
    assert t.lookup("foo_exported").size is None  # next symbol is another module
    assert t.lookup("_etext").size is None  # next symbol is data
    assert t.lookup("fixed_percpu_data").size == 0x1000
    assert t.lookup("helper", module="vmlinux").address == 0xFFFFFFFF81000040
    with pytest.raises(SymbolNotFoundError):
        t.lookup("nope")
    assert t.lookup_all("nope") == []
    assert "schedule" in t and "nope" not in t
    # Aliases: the first at an address wins.
    sym, off = t.symbolize(0xFFFFFFFF81000010)
    assert (sym.name, off) == ("_stext", 0x10)
    assert t.format_address(0xFFFFFFFF81000110) == "schedule+0x10/0x80"
    assert t.format_address(0xFFFFFFFFC0001004) == "mod_init+0x4/0x40 [foo]"
    # Data after _etext: _etext has no size, but the kernel rule (up to the next symbol)
    # still symbolizes addresses inside the gap.
    assert t.symbolize(0xFFFFFFFF81000300)[0].name == "_etext"
    with pytest.raises(SymbolNotFoundError):
        t.symbolize(0xFFFFFFFFFFFF0000)
    assert t.format_address(0xFFFFFFFFFFFF0000) == "0xffffffffffff0000"
    assert [s.name for s in t][:2] == ["fixed_percpu_data", "cpu_tlbstate"]
    assert [s.name for s in t.in_range(0xFFFFFFFF81000000, 0xFFFFFFFF81000101)] == [
        "_stext", "_text", "helper", "schedule"]
    assert t.symbol("schedule").address == t.symbol(0xFFFFFFFF81000101).address


@pytest.mark.parametrize("line", [
    "zzzz T foo",
    "ffffffff81000000 TT foo",
    "ffffffff81000000 T",
    "ffffffff81000000 1 foo",
    "ffffffff81000000 T foo bar",
    "ffffffff81000000 T foo\tmod",
    "ffffffff81000000 T foo\t[]",
    "-1 T foo",
    "1ffffffffffffffff T foo",
])
def test_bad_lines_name_file_and_line(line: str) -> None:
    text = "ffffffff81000000 T ok\n" + line + "\n"
    with pytest.raises(CoreError, match=r"^bad\.txt:2: "):
        parse_kallsyms_text(text, "bad.txt")


def test_all_zero_addresses_explained() -> None:
    with pytest.raises(CoreError, match="kptr_restrict"):
        parse_kallsyms_text("0000000000000000 T a\n0000000000000000 T b\n")
    assert len(parse_kallsyms_text("0 T a\n", all_zero_ok=True)) == 1


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CoreError, match="cannot read"):
        load_kallsyms_file(tmp_path / "nope")
    (tmp_path / "empty").write_text("")
    with pytest.raises(CoreError, match="no symbols"):
        load_kallsyms_file(tmp_path / "empty")


def test_table_from_symbols_unsorted() -> None:
    syms = [Symbol("b", 0x200, None, "T"), Symbol("a", 0x100, 8, "t"),
            Symbol("c", 0x300, None, "T")]
    t = SymbolTable(syms)
    assert [s.name for s in t] == ["a", "b", "c"]
    assert t.lookup("a").size == 8  # given sizes win
    assert t.lookup("b").size == 0x100
    assert t.format_address(0x104) == "a+0x4/0x8"
    with pytest.raises(SymbolNotFoundError):
        t.symbolize(0x108)  # past a's known size


def test_lookup_prefers_global_vmlinux() -> None:
    t = parse_kallsyms_text(
        "ffffffff81000000 t dup\nffffffff81000010 T dup\nffffffffc0000000 T dup\t[m]\n")
    assert t.lookup("dup").type == "T" and t.lookup("dup").module is None
    assert t.lookup("dup", module="m").module == "m"
    assert len(t.lookup_all("dup")) == 3
    assert len(t.lookup_all("dup", module="vmlinux")) == 2


def test_guest_truth_tables(reference_dumps_all: list) -> None:
    """Parse each guest's own /proc/kallsyms and check queries against raw lines."""
    seen = set()
    for d in reference_dumps_all:
        if d.suite in seen:
            continue
        seen.add(d.suite)
        path = Path(d.truth) / "kallsyms"
        lines = path.read_text().splitlines()
        t = load_kallsyms_file(path)
        assert len(t) == len(lines)
        rng = random.Random(d.suite)
        for line in rng.sample(lines, 200):
            addr, typ, name = line.split("\t")[0].split(" ")
            assert any(s.address == int(addr, 16) and s.type == typ
                       for s in t.lookup_all(name)), line
            if "\t" not in line:
                sym, off = t.symbolize(int(addr, 16))
                assert off == 0 and sym.address == int(addr, 16)
