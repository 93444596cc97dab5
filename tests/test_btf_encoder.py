"""The BTF encoder and reducer on real BTF, checked against bpftool and against kdbg itself.

The real BTF is Linux 6.18's, shipped as ``tests/data/vmlinux-6.18.btf.xz`` (it has ENUM64,
DECL_TAG, TYPE_TAG and FLOAT), never the running kernel's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Dict, Iterable, List, Mapping, Optional

import pytest

from kdbg.btf import constants as K
from kdbg.btf.encoder import BTFEncoder, closure, encode, minimize, reduce_btf
from kdbg.btf.index import BTF
from kdbg.btf.types import Composite, Enum, Func, FuncProto, Fwd, Type
from kdbg.errors import BTFError
from tests.cli_support import clean_env

BPFTOOL = shutil.which("bpftool") or "/usr/sbin/bpftool"


@pytest.fixture(scope="module")
def vmlinux(btf618_bytes: bytes) -> BTF:
    return BTF(btf618_bytes, name="vmlinux-6.18")


@pytest.fixture(scope="module")
def vmlinux_encoded(vmlinux: BTF) -> bytes:
    """All of ``vmlinux`` encoded again (once for the round-trip tests that read it)."""
    return encode(list(vmlinux), vmlinux.byteorder)


# ---------------------------------------------------------------------- comparison helpers
def describe(t: Type) -> tuple:
    """Everything kdbg reads from a type, with ids replaced by what they name."""

    def ref(tid: int) -> str:
        return t.btf.type(tid).type_name() if t.btf is not None else str(tid)

    out: list = [t.btf_kind, t.btf_name, t.kflag, t.size if not isinstance(t, Func) else None]
    if isinstance(t, Composite):
        out.append(tuple((m.btf_name, ref(m.type_id), m.bit_offset, m.bitfield_size) for m in t.btf_members))
    elif isinstance(t, Enum):
        out.append(tuple(t.enumerators))
    elif isinstance(t, FuncProto):
        out.append((ref(t.type_id), tuple((p.name, ref(p.type_id)) for p in t.params), t.is_variadic))
    elif isinstance(t, Func):
        out.append((t.linkage, t.type.type_name()))
    else:
        out.append(t.type_name())
    return tuple(out)


def bpftool_raw(data: bytes, tmp_path: os.PathLike[str], name: str) -> Dict[int, List[str]]:
    """``bpftool btf dump file`` of ``data``, as id -> lines (first line without its id)."""
    path = os.path.join(os.fspath(tmp_path), name)
    with open(path, "wb") as f:
        f.write(data)
    assert BPFTOOL is not None
    out = subprocess.run(
        [BPFTOOL, "btf", "dump", "file", path], check=True, capture_output=True, text=True
    , env=clean_env()).stdout
    types: Dict[int, List[str]] = {}
    cur: Optional[List[str]] = None
    for line in out.splitlines():
        m = re.match(r"\[(\d+)\] (.*)", line)
        if m:
            cur = types.setdefault(int(m.group(1)), [])
            cur.append(m.group(2))
        else:
            assert cur is not None
            cur.append(line)
    return types


_ID = re.compile(r"\b((?:ret_)?type_id|index_type_id)=(\d+)")


def renumber(lines: Iterable[str], id_map: Mapping[int, int]) -> List[str]:
    """Rewrite type ids in raw-dump lines through ``id_map`` (0 stays 0)."""
    return [
        _ID.sub(lambda m: f"{m.group(1)}={id_map.get(int(m.group(2)), int(m.group(2)))}", line)
        for line in lines
    ]


@pytest.fixture(scope="module")
def vmlinux_raw(btf618_bytes: bytes, tmp_path_factory: pytest.TempPathFactory) -> Dict[int, List[str]]:
    return bpftool_raw(btf618_bytes, tmp_path_factory.mktemp("raw"), "vmlinux")


def check_reduced(
    src: BTF,
    names: List[object],
    tmp_path: os.PathLike[str],
    src_raw: Optional[Dict[int, List[str]]],
    pointers: str = "full",
) -> BTF:
    """Reduce, then compare bpftool's and kdbg's view of every kept type with the source."""
    red = reduce_btf(src, names, pointers=pointers)  # type: ignore[arg-type]
    out = BTF(red.data, name="reduced")
    assert len(out) == len(red.id_map)
    assert sorted(red.id_map.values()) == list(range(1, len(out) + 1))
    back = {new: old for old, new in red.id_map.items()}
    for new_id in out.ids():
        old = src.type(back[new_id])
        new = out.type(new_id)
        if back[new_id] in red.fwd_ids:
            assert isinstance(new, Fwd) and new.name == old.name
            continue
        a, b = describe(new), describe(old)
        if pointers == "fwd" and new.size is None:
            # A typedef or qualifier of a struct that is now a FWD has no size any more.
            a, b = a[:3] + a[4:], b[:3] + b[4:]
        assert a == b, (old, new)
    if src_raw is not None:
        got = bpftool_raw(red.data, tmp_path, "reduced")
        assert sorted(got) == list(range(1, len(out) + 1))
        for new_id, lines in got.items():
            old = back[new_id]
            if old in red.fwd_ids:
                assert lines[0].startswith("FWD ")
                continue
            # The reduced blob's ids, written back as the source's ids.
            assert renumber(lines, back) == src_raw[old], (old, new_id)
    return out


# ---------------------------------------------------------------------- round trips
def test_round_trip_whole_vmlinux(vmlinux: BTF, vmlinux_encoded: bytes) -> None:
    """Re-encode all 126k types: same ids, same decoded types."""
    data = vmlinux_encoded
    again = BTF(data, name="again")
    assert len(again) == len(vmlinux)
    for tid in range(1, vmlinux.last_id + 1, 7):
        assert describe(again.type(tid)) == describe(vmlinux.type(tid)), tid
    # Encoding is deterministic and idempotent.
    assert encode(list(again), again.byteorder) == data


def test_round_trip_bpftool_identical(vmlinux_encoded: bytes, btf618_path: os.PathLike[str],
                                      tmp_path: os.PathLike[str]) -> None:
    data = vmlinux_encoded
    path = os.path.join(os.fspath(tmp_path), "rt.btf")
    with open(path, "wb") as f:
        f.write(data)
    assert BPFTOOL is not None
    a = subprocess.run([BPFTOOL, "btf", "dump", "file", path], capture_output=True, check=True, env=clean_env())
    b = subprocess.run([BPFTOOL, "btf", "dump", "file", btf618_path], capture_output=True, check=True, env=clean_env())
    assert a.stdout == b.stdout and a.stdout.count(b"\n[") > 100_000


def test_big_endian_round_trip(vmlinux: BTF) -> None:
    small = BTF(minimize(vmlinux, ["struct task_struct"], pointers="fwd"))
    be = encode(list(small), byteorder=">")
    assert be[:2] == b"\xeb\x9f"
    beb = BTF(be)
    assert beb.byteorder == ">"
    assert len(beb) == len(small) > 100
    for a, b in zip(small, beb, strict=True):
        assert describe(a) == describe(b)
    assert encode(list(beb), byteorder="<") == encode(list(small), byteorder="<")


# ---------------------------------------------------------------------- reduction
@pytest.mark.parametrize(
    "names",
    [
        ["struct task_struct"],
        ["struct sk_buff"],
        ["struct file"],
        ["vfs_read", "schedule"],
        ["struct list_head *", "u64", "enum pid_type"],
    ],
)
def test_minimize_full(
    vmlinux: BTF,
    vmlinux_raw: Dict[int, List[str]],
    tmp_path: os.PathLike[str],
    names: List[object],
) -> None:
    check_reduced(vmlinux, names, tmp_path, vmlinux_raw)


@pytest.mark.parametrize("names", [["struct task_struct"], ["struct sk_buff", "vfs_read"]])
def test_minimize_fwd(
    vmlinux: BTF,
    vmlinux_raw: Dict[int, List[str]],
    tmp_path: os.PathLike[str],
    names: List[object],
) -> None:
    out = check_reduced(vmlinux, names, tmp_path, vmlinux_raw, pointers="fwd")
    assert len(out) < 400
    ts = out.lookup("struct task_struct") if "struct task_struct" in names else None
    if ts is not None:
        orig = vmlinux.lookup("struct task_struct")
        assert ts.size == orig.size
        assert isinstance(ts, Composite) and isinstance(orig, Composite)
        assert [m.name for m in ts.members] == [m.name for m in orig.members]
        # struct mm_struct is only behind pointers: a FWD now.
        assert isinstance(out.lookup("struct mm_struct"), Fwd)


def test_minimize_enum64(
    vmlinux: BTF, vmlinux_raw: Dict[int, List[str]], tmp_path: os.PathLike[str]
) -> None:
    e64 = [vmlinux.type(i) for i in vmlinux.ids([K.KIND_ENUM64])]
    named = next(t for t in e64 if t.name)
    anon = next(t for t in e64 if not t.name)
    out = check_reduced(vmlinux, [f"enum {named.name}", anon.id], tmp_path, vmlinux_raw)
    assert len(out) == 2
    assert all(out.kind_of(i) == K.KIND_ENUM64 for i in out.ids())


def test_minimize_function_prototype(vmlinux: BTF) -> None:
    out = BTF(minimize(vmlinux, ["vfs_read"], pointers="fwd"))
    f = out.function("vfs_read")
    assert f.proto.type_name() == vmlinux.function("vfs_read").proto.type_name()
    assert [p.name for p in f.proto.params] == ["file", "buf", "count", "pos"]


def test_minimize_synthesized_pointer(vmlinux: BTF) -> None:
    """A name that needs a synthesized type (``char [7]``) still reduces to valid BTF."""
    out = BTF(minimize(vmlinux, ["char [7]"]))
    arrays = [out.type(i) for i in out.ids([K.KIND_ARRAY])]
    assert [a.type_name() for a in arrays] == ["char [7]"]


def test_closure_fwd_keeps_by_value(vmlinux: BTF) -> None:
    """A struct reached both behind a pointer and by value is kept in full."""
    ids, fwd = closure(vmlinux, [vmlinux.lookup("struct task_struct").id], "fwd")
    lh = vmlinux.lookup("struct list_head").id
    assert lh in ids and lh not in fwd


def test_minimize_unknown_name(vmlinux: BTF) -> None:
    with pytest.raises(LookupError):
        minimize(vmlinux, ["struct no_such_struct_kdbg"])


# ---------------------------------------------------------------------- split and errors
def test_split_encoding(vmlinux: BTF) -> None:
    base = BTF(minimize(vmlinux, ["struct list_head"]))
    enc = BTFEncoder(base=base)
    lh = base.lookup("struct list_head")
    body = enc._u32x3.pack(enc.add_string("node"), lh.id, 0)
    sid = enc.add_raw(K.KIND_STRUCT, "kdbg_split", 16, 1, False, body)
    assert sid == base.last_id + 1
    split = BTF(enc.to_bytes(), base=base)
    t = split.lookup("struct kdbg_split")
    assert isinstance(t, Composite) and t.members[0].type is lh
    # Re-encoding the split part on the same base gives the same bytes.
    assert encode(list(split), base=base) == enc.to_bytes()
    with pytest.raises(BTFError, match="base"):
        BTF(enc.to_bytes())


def test_missing_reference_is_an_error() -> None:
    enc = BTFEncoder()
    enc.add_raw(K.KIND_INT, "int", 4, body=enc._u32.pack(0x01000020))
    enc.add_raw(K.KIND_PTR, "", 1)
    enc.add_raw(K.KIND_TYPEDEF, "myint", 1)
    btf = BTF(enc.to_bytes())
    with pytest.raises(BTFError, match="not among the encoded types"):
        encode([btf.type(2)])
    assert len(BTF(encode([btf.type(1), btf.type(2)]))) == 2


def test_encoder_limits() -> None:
    enc = BTFEncoder()
    with pytest.raises(BTFError):
        enc.add_raw(128)
    with pytest.raises(BTFError):
        enc.add_raw(K.KIND_STRUCT, vlen=K.BTF_MAX_VLEN + 1)
    with pytest.raises(ValueError):
        BTFEncoder(byteorder="=")
    assert enc.add_string("abc") == enc.add_string("abc") == 1
