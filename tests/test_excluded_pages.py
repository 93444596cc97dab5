"""Pages makedumpfile excluded (-d 31) read as FaultError naming the address, on real dumps.

Truth: the unfiltered ELF dump QEMU wrote of the same stopped guest holds every page; the
filtered dump must agree on every page it kept and refuse every page it dropped.  The pages
tried are every fifth page of the guest's RAM as its own /proc/iomem lists it ("System RAM"),
whatever memory size the guest was given.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Tuple

import pytest

from kdbg.errors import FaultError
from kdbg.memory import open_core
from tests.conftest import resolve_dump

PAGE = 4096


def system_ram(truth: Path) -> List[Tuple[int, int]]:
    """``[start, end)`` of each top-level "System RAM" range in the guest's /proc/iomem."""
    out = []
    for line in (truth / "iomem").read_text().splitlines():
        m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) : System RAM$", line)
        if m:
            out.append((int(m.group(1), 16), int(m.group(2), 16) + 1))
    assert out and sum(e - s for s, e in out) > 32 << 20, out
    return out


@pytest.mark.parametrize("suite", ["bookworm", "trixie", "bullseye"])
@pytest.mark.parametrize("form", ["kdump-zlib-d31", "kdump-lzo-d31", "elf-d31", "kdump-zlib-d31-flat"])
def test_excluded_pages(suite: str, form: str) -> None:
    assert_filtered_dump_pages(resolve_dump(suite, "elf", "qemu").path,
                               resolve_dump(suite, form, "makedumpfile").path,
                               resolve_dump(suite, "elf", "qemu").truth)


def assert_filtered_dump_pages(full: Path, filtered: Path, truth: Path) -> None:
    """Every fifth page of the guest's System RAM (its /proc/iomem in *truth*): the
    makedumpfile ``-d 31`` dump *filtered* holds it byte for byte as QEMU's unfiltered
    ELF dump *full* of the same stopped guest, or refuses it with a FaultError naming
    the physical address; a large share of an idle guest is kept and a large share
    dropped as excluded."""
    kept = dropped = excluded = 0
    pfns = [pfn for s, e in system_ram(truth) for pfn in range(-(-s // PAGE), e // PAGE)]
    with open_core(str(full)) as ref, open_core(str(filtered)) as mem:
        for pfn in pfns[::5]:
            addr = pfn * PAGE
            want = ref.read(addr, PAGE, physical=True)  # RAM: QEMU's full dump holds it all
            try:
                got = mem.read(addr, PAGE, physical=True)
            except FaultError as e:
                assert e.address == addr and e.physical
                # the 1st bitmap says whether the page was RAM the filter dropped (as crash
                # reports it) or was never in the dump's memory map
                assert "excluded" in str(e) or "not in the dump" in str(e), str(e)
                excluded += "excluded" in str(e)
                dropped += 1
                continue
            assert got == want, f"page {pfn:#x} differs"
            kept += 1
    # -d 31 drops zero, cache, user and free pages: a large share of a small idle guest
    assert kept > 500 and dropped > 500, (kept, dropped)
    assert excluded > 500, (excluded, dropped)
