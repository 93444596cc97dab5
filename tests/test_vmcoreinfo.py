"""VMCOREINFO parsing: every key kept, typed accessors, clear errors."""

from __future__ import annotations

import pytest

from kdbg.errors import CoreError
from kdbg.memory.vmcoreinfo import VMCoreInfo

SAMPLE = b"""OSRELEASE=6.1.0-27-cloud-amd64
BUILD-ID=0f2bd1a5c7e8
PAGESIZE=4096
SYMBOL(init_uts_ns)=ffffffff82a13640
SYMBOL(swapper_pg_dir)=ffffffff8280a000
OFFSET(uts_namespace.name)=4
SIZE(list_head)=16
LENGTH(mem_section)=2048
NUMBER(phys_base)=-1048576
NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129
NUMBER(sme_mask)=0x800000000000
NUMBER(pgtable_l5_enabled)=1
KERNELOFFSET=1c000000
CRASHTIME=1700000000
garbage line without equals
\x00\x00\x00"""


def test_typed_access() -> None:
    v = VMCoreInfo.parse(SAMPLE)
    assert v.osrelease == "6.1.0-27-cloud-amd64"
    assert v.build_id == "0f2bd1a5c7e8"
    assert v.page_size == 4096
    assert v.symbol("init_uts_ns") == 0xFFFFFFFF82A13640
    assert v.offset("uts_namespace", "name") == 4
    assert v.size("list_head") == 16
    assert v.length("mem_section") == 2048
    assert v.number("PAGE_BUDDY_MAPCOUNT_VALUE") == -129
    assert v.number("sme_mask") == 0x800000000000
    assert v.phys_base == -1048576
    assert v.kerneloffset == 0x1C000000
    assert v.pgtable_l5_enabled is True
    assert v.get("CRASHTIME") == "1700000000"
    assert v.get("NOPE") is None
    assert "SYMBOL(swapper_pg_dir)" in v
    assert len(v) == 14
    assert dict(v)["PAGESIZE"] == "4096"


def test_missing_keys_name_the_key() -> None:
    v = VMCoreInfo.parse(b"OSRELEASE=5.10.0\n")
    assert v.phys_base is None
    assert v.pgtable_l5_enabled is False
    for call, key in [
        (lambda: v.symbol("init_task"), "SYMBOL(init_task)"),
        (lambda: v.number("phys_base"), "NUMBER(phys_base)"),
        (lambda: v.size("page"), "SIZE(page)"),
        (lambda: v.offset("page", "flags"), "OFFSET(page.flags)"),
        (lambda: v.length("zone.free_area"), "LENGTH(zone.free_area)"),
        (lambda: v.page_size, "PAGESIZE"),
        (lambda: v.kerneloffset, "KERNELOFFSET"),
        (lambda: v.build_id, "BUILD-ID"),
    ]:
        with pytest.raises(CoreError, match=key.replace("(", r"\(").replace(")", r"\)")):
            call()


def test_malformed_values_are_core_errors() -> None:
    v = VMCoreInfo.parse(b"SYMBOL(x)=zzzz\nNUMBER(y)=\nPAGESIZE=4k\n")
    with pytest.raises(CoreError, match="SYMBOL"):
        v.symbol("x")
    with pytest.raises(CoreError):
        v.number("y")
    with pytest.raises(CoreError):
        _ = v.page_size


def test_huge_note_rejected() -> None:
    with pytest.raises(CoreError):
        VMCoreInfo.parse(b"A=1\n" * (1 << 19))


def test_binary_garbage_never_raises_other_errors() -> None:
    v = VMCoreInfo.parse(bytes(range(256)) * 4)
    assert isinstance(v.entries, dict)
