"""Fuzz the BTF parser with mutated *real* BTF: only :class:`BTFError` may escape.

Seeds come from Linux 6.18's BTF (shipped as ``tests/data/vmlinux-6.18.btf.xz``, with
ENUM64, DECL_TAG, TYPE_TAG and FLOAT), reduced so that one case runs well under a second:
``struct task_struct`` and friends through :func:`minimize`, the real header and first types
of the full blob (with its whole string section), a big-endian copy,
a copy with a layout section, and split BTF built on top of a reduced base.

Each case applies a few mutations (byte flips, u32 overwrites with boundary values,
truncation, header fields, structure-aware edits of one type record: name offset past the
strings, ids past the end, self-referencing typedefs/pointers/members, absurd vlen, random
kind) and then exercises everything a user can reach: every type, member, enumerator,
parameter and section entry, type names and declarations, sizes and alignment, name
lookups, ``ptype``, the raw dump and C header generation (every stage, always: an import
that breaks fails the test instead of leaving a stage out).

Most cases keep the header and every record's kind and vlen valid (the ``DEEP_OPS``: type
references, members, offsets, kind flags, string bytes, record bodies), so they get past
the open-time checks into the lazy decoders; the rest may break anything. Each case runs
under a watchdog (``tests/fuzz_harness.py``) that raises inside a hanging case, and the test
reports and asserts its reach: how many cases opened and how many got a name index.

``KDBG_FUZZ_EXAMPLES`` sets the hypothesis budget (default 300). For long runs without
hypothesis' stop-at-first-failure, run this file directly; it records every distinct
failure and writes reproducers::

    PYTHONPATH=. python tests/test_fuzz_btf.py --cases 50000 --seed 1 --out /tmp/btf-fuzz

(``--no-header`` there leaves C header generation out, for long parser-only runs.)
"""

from __future__ import annotations

import contextlib
import lzma
import os
import random
import struct
import sys
import time
import traceback
from functools import cache
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kdbg.btf import constants as K
from kdbg.btf.encoder import BTFEncoder, encode, minimize
from kdbg.btf.header import header_c
from kdbg.btf.index import BTF
from kdbg.btf.ptype import ptype
from kdbg.btf.raw import raw_lines
from kdbg.btf.types import (
    Composite,
    Datasec,
    Enum,
    Func,
    FuncProto,
    Type,
    iter_chain,
)
from kdbg.errors import BTFError, MemberNotFoundError, NotFoundError
from tests.conftest import BTF618_XZ
from tests.fuzz_harness import CaseHang, Reach, watchdog

#: The long-run driver (``_main``) reports cases slower than this (tests do not time).
CASE_LIMIT_S = 1.0


# ---------------------------------------------------------------------- seeds
class Seed(NamedTuple):
    name: str
    data: bytes
    base: Optional[bytes]  # raw base blob for split seeds
    records: Tuple[Tuple[int, int, int], ...]  # (offset, kind, vlen) of each type record
    hdr_len: int
    byteorder: str


def _records(data: bytes, base: Optional[BTF] = None) -> Tuple[Tuple[int, int, int], ...]:
    b = BTF(data, base=base)
    r = b.records
    return tuple((r.offsets[i], (r.infos[i] >> 24) & 0x7F, r.infos[i] & 0xFFFFFF) for i in range(len(b)))


def _truncated_real(raw: bytes, keep: int) -> bytes:
    """The real header, the first ``keep`` bytes' worth of whole types, all the strings."""
    b = BTF(raw)
    hdr = b.header
    r = b.records
    cut = next((o for o in r.offsets if o - r.type_start >= keep), r.type_end) - r.type_start
    types = raw[r.type_start : r.type_start + cut]
    strs = raw[hdr.hdr_len + hdr.str_off : hdr.hdr_len + hdr.str_off + hdr.str_len]
    h = struct.pack("<HBBIIIII", K.BTF_MAGIC, 1, 0, 24, 0, len(types), len(types), len(strs))
    return h + types + strs


@cache
def seeds() -> Tuple[Seed, ...]:
    """The seed blobs (computed once per process)."""
    raw = lzma.decompress(BTF618_XZ.read_bytes())
    btf = BTF(raw, name="vmlinux")
    enum64 = next(btf.type(i) for i in btf.ids([K.KIND_ENUM64]) if btf.name_of(i))
    task = minimize(btf, ["struct task_struct"], pointers="fwd")
    mixed = minimize(
        btf,
        [
            "struct sk_buff",
            f"enum {enum64.name}",
            "schedule",
            "vfs_read",
            "struct list_head *",
            next(btf.type(i) for i in btf.ids([K.KIND_DECL_TAG])),
        ],
        pointers="fwd",
    )
    real = _truncated_real(raw, 4 * 1024)
    task_btf = BTF(task)
    big = encode(list(BTF(mixed)), byteorder=">")
    layout = encode(list(BTF(mixed)), layout=True)
    # Split BTF: new types on top of the reduced task_struct base, referring into it.
    enc = BTFEncoder(base=task_btf)
    ts = task_btf.lookup("struct task_struct")
    lh = task_btf.lookup("struct list_head")
    ptr = enc.add_raw(K.KIND_PTR, "", ts.id)
    mod = enc.next_id
    body = b"".join(
        struct.pack("<III", enc.add_string(n), tid, off)
        for n, tid, off in (("task", ptr, 0), ("node", lh.id, 64), ("self", mod + 1, 192))
    )
    enc.add_raw(K.KIND_STRUCT, "kdbg_mod", 208, 3, False, body)
    enc.add_raw(K.KIND_PTR, "", mod)
    split = enc.to_bytes()
    out = []
    for name, data, base in (
        ("task_struct", task, None),
        ("mixed", mixed, None),
        ("real-prefix", real, None),
        ("big-endian", big, None),
        ("layout", layout, None),
        ("split", split, task),
    ):
        b = BTF(data, base=BTF(base) if base else None)
        recs = _records(data, b.base)
        out.append(Seed(name, data, base, recs, b.header.hdr_len, b.byteorder))
    return tuple(out)


# ---------------------------------------------------------------------- mutations
#: A mutation: (operation, a, b, c) with small ints whose meaning depends on the operation.
Mutation = Tuple[str, int, int, int]

OPS = (
    "flip",  # xor byte at a with b
    "u32",  # overwrite aligned u32 at a with interesting value b (or c)
    "truncate",  # cut the blob at a
    "header",  # header field a := interesting value b
    "name_off",  # record a: name offset past the strings (+b)
    "ref",  # record a: size_or_type := interesting id b
    "self_ref",  # record a: refer to itself (typedef/pointer cycles) or to the next record
    "vlen",  # record a: vlen := interesting vlen b
    "kind",  # record a: kind := b & 0x7f
    "kflag",  # record a: toggle kind flag
    "member_ref",  # record a: member/param/entry b's type id := interesting id c
    "member_off",  # record a: member b's offset word := interesting value c
    "cycle2",  # record a and b point at each other
    "append",  # append b bytes of value c
    "base_drop",  # split seeds: open without the base
    "str_flip",  # xor a byte of the string section with b (names change, offsets stay)
    "rec_flip",  # record a: xor a byte after its name and info words (type id, size, body)
)

#: Mutations that leave the header and every record's kind and vlen (hence the record
#: walk done at open) intact: a case made of these reaches the lazy decoders.
DEEP_OPS = ("ref", "self_ref", "kflag", "member_ref", "member_off", "cycle2", "append",
            "str_flip", "rec_flip")


def keep_header(muts: Sequence[Mutation]) -> List[Mutation]:
    """``muts`` with every operation outside :data:`DEEP_OPS` replaced by a deep one."""
    return [(op if op in DEEP_OPS else DEEP_OPS[OPS.index(op) % len(DEEP_OPS)], a, b, c)
            for op, a, b, c in muts]

INTERESTING = (
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    12,
    16,
    24,
    31,
    32,
    0x7F,
    0x80,
    0xFF,
    0x100,
    0xFFFF,
    0x10000,
    0xFFFFFF,
    0x1000000,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFE,
    0xFFFFFFFF,
)


def _interesting(n: int, size: int, ntypes: int) -> int:
    pool = INTERESTING + (size, size - 1, size + 1, ntypes, ntypes + 1, ntypes + 2, K.BTF_MAX_TYPE)
    return pool[n % len(pool)]


def apply_mutations(seed: Seed, muts: Sequence[Mutation]) -> Tuple[bytes, bool]:
    """Apply ``muts`` to ``seed``; returns the blob and whether to open it with its base."""
    buf = bytearray(seed.data)
    bo = seed.byteorder
    use_base = seed.base is not None
    nrec = len(seed.records)
    hdr_fields = 10 if seed.hdr_len >= 32 else 6
    ntypes = nrec + (len(_records(seed.base)) if seed.base else 0)
    _hl, type_off, type_len, str_off, str_len = struct.unpack_from(bo + "IIIII", seed.data, 4)
    type_end = seed.hdr_len + type_off + type_len
    str_start = seed.hdr_len + str_off

    def put32(off: int, v: int) -> None:
        if off >= 0 and off + 4 <= len(buf):
            struct.pack_into(bo + "I", buf, off, v & 0xFFFFFFFF)

    def get32(off: int) -> int:
        if off >= 0 and off + 4 <= len(buf):
            return int(struct.unpack_from(bo + "I", buf, off)[0])
        return 0

    for op, a, b, c in muts:
        if not buf:
            break
        rec = seed.records[a % nrec] if nrec else (seed.hdr_len, 0, 0)
        roff, rkind, rvlen = rec
        rid = (a % nrec if nrec else 0) + (ntypes - nrec) + 1
        if op == "flip":
            buf[a % len(buf)] ^= (b % 255) + 1
        elif op == "u32":
            put32((a % max(1, len(buf) // 4)) * 4, _interesting(b, len(buf), ntypes) ^ (c & 3))
        elif op == "truncate":
            del buf[a % len(buf) :]
        elif op == "header":
            field = a % hdr_fields
            v = _interesting(b, len(buf), ntypes) + (c % 5) - 2
            if field == 0:
                struct.pack_into(bo + "H", buf, 0, v & 0xFFFF)
            elif field == 1:
                if len(buf) > 3:  # a truncation may have left less than a header
                    buf[2 + (c & 1)] = v & 0xFF  # version or flags
            else:
                put32(4 * field - 4 if field > 1 else 4, v)
        elif op == "name_off":
            put32(roff, get32(roff) + 0x100000 + b) if b & 1 else put32(roff, 0xFFFFFFFF - b)
        elif op == "ref":
            put32(roff + 8, _interesting(b, len(buf), ntypes))
        elif op == "self_ref":
            put32(roff + 8, rid + (b % 2))
        elif op == "vlen":
            info = get32(roff + 4)
            put32(roff + 4, (info & 0xFF000000) | (_interesting(b, len(buf), ntypes) & 0xFFFFFF))
        elif op == "kind":
            info = get32(roff + 4)
            put32(roff + 4, (info & 0x80FFFFFF) | ((b & 0x7F) << 24))
        elif op == "kflag":
            put32(roff + 4, get32(roff + 4) ^ 0x80000000)
        elif op in ("member_ref", "member_off"):
            lay = K.KIND_LAYOUT.get(rkind, (0, 0))
            if rvlen and lay[1]:
                elem = roff + 12 + lay[0] + (b % rvlen) * lay[1]
                if op == "member_ref":
                    v = rid if c & 1 else _interesting(c >> 1, len(buf), ntypes)
                    # type id is word 1 for members/params, word 0 for DATASEC entries
                    put32(elem + (0 if rkind == K.KIND_DATASEC else 4 if lay[1] >= 8 else 0), v)
                elif lay[1] >= 12:
                    put32(elem + 8, _interesting(c, len(buf), ntypes))
        elif op == "cycle2":
            other = seed.records[b % nrec] if nrec else rec
            oid = (b % nrec if nrec else 0) + (ntypes - nrec) + 1
            put32(roff + 8, oid)
            put32(other[0] + 8, rid)
        elif op == "append":
            buf += bytes([c & 0xFF]) * (b % 64)
        elif op == "base_drop":
            use_base = False
        elif op == "str_flip":
            if str_len:
                off = str_start + a % str_len
                if off < len(buf):
                    buf[off] ^= (b % 255) + 1
        elif op == "rec_flip" and nrec:
            i = a % nrec
            end = seed.records[i + 1][0] if i + 1 < nrec else type_end
            if end > roff + 8:
                off = roff + 8 + (b % (end - roff - 8))
                if off < len(buf):
                    buf[off] ^= (c % 255) + 1
    return bytes(buf), use_base


def random_mutations(rng: random.Random) -> List[Mutation]:
    """Between one and four random mutations (the long-run driver's generator)."""
    return [
        (rng.choice(OPS), rng.getrandbits(20), rng.getrandbits(16), rng.getrandbits(16))
        for _ in range(rng.choice((1, 1, 2, 2, 3, 4)))
    ]


# ---------------------------------------------------------------------- exercising
LOOKUP_ERRORS = (BTFError, NotFoundError)


def _touch(t: Type) -> None:
    t.type_name()
    t.declaration("x")
    _ = t.kind_name, repr(t), t.is_anonymous()
    for f in (t.sizeof, lambda: t.alignment, t.strip_typedefs, t.unqualified, t.qualifier_keywords):
        with contextlib.suppress(BTFError):
            f()
    try:
        for _x in iter_chain(t):
            pass
    except BTFError:
        pass
    for f in (t.type_name, t.is_complete, t.unaliased, t.qualifiers.__repr__):
        with contextlib.suppress(BTFError, TypeError, AttributeError):
            f()
    if isinstance(t, Composite):
        for m in t.members:
            _ = m.name, m.bit_offset, m.is_bitfield
            if m.bit_offset % 8:  # drgn's offset: a bit field not on a byte has none
                with pytest.raises(ValueError, match="^member is not byte-aligned$"):
                    _ = m.offset
            else:
                assert m.offset == m.bit_offset // 8
            m.type.type_name()
        t.member_names()
        t.find_member("x")
        if t.members and t.members[0].name:
            # a name the designator syntax cannot spell is a missing member (drgn's LookupError)
            with contextlib.suppress(BTFError, MemberNotFoundError):
                t.offsetof(t.members[0].name)
    elif isinstance(t, Enum):
        for _e in t.enumerators:
            pass
    elif isinstance(t, FuncProto):
        for p in t.params:
            p.type.type_name()
        _ = t.is_variadic
    elif isinstance(t, Func):
        t.proto.type_name()
    elif isinstance(t, Datasec):
        for e in t.entries:
            e.type.type_name()
    ptype(t)
    if t.btf is not None and t.id > 0:
        list(raw_lines(t.btf, [t.id]))


#: How far :func:`exercise` got with a case (see ``fuzz_harness.Reach``).
STAGES = ["opened", "indexed"]


def exercise(data: bytes, base: Optional[bytes] = None, header: bool = True) -> str:
    """Open ``data`` (on top of ``base`` if given) and use every part of it (C header
    generation too, unless ``header`` is False); return the last stage reached (``""``:
    refused at open, ``"opened"``, ``"indexed"``)."""
    try:
        base_btf = BTF(base, name="base") if base is not None else None
        btf = BTF(data, base=base_btf, name="fuzz")
    except BTFError:
        return ""
    for tid in btf.ids():
        try:
            btf.kind_of(tid)
            btf.name_of(tid)
            _touch(btf.type(tid))
        except BTFError:
            pass
    try:
        btf.build_index()
        names = sorted(set(btf.names()))[:12]
    except BTFError:
        return "opened"
    for n in names:
        for spec in (n, f"struct {n}", f"union {n}", f"enum {n}", f"const {n} *", f"{n} [4]"):
            try:
                t = btf.lookup(spec)
                t.type_name()
                btf.pointer_to(t).type_name()
            except LOOKUP_ERRORS:
                pass
        for f in (btf.constant, btf.function):
            with contextlib.suppress(LOOKUP_ERRORS):
                f(n)
    for spec in ("struct task_struct *", "unsigned long", "int (*)(void)", "char [16]"):
        with contextlib.suppress(LOOKUP_ERRORS):
            btf.lookup(spec)
    if header:
        with contextlib.suppress(BTFError):
            header_c(btf)
    return "indexed"


def run_case(seed: Seed, muts: Sequence[Mutation], header: bool = True) -> str:
    """Mutate and exercise under the watchdog; return the stage reached (raises whatever
    escaped, :class:`CaseHang` for a case still running after ``HANG_SECONDS``)."""
    data, use_base = apply_mutations(seed, muts)
    with watchdog(what=f"{seed.name} {list(muts)!r}"):
        return exercise(data, seed.base if use_base else None, header)


# ---------------------------------------------------------------------- tests
def test_seeds_are_clean() -> None:
    """Every unmutated seed opens and exercises without error, to the last stage.

    (The real-prefix seed refers past its last type by construction: only opening it is
    checked.)
    """
    for seed in seeds():
        b = BTF(seed.data, base=BTF(seed.base) if seed.base else None)
        assert len(b) == len(seed.records)
        if seed.name != "real-prefix":
            for t in b:
                _touch(t)
        assert run_case(seed, []) == "indexed", seed.name


def test_deep_ops_keep_the_header_checks_passing() -> None:
    """Each deep operation alone leaves a blob that still opens (so cases made of them
    reach the decoders), checked on every seed with many operands."""
    rng = random.Random(6)
    for seed in seeds():
        base = BTF(seed.base) if seed.base else None
        for op in DEEP_OPS:
            for _ in range(20):
                data, use_base = apply_mutations(seed, [(op, rng.getrandbits(20), rng.getrandbits(16),
                                                         rng.getrandbits(16))])
                assert use_base == (base is not None)
                BTF(data, base=base)


def test_split_without_base_is_btferror() -> None:
    seed = next(s for s in seeds() if s.name == "split")
    with pytest.raises(BTFError, match="base"):
        BTF(seed.data)


def test_typedef_self_cycle() -> None:
    """A TYPEDEF naming itself: every operation gives BTFError, never RecursionError."""
    seed = seeds()[0]
    i = next(i for i, r in enumerate(seed.records) if r[1] == K.KIND_TYPEDEF)
    assert run_case(seed, [("self_ref", i, 0, 0)]) == "indexed"


def test_watchdog_stops_a_hang() -> None:
    """The watchdog raises inside a case that never returns (not after it)."""
    with pytest.raises(CaseHang, match="a hang"), watchdog(0.2, "loop"):
        while True:
            pass


_EXAMPLES = int(os.environ.get("KDBG_FUZZ_EXAMPLES", "300"))
_mutation = st.tuples(
    st.sampled_from(OPS),
    st.integers(0, 1 << 20),
    st.integers(0, 1 << 16),
    st.integers(0, 1 << 16),
)

_settings = settings(
    max_examples=_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=_EXAMPLES <= 1000,
)


def test_fuzz_real_btf() -> None:
    """Only BTFError escapes, no case hangs, and most cases reach the decoders."""
    reach = Reach("fuzz_btf", STAGES)

    @_settings
    @given(seed_idx=st.integers(0, 5), muts=st.lists(_mutation, min_size=1, max_size=4),
           deep=st.integers(0, 5))
    def case(seed_idx: int, muts: List[Mutation], deep: int) -> None:
        seed = seeds()[seed_idx % len(seeds())]
        muts = keep_header(muts) if deep else muts  # five cases in six keep the header
        try:
            reach.record(run_case(seed, muts))
        except CaseHang as e:
            reach.hangs.append(str(e))  # recorded, not shrunk: each try would hang again

    case()
    reach.check({"opened": 0.7, "indexed": 0.6}, min_cases=min(_EXAMPLES, 100))


# ---------------------------------------------------------------------- long runs
def _main(argv: Sequence[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="/tmp/btf-fuzz")
    ap.add_argument("--no-header", action="store_true", help="leave C header generation out")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(args.seed)
    all_seeds = seeds()
    failures: Dict[str, int] = {}
    slow = 0
    worst = 0.0
    t_start = time.time()
    reach = Reach("fuzz_btf", STAGES)
    for case in range(args.cases):
        seed = rng.choice(all_seeds)
        muts = random_mutations(rng)
        if rng.random() < 5 / 6:
            muts = keep_header(muts)
        t0 = time.perf_counter()
        try:
            reach.record(run_case(seed, muts, header=not args.no_header))
        except (Exception, CaseHang) as e:  # noqa: BLE001 - recording every escape is the point
            tb = traceback.extract_tb(e.__traceback__)[-1]
            key = f"{type(e).__name__} at {os.path.basename(tb.filename)}:{tb.lineno}"
            if key not in failures:
                path = os.path.join(args.out, f"fail-{args.seed}-{case}.txt")
                with open(path, "w") as f:
                    f.write(f"{key}\nseed={seed.name}\nmuts={muts!r}\n\n")
                    f.write("".join(traceback.format_exception(type(e), e, e.__traceback__))[-6000:])
                print(f"case {case}: NEW {key} ({seed.name} {muts!r})", flush=True)
            failures[key] = failures.get(key, 0) + 1
            continue
        elapsed = time.perf_counter() - t0
        worst = max(worst, elapsed)
        if elapsed >= CASE_LIMIT_S:
            slow += 1
            print(f"case {case}: SLOW {elapsed:.2f}s ({seed.name} {muts!r})", flush=True)
        if case and case % 5000 == 0:
            print(f"{case} cases, {time.time() - t_start:.0f}s, {len(failures)} distinct", flush=True)
    print(
        f"DONE cases={args.cases} seed={args.seed} time={time.time() - t_start:.0f}s "
        f"distinct_failures={len(failures)} slow={slow} worst={worst:.3f}s"
    )
    print(reach)
    for k, v in sorted(failures.items()):
        print(f"  {v:6d}  {k}")
    return 1 if failures or slow else 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
