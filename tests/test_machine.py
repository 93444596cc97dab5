"""The machine name every architecture question is asked with
(:func:`kdbg.core.platform.machine_of`): the one the dump's own header records, and, for a
target that names none (types and symbols only), x86-64, the same as its
:attr:`Program.platform`."""

from __future__ import annotations

from pathlib import Path

import pytest

import kdbg
from kdbg.core.platform import X86_64_PLATFORM, machine_of
from tests.conftest import SampleDump

pytestmark = pytest.mark.timeout(300)

#: Where a kdump-compressed header keeps ``utsname.machine`` (after the 8-byte signature,
#: the version, and the sysname, nodename, release and version fields of 65 bytes).
_UTS_MACHINE = 12 + 65 * 4


def test_a_dump_s_machine_is_its_headers(sample_dump: SampleDump) -> None:
    head = sample_dump.path.read_bytes()[:4096]
    assert head[:8] == b"KDUMP   ", "the sample is kdump-compressed"
    recorded = head[_UTS_MACHINE:_UTS_MACHINE + 65].split(b"\0")[0].decode()
    with kdbg.open_core(str(sample_dump.path)) as prog:
        assert machine_of(prog) == recorded == "x86_64"


def test_a_target_without_memory_is_x86_64_as_its_platform(btf618_path: Path) -> None:
    prog = kdbg.open_files(btf=[str(btf618_path)])
    assert prog.memory is None
    assert prog.platform == X86_64_PLATFORM
    assert machine_of(prog) == "x86_64"
