"""drgn's maple tree helpers (``drgn.helpers.linux.mapletree``: ``mt_for_each``,
``mtree_load``) against drgn 0.3.0 with Debian's DWARF on the same memory (see
tests/helpers_compare.py).

The trees are every process's VMA tree (``mm->mm_mt``, 6.1 and later) and, on 6.12, the
IRQ descriptors (``sparse_irqs``). Every range is looked up at its first and last index
and just outside them, plain and ``advanced``. The kernel's own bookkeeping is checked
too: each VMA sits in the tree at ``[vm_start, vm_end - 1]`` and a tree holds
``mm->map_count`` of them. Linux 5.10 has no maple tree: there, asking for one fails with
the error drgn gives.
"""

from __future__ import annotations

import pytest

from tests.helpers_compare import compare
from vmcores.debian import SUITES

SNIPPET = r'''
from drgn.helpers.linux.mapletree import mt_for_each, mtree_load
from drgn.helpers.linux.pid import for_each_task

result["no_member"] = probe(lambda: list(mt_for_each(prog["init_mm"].mm_mt.address_of_())))
result["no_type"] = probe(lambda: list(mt_for_each(Object(prog, "struct maple_tree *", 0))))
result["no_type_load"] = probe(lambda: mtree_load(Object(prog, "struct maple_tree *", 0), 0))
trees = []
if prog.type("struct mm_struct").has_member("mm_mt"):
    trees.append(("init_mm", prog["init_mm"].mm_mt.address_of_()))
    seen = set()
    for t in for_each_task(prog):
        if t.mm and t.mm.value_() not in seen:
            seen.add(t.mm.value_())
            trees.append(("mm:%d" % t.pid, t.mm.mm_mt.address_of_()))
            result["mm:%d:map_count" % t.pid] = t.mm.map_count.value_()
if "sparse_irqs" in prog:
    trees.append(("sparse_irqs", prog["sparse_irqs"].address_of_()))
result["trees"] = [n for n, _ in trees]
for name, mt in trees:
    entries = list(mt_for_each(mt))
    result[name + ":each"] = plain(entries)
    result[name + ":each_advanced"] = probe(lambda mt=mt: list(mt_for_each(mt, advanced=True)))
    indices = {0, 1, (1 << 64) - 1, (1 << 64) - 2}
    for first, last, _ in entries:
        indices |= {first, last, first - 1, last + 1, (first + last) // 2}
    for i in sorted(x for x in indices if 0 <= x < 1 << 64):
        result["%s:load:%d" % (name, i)] = probe(mtree_load, mt, i)
        result["%s:load_advanced:%d" % (name, i)] = probe(mtree_load, mt, i, advanced=True)
    if name.startswith("mm:"):
        result[name + ":vmas"] = [[first, last, e.value_(),
                                   cast("struct vm_area_struct *", e).vm_start.value_(),
                                   cast("struct vm_area_struct *", e).vm_end.value_()] for first, last, e in entries]
'''


@pytest.mark.parametrize("suite", SUITES)
def test_maple_trees_as_drgn(suite: str) -> None:
    """Every maple tree's entries and lookups equal drgn's; VMAs are where the kernel put
    them; on 5.10 the errors are drgn's."""
    theirs, differ = compare(suite, "mapletree", SNIPPET)
    assert differ == {}
    null_tree = "error:LookupError" if suite == "bullseye" else "error:FaultError"
    assert theirs["no_type"] == theirs["no_type_load"] == null_tree
    if suite == "bullseye":
        assert theirs["trees"] == [] and theirs["no_member"] == "error:AttributeError"
        return
    assert theirs["no_member"] == [] and len(theirs["trees"]) >= 5
    processes = [n for n in theirs["trees"] if n.startswith("mm:")]
    assert len(processes) >= 4
    for name in processes:
        vmas = theirs[name + ":vmas"]
        assert len(vmas) == theirs[name + ":map_count"] > 0
        for first, last, _entry, start, end in vmas:
            assert (first, last) == (start, end - 1)
