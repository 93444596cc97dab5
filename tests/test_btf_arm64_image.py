"""``--btf`` of Debian's arm64 kernel image, which is no ELF: the raw ``Image`` (with its EFI
stub's ``MZ`` header; bookworm's 6.1 and forky's 7.2 alike), or one compressed whole (the
kernel's ``Image.gz``: here forky's, gzipped). kdbg finds the ``.BTF`` data inside by its
validated header (:func:`kdbg.btf.memory.find_btf_in_image`).

Truth: bpftool's raw dump of the ``.BTF`` section of the same build's ``-dbg`` vmlinux (an
ELF file, read by libbpf), and that section's bytes read with pyelftools.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from kdbg.btf.loader import btf_bytes_from_file
from tests.btf_truth import bpftool_raw
from tests.cli_support import run_kdbg
from vmcores.arm64 import arm64_dbg_vmlinux, arm64_kernel

pytestmark = pytest.mark.timeout(1800)

#: ``(suite, flavour, gzip)``: forky's and bookworm's ``Image``, and forky's gzipped.
IMAGES = [("forky", "cloud", False), ("bookworm", "cloud", False), ("forky", "cloud", True)]


@pytest.mark.parametrize(("suite", "flavour", "gzipped"), IMAGES)
def test_image_btf_is_the_dbg_vmlinuxs(suite: str, flavour: str, gzipped: bool, tmp_path: Path) -> None:
    """The BTF kdbg reads from the image is, byte for byte, the ``.BTF`` section of the
    ``-dbg`` vmlinux, and ``btf dump --format raw`` of the image prints what bpftool
    prints for that vmlinux."""
    image = arm64_kernel(suite, flavour).vmlinuz
    head = image.read_bytes()[:4]
    assert head[:2] == b"MZ"  # the case at hand: not an ELF file
    if gzipped:
        packed = tmp_path / "Image.gz"
        packed.write_bytes(gzip.compress(image.read_bytes(), compresslevel=1))
        image = packed
    dbg = arm64_dbg_vmlinux(suite, flavour)
    with open(dbg, "rb") as f:
        section = ELFFile(f).get_section_by_name(".BTF").data()
    assert btf_bytes_from_file(str(image)) == section
    p = run_kdbg("--btf", str(image), "-x", "btf dump --format raw", timeout=1200)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    truth = bpftool_raw(dbg)
    assert truth.count("\n[") > 50000
    assert p.stdout == truth


def test_image_without_btf_is_one_line(tmp_path: Path) -> None:
    """An arm64 kernel image cut before its BTF (its first MiB) is refused in one line
    naming the file and the missing BTF, exit status 2, no traceback."""
    image = arm64_kernel("forky", "cloud").vmlinuz
    cut = tmp_path / "vmlinuz-cut"
    with open(image, "rb") as f:
        cut.write_bytes(f.read(1 << 20))
    p = run_kdbg("--btf", str(cut), "-x", "ptype struct list_head")
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert re.fullmatch(rf"kdbg: {re.escape(str(cut))}: no BTF in this kernel image: [^\n]*\n(kdbg: [^\n]*\n)?",
                        p.stderr), p.stderr
    assert "Traceback" not in p.stderr
