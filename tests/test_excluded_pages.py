"""Pages makedumpfile excluded (-d 31) read as FaultError naming the address, on real dumps.

Truth: the unfiltered ELF dump QEMU wrote of the same stopped guest holds every page; the
filtered dump must agree on every page it kept and refuse every page it dropped.
"""

from __future__ import annotations

import pytest

from kdbg.errors import FaultError
from kdbg.memory import open_core
from vmcores.build import reference_dumps

PAGE = 4096


@pytest.mark.parametrize("suite", ["bookworm", "trixie", "bullseye"])
@pytest.mark.parametrize("form", ["kdump-zlib-d31", "kdump-lzo-d31", "elf-d31", "kdump-zlib-d31-flat"])
def test_excluded_pages(suite: str, form: str) -> None:
    dumps = reference_dumps(suites=[suite])
    full = next(d for d in dumps if d.form == "elf" and d.tool.startswith("qemu"))
    filtered = next(d for d in dumps if d.form == form)
    kept = dropped = excluded = 0
    with open_core(str(full.path)) as ref, open_core(str(filtered.path)) as mem:
        nbytes = 128 << 20
        for pfn in range(0, nbytes // PAGE, 5):
            addr = pfn * PAGE
            try:
                want = ref.read(addr, PAGE, physical=True)
            except FaultError:
                continue  # a hole in physical memory (e.g. the legacy VGA range)
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
