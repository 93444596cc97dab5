"""Fuzz the kallsyms decoders: mutated tables in memory, random name streams and mutated
/proc/kallsyms text must give a result or CoreError, never another exception or a hang.

Every case runs under a watchdog (``tests/fuzz_harness.py``) that raises inside a hang, and
each test reports and asserts its reach: how many cases the decoder accepted.  The text
cases start from real /proc/kallsyms lines (the committed sample guest's) and apply a few
line-level edits, so many stay valid and reach the symbol table queries.

Small budget by default; a dedicated run: ``KDBG_FUZZ_EXAMPLES=100000 pytest
tests/test_fuzz_kallsyms.py``.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import List, Tuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kdbg.errors import CoreError
from kdbg.symbols import parse_kallsyms_text
from kdbg.symbols.kallsyms.mem import decode_kallsyms, expand_names
from tests.fuzz_harness import CaseHang, Reach, watchdog
from tests.kallsyms_synthetic import (
    TEXT_BASE,
    FakeMemory,
    FakeVMCoreInfo,
    build_kallsyms_image,
    compress_names,
)

EXAMPLES = int(os.environ.get("KDBG_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 1000,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MIN_CASES = min(EXAMPLES, 100)
SAMPLE_KALLSYMS = Path(__file__).resolve().parent.parent / "vmcores" / "sample" / "truth" / "kallsyms"


def _symbols() -> List[Tuple[str, str, int]]:
    syms = [("fixed_percpu_data", "A", 0), ("_stext", "T", TEXT_BASE)]
    for i in range(80):
        syms.append((f"sym_{i % 7}_{'abc' * (i % 4)}_{i}", "tTdDrRbB"[i % 8],
                     TEXT_BASE + 16 * (i + 1)))
    syms.append(("long_" + "x" * 200, "t", TEXT_BASE + 0x2000))
    syms.append(("init_uts_ns", "D", TEXT_BASE + 0x100000))
    return syms


@cache
def _images() -> List[Tuple[bytes, dict, dict]]:
    out = []
    for layout, vm in (("6.4", True), ("5.10", False), ("6.4", False)):
        mem, where = build_kallsyms_image(_symbols(), layout=layout, in_vmcoreinfo=vm,
                                          text_size=0x1000)
        assert mem.vmcoreinfo is not None
        out.append((mem.regions[0][1], mem.vmcoreinfo.entries, where))
    return out


def _table_case(which: int, edits: List[Tuple[int, int]], cut: object, drop: List[str]) -> str:
    img, entries, where = _images()[which]
    buf = bytearray(img)
    # Aim the edits at the kallsyms tables (they start after the fake text).
    start = min(v for v in where.values()) - TEXT_BASE
    for off, val in edits:
        buf[(start + off) % len(buf)] = val
    if isinstance(cut, int):
        del buf[start + cut % (len(buf) - start):]
    vm = FakeVMCoreInfo({k: v for k, v in entries.items() if k not in drop})
    mem = FakeMemory({TEXT_BASE: bytes(buf)}, vm)
    try:
        d = decode_kallsyms(mem, use_cache=False, scan_limit=len(img))
    except CoreError:
        return ""
    assert len(d.names) == len(d.types) == len(d.addresses)
    assert d.types.isalpha()
    assert all(0 <= a < 1 << 64 for a in d.addresses)
    d.to_table().format_address(TEXT_BASE + 4)
    return "decoded"


def _guarded(reach: Reach, run: object, *args: object) -> None:
    """Run one case under the watchdog and count how far it got (hangs are recorded, not
    shrunk: every retry would hang again)."""
    try:
        with watchdog(what=f"{reach.name} {args!r}"[:500]):
            reach.record(run(*args))  # type: ignore[operator]
    except CaseHang as e:
        reach.hangs.append(str(e))


def test_fuzz_mutated_tables() -> None:
    reach = Reach("kallsyms tables", ["decoded"])

    @FUZZ
    @given(which=st.integers(0, 2),
           edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=8),
           cut=st.one_of(st.none(), st.integers(0, 1 << 16)),
           drop=st.lists(st.sampled_from(["SYMBOL(_stext)", "SYMBOL(kallsyms_names)",
                                          "SYMBOL(kallsyms_offsets)", "BUILD-ID",
                                          "SYMBOL(init_uts_ns)"]), max_size=2))
    def case(which: int, edits: List[Tuple[int, int]], cut: object, drop: List[str]) -> None:
        _guarded(reach, _table_case, which, edits, cut, drop)

    case()
    # Random bytes in the tables, cuts and missing VMCOREINFO keys: about half decode.
    reach.check({"decoded": 0.25}, MIN_CASES)


@cache
def _names_stream() -> Tuple[bytes, int, Tuple[str, ...]]:
    """A valid ``kallsyms_names`` stream of real names (the sample guest's), compressed as
    ``scripts/kallsyms`` does, with its count and 256 tokens."""
    lines = SAMPLE_KALLSYMS.read_text().splitlines()[:400]
    full = [(ln.split()[1] + ln.split()[2]).encode() for ln in lines] + [b"t" + b"x" * 200]
    tokens, enc = compress_names(full)
    blob = bytearray()
    for e in enc:
        blob += bytes([(len(e) & 0x7F) | 0x80, len(e) >> 7]) if len(e) >= 0x80 else bytes([len(e)])
        blob += e
    return bytes(blob), len(enc), tuple(t.decode("latin-1") for t in tokens)


def _expand_case(edits: List[Tuple[int, int]], count_delta: int, token_edits: List[Tuple[int, str]]) -> str:
    blob, count, tokens = _names_stream()
    buf = bytearray(blob)
    for off, val in edits:
        buf[off % len(buf)] = val
    toks = list(tokens)
    for i, t in token_edits:
        toks[i % 256] = t
    count = max(0, count + count_delta)
    try:
        names, used = expand_names(bytes(buf), count, toks)
    except CoreError:
        return ""
    assert len(names) == count and used <= len(buf)
    return "expanded"


def test_fuzz_expand_names() -> None:
    reach = Reach("kallsyms names", ["expanded"])

    @FUZZ
    @given(edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=4),
           count_delta=st.sampled_from([0, 0, 0, -1, -50, 1, 7, 1 << 20]),
           token_edits=st.lists(st.tuples(st.integers(0, 255), st.text(alphabet="abcXYZ_0\n", max_size=4)),
                                max_size=3))
    def case(edits: List[Tuple[int, int]], count_delta: int, token_edits: List[Tuple[int, str]]) -> None:
        _guarded(reach, _expand_case, edits, count_delta, token_edits)

    case()
    reach.check({"expanded": 0.3}, MIN_CASES)


def test_unmutated_names_expand() -> None:
    """The names seed is valid: every name comes back, type letter first."""
    blob, count, tokens = _names_stream()
    names, used = expand_names(blob, count, tokens)
    assert used == len(blob) and len(names) == count > 400
    first = SAMPLE_KALLSYMS.read_text().splitlines()[0].split()
    assert names[0] == first[1] + first[2]


@cache
def _real_lines() -> Tuple[str, ...]:
    """60 real /proc/kallsyms lines: vmlinux ones spread over the file, then module ones."""
    lines = SAMPLE_KALLSYMS.read_text().splitlines()
    core = [ln for ln in lines if "\t" not in ln]
    mods = [ln for ln in lines if "\t" in ln]
    assert len(core) > 1000 and len(mods) > 20
    return tuple(core[:: len(core) // 48][:48] + mods[:: len(mods) // 12][:12])


#: Line-level edits: (op, a, b) with a picking the line and b the character or value.
TEXT_OPS = ("char", "delete", "insert", "dup", "drop", "swap", "letter", "address",
            "module", "blank", "cut")
_CHARS = "0123456789abcdefTtDd \t[]_x\n"


def mutate_text(lines: Tuple[str, ...], muts: List[Tuple[str, int, int]]) -> str:
    """Apply line-level edits to real kallsyms lines (many keep the text valid)."""
    out = list(lines)
    for op, a, b in muts:
        if not out:
            break
        i = a % len(out)
        line = out[i]
        pos = b % (len(line) + 1)
        if op == "char" and line:
            pos %= len(line)
            out[i] = line[:pos] + _CHARS[b % len(_CHARS)] + line[pos + 1:]
        elif op == "delete" and line:
            pos %= len(line)
            out[i] = line[:pos] + line[pos + 1:]
        elif op == "insert":
            out[i] = line[:pos] + _CHARS[a % len(_CHARS)] + line[pos:]
        elif op == "dup":
            out.insert(i, line)
        elif op == "drop":
            del out[i]
        elif op == "swap":
            j = b % len(out)
            out[i], out[j] = out[j], out[i]
        elif op == "letter":
            parts = line.split(" ", 2)
            if len(parts) == 3:
                out[i] = f"{parts[0]} {'TtDdRrBbAaWwVv?'[b % 15]} {parts[2]}"
        elif op == "address":
            parts = line.split(" ", 1)
            width = (0, 1, 8, 16, 16, 16, 17)[b % 7]
            out[i] = f"{(a * 0x9E3779B97F4A7C15) % (1 << 64):016x}"[-width:] + " " + parts[-1]
        elif op == "module":
            out[i] = line.split("\t")[0] + ("\t[m]", "\t[]", "\tm", "")[b % 4]
        elif op == "blank":
            out.insert(i, ("", " ", "\t")[b % 3])
        elif op == "cut":
            text = "\n".join(out)
            return text[: (a * 7919 + b) % (len(text) + 1)]
    return "\n".join(out) + "\n"


def _text_case(muts: List[Tuple[str, int, int]]) -> str:
    text = mutate_text(_real_lines(), muts)
    try:
        t = parse_kallsyms_text(text, "fuzz")
    except CoreError as e:
        assert str(e).startswith("fuzz")
        return ""
    assert len(t) == len(list(t))
    for s in list(t)[:5]:
        assert t.lookup_all(s.name)
        t.format_address(s.address)
    return "parsed"


def test_fuzz_kallsyms_text() -> None:
    reach = Reach("kallsyms text", ["parsed"])

    @FUZZ
    @given(muts=st.lists(st.tuples(st.sampled_from(TEXT_OPS), st.integers(0, 1 << 20),
                                   st.integers(0, 1 << 16)), max_size=4))
    def case(muts: List[Tuple[str, int, int]]) -> None:
        _guarded(reach, _text_case, muts)

    case()
    reach.check({"parsed": 0.3}, MIN_CASES)


def test_unmutated_text_parses() -> None:
    """The fuzz seed itself is valid: every line becomes a symbol."""
    assert _text_case([]) == "parsed"
    assert len(parse_kallsyms_text(mutate_text(_real_lines(), []), "seed")) == len(_real_lines())
