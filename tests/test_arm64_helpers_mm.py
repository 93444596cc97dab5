"""The mm and boot helpers on arm64, where the kernel image's ``__pa_symbol`` is
``va - kimage_voffset`` (the machine's translator, :meth:`kdbg.arch.Translator.pa_symbol`)
and the link address of ``_text`` is ``KIMAGE_VADDR``: the x86-64 formulas
(``__START_KERNEL_map``, ``phys_base``) are no longer in the helpers; process address
spaces are walked by the arm64 translator.

Ground truth: drgn 0.3.0 with Debian's arm64 DWARF on the same dump (its ``virt_to_phys``,
``virt_to_page``, ``page_to_virt``, ``kaslr_offset``, and ``follow_phys``: the guest's
page tables)."""

from __future__ import annotations

import pytest

from kdbg import open_core as open_program
from kdbg.compat.drgn import Object
from kdbg.errors import InvalidAddressError
from kdbg.helpers.addrspace import cmdline, follow_phys, for_each_vma
from kdbg.helpers.boot import kaslr_offset
from kdbg.helpers.mm import memory_map, page_to_pfn, page_to_virt, virt_to_page, virt_to_phys
from kdbg.helpers.mmzone import pfn_to_section, section_mem_map_addr, valid_section
from kdbg.helpers.pid import for_each_task
from tests.arm64_support import drgn_answers
from vmcores.arm64 import KERNELS, PAGE_SIZE_KERNELS, arm64_dumps
from vmcores.oracle import ORACLE_FORM, Query

pytestmark = pytest.mark.timeout(1800)

_PID = "__import__('drgn.helpers.linux.pid', fromlist=['x'])"
_MM = "__import__('drgn.helpers.linux.mm', fromlist=['x'])"
_BOOT = "__import__('drgn.helpers.linux.boot', fromlist=['x'])"


@pytest.mark.parametrize("kernel", KERNELS + PAGE_SIZE_KERNELS)
def test_address_conversions_agree_with_drgn(kernel: str) -> None:
    """For every task (the linear map): drgn's physical address, ``struct page`` and the
    page's virtual address, its SPARSEMEM section; ``max_pfn`` (bookworm's cloud kernel
    neither lists nor exports it: kdbg takes the exported ``high_memory``); for init_task (a
    kernel-image address, on trixie, whose kallsyms has ``_end``) the physical address the
    kernel's page tables give; and the KASLR offset."""
    dump = next(d for d in arm64_dumps([kernel]) if d.form == ORACLE_FORM)
    recs = drgn_answers(dump, [
        Query("tasks", f"[t.value_() for t in {_PID}.for_each_task(prog)]"),
        Query("phys", f"[{_MM}.virt_to_phys(t).value_() for t in {_PID}.for_each_task(prog)]"),
        Query("pages", f"[{_MM}.virt_to_page(t).value_() for t in {_PID}.for_each_task(prog)]"),
        Query("virt", f"[{_MM}.page_to_virt({_MM}.virt_to_page(t)).value_() for t in {_PID}.for_each_task(prog)]"),
        Query("init_phys", f"{_MM}.virt_to_phys(prog['init_task'].address_of_()).value_()"),
        Query("init_walk", f"{_MM}.follow_phys(prog['init_mm'].address_of_(), prog['init_task'].address_)"),
        Query("kaslr", f"{_BOOT}.kaslr_offset(prog)"),
        Query("max_pfn", "prog['max_pfn'].value_()"),
    ])
    with open_program(str(dump.path)) as prog:
        tasks = [int(t) for t in for_each_task(prog)]
        assert tasks == recs["tasks"]["value"]
        objs = list(for_each_task(prog))
        assert memory_map(prog).max_pfn == recs["max_pfn"]["value"]
        assert [virt_to_phys(t) for t in objs] == recs["phys"]["value"]
        pages = [virt_to_page(t) for t in objs]
        assert [int(p) for p in pages] == recs["pages"]["value"]
        assert [int(page_to_virt(p)) for p in pages] == recs["virt"]["value"]
        # SPARSEMEM with VMCOREINFO's SECTION_SIZE_BITS (no x86 fallback): each task's
        # section is valid and its encoded memory map puts the pfn at drgn's page
        size = prog.type("struct page").size
        for page in recs["pages"]["value"]:
            pfn = int(page_to_pfn(Object(prog, "struct page *", page)))
            section = pfn_to_section(prog, pfn)
            assert valid_section(section) and int(section_mem_map_addr(section)) + pfn * size == page
        assert kaslr_offset(prog) == recs["kaslr"]["value"] != 0
        init = prog.variable("init_task").address_of_()
        if prog.symbol_table.get("_end") is None:  # bookworm: the image's end is unknown, said in one line
            with pytest.raises(InvalidAddressError, match=r"is not in the direct map .* nor the kernel image"):
                virt_to_phys(init)
            return
        # drgn 0.3.0's arm64 virt_to_phys applies the linear map's rule to every address;
        # the kernel's __virt_to_phys takes an image address by kimage_voffset, and its page
        # tables (drgn's follow_phys walks them) agree with that: the kernel wins.
        assert virt_to_phys(init) == recs["init_walk"]["value"] != recs["init_phys"]["value"]


@pytest.mark.parametrize("kernel", KERNELS + PAGE_SIZE_KERNELS)
def test_process_memory_agrees_with_drgn(kernel: str) -> None:
    """Each process's page-table walk (:meth:`kdbg.arch.Translator.walk_root` of the arm64
    translator, not x86's): the physical address of its argument area, its command line
    and its VMAs, as drgn gives them."""
    dump = next(d for d in arm64_dumps([kernel]) if d.form == ORACLE_FORM)
    each = f"for t in {_PID}.for_each_task(prog) if t.mm"
    recs = drgn_answers(dump, [
        Query("pids", f"[t.pid.value_() {each}]"),
        Query("arg_phys", f"[{_MM}.follow_phys(t.mm, t.mm.arg_start).value_() {each}]"),
        Query("cmdline", f"[[a.decode() for a in {_MM}.cmdline(t)] {each}]"),
        Query("vmas", f"[[v.vm_start.value_() for v in {_MM}.for_each_vma(t.mm)] {each}]"),
    ])
    with open_program(str(dump.path)) as prog:
        users = [t for t in for_each_task(prog) if int(t.mm)]
        assert [int(t.pid) for t in users] == recs["pids"]["value"] and len(users) >= 5
        assert [int(follow_phys(t.mm, t.mm.arg_start)) for t in users] == recs["arg_phys"]["value"]
        assert [[a.decode() for a in cmdline(t)] for t in users] == recs["cmdline"]["value"]
        assert [[int(v.vm_start) for v in for_each_vma(t.mm)] for t in users] == recs["vmas"]["value"]
