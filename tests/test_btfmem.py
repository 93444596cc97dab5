"""vmlinux BTF read from kernel memory must equal the guest's /sys/kernel/btf/vmlinux bytes,
both through __start_BTF/__stop_BTF (from kallsyms decoded out of the same dump) and by the
header scan; malformed headers are rejected."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Dict

import pytest

from kdbg.btf.memory import btf_size_from_header, find_btf_in_memory, read_vmlinux_btf
from kdbg.errors import CoreError
from kdbg.memory import open_core
from kdbg.symbols import decode_kallsyms
from tests.kallsyms_synthetic import TEXT_BASE, FakeMemory, FakeVMCoreInfo


def test_real_kernels_btf_from_memory(reference_dumps_all: list) -> None:
    done = set()
    for dump in reference_dumps_all:
        if dump.form not in ("elf", "kdump-zlib") or (dump.suite, dump.form) in done:
            continue
        done.add((dump.suite, dump.form))
        truth = (Path(dump.truth) / "btf" / "vmlinux").read_bytes()
        with open_core(str(dump.path)) as mem:
            table = decode_kallsyms(mem, use_cache=False).to_table()

            assert read_vmlinux_btf(mem, table.address_of) == truth, dump
            assert read_vmlinux_btf(mem, None) == truth, dump  # header scan
    assert {s for s, _ in done} >= {"bookworm", "trixie", "bullseye"}


def make_btf(types: bytes = b"\x01\0\0\0" + b"\0" * 8, strs: bytes = b"\0int\0") -> bytes:
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strs))
    return hdr + types + strs


def image(btf: bytes, at: int = 0x3004) -> FakeMemory:
    img = bytearray(0x10000)
    img[at:at + 4] = b"\x9f\xeb\x01\x00"  # a decoy magic with a garbage header
    img[at + 0x100:at + 0x100 + len(btf)] = btf
    return FakeMemory({TEXT_BASE: bytes(img)},
                      FakeVMCoreInfo({"SYMBOL(_stext)": f"{TEXT_BASE:x}"}))


def test_scan_finds_valid_header_after_decoy() -> None:
    btf = make_btf()
    mem = image(btf)
    assert find_btf_in_memory(mem, mem.vmcoreinfo, scan_limit=0x10000) == btf
    syms: Dict[str, int] = {"__start_BTF": TEXT_BASE + 0x3104,
                            "__stop_BTF": TEXT_BASE + 0x3104 + len(btf)}
    assert read_vmlinux_btf(mem, syms.get) == btf


@pytest.mark.parametrize("mutate", [
    lambda b: b[:2] + b"\x02" + b[3:],  # version 2
    lambda b: b[:4] + struct.pack("<I", 20) + b[8:],  # hdr_len too small
    lambda b: b[:12] + struct.pack("<I", 0) + b[16:],  # type_len 0
    lambda b: b[:20] + struct.pack("<I", 1 << 30) + b[24:],  # str_len absurd
    lambda b: b[:-5] + b"x" + b[-4:],  # strings do not start with NUL
    lambda b: b[:-1] + b"x",  # strings do not end with NUL
])
def test_bad_headers_rejected(mutate: object) -> None:
    bad = mutate(make_btf())  # type: ignore[operator]
    mem = image(bad)
    with pytest.raises(CoreError):
        find_btf_in_memory(mem, mem.vmcoreinfo, scan_limit=0x10000)
    syms = {"__start_BTF": TEXT_BASE + 0x3104, "__stop_BTF": TEXT_BASE + 0x3104 + len(bad)}
    with pytest.raises(CoreError):
        read_vmlinux_btf(mem, syms.get)


def test_header_sizes() -> None:
    btf = make_btf()
    assert btf_size_from_header(btf) == len(btf)
    assert btf_size_from_header(btf[:10]) is None
    with pytest.raises(CoreError, match="implausible"):
        read_vmlinux_btf(image(btf), {"__start_BTF": 10, "__stop_BTF": 5}.get)
    with pytest.raises(CoreError, match="neither _stext nor KERNELOFFSET"):
        find_btf_in_memory(image(btf), FakeVMCoreInfo({}))
