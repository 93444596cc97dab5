"""Type names that several different types share (``struct dma_chan`` in 6.18's BTF is a
driver's 16-byte struct and dmaengine's 112-byte one): kdbg never picks one silently.

Ground truth is bpftool's raw dump of the same bytes (ids, kinds, names, sizes, member
lists), parsed without kdbg. The BTFs: Linux 6.18 (shipped test data), and the reference
kernels' own BTF (bookworm's sample, bullseye's and trixie's truth directories).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from kdbg.btf.index import BTF
from kdbg.btf.loader import load_btf_file
from kdbg.errors import AmbiguousTypeError, TypeNotFoundError
from tests.btf_truth import RawType, bpftool_raw, parse_raw
from tests.cli_support import clean_env

_TAG_KINDS = {"STRUCT": "struct", "UNION": "union", "ENUM": "enum", "ENUM64": "enum"}


def _kdbg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kdbg", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL
    , env=clean_env())


def _open(path: Path) -> Tuple[BTF, Dict[int, RawType]]:
    return load_btf_file(str(path)), parse_raw(bpftool_raw(path))


def _structs(raw: Dict[int, RawType], name: str) -> Dict[int, int]:
    """id -> size of every STRUCT named ``name``, as bpftool lists them."""
    return {t.id: int(t.attrs["size"]) for t in raw.values() if t.kind == "STRUCT" and t.name == name}


def _tag_groups(raw: Dict[int, RawType]) -> Dict[Tuple[str, str], List[RawType]]:
    """(keyword, name) -> every definition and FWD of that tag, from bpftool."""
    groups: Dict[Tuple[str, str], List[RawType]] = {}
    for t in raw.values():
        if t.name in ("", "(anon)"):
            continue
        if t.kind in _TAG_KINDS:
            groups.setdefault((_TAG_KINDS[t.kind], t.name), []).append(t)
        elif t.kind == "FWD":
            groups.setdefault((t.attrs["fwd_kind"], t.name), []).append(t)
    return groups


def _complete(t: RawType) -> bool:
    return t.kind != "FWD" and not (t.kind in ("ENUM", "ENUM64") and t.attrs["vlen"] == "0")


def _typedef_end(raw: Dict[int, RawType], tid: int) -> int:
    """The id a typedef chain ends at (bpftool's ``type_id=`` followed through typedefs)."""
    while tid in raw and raw[tid].kind == "TYPEDEF":
        tid = int(raw[tid].attrs["type_id"])
    return tid


@pytest.fixture(scope="module")
def btf618(btf618_path: Path) -> Tuple[BTF, Dict[int, RawType]]:
    return _open(btf618_path)


@pytest.fixture(scope="module")
def reference_btf_paths(reference_dumps_all: list, sample_dump: object, btf618_path: Path) -> List[Path]:
    """6.18, bookworm (the committed sample) and every other suite's own BTF."""
    paths = {"6.18": btf618_path, "bookworm": sample_dump.truth / "btf" / "vmlinux"}  # type: ignore[attr-defined]
    for d in reference_dumps_all:
        paths.setdefault(d.suite, d.truth / "btf" / "vmlinux")
    assert {"bullseye", "trixie"} <= set(paths), paths
    return list(paths.values())


@pytest.fixture(scope="module")
def reference_btfs(reference_btf_paths: List[Path]) -> List[Tuple[Path, BTF, Dict[int, RawType]]]:
    """Each of ``reference_btf_paths`` opened by kdbg and dumped by bpftool, once for the
    tests that only read them."""
    return [(path, *_open(path)) for path in reference_btf_paths]


def test_dma_chan_is_ambiguous_not_the_first_id(btf618: Tuple[BTF, Dict[int, RawType]]) -> None:
    btf, raw = btf618
    truth = _structs(raw, "dma_chan")
    assert sorted(truth.values()) == [16, 112], truth  # what the test data holds
    with pytest.raises(AmbiguousTypeError) as ei:
        btf.lookup("struct dma_chan")
    assert {(tid, size) for tid, _kind, size in ei.value.candidates} == set(truth.items())
    assert isinstance(ei.value, LookupError)
    msg = str(ei.value)
    assert "\n" not in msg and "struct dma_chan#ID" in msg
    assert all(f"#{tid} ({size} bytes)" in msg for tid, size in truth.items())
    # the bare tag name is the same question
    with pytest.raises(AmbiguousTypeError):
        btf.lookup("dma_chan")


def test_dma_chan_picked_by_id_or_by_size(btf618: Tuple[BTF, Dict[int, RawType]]) -> None:
    btf, raw = btf618
    truth = _structs(raw, "dma_chan")
    for tid, size in truth.items():
        for spec in (f"struct dma_chan#{tid}", f"struct dma_chan #{tid}", f"dma_chan#{tid}", str(tid), f"#{tid}"):
            t = btf.lookup(spec)
            assert (t.id, t.size) == (tid, size), spec
        assert btf.lookup(tid).id == tid
        ptr = btf.lookup(f"const struct dma_chan#{tid} *")
        assert ptr.size == 8 and ptr.type.unqualified().id == tid  # type: ignore[attr-defined]
        assert btf.lookup("struct dma_chan", size=size).id == tid
        assert len(btf.type(tid).members) == int(raw[tid].attrs["vlen"])  # type: ignore[attr-defined]
    other = next(t.id for t in raw.values() if t.kind == "STRUCT" and t.name == "list_head")
    with pytest.raises(TypeNotFoundError, match=f"type id {other} is STRUCT 'list_head'"):
        btf.lookup(f"struct dma_chan#{other}")
    with pytest.raises(TypeNotFoundError):
        btf.lookup(f"#{max(raw) + 1}")


def test_duplicate_typedefs_of_one_type_are_one_type(btf618: Tuple[BTF, Dict[int, RawType]]) -> None:
    """``typedef __u8 u8`` and ``typedef unsigned char u8`` (dedup left both): same type."""
    btf, raw = btf618
    u8 = sorted(t.id for t in raw.values() if t.kind == "TYPEDEF" and t.name == "u8")
    assert len(u8) == 2 and len({_typedef_end(raw, i) for i in u8}) == 1
    assert btf.lookup("u8").id == u8[0]


def test_every_duplicate_tag_in_reference_btf(reference_btfs: List[Tuple[Path, BTF, Dict[int, RawType]]]) -> None:
    """For every tag name bpftool lists more than once: one complete definition is the
    answer (over its FWDs); complete ones of different sizes are never merged, each is
    listed, and a size the context gives picks the one of that size."""
    checked = 0
    for path, btf, raw in reference_btfs:
        for (kw, name), group in sorted(_tag_groups(raw).items()):
            if len(group) < 2:
                continue
            spec = f"{kw} {name}"
            complete = [t for t in group if _complete(t)]
            if len(complete) == 1:
                assert btf.lookup(spec).id == complete[0].id, (path, spec)
                checked += 1
                continue
            sizes = [int(t.attrs["size"]) for t in complete]
            if len(set(sizes)) == 1:
                continue  # same size: may or may not be the same type (see the next test)
            with pytest.raises(AmbiguousTypeError) as ei:
                btf.lookup(spec)
            listed = {tid: size for tid, _kind, size in ei.value.candidates}
            assert set(listed) <= {t.id for t in complete}, (path, spec)
            assert set(listed.values()) == set(sizes), (path, spec)
            for t, size in zip(complete, sizes, strict=True):
                if sizes.count(size) == 1:
                    assert btf.lookup(spec, size=size).id == t.id, (path, spec, size)
            checked += 1
    assert checked >= 40, checked


def test_duplicate_typedefs_in_reference_btf(reference_btfs: List[Tuple[Path, BTF, Dict[int, RawType]]]) -> None:
    """Typedefs of one name: complete ones win over typedefs of a FWD (bullseye's
    ``ZSTD_DCtx``); ones ending at the same type are that type; ones ending at types of
    different sizes are ambiguous."""
    checked = 0
    for path, btf, raw in reference_btfs:
        by_name: Dict[str, List[int]] = {}
        for t in raw.values():
            if t.kind == "TYPEDEF":
                by_name.setdefault(t.name, []).append(t.id)
        scalars = {t.name for t in raw.values() if t.kind in ("INT", "FLOAT")}
        for name, ids in sorted(by_name.items()):
            if len(ids) < 2 or name in scalars:
                continue
            ends = [_typedef_end(raw, i) for i in ids]
            kinds = [raw[e].kind if e in raw else "VOID" for e in ends]
            full = [i for i, k in zip(ids, kinds, strict=True) if k != "FWD"]
            if len(set(ends)) == 1:
                assert btf.lookup(name).id == min(ids), (path, name)
            elif len(full) == 1:
                assert btf.lookup(name).id == full[0], (path, name)
            elif all(k in _TAG_KINDS for k in kinds) and len({raw[e].attrs["size"] for e in ends}) > 1:
                with pytest.raises(AmbiguousTypeError):
                    btf.lookup(name)
            else:
                continue
            checked += 1
    assert checked >= 3, checked


def test_ptype_lists_every_candidate(btf618_path: Path, btf618: Tuple[BTF, Dict[int, RawType]]) -> None:
    _btf, raw = btf618
    truth = _structs(raw, "dma_chan")
    p = _kdbg("--btf", str(btf618_path), "-x", "ptype struct dma_chan")
    assert p.returncode == 0, p.stderr
    for tid, size in truth.items():
        assert f"/* struct dma_chan#{tid} (" in p.stdout
        assert f"/* size: {size}, members: {raw[tid].attrs['vlen']} */" in p.stdout
    assert p.stdout.count("struct dma_chan {") == 2
    big = next(tid for tid, size in truth.items() if size == 112)
    one = _kdbg("--btf", str(btf618_path), "-x", f"ptype struct dma_chan#{big}").stdout
    assert one.splitlines()[0] == "struct dma_chan {"
    assert f"/* size: 112, members: {raw[big].attrs['vlen']} */" in one


def test_api_error_is_one_line_and_raw_dump_shows_all(
    btf618_path: Path, btf618: Tuple[BTF, Dict[int, RawType]]
) -> None:
    _btf, raw = btf618
    truth = _structs(raw, "dma_chan")
    p = _kdbg("--btf", str(btf618_path), "-e", 'prog.type("struct dma_chan")')
    assert p.returncode == 1
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "ambiguous type 'struct dma_chan'" in err[0]
    assert all(f"#{tid}" in err[0] for tid in truth)
    out = _kdbg("--btf", str(btf618_path), "-x", "btf dump --format raw struct dma_chan").stdout
    lines = bpftool_raw(btf618_path).splitlines()
    want: List[str] = []
    for tid in sorted(truth):
        start = lines.index(next(x for x in lines if x.startswith(f"[{tid}] ")))
        want += lines[start : start + 1 + int(raw[tid].attrs["vlen"])]
    assert out.splitlines() == want


def test_whatis(btf618_path: Path, btf618: Tuple[BTF, Dict[int, RawType]]) -> None:
    """``whatis``: one typedef level down (bpftool: ``u64`` is a TYPEDEF of ``__u64``), a
    function's prototype, and one line per candidate of an ambiguous name."""
    _btf, raw = btf618
    u64 = next(t for t in raw.values() if t.kind == "TYPEDEF" and t.name == "u64")
    target = raw[int(u64.attrs["type_id"])]
    assert target.kind == "TYPEDEF"
    p = _kdbg("--btf", str(btf618_path), "-x", "whatis u64", "-x", "whatis struct dma_chan", "-x", "whatis vfs_read")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == f"type = {target.name}"
    truth = _structs(raw, "dma_chan")
    assert lines[1:3] == [f"type = struct dma_chan#{tid} (STRUCT, {size} bytes)" for tid, size in sorted(truth.items())]
    assert lines[3].startswith("type = ssize_t (struct file *") and len(lines) == 4
