"""Bad arm64 input, crafted from the real bookworm cloud-arm64 dumps: an architecture kdbg
does not read, a big-endian arm64 dump, and VMCOREINFO that contradicts itself are each
refused in one line naming what is wrong (no traceback, no guess)."""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Dict, List

import pytest

from kdbg.arch.arm64 import arm64_parameters
from kdbg.errors import CoreError
from kdbg.memory import open_core
from kdbg.memory.vmcoreinfo import VMCoreInfo
from tests.cli_support import run_kdbg
from tests.test_dump_robust import UTS_MACHINE, flat_record_offset, patched_copy
from vmcores.arm64 import arm64_dumps
from vmcores.dump_index import Dump

pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def dumps() -> Dict[str, Dump]:
    """The bookworm cloud-arm64 dumps by form (built when missing)."""
    return {d.form: d for d in arm64_dumps(["bookworm-cloud"])}


def _one_line(path: Path, what: str) -> str:
    """kdbg's stderr on *path*: exactly one ``kdbg: ...`` line, exit status 2."""
    p = run_kdbg("-c", str(path), "-e", "1")
    lines = p.stderr.splitlines()
    assert p.returncode == 2 and len(lines) == 1 and lines[0].startswith("kdbg: "), (what, p.stderr)
    assert "Traceback" not in p.stderr
    return lines[0]


def test_elf_of_an_unsupported_architecture(dumps: Dict[str, Dump], tmp_path: Path) -> None:
    """The arm64 ELF dump with ``e_machine`` riscv64 (243), s390x (22) or ppc64le (21)."""
    src = dumps["elf"].path
    assert struct.unpack_from("<H", src.read_bytes()[:20], 18)[0] == 183
    for e_machine, name in ((243, "riscv64"), (22, "s390x"), (21, "ppc64le")):
        bad = patched_copy(src, tmp_path / f"{name}.elf", {18: struct.pack("<H", e_machine)})
        with pytest.raises(CoreError, match=f"kdbg supports aarch64 and x86_64 dumps; this one is {name}$"):
            open_core(str(bad))
        assert _one_line(bad, name).endswith(f"this one is {name}")
        bad.unlink()


def test_big_endian_arm64_elf(dumps: Dict[str, Dump], tmp_path: Path) -> None:
    """``EI_DATA`` big-endian with ``e_machine`` 183 written big-endian: aarch64_be."""
    src = dumps["elf"].path
    bad = patched_copy(src, tmp_path / "be.elf", {5: b"\x02", 18: struct.pack(">H", 183)})
    with pytest.raises(CoreError, match="this one is aarch64 \\(big-endian\\)$"):
        open_core(str(bad))
    assert _one_line(bad, "big-endian").endswith("this one is aarch64 (big-endian)")


@pytest.mark.parametrize("form", ["kdump-zlib", "kdump-zlib-flat"])
def test_kdump_of_an_unsupported_architecture(dumps: Dict[str, Dump], tmp_path: Path, form: str) -> None:
    """QEMU's arm64 kdump header says "Unknown" (VMCOREINFO then says arm64); one that says
    riscv64 is refused by that name."""
    src = dumps[form].path
    at = flat_record_offset(src, UTS_MACHINE) if form.endswith("-flat") else UTS_MACHINE
    with src.open("rb") as f:
        f.seek(at)
        assert f.read(8) == b"Unknown\0"
    bad = patched_copy(src, tmp_path / "rv.kdump", {at: b"riscv64\0"})
    with pytest.raises(CoreError, match="kdbg supports aarch64 and x86_64 dumps; this one is riscv64$"):
        open_core(str(bad))
    assert _one_line(bad, form).endswith("this one is riscv64")


def _vmcoreinfo(dump: Dump) -> VMCoreInfo:
    with open_core(str(dump.path)) as mem:
        assert mem.vmcoreinfo is not None
        return mem.vmcoreinfo


def test_vmcoreinfo_contradicting_itself(dumps: Dict[str, Dump], tmp_path: Path) -> None:
    """``NUMBER(TCR_EL1_T1SZ)`` saying 39-bit kernel addresses while ``NUMBER(VA_BITS)``
    says 48 is named, not guessed through: at the first virtual read, in one line."""
    src = dumps["elf"].path
    head = src.read_bytes()[: 1 << 16]
    old = b"NUMBER(TCR_EL1_T1SZ)=0x10\n"
    at = [m.start() for m in re.finditer(re.escape(old), head)]
    assert len(at) == 1
    bad = patched_copy(src, tmp_path / "t1sz.elf", {at[0]: b"NUMBER(TCR_EL1_T1SZ)=0x19\n"})
    stext = _vmcoreinfo(dumps["elf"]).symbol("_stext")
    want = "NUMBER\\(VA_BITS\\)=48 but NUMBER\\(TCR_EL1_T1SZ\\)=25 means 39-bit kernel addresses$"
    with open_core(str(bad)) as mem, pytest.raises(CoreError, match=want):
        mem.read(stext, 8)
    p = run_kdbg("-c", str(bad), "-x", f"rd {stext:#x}")
    lines: List[str] = p.stderr.splitlines()
    assert p.returncode != 0 and len(lines) == 1 and "contradicts itself" in lines[0], p.stderr


def test_missing_arm64_entries_are_named(dumps: Dict[str, Dump]) -> None:
    """Each entry translation needs, taken out of the real VMCOREINFO, is named."""
    real = _vmcoreinfo(dumps["elf"])
    p = arm64_parameters(real)
    assert (p.va_bits, p.page_size) == (48, 4096)
    for key in ("NUMBER(VA_BITS)", "NUMBER(kimage_voffset)", "NUMBER(PHYS_OFFSET)", "SYMBOL(swapper_pg_dir)"):
        vm = VMCoreInfo({k: v for k, v in real.entries.items() if k != key})
        with pytest.raises(CoreError, match=re.escape(key)):
            arm64_parameters(vm)
    vm = VMCoreInfo({**real.entries, "PAGESIZE": "8192"})
    with pytest.raises(CoreError, match="PAGESIZE=8192 is not an arm64 granule"):
        arm64_parameters(vm)
