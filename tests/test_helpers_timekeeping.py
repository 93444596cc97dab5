"""drgn's timekeeping helpers against drgn with Debian's DWARF on the three reference
kernels (types and values of every coarse clock, ``uptime``, ``uptime_pretty``,
``ktime_to_ns``), and against the guest: its log's last line was printed before the dump,
so its timestamp is at most the uptime."""

from __future__ import annotations

import re

import pytest

from kdbg.helpers.timekeeping import ktime_get_coarse_ns, uptime
from tests.helpers_compare import mismatches, oracle_program
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES

CLOCKS = ["ktime_get_seconds", "ktime_get_coarse_ns", "ktime_get_real_seconds", "ktime_get_coarse_real_ns",
          "ktime_get_boottime_seconds", "ktime_get_coarse_boottime_ns", "ktime_get_clocktai_seconds",
          "ktime_get_coarse_clocktai_ns"]
CASES = {
    **{c: f"H.{c}(prog)" for c in CLOCKS},
    "uptime": "[H.uptime(prog)]",
    "uptime_pretty": "H.uptime_pretty(prog)",
    "ktime_to_ns.offs_real": "H.ktime_to_ns(prog['tk_core'].timekeeper.offs_real)",
    "ktime_to_ns.offs_boot": "H.ktime_to_ns(prog['tk_core'].timekeeper.offs_boot)",
}


@pytest.mark.parametrize("suite", SUITES)
def test_timekeeping_as_drgn_and_guest(suite: str) -> None:
    assert mismatches(suite, CASES) == {}
    prog = oracle_program(suite)
    stamps = re.findall(r"^\[\s*([0-9]+\.[0-9]+)\]", (oracle_dump(suite).truth / "dmesg").read_text(), re.M)
    assert stamps
    assert float(stamps[-1]) <= uptime(prog)
    assert int(ktime_get_coarse_ns(prog)) <= int(uptime(prog) * 1e9) + 1
