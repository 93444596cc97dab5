"""kdbg.btf against real kernels' BTF, checked with bpftool (libbpf) and gcc.

Kernels: Linux 6.18's BTF (shipped as tests/data/vmlinux-6.18.btf.xz, never the running
kernel's) and Debian's bullseye 5.10,
bookworm 6.1 and trixie 6.12 cloud kernels (their vmlinuz and modules), fetched by
``vmcores.debian`` when missing. Nothing here skips: missing tools or kernels fail.
"""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from kdbg.btf import constants as K
from kdbg.btf.index import BTF
from kdbg.btf.loader import extract_vmlinux, load_btf_file, load_btf_files
from kdbg.btf.ptype import ptype
from kdbg.btf.raw import dump_raw
from kdbg.btf.types import Composite, Enum, Func, Typedef
from kdbg.errors import BTFError, TypeNotFoundError
from tests.btf_truth import bpftool_c, bpftool_raw, decompress_module, parse_raw
from tests.cli_support import clean_env
from vmcores.debian import KernelFiles, debian_kernel

SUITES = ["bullseye", "bookworm", "trixie"]
#: Suites whose modules carry BTF (bullseye's 5.10 predates CONFIG_DEBUG_INFO_BTF_MODULES).
MODULE_SUITES = ["bookworm", "trixie"]
#: Modules present in all three cloud kernels, each with BTF.
MODULES = ["af_key", "vsock_loopback", "xfs"]


def our_raw(btf: BTF) -> str:
    buf = io.StringIO()
    dump_raw(btf, buf)
    return buf.getvalue()


@pytest.fixture(scope="session")
def btf618(btf618_path: Path) -> BTF:
    """Linux 6.18's BTF (the shipped test data)."""
    return BTF(btf618_path.read_bytes(), name=str(btf618_path))


@pytest.fixture(scope="session")
def btf618_raw(btf618_path: Path) -> str:
    return bpftool_raw(btf618_path)


class DebianBTF:
    """A Debian kernel with its vmlinux extracted to an ELF file bpftool can read."""

    def __init__(self, kernel: KernelFiles, elf: Path) -> None:
        self.kernel = kernel
        self.elf = elf
        self.btf = load_btf_file(str(kernel.vmlinuz))

    def module(self, name: str) -> Path:
        hits = sorted(self.kernel.modules_dir.rglob(f"{name}.ko*"))
        assert hits, f"{name}.ko not found under {self.kernel.modules_dir}"
        return hits[0]


_debian: Dict[str, DebianBTF] = {}


def _debian_btf(suite: str, tmp_path_factory: pytest.TempPathFactory) -> DebianBTF:
    if suite not in _debian:
        kernel = debian_kernel(suite, "cloud")
        elf = tmp_path_factory.mktemp(suite) / "vmlinux"
        elf.write_bytes(extract_vmlinux(kernel.vmlinuz.read_bytes(), str(kernel.vmlinuz)))
        _debian[suite] = DebianBTF(kernel, elf)
    return _debian[suite]


@pytest.fixture(scope="session", params=SUITES)
def debian(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> DebianBTF:
    return _debian_btf(request.param, tmp_path_factory)


@pytest.fixture(scope="session", params=MODULE_SUITES)
def debian_mod(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> DebianBTF:
    """A Debian kernel whose modules carry split BTF."""
    return _debian_btf(request.param, tmp_path_factory)


# --------------------------------------------------------------------------- parsing


def test_618_raw_dump_is_bpftools(btf618: BTF, btf618_raw: str) -> None:
    """Every type, member, enumerator and parameter equals bpftool's decoding."""
    assert our_raw(btf618) == btf618_raw
    assert len(btf618) == len(parse_raw(btf618_raw))


def test_debian_vmlinuz_extraction(debian: DebianBTF) -> None:
    """The ELF found inside vmlinuz is the Debian kernel of that release."""
    data = debian.elf.read_bytes()
    assert data[:4] == b"\x7fELF"
    assert f"Linux version {debian.kernel.release} ".encode() in data
    out = subprocess.run(["file", "-b", str(debian.elf)], capture_output=True, text=True, env=clean_env()).stdout
    assert "ELF 64-bit LSB executable, x86-64" in out


def test_debian_raw_dump_is_bpftools(debian: DebianBTF) -> None:
    """bpftool reads .BTF from the extracted ELF itself; our decoding of vmlinuz matches."""
    assert our_raw(debian.btf) == bpftool_raw(debian.elf)


def test_bullseye_modules_have_no_btf(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Bullseye's 5.10 modules carry no .BTF (CONFIG_DEBUG_INFO_BTF_MODULES came later):
    kdbg says so clearly, and readelf agrees."""
    debian = _debian_btf("bullseye", tmp_path_factory)
    for module in MODULES:
        ko = debian.module(module)
        with pytest.raises(BTFError, match="no .BTF section"):
            load_btf_file(str(ko), base=debian.btf)
        plain = decompress_module(ko, tmp_path_factory.mktemp("bullseye-ko") / f"{module}.ko")
        sections = subprocess.run(["readelf", "-SW", str(plain)], capture_output=True, text=True,
                                  env=clean_env()).stdout
        assert ".symtab" in sections and " .BTF " not in sections, module


@pytest.mark.parametrize("module", MODULES)
def test_debian_module_split_btf_is_bpftools(debian_mod: DebianBTF, module: str, tmp_path: Path) -> None:
    """Module BTF is split BTF on the vmlinux base: same as ``bpftool -B vmlinux``."""
    debian = debian_mod
    ko = debian.module(module)
    split = load_btf_file(str(ko), base=debian.btf)
    assert split.start_id == debian.btf.last_id + 1
    plain = decompress_module(ko, tmp_path / f"{module}.ko")
    assert our_raw(split) == bpftool_raw(plain, base=debian.elf)


def test_several_modules_on_one_base(debian_mod: DebianBTF) -> None:
    debian = debian_mod
    btfs = load_btf_files([str(debian.kernel.vmlinuz)] + [str(debian.module(m)) for m in MODULES])
    base, splits = btfs[0], btfs[1:]
    assert all(s.base is base and s.start_id == base.last_id + 1 for s in splits)
    xfs = splits[MODULES.index("xfs")]
    mp = xfs.lookup("struct xfs_mount")
    assert isinstance(mp, Composite) and mp.id > base.last_id
    # xfs's types reference base types by base ids.
    m_super = mp.member("m_super")
    assert m_super.type.type_name() == "struct super_block *"
    assert m_super.type.type.id <= base.last_id  # type: ignore[attr-defined]
    # each split resolves its own ids; the base does not see split types
    with pytest.raises(TypeNotFoundError, match="xfs_mount"):
        base.lookup("struct xfs_mount")
    assert xfs.lookup("struct super_block").id == base.lookup("struct super_block").id


def test_split_without_base_is_a_clear_error(debian_mod: DebianBTF) -> None:
    with pytest.raises(BTFError, match="base"):
        load_btf_file(str(debian_mod.module("xfs")))


# --------------------------------------------------------------------------- queries


def _kind_counts(raw: Dict[int, object]) -> Dict[str, int]:
    out: Dict[str, int] = {}
    for t in raw.values():
        out[t.kind] = out.get(t.kind, 0) + 1  # type: ignore[attr-defined]
    return out


def test_kind_counts(btf618: BTF, btf618_raw: str) -> None:
    ours: Dict[str, int] = {}
    for tid in btf618.ids():
        k = K.KIND_NAMES[btf618.kind_of(tid)]
        ours[k] = ours.get(k, 0) + 1
    assert ours == _kind_counts(parse_raw(btf618_raw))
    assert {"ENUM64", "DECL_TAG", "TYPE_TAG", "FLOAT"} <= set(ours)


def test_lookup_by_name_and_kind(btf618: BTF, btf618_raw: str) -> None:
    raw = parse_raw(btf618_raw)

    def raw_id(kind: str, name: str) -> int:
        ids = [t.id for t in raw.values() if t.kind == kind and t.name == name]
        assert ids, (kind, name)
        return ids[0]

    assert btf618.lookup("struct task_struct").id == raw_id("STRUCT", "task_struct")
    assert btf618.lookup("task_struct").id == raw_id("STRUCT", "task_struct")
    assert btf618.lookup("enum pid_type").id == raw_id("ENUM", "pid_type")
    assert btf618.lookup("union bpf_attr").id == raw_id("UNION", "bpf_attr")
    assert btf618.lookup("u64").id == raw_id("TYPEDEF", "u64")
    assert btf618.lookup("unsigned long").id == raw_id("INT", "long unsigned int")
    assert btf618.lookup("long long").id == raw_id("INT", "long long int")
    assert btf618.type(raw_id("STRUCT", "list_head")).name == "list_head"
    assert btf618.lookup("struct list_head *").type_name() == "struct list_head *"
    assert btf618.lookup("char [16]").size == 16
    t = btf618.lookup("u64")
    assert isinstance(t, Typedef)
    assert t.strip_typedefs().name == "unsigned long long"  # C's spelling; BTF's record has gcc's
    assert t.strip_typedefs().btf_name == "long long unsigned int"
    const_char = btf618.lookup("const char")
    assert const_char.unqualified().name == "char" and const_char.qualifier_keywords() == ["const"]


def test_enumerators(btf618: BTF, btf618_raw: str) -> None:
    raw = parse_raw(btf618_raw)
    truth: Dict[str, int] = {}
    for t in raw.values():
        if t.kind in ("ENUM", "ENUM64"):
            for line in t.lines:
                m = re.match(r"'(\w+)' val=(-?\d+)", line)
                assert m
                truth.setdefault(m.group(1), int(m.group(2)))
    for name in ("PIDTYPE_PID", "PIDTYPE_TGID", "PIDTYPE_MAX", "TASK_COMM_LEN", "BPF_MAP_TYPE_HASH"):
        assert btf618.constant(name)[1] == truth[name], name
    # every ENUM64 value, signed or not, matches bpftool
    enum64 = [t for t in raw.values() if t.kind == "ENUM64"]
    assert len(enum64) >= 5
    for t in enum64:
            e = btf618.type(t.id)
            assert isinstance(e, Enum) and e.is_enum64
            assert [f"'{x.name}' val={x.value}" for x in e.enumerators] == [
                re.sub(r"U?LL$", "", line) for line in t.lines
            ]


def test_function_prototypes(btf618: BTF, btf618_raw: str) -> None:
    f = btf618.function("vfs_read")
    assert isinstance(f, Func)
    assert ptype(f) == "ssize_t vfs_read(struct file *file, char *buf, size_t count, loff_t *pos);"
    raw = parse_raw(btf618_raw)
    rf = next(t for t in raw.values() if t.kind == "FUNC" and t.name == "vfs_read")
    proto = raw[int(rf.attrs["type_id"])]
    assert [line.split("'")[1] for line in proto.lines] == [p.name for p in f.proto.params]


# --------------------------------------------------------------------------- offsets vs gcc

DESIGNATORS = [
    ("task_struct", "se.avg"),
    ("task_struct", "comm[3]"),
    ("task_struct", "pid"),
    ("task_struct", "tasks"),
    ("task_struct", "thread_info.flags"),
    ("page", "lru"),  # found through anonymous union/struct members
    ("page", "mapping"),
    ("page", "_refcount"),
    ("sk_buff", "len"),
    ("sk_buff", "cb[8]"),
    ("sk_buff", "dev"),
    ("list_head", "prev"),
]


def _gcc_offsets(header: str, tmp: Path, items: List[Tuple[str, str]]) -> List[int]:
    src = tmp / "off.c"
    lines = [header, "#include <stdio.h>", "int main(void) {"]
    for s, d in items:
        lines.append(f'printf("%lu\\n", (unsigned long)__builtin_offsetof(struct {s}, {d}));')
    lines.append("return 0; }")
    src.write_text("\n".join(lines))
    exe = tmp / "off"
    subprocess.run(["gcc", "-w", "-o", str(exe), str(src)], check=True, env=clean_env())
    run = subprocess.run([str(exe)], capture_output=True, text=True, check=True, env=clean_env())
    return [int(x) for x in run.stdout.split()]


def test_offsetof_matches_gcc(btf618: BTF, btf618_path: Path, tmp_path: Path) -> None:
    """offsetof("a.b[3].c") as gcc computes it from bpftool's header for the same BTF."""
    header = bpftool_c(btf618_path)
    truth = _gcc_offsets(header, tmp_path, DESIGNATORS)
    assert len(truth) == len(DESIGNATORS)
    for (s, d), want in zip(DESIGNATORS, truth, strict=True):
        t = btf618.lookup(f"struct {s}")
        assert isinstance(t, Composite)
        assert t.offsetof(d) == want, (s, d)


def test_ptype_offsets_match_gcc(btf618: BTF, btf618_path: Path, tmp_path: Path) -> None:
    """Each top-level member line of ``ptype struct task_struct`` carries gcc's offset."""
    t = btf618.lookup("struct task_struct")
    text = ptype(t)
    rows = []
    for line in text.splitlines():
        m = re.match(r"^\t[^\t].*?\b(\w+)(?:\[\d+\])*(?::\d+)?;\s+/\*\s+(\d+)\s", line)
        if m and not line.lstrip().startswith("}"):
            rows.append((m.group(1), int(m.group(2))))
    assert len(rows) > 100
    names = [n for n, _ in rows if t.find_member(n) and not t.member(n).is_bitfield]
    truth = _gcc_offsets(bpftool_c(btf618_path), tmp_path, [("task_struct", n) for n in names])
    got = dict(rows)
    assert [got[n] for n in names] == truth


def test_sizeof(btf618: BTF) -> None:
    assert btf618.lookup("struct list_head").sizeof() == 16
    assert btf618.lookup("u8").sizeof() == 1
    assert btf618.lookup("struct task_struct *").sizeof() == 8
    with pytest.raises(BTFError, match="void"):
        btf618.lookup("void").sizeof()


# --------------------------------------------------------------------------- compressed inputs


@pytest.fixture(scope="module")
def bookworm_image() -> Tuple[bytes, bytes]:
    """bookworm's cloud vmlinuz and the ELF inside it (extracted once for every payload)."""
    image = debian_kernel("bookworm", "cloud").vmlinuz.read_bytes()
    return image, extract_vmlinux(image)


@pytest.mark.parametrize("tool", [["gzip", "-c"], ["xz", "-0", "-c", "--check=crc32"], ["zstd", "-q", "-c"],
                                  ["bzip2", "-c"]])
def test_vmlinuz_payloads(tmp_path: Path, tool: List[str], bookworm_image: Tuple[bytes, bytes]) -> None:
    """extract-vmlinux style: a kernel image whose payload the real tool compressed,
    behind a setup stub, yields the same BTF (bookworm's own images are lz4 and xz).
    xz at its fastest preset (a smaller dictionary, the same stream format the kernel's
    own xz images use): its default preset took 28 s of a 2-CPU machine."""
    vmlinuz, elf = bookworm_image
    plain = tmp_path / "vmlinux"
    plain.write_bytes(elf)
    packed = subprocess.run([*tool, str(plain)], capture_output=True, check=True, env=clean_env()).stdout
    image = vmlinuz[:0x4000] + packed  # the real setup code first
    (tmp_path / "vmlinuz-test").write_bytes(image)
    got = load_btf_file(str(tmp_path / "vmlinuz-test"))
    assert our_raw(got) == bpftool_raw(plain)


@pytest.mark.parametrize("tool, suffix", [(["zstd", "-q", "-c"], ".zst"), (["gzip", "-c"], ".gz")])
def test_compressed_modules(debian_mod: DebianBTF, tmp_path: Path, tool: List[str], suffix: str) -> None:
    debian = debian_mod
    plain = decompress_module(debian.module("af_key"), tmp_path / "af_key.ko")
    packed = tmp_path / f"af_key.ko{suffix}"
    packed.write_bytes(subprocess.run([*tool, str(plain)], capture_output=True, check=True, env=clean_env()).stdout)
    split = load_btf_file(str(packed), base=debian.btf)
    assert our_raw(split) == bpftool_raw(plain, base=debian.elf)
