"""BTF format corner cases: byte order, the layout section, wide info masks, both bitfield
encodings, enumerator signedness, and malformed input.

Real BTF (Linux 6.18's, shipped as ``tests/data/vmlinux-6.18.btf.xz``, reduced with
``minimize``) is the
starting point wherever a real kernel has the feature; hand-written records appear only
for what no kernel emits (unknown kinds, vlen > 0xffff, cycles, broken headers). bpftool
(libbpf) is the independent oracle where it can read the blob.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from kdbg.btf import constants as K
from kdbg.btf.encoder import BTFEncoder, encode, minimize
from kdbg.btf.index import BTF, KindLayout, parse_header
from kdbg.btf.loader import load_btf_file
from kdbg.btf.raw import dump_raw, type_lines
from kdbg.btf.types import Composite, Enum, Int, Opaque
from kdbg.errors import BTFError
from tests.btf_truth import parse_raw
from tests.cli_support import clean_env

BPFTOOL = shutil.which("bpftool") or "/usr/sbin/bpftool"


# ---------------------------------------------------------------------- fixtures, helpers
@pytest.fixture(scope="module")
def host(btf618_bytes: bytes) -> BTF:
    return BTF(btf618_bytes, name="vmlinux-6.18")


@pytest.fixture(scope="module")
def task_blob(host: BTF) -> bytes:
    """``struct task_struct`` reduced from the 6.18 BTF (pointer targets as FWD), LE."""
    return minimize(host, ["struct task_struct"], pointers="fwd", byteorder="<")


@pytest.fixture(scope="module")
def task_btf(task_blob: bytes) -> BTF:
    return BTF(task_blob, name="task")


def raw(btf: BTF) -> str:
    out = io.StringIO()
    dump_raw(btf, out)
    return out.getvalue()


def bpftool_dump(data: bytes, tmp_path: Path, name: str) -> subprocess.CompletedProcess:
    path = tmp_path / name
    path.write_bytes(data)
    return subprocess.run(
        [BPFTOOL, "btf", "dump", "file", str(path)], capture_output=True, text=True
    , env=clean_env())


def header_fields(data: bytes) -> List[int]:
    """``[hdr_len, type_off, type_len, str_off, str_len]`` of a little-endian header."""
    return list(struct.unpack_from("<IIIII", data, 4))


def with_header(data: bytes, **fields: int) -> bytes:
    """``data`` (LE, 24-byte header) with header words replaced (magic/version bytes too)."""
    buf = bytearray(data)
    names = ["hdr_len", "type_off", "type_len", "str_off", "str_len"]
    for key, value in fields.items():
        if key == "magic":
            struct.pack_into("<H", buf, 0, value)
        elif key == "version":
            buf[2] = value
        else:
            struct.pack_into("<I", buf, 4 + 4 * names.index(key), value)
    return bytes(buf)


def walk(data: bytes) -> List[Tuple[int, int, int]]:
    """An independent walk of a LE 24-byte-header blob: ``(offset, kind, vlen)`` per id."""
    hdr_len, type_off, type_len = struct.unpack_from("<III", data, 4)
    off = hdr_len + type_off
    end = off + type_len
    out = []
    while off < end:
        info = struct.unpack_from("<I", data, off + 4)[0]
        kind, vlen = (info >> 24) & 0x7F, info & 0xFFFFFF
        out.append((off, kind, vlen))
        isz, esz = K.KIND_LAYOUT[kind]
        off += 12 + isz + vlen * esz
    assert off == end
    return out


# ---------------------------------------------------------------------- 1. big-endian
def test_big_endian_real_blob(host: BTF, task_blob: bytes, tmp_path: Path) -> None:
    be = minimize(host, ["struct task_struct"], pointers="fwd", byteorder=">")
    path = tmp_path / "task-be.btf"
    path.write_bytes(be)
    assert path.read_bytes()[:2] == b"\xeb\x9f"
    assert task_blob[:2] == b"\x9f\xeb"
    assert len(be) == len(task_blob) and be != task_blob

    be_btf = load_btf_file(str(path))
    le_btf = BTF(task_blob)
    assert be_btf.byteorder == ">" and le_btf.byteorder == "<"
    assert be_btf.header.type_len == le_btf.header.type_len
    assert len(be_btf) == len(le_btf) > 100
    for tid in le_btf.ids():
        assert type_lines(be_btf.type(tid)) == type_lines(le_btf.type(tid)), tid
    assert raw(be_btf) == raw(le_btf)
    # Re-encoding the LE blob as BE gives exactly the same bytes as reducing to BE.
    assert encode(list(le_btf), byteorder=">") == be
    assert encode(list(be_btf), byteorder="<") == task_blob

    # bpftool 7.1 (libbpf) reads big-endian BTF on this little-endian host (it byte-swaps
    # into native order); its raw dump matches kdbg's line for line.
    r = subprocess.run([BPFTOOL, "btf", "dump", "file", str(path)], capture_output=True, text=True, env=clean_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout == raw(be_btf)
    le = bpftool_dump(task_blob, tmp_path, "task-le.btf")
    assert le.returncode == 0, le.stderr
    assert le.stdout == raw(le_btf)


# ---------------------------------------------------------------------- 2. layout section
LAYOUT_0_25: Dict[int, Tuple[int, int, int]] = {
    0: (0, 0, 0),
    **{k: (isz, esz, 0) for k, (isz, esz) in K.KIND_LAYOUT.items()},
    25: (4, 8, 0),
}
MYSTERY_BODY = struct.pack("<I", 0xA5A5A5A5) + b"".join(struct.pack("<II", i, 100 + i) for i in range(3))


def blob_with_kind(base: BTF, kind: int, info_sz: int, elem_sz: int, vlen: int,
                   layout: Optional[Dict[int, Tuple[int, int, int]]]) -> Tuple[bytes, int]:
    """All of ``base`` re-encoded (same ids), then an unknown-kind record, then a TYPEDEF
    after it (so a wrong step would be noticed). Returns (blob, id of the unknown one)."""
    enc = BTFEncoder("<")
    enc.add_types(list(base))
    body = MYSTERY_BODY if (info_sz, elem_sz, vlen) == (4, 8, 3) else bytes(info_sz + vlen * elem_sz)
    uid = enc.add_raw(kind, "mystery", 7, vlen, False, body)
    enc.add_raw(K.KIND_TYPEDEF, "after_mystery", 1)
    return enc.to_bytes(layout), uid


def test_layout_section_steps_over_unknown_kind(task_btf: BTF) -> None:
    blob, uid = blob_with_kind(task_btf, 25, 4, 8, 3, LAYOUT_0_25)
    hdr = parse_header(blob)
    assert hdr.hdr_len == 32
    assert hdr.layout_len == 26 * 4
    assert blob[32 + hdr.layout_off : 32 + hdr.layout_off + 4 * 26][25 * 4 : 25 * 4 + 4] == b"\x04\x08\x00\x00"

    b = BTF(blob, name="layout")
    assert b.layout is not None and len(b.layout) == 26
    assert b.layout[25] == KindLayout(4, 8, 0)
    assert b.layout[K.KIND_STRUCT] == KindLayout(0, 12, 0)
    assert uid == task_btf.last_id + 1 and b.last_id == uid + 1
    for tid in task_btf.ids():
        assert type_lines(b.type(tid)) == type_lines(task_btf.type(tid)), tid

    t = b.type(uid)
    assert isinstance(t, Opaque)
    assert (t.btf_kind, t.vlen, t.btf_name, t.raw_size_or_type, t.kflag) == (25, 3, "mystery", 7, False)
    assert b.kind_of(uid) == 25
    assert b.data[t.offset : t.offset + 28] == MYSTERY_BODY
    after = b.type(uid + 1)
    assert (after.name, after.btf_kind, after.type_id) == ("after_mystery", K.KIND_TYPEDEF, 1)

    text = raw(b)
    assert f"[{uid}] KIND25 'mystery' size_or_type=7 vlen=3\n" in text
    assert f"[{uid + 1}] TYPEDEF 'after_mystery' type_id=1\n" in text
    assert text.startswith(raw(task_btf))


def test_unknown_kind_without_layout_is_an_error(task_btf: BTF) -> None:
    blob, uid = blob_with_kind(task_btf, 25, 4, 8, 3, None)
    assert parse_header(blob).hdr_len == 24
    off = 24 + task_btf.header.type_len  # the unknown record follows every real one
    with pytest.raises(BTFError) as ei:
        BTF(blob, name="nolayout")
    msg = str(ei.value)
    assert "unknown BTF kind 25" in msg
    assert f"type id {uid}" in msg and f"offset {off}" in msg
    assert "nolayout" in msg


def test_header_longer_than_known_is_honoured(task_btf: BTF, task_blob: bytes) -> None:
    # 24-byte header grown to 40: 16 zero bytes after str_len (layout_off/len 0, then more).
    grown = with_header(task_blob[:24], hdr_len=40) + bytes(16) + task_blob[24:]
    b = BTF(grown)
    assert b.header.hdr_len == 40 and b.layout is None
    assert raw(b) == raw(task_btf)

    # The 32-byte layout header grown to 40: layout still found, unknown kind still skipped.
    blob, uid = blob_with_kind(task_btf, 25, 4, 8, 3, LAYOUT_0_25)
    grown = bytearray(blob[:32]) + bytes(8) + blob[32:]
    struct.pack_into("<I", grown, 4, 40)
    b = BTF(bytes(grown))
    assert b.header.hdr_len == 40
    assert b.layout is not None and b.layout[25] == KindLayout(4, 8, 0)
    assert isinstance(b.type(uid), Opaque) and b.type(uid + 1).name == "after_mystery"
    for tid in task_btf.ids():
        assert type_lines(b.type(tid)) == type_lines(task_btf.type(tid)), tid


# ---------------------------------------------------------------------- 3. wide masks
def test_vlen_wider_than_16_bits() -> None:
    n = 70000
    enc = BTFEncoder("<")
    int_id = enc.add_raw(K.KIND_INT, "int", 4, 0, False, struct.pack("<I", (K.INT_SIGNED << 24) | 32))
    body = b"".join(struct.pack("<III", enc.add_string(f"m{i}"), int_id, 32 * i) for i in range(n))
    sid = enc.add_raw(K.KIND_STRUCT, "wide", 4 * n, n, False, body)
    enc.add_raw(K.KIND_TYPEDEF, "wide_t", sid)
    blob = enc.to_bytes()
    info = struct.unpack_from("<I", blob, 24 + 16 + 4)[0]
    assert info & 0xFFFF == n & 0xFFFF and (info >> 16) & 0xFF == n >> 16 == 1

    b = BTF(blob)
    t = b.type(sid)
    assert isinstance(t, Composite)
    assert t.vlen == n and len(t.members) == n and t.size == 4 * n
    assert t.members[-1].name == f"m{n - 1}" and t.members[-1].bit_offset == 32 * (n - 1)
    assert t.members[0xFFFF + 1].name == f"m{0x10000}"
    assert b.type(sid + 1).name == "wide_t" and b.type(sid + 1).type_id == sid
    assert type_lines(t)[0] == f"[{sid}] STRUCT 'wide' size={4 * n} vlen={n}"
    assert b.lookup("wide_t").sizeof() == 4 * n


def test_kind_above_31_described_by_layout(task_btf: BTF) -> None:
    # Kind 40 = 0b0101000: a 5-bit kind mask would read it as 8 (TYPEDEF).
    layout = {**LAYOUT_0_25, 40: (0, 4, 0)}
    blob, uid = blob_with_kind(task_btf, 40, 0, 4, 5, layout)
    b = BTF(blob)
    assert b.layout is not None and len(b.layout) == 41 and b.layout[40] == KindLayout(0, 4, 0)
    t = b.type(uid)
    assert isinstance(t, Opaque) and t.btf_kind == 40 and t.vlen == 5 and t.kind_name == "KIND40"
    assert b.kind_of(uid) == 40
    assert b.type(uid + 1).name == "after_mystery"
    assert f"[{uid}] KIND40 'mystery' size_or_type=7 vlen=5" in raw(b)
    with pytest.raises(BTFError, match=f"unknown BTF kind 40 at type id {uid}"):
        BTF(blob_with_kind(task_btf, 40, 0, 4, 5, None)[0])


# ---------------------------------------------------------------------- 4. bitfields
def old_bitfield_encoding(src: BTF, blob: bytes) -> Tuple[bytes, Dict[int, int]]:
    """Rewrite every kflag=1 struct/union of ``blob`` (LE, 24-byte header) in the old
    encoding: kflag 0, each bitfield member's type a fresh INT with nr_bits = bitfield size
    and bits_offset 0, member offset = bit offset. Fresh INTs are appended after the last
    id, so every other id stays. Returns the blob and fresh INT id -> nr_bits."""
    hdr_len, type_off, type_len, str_off, str_len = header_fields(blob)
    strs = bytearray(blob[hdr_len + str_off : hdr_len + str_off + str_len])
    spans = walk(blob)
    out = bytearray()
    fresh: List[bytes] = []
    fresh_bits: Dict[int, int] = {}
    last = len(spans)
    for i, (off, kind, _vlen) in enumerate(spans):
        rec_end = spans[i + 1][0] if i + 1 < len(spans) else hdr_len + type_off + type_len
        rec = bytearray(blob[off:rec_end])
        info = struct.unpack_from("<I", rec, 4)[0]
        t = src.type(i + 1)
        if kind in (K.KIND_STRUCT, K.KIND_UNION) and info >> 31:
            assert isinstance(t, Composite)
            struct.pack_into("<I", rec, 4, info & 0x7FFFFFFF)
            for j, m in enumerate(t.members):
                if m.bitfield_size:
                    under = m.type.strip_typedefs()
                    size = under.sizeof()
                    enc = under.encoding if isinstance(under, Int) else 0
                    name_off = len(strs)
                    strs += f"bf{m.bitfield_size}".encode() + b"\0"
                    fid = last + len(fresh) + 1
                    fresh.append(struct.pack("<IIII", name_off, K.KIND_INT << 24, size,
                                             (enc << 24) | m.bitfield_size))
                    fresh_bits[fid] = m.bitfield_size
                    struct.pack_into("<III", rec, 12 + 12 * j, struct.unpack_from("<I", rec, 12 + 12 * j)[0],
                                     fid, m.bit_offset)
                else:
                    struct.pack_into("<I", rec, 12 + 12 * j + 8, m.bit_offset)
        out += rec
    out += b"".join(fresh)
    hdr = struct.pack("<HBBIIIII", K.BTF_MAGIC, 1, 0, 24, 0, len(out), len(out), len(strs))
    return hdr + bytes(out) + bytes(strs), fresh_bits


@pytest.mark.parametrize("root", ["struct sk_buff", "struct task_struct"])
def test_both_bitfield_encodings(host: BTF, root: str, tmp_path: Path) -> None:
    new_blob = minimize(host, [root], pointers="fwd", byteorder="<")
    new = BTF(new_blob)
    old_blob, fresh = old_bitfield_encoding(new, new_blob)
    old = BTF(old_blob)
    assert len(old) == len(new) + len(fresh)
    assert len(fresh) >= 5, "expected real bitfields"

    root_id = new.lookup(root).id
    assert new.type(root_id).kflag and not old.type(root_id).kflag
    checked = 0
    for tid in new.ids():
        t = new.type(tid)
        if not isinstance(t, Composite):
            assert type_lines(old.type(tid)) == type_lines(t)
            continue
        o = old.type(tid)
        assert isinstance(o, Composite)
        for mn, mo in zip(t.members, o.members, strict=True):
            assert (mo.name, mo.bit_offset, mo.bitfield_size) == (mn.name, mn.bit_offset, mn.bitfield_size)
            if mn.bitfield_size:
                assert mo.type_id in fresh and mo.type_id != mn.type_id
                checked += 1
        assert len(t.members) == len(o.members)
    assert checked == len(fresh)
    assert old.type(root_id).sizeof() == new.type(root_id).sizeof()

    r = bpftool_dump(old_blob, tmp_path, "old.btf")
    assert r.returncode == 0, r.stderr
    parsed = parse_raw(r.stdout)
    for fid, bits in fresh.items():
        assert parsed[fid].kind == "INT"
        assert parsed[fid].attrs["nr_bits"] == str(bits)
        assert parsed[fid].attrs["bits_offset"] == "0"
    # bpftool prints the member offsets of the old encoding as-is, with no bitfield_size.
    assert "bitfield_size" not in "".join("".join(t.lines) for t in parsed.values())
    assert r.stdout == raw(old)


# ---------------------------------------------------------------------- 5. enum signedness
ENUM_CASES = [
    # (kind, kflag, size, values)
    (K.KIND_ENUM, True, 4, [-1, -(2**31), 0, 5, 2**31 - 1]),
    (K.KIND_ENUM, False, 4, [0, 2**31, 2**32 - 1]),
    (K.KIND_ENUM, True, 1, [-1, -128, 127]),
    (K.KIND_ENUM64, False, 8, [0, 1, 2**63, 2**64 - 1, 2**32]),
    (K.KIND_ENUM64, True, 8, [-1, -(2**63), 2**63 - 1, -(2**32)]),
]


def test_enumerator_signedness(tmp_path: Path) -> None:
    enc = BTFEncoder("<")
    ids = []
    for n, (kind, kflag, size, values) in enumerate(ENUM_CASES):
        parts = []
        for i, v in enumerate(values):
            name_off = enc.add_string(f"E{n}_{i}")
            if kind == K.KIND_ENUM64:
                u = v & (2**64 - 1)
                parts.append(struct.pack("<III", name_off, u & 0xFFFFFFFF, u >> 32))
            else:
                parts.append(struct.pack("<II", name_off, v & 0xFFFFFFFF))
        ids.append(enc.add_raw(kind, f"e{n}", size, len(values), kflag, b"".join(parts)))
    blob = enc.to_bytes()
    b = BTF(blob)
    r = bpftool_dump(blob, tmp_path, "enums.btf")
    assert r.returncode == 0, r.stderr
    parsed = parse_raw(r.stdout)
    for tid, (kind, kflag, _size, values) in zip(ids, ENUM_CASES, strict=True):
        t = b.type(tid)
        assert isinstance(t, Enum) and t.is_signed == kflag and t.is_enum64 == (kind == K.KIND_ENUM64)
        assert [e.value for e in t.enumerators] == values
        suffix = ("LL" if kflag else "ULL") if kind == K.KIND_ENUM64 else ""
        assert parsed[tid].attrs["encoding"] == ("SIGNED" if kflag else "UNSIGNED")
        assert parsed[tid].lines == [f"'E{tid - 1}_{i}' val={v}{suffix}" for i, v in enumerate(values)]
        assert b.constant(f"E{tid - 1}_0") == (t, values[0])
    assert r.stdout == raw(b)
    # and the encoder writes them back bit for bit
    assert encode(list(b)) == blob


# ---------------------------------------------------------------------- 6. bad input
@pytest.mark.parametrize("frac", [0, 1, 10, 23, 24, 25, 100, 0.25, 0.5, 0.99, -1])
def test_truncated_real_blob(task_blob: bytes, frac: float) -> None:
    cut = int(len(task_blob) * frac) if isinstance(frac, float) else (frac % len(task_blob))
    with pytest.raises(BTFError) as ei:
        BTF(task_blob[:cut], name="cut")
    msg = str(ei.value)
    assert msg.startswith("cut: ")
    if cut < 24:
        assert f"truncated header ({cut} bytes" in msg
    else:
        assert f"runs past the data ({cut - 24} bytes after the header)" in msg


def test_type_section_cut_mid_record(task_blob: bytes) -> None:
    spans = walk(task_blob)
    hdr_len, _type_off, type_len, _str_off, _str_len = header_fields(task_blob)
    last_off = spans[-1][0]
    # End the type section 4 bytes before the end of a struct's members: it runs past.
    k = max(i for i, (_off, kind, vlen) in enumerate(spans[:-1]) if kind == K.KIND_STRUCT and vlen)
    cut = spans[k + 1][0] - 4 - hdr_len
    assert cut < type_len
    with pytest.raises(BTFError) as ei:
        BTF(with_header(task_blob, type_len=cut))
    assert f"type id {k + 1} at offset {spans[k][0]} runs past the type section end {hdr_len + cut}" in str(
        ei.value
    )
    # Cut inside a record's 12-byte head.
    with pytest.raises(BTFError) as ei:
        BTF(with_header(task_blob, type_len=last_off - hdr_len + 8))
    assert f"truncated type id {len(spans)} at offset {last_off}" in str(ei.value)


@pytest.mark.parametrize(
    "fields, needle",
    [
        ({"magic": 0}, "bad magic 0000 at offset 0"),
        ({"magic": 0x9FEA}, "bad magic ea9f at offset 0"),
        ({"version": 2}, "unsupported version 2 at offset 2"),
        ({"version": 0}, "unsupported version 0 at offset 2"),
        ({"hdr_len": 16}, "hdr_len 16 at offset 4 is below the minimum 24"),
        ({"hdr_len": 0}, "hdr_len 0 at offset 4"),
        ({"hdr_len": 1 << 30}, f"hdr_len {1 << 30} at offset 4 runs past the data"),
        ({"type_off": 1 << 20}, "type section [1048576, +"),
        ({"type_len": 1 << 28}, "(header offset 8)"),
        ({"str_off": 1 << 28}, "string section [268435456, +"),
        ({"str_len": 0xFFFFFFFF}, "(header offset 16)"),
        ({"type_off": 2}, "type section offset 2 is not 4-byte aligned"),
        ({"str_off": 8}, "type and string sections overlap"),
    ],
)
def test_bad_header(task_blob: bytes, fields: Dict[str, int], needle: str) -> None:
    with pytest.raises(BTFError) as ei:
        BTF(with_header(task_blob, **fields), name="bad")
    assert needle in str(ei.value)
    assert str(ei.value).startswith("bad: ")


def test_name_off_past_strings(task_blob: bytes) -> None:
    spans = walk(task_blob)
    str_len = header_fields(task_blob)[4]
    tid = len(spans) // 2
    off = spans[tid - 1][0]
    buf = bytearray(task_blob)
    struct.pack_into("<I", buf, off, str_len + 100)
    with pytest.raises(BTFError) as ei:
        BTF(bytes(buf))
    msg = str(ei.value)
    assert f"name offset {str_len + 100} of type id {tid} (offset {off})" in msg
    assert f"past the string section ({str_len} bytes)" in msg


def test_member_type_past_last(task_blob: bytes, task_btf: BTF) -> None:
    tid = task_btf.lookup("struct task_struct").id
    off = walk(task_blob)[tid - 1][0]
    bad_ref = task_btf.last_id + 10
    buf = bytearray(task_blob)
    struct.pack_into("<I", buf, off + 12 + 12 * 3 + 4, bad_ref)  # member 3's type
    b = BTF(bytes(buf))  # lazily decoded: construction succeeds
    t = b.type(tid)
    with pytest.raises(BTFError) as ei:
        _ = t.members
    assert f"member 3 of type id {tid} refers to type id {bad_ref} past the last ({b.last_id})" in str(ei.value)


def _records(*recs: tuple) -> BTF:
    enc = BTFEncoder("<")
    for rec in recs:
        enc.add_raw(*rec)
    return BTF(enc.to_bytes())


def _array(elem: int, n: int) -> tuple:
    return (K.KIND_ARRAY, "", 0, 0, False, struct.pack("<III", elem, 0, n))


@pytest.mark.parametrize(
    "recs",
    [
        [(K.KIND_TYPEDEF, "loop", 1)],
        [(K.KIND_TYPEDEF, "a", 2), (K.KIND_TYPEDEF, "b", 1)],
        [(K.KIND_PTR, "", 2), (K.KIND_CONST, "", 1)],
        [(K.KIND_CONST, "", 2), (K.KIND_VOLATILE, "", 1)],
        [(K.KIND_PTR, "", 1)],
        [_array(1, 3)],
        [(K.KIND_TYPEDEF, "t", 2), _array(1, 2)],
    ],
    ids=["typedef-self", "typedef-pair", "ptr-const", "const-volatile", "ptr-self", "array-self",
         "typedef-array"],
)
def test_reference_cycles(recs: list) -> None:
    b = _records(*recs)
    t = b.type(1)
    outcomes = {}
    for what in ("type_name", "sizeof", "strip_typedefs", "unqualified", "alignment"):
        try:
            v = getattr(t, what)
            v = v() if callable(v) else v
            if hasattr(v, "type_name"):
                v.type_name()
            outcomes[what] = "ok"
        except BTFError:
            outcomes[what] = "BTFError"
        # RecursionError (or anything else) propagates and fails the test
    # Something must notice the cycle; a pointer cycle still has a size (8).
    assert "BTFError" in outcomes.values()
    if recs[0][0] != K.KIND_PTR:
        assert outcomes["sizeof"] == "BTFError"


def test_absurd_vlen(task_blob: bytes, task_btf: BTF) -> None:
    enc = BTFEncoder("<")
    enc.add_types(list(task_btf))
    uid = enc.add_raw(K.KIND_STRUCT, "huge", 8, 0xFFFFFF, False, bytes(24))
    with pytest.raises(BTFError) as ei:
        BTF(enc.to_bytes(), name="huge")
    msg = str(ei.value)
    assert f"type id {uid} at offset {24 + task_btf.header.type_len}" in msg
    assert "vlen 16777215" in msg and "runs past the type section end" in msg


def test_split_without_base(task_btf: BTF) -> None:
    enc = BTFEncoder("<", base=task_btf)
    sid = enc.add_raw(K.KIND_TYPEDEF, "split_t", task_btf.lookup("struct task_struct").id)
    split = enc.to_bytes()
    with pytest.raises(BTFError, match="needs its base BTF first"):
        BTF(split, name="module")
    b = BTF(split, base=task_btf, name="module")
    assert sid == task_btf.last_id + 1 == b.start_id
    assert b.type(sid).name == "split_t" and b.lookup("split_t").sizeof() == task_btf.lookup(
        "struct task_struct"
    ).sizeof()
    # A split blob whose first string happens to be empty still fails on its names.
    enc = BTFEncoder("<", base=task_btf)
    enc._strtab += b"\0"  # noqa: SLF001 - deliberately odd split BTF
    enc.add_raw(K.KIND_TYPEDEF, "split_t", 1)
    with pytest.raises(BTFError, match=r"name offset \d+ of type id 1 .*split BTF needs its base"):
        BTF(enc.to_bytes(), name="module")


@pytest.mark.parametrize("good", [True, False])
def test_load_never_modifies_input(task_blob: bytes, tmp_path: Path, good: bool) -> None:
    data = task_blob if good else task_blob[: len(task_blob) // 2]
    path = tmp_path / "in.btf"
    path.write_bytes(data)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    os.chmod(path, 0o444)
    before = path.stat()
    if good:
        assert len(load_btf_file(str(path))) == len(BTF(task_blob))
    else:
        with pytest.raises(BTFError):
            load_btf_file(str(path))
    after = path.stat()
    assert path.read_bytes() == data
    assert (after.st_mtime_ns, after.st_size, after.st_mode) == (before.st_mtime_ns, before.st_size, before.st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.btf"]
