"""``vm -p`` on arm64 dumps, 4K and 16K granules: every page of every process's VMAs
translated through the process's arm64 page tables (:func:`kdbg.helpers.addrspace.page_table_walk`
and :func:`~kdbg.helpers.addrspace.page_table_leaf`, the arm64 translator's rules).

Ground truth: drgn 0.3.0 with Debian's arm64 DWARF on the ``elf-paging`` dump (drgn has no
``vm -p`` of its own): its ``for_each_vma`` (each VMA's address, range, file and
``vm_pgoff``) and its ``follow_phys`` of every page (drgn's own arm64 page-table walk),
with the kernel's ``PAGE_SIZE`` as drgn reads it, which is the page size of the kernel
package's config. Every form of a kernel holds the same memory, so drgn's answer on
``elf-paging`` holds for the ``kdump-zlib`` form too. The arm64 guests record no
``/proc/PID/maps`` (their truth is the x86 reference guests' list, whose recipe every
arm64 dump shares); the process list is checked against the guest's own ``ps``.
"""

from __future__ import annotations

import json
import re
from typing import Any, List

import pytest

from tests.cli_support import run_kdbg
from vmcores.arm64 import KERNELS, PAGE_SIZE_KERNELS, arm64_dbg_vmlinux, arm64_dumps, arm64_kernel, kernel_parts
from vmcores.oracle import ORACLE_FORM, drgn_eval

pytestmark = pytest.mark.timeout(2400)

_PAGES = """
from drgn import FaultError
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.mm import for_each_vma, follow_phys
page = prog["PAGE_SIZE"].value_()
out = []
for t in for_each_task(prog):
    if not t.mm:
        continue
    vmas = []
    for vma in for_each_vma(t.mm):
        pages = []
        for a in range(vma.vm_start.value_(), vma.vm_end.value_(), page):
            try:
                pages.append(follow_phys(t.mm, a).value_())
            except FaultError:
                pages.append(None)
        vmas.append([vma.value_(), vma.vm_start.value_(), vma.vm_end.value_(), bool(vma.vm_file),
                     vma.vm_pgoff.value_(), pages])
    out.append([t.pid.value_(), page, vmas])
"""


def _drgn_pages(kernel: str) -> Any:
    """``[[pid, PAGE_SIZE, [[vma, start, end, has file, vm_pgoff, [pa or None per page]]]]]``
    of every process, from drgn with DWARF on *kernel*'s ``elf-paging`` dump."""
    dump = next(d for d in arm64_dumps([kernel]) if d.form == ORACLE_FORM)
    text = f"(lambda ns: (exec({_PAGES!r}, ns), ns['out'])[1])(dict(globals()))"
    return drgn_eval(f"arm64-{kernel}", dump.path, text, arm64_dbg_vmlinux(*kernel_parts(kernel)))


def _config_page_size(kernel: str) -> int:
    config = next((arm64_kernel(*kernel_parts(kernel)).root / "boot").glob("config-*")).read_text()
    (kib,) = re.findall(r"^CONFIG_ARM64_(\d+)K_PAGES=y$", config, re.M)
    return int(kib) * 1024


@pytest.mark.parametrize("kernel", KERNELS + PAGE_SIZE_KERNELS)
def test_vm_p_against_drgn(kernel: str) -> None:
    """``vm -p --json`` of every process: its VMAs are drgn's; each page drgn's
    ``follow_phys`` translates is that physical address (block mappings included), one it
    cannot is a file page (the VMA's file, ``vm_pgoff`` plus the distance into the VMA) or
    not mapped, never a guess (the guests have no swap); the pages step by the kernel's
    page size. The text form says what ``--json`` says."""
    want = _drgn_pages(kernel)
    page = _config_page_size(kernel)
    dumps = {d.form: d for d in arm64_dumps([kernel])}
    pids = [pid for pid, _page, _vmas in want]
    # the processes the guest's /init started (asleep until the dump) are among them
    started = {p["pid"] for p in json.loads((dumps[ORACLE_FORM].truth / "ps.json").read_text())
               if p["comm"] in ("init", "sleep", "kdbg-sleeper", "cat") and p["state"] != "Z"}
    assert len(started) >= 5 and started <= set(pids), (pids, started)
    for form in (ORACLE_FORM, "kdump-zlib"):
        path = str(dumps[form].path)
        p = run_kdbg("-q", "-c", path, "--json", "-x", "vm -p " + " ".join(map(str, pids)))
        assert p.returncode == 0 and p.stderr == "", p.stderr
        mapped = 0
        for row, (pid, drgn_page, vmas) in zip(json.loads(p.stdout), want, strict=True):
            assert row["pid"] == pid and drgn_page == page
            assert [(v["vma"], v["start"], v["end"]) for v in row["vmas"]] == [tuple(v[:3]) for v in vmas], pid
            for v, (_vma, start, end, has_file, pgoff, phys) in zip(row["vmas"], vmas, strict=True):
                assert bool(v["file"]) == has_file, (pid, v)
                assert [r["virtual"] for r in v["pages"]] == list(range(start, end, page)), (pid, start)
                for r, pa in zip(v["pages"], phys, strict=True):
                    if pa is not None:
                        assert r == {"virtual": r["virtual"], "physical": pa}, (pid, r)
                        mapped += 1
                    elif has_file:
                        assert r == {"virtual": r["virtual"], "file": v["file"],
                                     "offset": pgoff * page + r["virtual"] - start}, (pid, r)
                    else:
                        assert r == {"virtual": r["virtual"]}, (pid, r)
        assert mapped >= 10 * len(pids), (form, mapped)
    # the text of one process: per VMA its header, its line, VIRTUAL/PHYSICAL, its pages
    pid, _page, vmas = want[0]
    p = run_kdbg("-q", "-c", str(dumps[ORACLE_FORM].path), "-x", f"vm -p {pid}")
    assert p.returncode == 0 and p.stderr == "", p.stderr
    body: List[str] = p.stdout.splitlines()[3:]
    for _vma, start, _end, _has_file, _pgoff, phys in vmas:
        assert body[0].split() == ["VMA", "START", "END", "FLAGS", "FILE"]
        assert body[1].split()[1] == f"{start:x}" and body[2].split() == ["VIRTUAL", "PHYSICAL"]
        rows = body[3 : 3 + len(phys)]
        for i, (line, pa) in enumerate(zip(rows, phys, strict=True)):
            assert line.split()[0] == f"{start + i * page:x}"
            if pa is not None:
                assert line.split()[1:] == [f"{pa:x}"], line
        body = body[3 + len(phys) :]
    assert body == []

