"""The one BTF decoder (``kdbg.btf.decoder.Records``), its index cache and the one
declarator writer.

Every record's fields as the decoder reads them are checked against bpftool's raw dump
of the same bytes (Linux 6.18's BTF, bullseye's, and a bookworm module's split BTF on
its vmlinux): the type model, the C header writer and the encoder all read records
through this decoder, so this is the ground truth all three stand on.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from kdbg import cache
from kdbg.btf import constants as K
from kdbg.btf.cache import cached_header_c, open_btf
from kdbg.btf.decoder import Records
from kdbg.btf.encoder import BTFEncoder
from kdbg.btf.header import header_c
from kdbg.btf.index import BTF, ENUMERATOR_FINDS, NAME_FINDS
from kdbg.errors import ObjectNotFoundError
from tests.btf_truth import RawType, bpftool_c, bpftool_raw, parse_raw

_MEMBER = re.compile(r"^'([^']*)' type_id=(\d+) bits_offset=(\d+)(?: bitfield_size=(\d+))?$")
_ENUMERATOR = re.compile(r"^'([^']*)' val=(-?\d+)(?:ULL|LL)?$")
_PARAM = re.compile(r"^'([^']*)' type_id=(\d+)$")
_SECINFO = re.compile(r"^type_id=(\d+) offset=(\d+) size=(\d+) ")
_INT_ENC = {"(none)": 0, "SIGNED": K.INT_SIGNED, "CHAR": K.INT_CHAR, "BOOL": K.INT_BOOL}


def _name(s: str) -> str:
    return s or "(anon)"


def check_records(rec: Records, raw: Dict[int, RawType]) -> Dict[str, int]:
    """Compare every record ``rec`` holds with bpftool's view; count what was compared."""
    assert len(rec) == len(raw)
    assert rec.start_id == min(raw) and rec.last_id == max(raw)
    names = rec.names
    odd_ints = {
        t.id: (int(t.attrs["bits_offset"]), int(t.attrs["nr_bits"]))
        for t in raw.values()
        if t.kind == "INT" and (int(t.attrs["nr_bits"]) != 8 * int(t.attrs["size"]) or t.attrs["bits_offset"] != "0")
    }
    seen: Dict[str, int] = {}
    for t in raw.values():
        tid = t.id
        seen[t.kind] = seen.get(t.kind, 0) + 1
        assert K.KIND_NAMES[rec.kind(tid)] == t.kind, tid
        assert _name(rec.string(rec.name_off(tid))) == t.name, tid
        _noff, info, st, _off = rec.head(tid)
        a = t.attrs
        if t.kind in ("STRUCT", "UNION"):
            assert st == int(a["size"]) and info & 0xFFFFFF == int(a["vlen"])
            want: List[Tuple[str, int, int, int]] = []
            for line in t.lines:
                m = _MEMBER.match(line)
                assert m, line
                mt, off, bsz = int(m[2]), int(m[3]), int(m[4] or 0)
                if not info >> 31 and mt in odd_ints:  # old-style bitfield: the INT says it
                    off, bsz = off + odd_ints[mt][0], odd_ints[mt][1]
                want.append((m[1], mt, off, bsz))
            got = [(_name(n), mt, off, bsz) for n, mt, off, bsz in rec.members(tid, names)]
            assert got == want, tid
        elif t.kind in ("ENUM", "ENUM64"):
            assert st == int(a["size"]) and bool(info >> 31) == (a["encoding"] == "SIGNED")
            want_e = []
            for line in t.lines:
                m = _ENUMERATOR.match(line)
                assert m, line
                want_e.append((m[1], int(m[2])))
            assert [(_name(n), v) for n, v in rec.enumerators(tid, names)] == want_e, tid
        elif t.kind == "FUNC_PROTO":
            assert st == int(a["ret_type_id"])
            want_p = []
            for line in t.lines:
                m = _PARAM.match(line)
                assert m, line
                want_p.append((m[1], int(m[2])))
            assert [(_name(n), pt) for n, pt in rec.params(tid, names)] == want_p, tid
        elif t.kind == "DATASEC":
            want_s = []
            for line in t.lines:
                m = _SECINFO.match(line)
                assert m, line
                want_s.append((int(m[1]), int(m[2]), int(m[3])))
            assert rec.secinfo(tid) == want_s and st == int(a["size"])
        elif t.kind == "ARRAY":
            assert rec.array(tid) == (int(a["type_id"]), int(a["index_type_id"]), int(a["nr_elems"]))
        elif t.kind == "INT":
            enc = rec.extra(tid)
            assert st == int(a["size"])
            assert (enc & 0xFF, (enc >> 16) & 0xFF) == (int(a["nr_bits"]), int(a["bits_offset"]))
            assert (enc >> 24) & 0x0F == _INT_ENC[a.get("encoding", "(none)")]  # "(none)" is no \w+
        elif t.kind == "VAR":
            assert st == int(a["type_id"])
            assert K.VAR_LINKAGE_NAMES[rec.extra(tid)] == a["linkage"]
        elif t.kind == "DECL_TAG":
            assert st == int(a["type_id"]) and rec.extra(tid) == int(a["component_idx"])
        elif t.kind == "FWD":
            assert ("union" if info >> 31 else "struct") == a["fwd_kind"]
        elif t.kind == "FLOAT":
            assert st == int(a["size"])
        elif t.kind == "FUNC":
            assert st == int(a["type_id"]) and K.LINKAGE_NAMES[info & 0xFFFF] == a["linkage"]
        else:  # PTR, TYPEDEF, qualifiers, TYPE_TAG
            assert st == int(a["type_id"]), tid
    return seen


def test_records_equal_bpftool_618(btf618_path: Path) -> None:
    rec = Records(btf618_path.read_bytes(), str(btf618_path))
    seen = check_records(rec, parse_raw(bpftool_raw(btf618_path)))
    # 6.18 has every kind a kernel emits: the check covered each of them
    assert {"ENUM64", "DECL_TAG", "TYPE_TAG", "FLOAT", "DATASEC", "VAR", "FUNC_PROTO"} <= set(seen), seen


def test_records_equal_bpftool_bullseye(reference_dumps_all: list) -> None:
    dump = next(d for d in reference_dumps_all if d.suite == "bullseye")
    path = dump.truth / "btf" / "vmlinux"
    check_records(Records(path.read_bytes(), str(path)), parse_raw(bpftool_raw(path)))


def test_split_records_equal_bpftool(sample_dump: object) -> None:
    truth: Path = sample_dump.truth / "btf"  # type: ignore[attr-defined]
    base = Records((truth / "vmlinux").read_bytes(), "vmlinux")
    mod = Records((truth / "qemu_fw_cfg").read_bytes(), "qemu_fw_cfg", base=base)
    assert mod.start_id == base.last_id + 1
    check_records(mod, parse_raw(bpftool_raw(truth / "qemu_fw_cfg", base=truth / "vmlinux")))


# ---------------------------------------------------------------------- the index cache
@pytest.fixture()
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KDBG_CACHE", str(tmp_path))
    monkeypatch.delenv("KDBG_NO_CACHE", raising=False)
    return tmp_path


def _entries(root: Path, kind: str) -> List[Path]:
    return sorted((root / kind).glob("*.kce")) if (root / kind).is_dir() else []


def test_index_cache_round_trip_and_corruption(private_cache: Path, btf618_path: Path) -> None:
    data = btf618_path.read_bytes()
    ntypes = len(parse_raw(bpftool_raw(btf618_path)))
    first = open_btf(data, name="first")
    assert not first.records.index_adopted and len(first) == ntypes
    assert len(_entries(private_cache, "btf")) == 1  # the offsets index, stored at open
    assert first.lookup("struct task_struct").name == "task_struct"
    first.build_index()  # stored with the offsets index
    second = open_btf(data, name="second")
    assert second.records.index_adopted and len(second) == ntypes
    assert second.records.index == first.records.index
    assert second.lookup("struct task_struct").id == first.lookup("struct task_struct").id
    assert dict(second._name_index()) == dict(first._name_index())
    # a corrupt entry is a miss (kdbg.cache's checksum), never a wrong index
    (entry,) = _entries(private_cache, "btf")
    blob = bytearray(entry.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    entry.write_bytes(bytes(blob))
    third = open_btf(data, name="third")
    assert not third.records.index_adopted and third.records.index == first.records.index


def test_index_from_another_blob_is_refused(btf618_path: Path, sample_dump: object) -> None:
    """An index that does not fit the bytes (another kernel's) is not adopted."""
    other = Records((sample_dump.truth / "btf" / "vmlinux").read_bytes())  # type: ignore[attr-defined]
    data = btf618_path.read_bytes()
    rec = Records(data, index=other.index)
    assert not rec.index_adopted and len(rec) == len(parse_raw(bpftool_raw(btf618_path)))


def test_no_cache_writes_nothing(private_cache: Path, monkeypatch: pytest.MonkeyPatch, btf618_path: Path) -> None:
    monkeypatch.setenv("KDBG_NO_CACHE", "1")
    assert cache.cache_root() is None
    btf = open_btf(btf618_path.read_bytes())
    btf.build_index()
    assert btf.store is None
    cached_header_c(btf, ["struct list_head"])
    assert not list(private_cache.rglob("*.kce"))


def test_header_cache(private_cache: Path, sample_dump: object) -> None:
    data = (sample_dump.truth / "btf" / "vmlinux").read_bytes()  # type: ignore[attr-defined]
    btf = open_btf(data)
    text = cached_header_c(btf, ["struct task_struct"])
    assert text == header_c(BTF(data), ["struct task_struct"])
    assert len(_entries(private_cache, "header")) == 1
    assert cached_header_c(open_btf(data), ["struct task_struct"]) == text
    assert cached_header_c(open_btf(data), ["struct list_head"]) != text  # keyed by types
    assert len(_entries(private_cache, "header")) == 2


# ---------------------------------------------------------------------- the declarator
def _tiny_btf() -> bytes:
    """``typedef const volatile int cvi``, pointers to prototypes with a const-pointer
    parameter and with only ``...``."""
    e = BTFEncoder()
    i = e.add_raw(K.KIND_INT, "int", 4, body=struct.pack("<I", 0x01000020))
    cv = e.add_raw(K.KIND_CONST, "", e.add_raw(K.KIND_VOLATILE, "", i))
    e.add_raw(K.KIND_TYPEDEF, "cvi", cv)
    var = e.add_raw(K.KIND_FUNC_PROTO, "", i, vlen=1, body=struct.pack("<II", 0, 0))
    cp = e.add_raw(K.KIND_CONST, "", e.add_raw(K.KIND_PTR, "", var))
    body = struct.pack("<IIII", e.add_string("a"), cv, e.add_string("b"), cp)
    two = e.add_raw(K.KIND_FUNC_PROTO, "", i, vlen=2, body=body)
    e.add_raw(K.KIND_TYPEDEF, "fn2", e.add_raw(K.KIND_PTR, "", two))
    return e.to_bytes()


def _typedef_line(header: str, name: str) -> Optional[str]:
    return next((x for x in header.splitlines() if x.startswith("typedef ") and x.endswith(f"{name};")), None)


def test_declarator_dialects(tmp_path: Path) -> None:
    """One writer, its dialects: the header's qualifier order is bpftool's; the model's
    is drgn's (outermost first, ``* const``, ``()`` for a prototype of only ``...``, as
    drgn itself writes them) with parameter names; pahole's (``ptype``) is gcc's."""
    data = _tiny_btf()
    path = tmp_path / "tiny.btf"
    path.write_bytes(data)
    truth = bpftool_c(path)
    ours = header_c(BTF(data))
    assert _typedef_line(ours, "cvi") == _typedef_line(truth, "cvi") == "typedef volatile const int cvi;"
    fn2_line = next(x for x in ours.splitlines() if "(*fn2)(" in x)
    assert fn2_line.startswith("typedef int (*fn2)(volatile const int, int (*const")
    btf = BTF(data)
    assert btf.lookup("cvi").type.type_name() == "const volatile int"  # type: ignore[attr-defined]
    fn2 = btf.lookup("fn2").type  # type: ignore[attr-defined]
    assert fn2.type_name() == "int (*)(const volatile int a, int (* const b)())"
    assert fn2.declaration("f") == "int (*f)(const volatile int a, int (* const b)())"
    assert btf.c_declaration(fn2, "f", "gcc") == "int (*f)(const volatile int a, int (*const b)(...))"


def test_prototype_cycle_is_btferror_and_leaves_no_state() -> None:
    """A prototype that takes a pointer to itself (only malformed BTF has one) is a
    BTFError; the writer keeps no state between calls, so the next call works."""
    from kdbg.errors import BTFError

    e = BTFEncoder()
    i = e.add_raw(K.KIND_INT, "int", 4, body=struct.pack("<I", 0x01000020))
    # id 3 = PTR -> 2 (the prototype), id 2 = FUNC_PROTO(int, param of type 3)
    e.add_raw(K.KIND_FUNC_PROTO, "", i, vlen=1, body=struct.pack("<II", 0, 3))
    e.add_raw(K.KIND_PTR, "", 2)
    btf = BTF(e.to_bytes())
    for _ in range(2):
        with pytest.raises(BTFError, match="contains itself"):
            btf.type(3).type_name()
        assert btf.type(1).type_name() == "int"


def test_records_decode_big_endian() -> None:
    """Byte order is the decoder's business alone: a big-endian re-encoding of the tiny
    BTF reads the same."""
    from kdbg.btf.encoder import encode

    little = BTF(_tiny_btf())
    big = BTF(encode(list(little), byteorder=">"))
    assert big.byteorder == ">"
    for a, b in zip(little, big, strict=True):
        assert (a.kind, a.btf_name, a.type_name()) == (b.kind, b.btf_name, b.type_name())


# ---------------------------------------------------------------------- names without an index
def _bpftool_names(raw: Dict[int, RawType]) -> Dict[str, List[int]]:
    out: Dict[str, List[int]] = {}
    for t in raw.values():
        if t.name != "(anon)":
            out.setdefault(t.name, []).append(t.id)
    return out


def test_ids_named_equals_bpftool(btf618_path: Path, sample_dump: object) -> None:
    """The first name lookups of a base BTF search its strings and records instead of
    building the name index (:meth:`Records.ids_named`): every repeated name, a sample of
    the unique ones and names that are suffixes of many others give bpftool's ids. A
    module's split BTF answers from its index (its names may be the base's strings), also
    when the first lookups search the base's records."""
    import random

    raw = parse_raw(bpftool_raw(btf618_path))
    want = _bpftool_names(raw)
    rec = Records(btf618_path.read_bytes(), "6.18")
    repeated = sorted(n for n, v in want.items() if len(v) > 1)
    unique = sorted(n for n, v in want.items() if len(v) == 1)
    assert len(repeated) > 20
    names = repeated[:1500] + random.Random(1).sample(unique, 1500) + ["int", "u64", "task_struct"]
    for name in names:
        assert rec.ids_named(name) == want[name], name
    for missing in ("no_such_type_at_all", "", "task_struct\0x", "nÿ"):
        assert rec.ids_named(missing) == [], missing
    truth: Path = sample_dump.truth / "btf"  # type: ignore[attr-defined]
    base = BTF((truth / "vmlinux").read_bytes(), name="vmlinux")
    mod = BTF((truth / "qemu_fw_cfg").read_bytes(), base=base, name="qemu_fw_cfg")
    assert mod.records.ids_named("fw_cfg_sysfs_entry") is None
    mod_want = _bpftool_names(parse_raw(bpftool_raw(truth / "qemu_fw_cfg", base=truth / "vmlinux")))
    names = sorted(mod_want)
    assert len(names) >= 10
    for name in names:
        ids = mod.ids_by_name(name)  # the base's first, then the module's
        assert [i for i in ids if i >= mod.start_id] == mod_want[name], name
        assert [i for i in ids if i < mod.start_id] == base.ids_by_name(name), name


def test_name_lookups_without_index_inner_offsets_and_non_ascii() -> None:
    """A name offset into the middle of a string (legal BTF, never written by pahole) is
    found; a non-ASCII string section leaves the answer to the name index; both give what
    the index gives, through the model's lookups too."""
    e = BTFEncoder()
    long_name = e.add_string("struct_foo")
    i = e.add_raw(K.KIND_INT, "int", 4, body=struct.pack("<I", 0x01000020))
    a = e.add_raw(K.KIND_TYPEDEF, long_name + len("struct_"), i)  # "foo", inside "struct_foo"
    b = e.add_raw(K.KIND_TYPEDEF, "foo", i)  # and a string of its own
    c = e.add_raw(K.KIND_TYPEDEF, long_name, i)
    rec = Records(e.to_bytes())
    assert rec.ids_named("foo") == [a, b]
    assert rec.ids_named("struct_foo") == [c] and rec.ids_named("int") == [i]
    btf = BTF(e.to_bytes())
    assert btf.ids_by_name("foo") == [a, b] and btf._names is None  # no index was built
    e.add_raw(K.KIND_TYPEDEF, "caf\u00e9", i)
    rec2 = Records(e.to_bytes())
    assert rec2.ids_named("foo") is None
    btf2 = BTF(e.to_bytes())
    assert btf2.ids_by_name("foo") == [a, b] and btf2._names is not None  # from the index


def test_enumerators_without_the_index(btf618_path: Path, reference_dumps_all: list) -> None:
    """The first lookups of an enumerator find the enum holding it from the enums' name
    words (:meth:`Records.enum_ids_named`) instead of decoding every enum: the enum is
    the first (in id order, per bpftool) holding the name, also for names several enums
    hold, and type and value are what the enumerator index answers, on 6.18's BTF and on
    bullseye's (5.10: no signedness flag, the model's rule decides), without that index
    being built. A BTF answers :data:`ENUMERATOR_FINDS` lookups that way before it builds
    the index, so each fresh BTF is asked that many names (opening one per name cost
    minutes), after more type name lookups than :data:`NAME_FINDS` (the two are counted
    apart: type lookups must not use up the enumerators' searches)."""
    import random

    bullseye = next(d for d in reference_dumps_all if d.suite == "bullseye")
    for path in (btf618_path, bullseye.truth / "btf" / "vmlinux"):
        raw = parse_raw(bpftool_raw(path))
        first: Dict[str, int] = {}
        holders: Dict[str, int] = {}
        for t in sorted(raw.values(), key=lambda t: t.id):
            if t.kind not in ("ENUM", "ENUM64"):
                continue
            for line in t.lines:
                m = _ENUMERATOR.match(line)
                assert m, line
                first.setdefault(m[1], t.id)
                holders[m[1]] = holders.get(m[1], 0) + 1
        shared = sorted(n for n, c in holders.items() if c > 1)
        assert shared
        names = shared[:300] + random.Random(4).sample(sorted(first), 300)
        data = path.read_bytes()
        full = BTF(data)
        for i, name in enumerate(names + ["NO_SUCH_ENUMERATOR", "int"]):
            if i % ENUMERATOR_FINDS == 0:
                btf = BTF(data)
                for _ in range(NAME_FINDS + 1):
                    assert btf.ids_by_name("task_struct")
                assert btf._names is not None  # the type name index is built
            if name not in first:
                with pytest.raises(ObjectNotFoundError):
                    btf.constant(name)
            else:
                t, value = btf.constant(name)
                assert t.id == first[name], name
                assert (t.id, value) == full._enumerator_index()[name], name
            assert btf._enumerators is None, name  # answered without the index
