"""``minimize`` on real Debian kernels' BTF (bullseye 5.10, bookworm 6.1, trixie 6.12) and
on a module's split BTF, checked by bpftool (libbpf) and by reading the result back.

Each kernel's vmlinux BTF is loaded once (module-scoped fixture); reductions keep pointer
targets as FWD (``pointers="fwd"``) since the full closure is not the point here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from kdbg.btf import constants as K
from kdbg.btf.encoder import closure, reduce_btf, reduce_keeping_ids
from kdbg.btf.index import BTF
from kdbg.btf.loader import load_btf_file
from kdbg.btf.types import Composite, Enum, Func, FuncProto, Fwd, Type
from kdbg.errors import BTFError
from tests.btf_truth import bpftool_c, bpftool_raw, parse_raw
from vmcores.debian import KernelFiles, debian_kernel

SUITES = ["bullseye", "bookworm", "trixie"]
ROOTS = ["struct task_struct", "struct sk_buff", "vfs_read"]


@pytest.fixture(scope="module", params=SUITES)
def kernel(request: pytest.FixtureRequest) -> Tuple[str, KernelFiles, BTF]:
    suite = request.param
    k = debian_kernel(suite, "cloud")
    return suite, k, load_btf_file(str(k.vmlinuz))


def describe(t: Type, sized: bool = True) -> tuple:
    """What kdbg reads from a type, with referenced ids replaced by C type names."""
    out: list = [t.kind_name, t.btf_name]
    if isinstance(t, Composite):
        out += [t.kflag, t.size]
        out.append(tuple((m.name, m.bit_offset, m.bitfield_size, m.type.type_name()) for m in t.members))
    elif isinstance(t, Enum):
        out += [t.size, t.is_signed, tuple(t.enumerators)]
    elif isinstance(t, FuncProto):
        out += [t.type.type_name(), tuple((p.name, p.type.type_name()) for p in t.params), t.is_variadic]
    elif isinstance(t, Func):
        out += [t.linkage, t.proto.type_name()]
    elif not isinstance(t, Fwd):
        out += [t.type_name(), t.size if sized else "-"]
    return tuple(out)


def check_reduction(src: BTF, roots: List[str], tmp_path: Path, name: str) -> Tuple[BTF, Dict[int, int], str]:
    """Reduce ``src`` to ``roots``, have bpftool accept it, and read every kept type back."""
    red = reduce_btf(src, roots, pointers="fwd")
    path = tmp_path / f"{name}.btf"
    path.write_bytes(red.data)
    out = BTF(red.data, name=name)
    assert out.start_id == 1 and out.base is None
    assert len(out) == len(red.id_map) < len(src) // 4

    for old_id, new_id in red.id_map.items():
        old, new = src.type(old_id), out.type(new_id)
        if old_id in red.fwd_ids:
            assert isinstance(new, Fwd) and new.name == old.name and new.keyword == old.keyword
        else:
            # a typedef/qualifier kept only behind a pointer now ends in a FWD: no size
            sized = not isinstance(new.strip_typedefs(), Fwd)
            assert describe(new, sized) == describe(old, sized), (old_id, new_id)

    text = bpftool_raw(path)  # raises CalledProcessError if bpftool rejects the blob
    parsed = parse_raw(text)
    assert len(parsed) == len(out)
    return out, red.id_map, text


def test_minimize_vmlinux(kernel: Tuple[str, KernelFiles, BTF], tmp_path: Path) -> None:
    suite, _k, src = kernel
    out, id_map, text = check_reduction(src, ROOTS, tmp_path, f"{suite}-min")
    parsed = parse_raw(text)
    by_name = {(t.kind, t.name): t for t in parsed.values()}
    for root in ROOTS:
        if root.startswith("struct "):
            want = src.lookup(root)
            assert isinstance(want, Composite)
            got = by_name[("STRUCT", want.name)]
            assert int(got.attrs["size"]) == want.size and int(got.attrs["vlen"]) == want.vlen
            # bpftool's member lines: same names and bit offsets as the original kernel's
            assert [(ln.split("'")[1], int(ln.split("bits_offset=")[1].split()[0])) for ln in got.lines] == [
                (m.name or "(anon)", m.bit_offset) for m in want.members
            ]
            mine = out.lookup(root)
            assert isinstance(mine, Composite) and got.id == mine.id == id_map[want.id]
        else:
            f = src.function(root)
            got = by_name[("FUNC", root)]
            assert got.attrs["linkage"] == K.LINKAGE_NAMES[f.linkage]
            proto = parsed[int(got.attrs["type_id"])]
            assert proto.kind == "FUNC_PROTO"
            assert [ln.split("'")[1] for ln in proto.lines] == [p.name for p in f.proto.params]
            assert out.function(root).proto.type_name() == f.proto.type_name()
    # bpftool can also render it as C (the reduced BTF is self-consistent)
    header = bpftool_c(tmp_path / f"{suite}-min.btf")
    assert "struct task_struct {" in header and "struct sk_buff {" in header


MODULE_SUITES = ["bookworm", "trixie"]  # bullseye's modules carry no BTF


@pytest.mark.parametrize("suite", MODULE_SUITES)
def test_minimize_module_split(suite: str, tmp_path: Path) -> None:
    k = debian_kernel(suite, "cloud")
    base = load_btf_file(str(k.vmlinuz))
    (xfs,) = sorted(k.modules_dir.rglob("xfs.ko*"))
    with pytest.raises(BTFError, match="needs its base BTF first"):
        load_btf_file(str(xfs))
    split = load_btf_file(str(xfs), base=base)
    assert split.base is base and split.start_id == base.last_id + 1
    mount = split.lookup("struct xfs_mount")
    assert mount.id >= split.start_id  # a module type, not a base one

    out, id_map, text = check_reduction(split, ["struct xfs_mount"], tmp_path, f"{suite}-xfs")
    parsed = parse_raw(text)
    root = parsed[id_map[mount.id]]
    assert (root.kind, root.name, int(root.attrs["size"])) == ("STRUCT", "xfs_mount", mount.size)
    # the standalone blob mixes base types (e.g. struct list_head) and module types
    kept_base = [i for i in id_map if i < split.start_id]
    kept_mod = [i for i in id_map if i >= split.start_id]
    assert kept_base and kept_mod
    assert out.lookup("struct xfs_mount").sizeof() == mount.size

    # bpftool agrees on the module's own split BTF too (base written out as raw BTF).
    base_path = tmp_path / "vmlinux.btf"
    base_path.write_bytes(base.data)
    mod_path = tmp_path / "xfs.btf"
    mod_path.write_bytes(split.data)
    truth = parse_raw(bpftool_raw(mod_path, base_path))[mount.id]
    assert (truth.name, int(truth.attrs["vlen"])) == ("xfs_mount", len(mount.members))


def test_reduce_keeping_ids(kernel: Tuple[str, KernelFiles, BTF], tmp_path: Path) -> None:
    """``reduce_keeping_ids`` (``kdbg shrink --reduced-btf``'s note): in bpftool's raw dump,
    every kept type is the original's line for line at the same id, a type reached only
    behind a pointer is a FWD of its name, and every other id is a nameless ``const void``;
    a module's split BTF (xfs) given to it dumps on top of it exactly as on the original
    (the vmlinux strings it names are kept, the others zeroed)."""
    suite, k, src = kernel
    roots = [_root_id(src, r) for r in ROOTS]
    order, fwd = closure(src, roots, "fwd")
    path = tmp_path / f"{suite}-same-ids.btf"
    xfs_btf = None
    if suite in MODULE_SUITES:
        (xfs,) = sorted(k.modules_dir.rglob("xfs.ko*"))
        xfs_btf = load_btf_file(str(xfs), base=src)
    path.write_bytes(reduce_keeping_ids(src, roots, split=[xfs_btf] if xfs_btf is not None else []))
    original = tmp_path / f"{suite}.btf"
    original.write_bytes(src.data)
    want, got = parse_raw(bpftool_raw(original)), parse_raw(bpftool_raw(path))
    assert sorted(got) == sorted(want)
    kept = set(order)
    for tid, raw in got.items():
        if tid in fwd:
            assert (raw.kind, raw.name) == ("FWD", want[tid].name), tid
        elif tid in kept:
            assert raw == want[tid], tid
        else:
            assert (raw.kind, raw.name, raw.attrs) == ("CONST", "(anon)", {"type_id": "0"}), raw
    if xfs_btf is not None:
        module = tmp_path / "xfs.btf"
        module.write_bytes(xfs_btf.data)
        on_reduced, on_original = parse_raw(bpftool_raw(module, path)), parse_raw(bpftool_raw(module, original))
        mine = {i: t for i, t in on_original.items() if i > src.last_id}
        assert mine and {i: on_reduced[i] for i in mine} == mine


def _root_id(btf: BTF, name: str) -> int:
    return btf.lookup(name).id if name.startswith("struct ") else btf.function(name).id
