"""The flattened-format index at scale: ~100,000 shuffled and overlapping records built from a
real reassembled kdump, checked byte for byte against ``makedumpfile -R`` (the format's
own reassembler) and against a replay of the records in stream order.

Speed is measured in ``benchmarks/bench_memory.py``; here only the answers are checked (the
old index spliced records into a list one by one, quadratic in the record count).
"""

from __future__ import annotations

import random
import struct
import subprocess
from pathlib import Path
from typing import List, Tuple

import pytest

from kdbg.memory import open_core
from kdbg.memory.fileview import RawFile
from kdbg.memory.flattened import FlattenedFile, resolve_records
from tests.cli_support import clean_env


def _stream(records: List[Tuple[int, bytes]], end: bool = True) -> bytes:
    head = bytearray(4096)
    head[0:12] = b"makedumpfile"
    struct.pack_into(">qq", head, 16, 1, 1)
    parts = [bytes(head)]
    for off, data in records:
        parts.append(struct.pack(">qq", off, len(data)))
        parts.append(data)
    if end:
        parts.append(struct.pack(">qq", -1, -1))
    return b"".join(parts)


def _replay(records: List[Tuple[int, bytes]]) -> bytes:
    """The reassembled file: each record written at its offset, in stream order."""
    size = max(off + len(d) for off, d in records)
    out = bytearray(size)
    for off, d in records:
        out[off : off + len(d)] = d
    return bytes(out)


def _records(image: bytes, rnd: random.Random, overlaps: bool) -> List[Tuple[int, bytes]]:
    recs = []
    pos = 0
    while pos < len(image):
        n = min(len(image) - pos, rnd.randint(1, 340))
        recs.append((pos, image[pos : pos + n]))
        pos += n
    rnd.shuffle(recs)
    if not overlaps:
        return recs
    # garbage first (every byte of it is rewritten later), and correct copies of random
    # ranges anywhere (partial overlaps in every direction)
    garbage = []
    for _ in range(len(recs) // 10):
        off = rnd.randrange(len(image))
        n = min(len(image) - off, rnd.randint(1, 3000))
        garbage.append((off, rnd.randbytes(n)))
    copies = []
    for _ in range(len(recs) // 10):
        off = rnd.randrange(len(image))
        n = min(len(image) - off, rnd.randint(1, 3000))
        copies.append((off, image[off : off + n]))
    out = garbage + recs
    for c in copies:
        out.insert(rnd.randrange(len(garbage), len(out) + 1), c)
    return out


def test_resolve_records_matches_replay() -> None:
    """Small random streams (many overlaps, gaps, duplicates) against a byte replay."""
    rnd = random.Random(6)
    for case in range(400):
        recs = []
        for _ in range(rnd.randint(1, 40)):
            off = rnd.randrange(0, 300)
            recs.append((off, bytes([case % 250 + 1, len(recs) + 1]) * rnd.randint(1, 30)))
        offsets = [o for o, _ in recs]
        sizes = [len(d) for _, d in recs]
        raw = b"".join(d for _, d in recs)
        raw_offsets = []
        acc = 0
        for _, d in recs:
            raw_offsets.append(acc)
            acc += len(d)
        starts, ends, raws = resolve_records(offsets, sizes, raw_offsets)
        assert all(a < b for a, b in zip(starts, ends, strict=True))
        assert all(b <= a for b, a in zip(ends[:-1], starts[1:], strict=True))
        assert len(starts) <= 2 * len(recs)
        want = _replay(recs)
        got = bytearray(len(want))
        covered = bytearray(len(want))
        for a, b, r in zip(starts, ends, raws, strict=True):
            got[a:b] = raw[r : r + b - a]
            covered[a:b] = b"\1" * (b - a)
        for off, d in recs:  # every byte some record wrote is covered, nothing else
            for i in range(off, off + len(d)):
                assert covered[i], (case, i)
        assert sum(covered) == len({i for o, d in recs for i in range(o, o + len(d))})
        assert bytes(got) == want, case


@pytest.mark.parametrize("overlaps", [False, True])
def test_100k_records_match_makedumpfile_r(
    reference_dumps_all: List, tmp_path: Path, overlaps: bool
) -> None:
    d = next(
        d
        for d in reference_dumps_all
        if d.suite == "bookworm" and d.form == "kdump-zlib" and "makedumpfile -R" in d.tool
    )
    image = Path(d.path).read_bytes()
    recs = _records(image, random.Random(61), overlaps)
    assert len(recs) > 100_000
    stream = tmp_path / "big.flat"
    stream.write_bytes(_stream(recs))
    out = tmp_path / "reassembled"
    with stream.open("rb") as fin:
        subprocess.run(["makedumpfile", "-R", str(out)], stdin=fin, check=True, capture_output=True, env=clean_env())
    oracle = out.read_bytes()
    assert oracle == image  # the stream is right: the tool rebuilds the real dump
    flat = FlattenedFile(RawFile(str(stream)))
    try:
        assert flat.records_read == len(recs) and flat.complete
        assert flat.size == len(oracle)
        assert flat.pread(0, flat.size) == oracle
        rnd = random.Random(1)
        for _ in range(2000):
            off = rnd.randrange(flat.size)
            n = rnd.randint(1, 10000)
            n = min(n, flat.size - off)
            assert flat.pread(off, n) == oracle[off : off + n]
    finally:
        flat.close()
    # the same stream opens as a dump and reads as the kdump it holds
    with open_core(str(stream)) as m, open_core(str(d.path)) as ref:
        assert m.warnings == []
        for pa in range(0, 120 << 20, 7 << 20):
            assert m.read(pa, 4096, physical=True) == ref.read(pa, 4096, physical=True)
