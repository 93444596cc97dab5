"""Sanity checks of the reference vmcores and their ground truth.

These check the test data itself, independently of kdbg: the truth is what the guest
reported, and the dumps are parsed here with pyelftools and plain byte checks only.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
from elftools.elf.elffile import ELFFile

from vmcores.debian import SUITES
from vmcores.dump_index import Dump, dump_from_json, manifest_path
from vmcores.live import LiveResult

BTF_MAGIC = b"\x9f\xeb"
KDUMP_SIGNATURE = b"KDUMP   "
FLAT_SIGNATURE = b"makedumpfile\0"


def _by_suite(dumps: List[Dump], suite: str) -> Dict[str, Dump]:
    """form -> dump of *suite*; where two tools made the same form, QEMU's wins."""
    found: Dict[str, Dump] = {}
    for d in sorted((d for d in dumps if d.suite == suite), key=lambda d: d.tool.startswith("qemu")):
        found[d.form] = d
    assert found, f"no dumps for {suite}"
    return found


def _kallsyms(truth: Path) -> Dict[str, int]:
    syms: Dict[str, int] = {}
    for line in (truth / "kallsyms").read_text().splitlines():
        addr, _kind, name = line.split()[:3]
        syms.setdefault(name, int(addr, 16))
    return syms


def _elf_vmcoreinfo(path: Path) -> Dict[str, str]:
    with open(path, "rb") as f:
        elf = ELFFile(f)
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_NOTE":
                continue
            for note in seg.iter_notes():
                if note["n_name"] == "VMCOREINFO":
                    desc = note["n_desc"]
                    text = desc.decode() if isinstance(desc, bytes) else str(desc)
                    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    raise AssertionError(f"{path}: no VMCOREINFO note")


def _kdump_vmcoreinfo(path: Path) -> Dict[str, str]:
    with open(path, "rb") as f:
        head = f.read(8192)
        assert head[:8] == KDUMP_SIGNATURE
        block_size = struct.unpack_from("<i", head, 428)[0]  # after utsname + timeval
        assert block_size == 4096
        offset, size = struct.unpack_from("<QQ", head, block_size + 32)
        f.seek(offset)
        text = f.read(size).decode()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


@pytest.mark.slow
@pytest.mark.parametrize("suite", SUITES)
def test_truth_is_sane(reference_dumps_all: List[Dump], suite: str, debian_kernel_factory: Callable[..., Any]) -> None:
    """kallsyms, BTF, uname, processes, mounts and modules look like a real guest's."""
    dump = next(iter(_by_suite(reference_dumps_all, suite).values()))
    truth = dump.truth
    syms = _kallsyms(truth)
    for name in ("init_task", "_stext", "_text", "init_uts_ns", "prb"):
        assert name in syms, f"{suite}: {name} missing from kallsyms truth"
    assert syms["_stext"] >= 0xFFFFFFFF80000000
    assert (truth / "btf" / "vmlinux").read_bytes()[:2] == BTF_MAGIC
    for mod_btf in (truth / "btf").iterdir():
        assert mod_btf.read_bytes()[:2] == BTF_MAGIC, mod_btf
    release = (truth / "uname").read_text().strip()
    assert release == dump.release == debian_kernel_factory(suite).release
    ps = json.loads((truth / "ps.json").read_text())
    comms = {p["comm"] for p in ps}
    assert {"init", "kthreadd", "sleep", "kdbg-sleeper", "cat"} <= comms
    assert any(p["state"] == "Z" for p in ps), "the zombie child is missing"
    assert any(p["pid"] == 1 and p["ppid"] == 0 for p in ps)
    assert re.search(r"^proc /proc proc ", (truth / "mounts").read_text(), re.M)
    assert "qemu_fw_cfg" in (truth / "modules").read_text()
    assert f"Linux version {release} " in (truth / "console.log").read_text(errors="replace")
    assert "kdbg-init: recording truth" in (truth / "dmesg").read_text(errors="replace")


@pytest.mark.slow
def test_manifest_files_exist(reference_dumps_all: List[Dump]) -> None:
    """Every dump in the manifest exists with its truth, and all suites are present."""
    manifest = json.loads(manifest_path().read_text())
    assert {d["suite"] for d in manifest["dumps"]} >= set(SUITES)
    listed = [(dump_from_json(Dump, d, manifest_path().parent), d) for d in manifest["dumps"]]
    for dump, d in listed:
        assert dump.path.is_file(), d
        assert (dump.truth / "kallsyms").is_file(), d
        assert dump.path.stat().st_size == d["size"], d
    assert {d.path for d in reference_dumps_all} <= {dump.path for dump, _d in listed}


@pytest.mark.slow
@pytest.mark.parametrize("suite", SUITES)
def test_elf_vmcoreinfo_matches_truth(reference_dumps_all: List[Dump], suite: str) -> None:
    """The ELF dump's VMCOREINFO note agrees with the guest's uname and kallsyms."""
    forms = _by_suite(reference_dumps_all, suite)
    truth = forms["elf"].truth
    syms = _kallsyms(truth)
    for form in ("elf", "elf-paging"):
        info = _elf_vmcoreinfo(forms[form].path)
        assert info["OSRELEASE"] == (truth / "uname").read_text().strip()
        assert info["PAGESIZE"] == "4096"
        assert int(info["SYMBOL(_stext)"], 16) == syms["_stext"]
        assert int(info["KERNELOFFSET"], 16) == syms["_stext"] - 0xFFFFFFFF81000000


@pytest.mark.slow
@pytest.mark.parametrize("suite", SUITES)
def test_kdump_forms(reference_dumps_all: List[Dump], suite: str) -> None:
    """Every dump has its format's signature and VMCOREINFO with the guest's release."""
    dumps = [d for d in reference_dumps_all if d.suite == suite]
    release = (dumps[0].truth / "uname").read_text().strip()
    forms = {d.form for d in dumps}
    assert {"elf", "elf-paging", "kdump-zlib", "kdump-zlib-flat", "kdump-lzo", "kdump-zlib-d31"} <= forms, forms
    for dump in dumps:
        with open(dump.path, "rb") as f:
            head = f.read(16)
        if dump.form.endswith("-flat"):
            assert head[:13] == FLAT_SIGNATURE, dump.path
        elif dump.form.startswith("kdump-"):
            assert head[:8] == KDUMP_SIGNATURE, dump.path
            assert _kdump_vmcoreinfo(dump.path)["OSRELEASE"] == release, dump.path
            if "-d31" in dump.form:
                with open(dump.path, "rb") as f:
                    f.seek(4096 + 8)
                    assert struct.unpack("<i", f.read(4))[0] == 31, dump.path
        else:
            assert head[:4] == b"\x7fELF", dump.path
            assert _elf_vmcoreinfo(dump.path)["OSRELEASE"] == release, dump.path


def test_sample_dump(sample_dump: Any) -> None:
    """The committed sample is small, a kdump file, and matches its truth."""
    assert sample_dump.path.stat().st_size <= 25 * 1024 * 1024
    info = _kdump_vmcoreinfo(sample_dump.path)
    assert info["OSRELEASE"] == sample_dump.release
    assert (sample_dump.truth / "uname").read_text().strip() == sample_dump.release
    syms = _kallsyms(sample_dump.truth)
    assert int(info["SYMBOL(_stext)"], 16) == syms["_stext"]
    assert (sample_dump.truth / "btf" / "vmlinux").read_bytes()[:2] == BTF_MAGIC


LIVE_KCORE = (
    'uname -r; python3 -c \'import sys; sys.stdout.write(repr(open("/proc/kcore", "rb")'
    ".read(4)) + chr(10))'; grep -w init_task /proc/kallsyms"
)


@pytest.mark.slow
@pytest.mark.live(LIVE_KCORE)
def test_live_guest_sees_its_own_kcore(live_result: LiveResult) -> None:
    """A host command run in the live guest reads the guest's /proc/kcore and kallsyms."""
    res = live_result
    assert res.returncode == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == res.release
    assert "b'\\x7fELF'" in lines
    assert re.search(r"^ffffffff[0-9a-f]{8} [Dd] init_task$", res.output, re.M), res.output
