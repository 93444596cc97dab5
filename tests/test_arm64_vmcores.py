"""The arm64 recipe (:mod:`vmcores.arm64`): arm64 packages from apt's own configuration, a
guest that records the x86 guests' truth plus a sysrq-t, and what its dumps record."""

from __future__ import annotations

import gzip
import json
import re
import struct
from typing import Dict

import pytest

from vmcores.arm64 import KERNELS, PAGE_SIZE_KERNELS, arm64_busybox, arm64_dumps, arm64_kernel, kernel_parts
from vmcores.dump_index import Dump

pytestmark = pytest.mark.timeout(2400)

#: What every x86 reference guest records (vmcores/README.md, "Truth"), files and btf/.
TRUTH = ("uname", "version", "cmdline", "kallsyms", "mounts", "modules", "vmcoreinfo-sysfs", "iomem",
         "meminfo", "cpuinfo", "dmesg", "proc-stat", "ps", "ps.json", "console.log", "btf/vmlinux")


@pytest.fixture(scope="module", params=KERNELS + PAGE_SIZE_KERNELS)
def elf(request: pytest.FixtureRequest) -> Dump:
    return next(d for d in arm64_dumps([request.param]) if d.form == "elf")


def test_packages_are_arm64() -> None:
    """The kernel image is an arm64 ``Image`` (gzip-compressed on Debian: its magic after
    inflating) and busybox an aarch64 static ELF, fetched without touching the host's apt
    state (private lists, ``APT::Architecture=arm64``)."""
    for name in KERNELS + PAGE_SIZE_KERNELS:
        suite, flavour = kernel_parts(name)
        k = arm64_kernel(suite, flavour)
        head = k.vmlinuz.read_bytes()[:2]
        image = gzip.decompress(k.vmlinuz.read_bytes()) if head == b"\x1f\x8b" else k.vmlinuz.read_bytes()
        assert image[0x38:0x3C] == b"ARM\x64", name
        assert re.search(r"-arm64(-16k)?$", k.release), k.release
        bb = arm64_busybox(suite).read_bytes()[:64]
        assert bb[:4] == b"\x7fELF" and struct.unpack_from("<H", bb, 18)[0] == 183


def test_truth_is_the_x86_guests_and_a_sysrq_t(elf: Dump) -> None:
    truth = elf.truth
    missing = [f for f in TRUTH if not (truth / f).is_file() or (truth / f).stat().st_size == 0]
    assert missing == []
    assert (truth / "uname").read_text().strip() == elf.release
    assert "console=ttyAMA0" in (truth / "cmdline").read_text()
    console = (truth / "console.log").read_text(errors="replace")
    begin, end = console.index("KDBG-SYSRQ-T-BEGIN"), console.index("KDBG-SYSRQ-T-END")
    sysrq = console[begin:end]
    assert sysrq.count("Call trace:") >= len(json.loads((truth / "ps.json").read_text())) // 2
    assert "KDBG-SYSRQ-T-BEGIN" in (truth / "dmesg").read_text()


def test_build_record(elf: Dump) -> None:
    info: Dict[str, object] = json.loads((elf.path.parent / "dumps.json").read_text())
    assert info["arch"] == "arm64" and info["release"] == elf.release
    assert {d["form"] for d in info["dumps"]} >= {"elf", "elf-paging", "kdump-zlib", "kdump-zlib-flat"}  # type: ignore
    assert "elf" in info["qemu_formats"] and "kdump-zlib" in info["qemu_formats"]  # type: ignore
