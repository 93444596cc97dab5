"""drgn's slab helpers beyond the object walks (``get_slab_cache_aliases``,
``slab_total_usage``, and ``slab_object_info``/``find_containing_slab_cache`` of many
kinds of addresses) against drgn with Debian's DWARF on the three reference kernels."""

from __future__ import annotations

import pytest

from tests.helpers_compare import mismatches
from vmcores.debian import SUITES

#: Addresses of many kinds: slab objects at their start and inside, vmalloc'd stacks,
#: the kernel image, per-CPU data, user space, NULL.
ADDRESSES = ("[a for t in list(H.for_each_task(prog))[:12] for a in (t.value_(), t.value_() + 100, "
             "t.stack.value_(), t.mm.value_(), t.files.value_(), t.cred.value_(), t.signal.value_() + 8)] "
             "+ [prog['init_task'].address_, prog['runqueues'].address_, 0, 0x400000, 2**64 - 4096]")
CASES = {
    "aliases": "H.get_slab_cache_aliases(prog)",
    "total": "list(H.slab_total_usage(prog))",
    "total_pages": "H.slab_total_usage(prog).total_pages",
    "object_info": f"[None if i is None else [i.slab_cache.value_(), i.slab.value_(), i.address, i.allocated] "
                   f"for i in (H.slab_object_info(prog, a) for a in {ADDRESSES})]",
    "containing": f"[H.find_containing_slab_cache(prog, a).value_() for a in {ADDRESSES}]",
    "containing.names": f"[c.name.string_().decode() for c in (H.find_containing_slab_cache(prog, a) "
                        f"for a in {ADDRESSES}) if c]",
    "merged": "sorted(c.name.string_().decode() for c in H.for_each_slab_cache(prog) if H.slab_cache_is_merged(c))",
}


@pytest.mark.parametrize("suite", SUITES)
def test_slab_extras_as_drgn(suite: str) -> None:
    assert mismatches(suite, CASES) == {}
