"""Fuzz the kallsyms decoders: mutated tables in memory, random name streams and random
/proc/kallsyms text must give a result or CoreError, never another exception or a hang.

Small budget by default; a dedicated run: ``KDBG_FUZZ_EXAMPLES=100000 pytest
tests/test_fuzz_kallsyms.py``.
"""

from __future__ import annotations

import os
import time
from functools import cache
from typing import List, Tuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kdbg.errors import CoreError
from kdbg.symbols import parse_kallsyms_text
from kdbg.symbols.kallsyms_mem import decode_kallsyms, expand_names
from tests.kallsyms_synthetic import TEXT_BASE, FakeMemory, FakeVMCoreInfo, build_kallsyms_image

EXAMPLES = int(os.environ.get("KDBG_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 1000,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MAX_SECONDS = 5.0


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


@FUZZ
@given(which=st.integers(0, 2),
       edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 1 << 16)),
       drop=st.lists(st.sampled_from(["SYMBOL(_stext)", "SYMBOL(kallsyms_names)",
                                      "SYMBOL(kallsyms_offsets)", "BUILD-ID",
                                      "SYMBOL(init_uts_ns)"]), max_size=2))
def test_fuzz_mutated_tables(which: int, edits: List[Tuple[int, int]], cut: object,
                             drop: List[str]) -> None:
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
    t0 = time.perf_counter()
    try:
        d = decode_kallsyms(mem, use_cache=False, scan_limit=len(img))
    except CoreError:
        pass
    else:
        assert len(d.names) == len(d.types) == len(d.addresses)
        assert d.types.isalpha()
        assert all(0 <= a < 1 << 64 for a in d.addresses)
        d.to_table().format_address(TEXT_BASE + 4)
    assert time.perf_counter() - t0 < MAX_SECONDS


@FUZZ
@given(blob=st.binary(max_size=600), count=st.integers(0, 300),
       tokens=st.lists(st.text(alphabet="abcXYZ_0\n", max_size=4), min_size=256,
                       max_size=256))
def test_fuzz_expand_names(blob: bytes, count: int, tokens: List[str]) -> None:
    try:
        names, used = expand_names(blob, count, tokens)
    except CoreError:
        return
    assert len(names) == count and used <= len(blob)


@FUZZ
@given(text=st.text(alphabet="0123456789abcdefTtDd \t[]_x\n", max_size=400))
def test_fuzz_kallsyms_text(text: str) -> None:
    try:
        t = parse_kallsyms_text(text, "fuzz")
    except CoreError as e:
        assert str(e).startswith("fuzz")
        return
    assert len(t) == len(list(t))
    for s in list(t)[:5]:
        assert t.lookup_all(s.name)
        t.format_address(s.address)
