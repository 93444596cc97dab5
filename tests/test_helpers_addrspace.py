"""drgn's process address-space helpers (``follow_phys``/``follow_pfn``/``follow_page``,
``access_process_vm``/``access_remote_vm``, ``cmdline``/``environ``, ``for_each_vma``,
``vma_find``, ``vma_name``, ``task_rss``, ``task_vsize``) against drgn with Debian's DWARF on
the three reference kernels (5.10's VMA list and red-black tree, 6.x's maple tree), kdbg
reading the ELF dump drgn reads and the kdump of the same memory; and against the guest's
``/proc/<pid>/stat``: ``vsize`` (field 23) is ``task_vsize``, and ``arg_start``..``arg_end``
(48, 49) hold the command line (PID 1 was running the snapshot and is left out, see
``tests/proc_stat_truth.py``). ``/proc``'s ``rss`` (24) is not ``task_rss().total``: the
kernel prints the mm's counters without the deltas not yet folded into them (6.2 and
later: the per-CPU counters' ``count``, ``percpu_counter_read_positive``; before: the mm's
counts without the threads' caches), where ``task_rss`` (as drgn's) adds them; so
``task_rss`` is compared with drgn, and the guest's ``rss`` with the mm-level counters
read here, which it equals.

The VMA maple trees of these busybox processes are a single leaf; the multi-level walk is
checked on the kernel's IRQ descriptor tree (``sparse_irqs``, a maple tree since 6.5)
against drgn's ``mt_for_each`` and ``mtree_load``.
"""

from __future__ import annotations

import pytest

from kdbg.btf.kinds import TypeKind
from kdbg.core.object import Object
from kdbg.helpers.addrspace import _maple_entries, _maple_load, cmdline, task_rss, task_vsize
from kdbg.helpers.pid import find_task
from tests.conftest import resolve_dump
from tests.helpers_compare import drgn_answers, mismatches, oracle_program
from tests.oracle_exprs import oracle_dump
from tests.proc_stat_truth import proc_stat
from vmcores.debian import SUITES

USER = "[t for t in H.for_each_task(prog) if t.mm]"
INIT_MM = "prog['init_mm'].address_of_()"
CASES = {
    "cmdline": "[H.cmdline(t) for t in H.for_each_task(prog)]",
    "environ": "[H.environ(t) for t in H.for_each_task(prog)]",
    "mm_cmdline": f"[H.mm_cmdline(t.mm) for t in {USER}]",
    "mm_environ": f"[H.mm_environ(t.mm) for t in {USER}]",
    "vsize": "[H.task_vsize(t) for t in H.for_each_task(prog)]",
    "rss": "[list(H.task_rss(prog, t)) + [H.task_rss(t).total] for t in H.for_each_task(prog)]",
    "vmas": f"[[(v.value_(), v.vm_start.value_(), v.vm_end.value_()) for v in H.for_each_vma(t.mm)] for t in {USER}]",
    "vma_names": f"[[H.vma_name(v) for v in H.for_each_vma(t.mm)] for t in {USER}]",
    "vma_find": f"[[H.vma_find(t.mm, a).value_() for v in H.for_each_vma(t.mm) "
                f"for a in (v.vm_start.value_(), v.vm_end.value_() - 1, v.vm_end.value_(), v.vm_start.value_() - 1)] "
                f"for t in {USER}]",
    "vma_find.type": f"H.vma_find({USER}[0].mm, 0)",
    "follow": f"[[(H.follow_phys(t.mm, a).value_(), H.follow_pfn(t.mm, a).value_(), H.follow_page(t.mm, a).value_()) "
              f"for a in (t.mm.arg_start.value_(), t.mm.env_end.value_() - 1, t.mm.start_stack.value_())] "
              f"for t in {USER}]",
    "follow_phys.type": f"H.follow_phys({USER}[0].mm, {USER}[0].mm.arg_start)",
    "follow_pfn.type": f"H.follow_pfn({USER}[0].mm, {USER}[0].mm.arg_start)",
    "follow.unmapped": f"H.follow_phys({USER}[0].mm, 0x1000)",
    "follow.init_mm": f"[H.follow_phys({INIT_MM}, a).value_() for a in (prog['init_task'].address_, "
                      f"prog['init_task'].stack.value_(), prog.symbol('schedule').address)]",
    "access_process_vm": f"[H.access_process_vm(t, t.mm.start_stack.value_() - 4000, 8000) for t in {USER}]",
    "access_remote_vm": f"[H.access_remote_vm(t.mm, t.mm.arg_start.value_() - 3, 4100) for t in {USER}]",
    "access.unmapped": f"H.access_remote_vm({USER}[0].mm, 0x1000, 8)",
    "access.empty": f"H.access_remote_vm({USER}[0].mm, 0x1000, 0)",
}
MAPLE = {
    "mt_for_each": "[(f, l, e.value_()) for f, l, e in __import__('drgn.helpers.linux.mapletree', "
                   "fromlist=['_']).mt_for_each(prog['sparse_irqs'].address_of_())]",
    "mtree_load": "[__import__('drgn.helpers.linux.mapletree', fromlist=['_']).mtree_load("
                  "prog['sparse_irqs'].address_of_(), i).value_() for i in range(300)]",
}


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("form", ["elf-paging", "kdump-zlib"])
def test_address_spaces_as_drgn(suite: str, form: str) -> None:
    assert mismatches(suite, CASES, kdbg_core=resolve_dump(suite, form, "qemu").path) == {}


def _mm_level_rss(task: Object) -> int:
    """``get_mm_rss()`` as procfs computes it: each counter's mm-level value, at least 0."""
    if not int(task.mm):
        return 0
    prog = task.prog_
    stat = task.mm.rss_stat
    items = [int(prog.constant(n)) for n in ("MM_FILEPAGES", "MM_ANONPAGES", "MM_SHMEMPAGES")]
    if stat.type_.unaliased_kind() == TypeKind.ARRAY:
        return sum(max(int(stat[i].count), 0) for i in items)
    return sum(max(int(stat.count[i].counter), 0) for i in items)


@pytest.mark.parametrize("suite", SUITES)
def test_address_spaces_as_proc_stat(suite: str) -> None:
    prog = oracle_program(suite)
    in_dump = set(drgn_answers(suite, {"pids": "[t.pid.value_() for t in H.for_each_task(prog)]"})["pids"]["value"])
    checked = 0
    for pid, fields in proc_stat(oracle_dump(suite).truth).items():
        if pid == 1 or pid not in in_dump:
            continue
        t = find_task(prog, pid)
        assert task_vsize(t) == int(fields[23]), pid
        assert task_rss(prog, t).total >= _mm_level_rss(t) == int(fields[24]), pid
        args = cmdline(t)
        if args is None:
            assert int(fields[48]) == int(fields[49]) == 0, pid
        else:
            assert sum(len(a) + 1 for a in args) == int(fields[49]) - int(fields[48]), pid
            checked += 1
    assert checked >= 4


@pytest.mark.parametrize("suite", ["trixie"])
def test_multilevel_maple_tree_as_drgn(suite: str) -> None:
    """6.12's sparse_irqs has an internal node (arange_64) over its leaves."""
    prog = oracle_program(suite)
    theirs = drgn_answers(suite, MAPLE)
    tree = prog["sparse_irqs"]
    assert (int(tree.ma_root) >> 3) & 0xF == 3  # the root is an internal node
    assert [list(e) for e in _maple_entries(tree)] == theirs["mt_for_each"]["value"]
    assert [_maple_load(tree, i) for i in range(300)] == theirs["mtree_load"]["value"]
