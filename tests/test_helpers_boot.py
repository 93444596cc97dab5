"""drgn's boot helpers (``kaslr_offset``, ``pgtable_l5_enabled``) against drgn with
Debian's DWARF on the three reference kernels, and against the guest: its kallsyms' ``_text``
minus the link address ``0xffffffff81000000`` is the KASLR offset, and 5-level paging is on
exactly when the guest's CPU has ``la57`` (Debian builds ``CONFIG_X86_5LEVEL=y``)."""

from __future__ import annotations

import re

import pytest

from kdbg.helpers.boot import kaslr_offset, pgtable_l5_enabled
from tests.helpers_compare import mismatches, oracle_program
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES

CASES = {
    "kaslr_offset": "H.kaslr_offset(prog)",
    "pgtable_l5_enabled": "H.pgtable_l5_enabled(prog)",
}


@pytest.mark.parametrize("suite", SUITES)
def test_boot_as_drgn_and_guest(suite: str) -> None:
    assert mismatches(suite, CASES) == {}
    prog = oracle_program(suite)
    truth = oracle_dump(suite).truth
    text = re.search(r"^([0-9a-f]+) [Tt] _text$", (truth / "kallsyms").read_text(), re.M)
    assert text is not None
    assert kaslr_offset(prog) == int(text.group(1), 16) - 0xFFFFFFFF81000000 != 0
    flags = re.search(r"^flags\s*: (.*)$", (truth / "cpuinfo").read_text(), re.M)
    assert flags is not None
    assert pgtable_l5_enabled(prog) is ("la57" in flags.group(1).split())
