"""drgn's red-black tree validators (``validate_rbtree``,
``validate_rbtree_inorder_for_each_entry``) against drgn 0.3.0 with Debian's DWARF on the
same memory (see tests/helpers_compare.py).

Every kernfs directory of sysfs (900 to 1,200 trees, ordered as the kernel's
``kernfs_sd_compare``: hash, namespace, name) is validated with the kernel's order, which
must pass, and with orders that must fail where the tree has two nodes: reversed, and
"all equal" with equal entries refused (allowed, it passes). How far the walk got before
an error (the entries it yielded) is compared too. Corrupt trees (bad parent pointers,
red-red, black heights) cannot be made in a dump; the error paths are the order's.
"""

from __future__ import annotations

import pytest

from tests.helpers_compare import compare
from vmcores.debian import SUITES

SNIPPET = r'''
from drgn.helpers.linux.kernfs import kernfs_children, kernfs_path
from drgn.helpers.linux.rbtree import validate_rbtree, validate_rbtree_inorder_for_each_entry

def kernel_order(a, b):
    for x, y in ((a.hash.value_(), b.hash.value_()), (a.ns.value_(), b.ns.value_()),
                 (a.name.string_(), b.name.string_())):
        if x != y:
            return -1 if x < y else 1
    return 0

def reversed_order(a, b):
    return -kernel_order(a, b)

def all_equal(a, b):
    return 0

def walked(root, cmp, allow_equal):
    got = []
    try:
        for e in validate_rbtree_inorder_for_each_entry("struct kernfs_node", root, "rb", cmp, allow_equal):
            got.append(e.value_())
    except Exception as e:
        return [got, probe(lambda: (_ for _ in ()).throw(e))]
    return [got, "ok"]

stack = [prog["sysfs_root"].kn]
rows = []
while stack:
    kn = stack.pop()
    if kn.flags.value_() & 0xF != prog["KERNFS_DIR"].value_():
        continue
    root = kn.dir.children.address_of_()
    path = kernfs_path(kn)
    rows.append([path, probe(validate_rbtree, "struct kernfs_node", root, "rb", kernel_order, False),
                 probe(validate_rbtree, prog.type("struct kernfs_node"), root, "rb", all_equal, True)])
    if len(rows) % 50 == 1:
        result["walk:" + path.decode()] = [walked(root, kernel_order, False), walked(root, reversed_order, False),
                                           walked(root, all_equal, False), walked(root, all_equal, True)]
    stack.extend(kernfs_children(kn))
result["rows"] = rows
'''


@pytest.mark.parametrize("suite", SUITES)
def test_validate_rbtree_as_drgn(suite: str) -> None:
    """Validation results and the entries yielded before an error equal drgn's."""
    theirs, differ = compare(suite, "rbtree_validate", SNIPPET)
    rows = theirs["rows"]
    assert len(rows) > 500 and all(r[1] is None and r[2] is None for r in rows)
    walks = [v for k, v in theirs.items() if k.startswith("walk:")]
    assert any(w[1][1] == "error:ValidationError" and w[2][1] == "error:ValidationError" for w in walks)
    assert differ == {}
