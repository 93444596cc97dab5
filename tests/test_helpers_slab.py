"""The slab helpers (``kdbg.helpers.slab``, SLUB).

The guests recorded no ``/proc/slabinfo``, so the ground truth is drgn 0.3.0 with Debian's
DWARF on the same memory: its ``for_each_slab_cache`` names and its
``slab_cache_for_each_allocated_object`` counts (and first objects) for a set of caches,
small to large (``tests/helpers_oracle.py``). A corrupt freelist (patched through a
memory overlay) ends in a one-line ``ValidationError``.
"""

from __future__ import annotations

import itertools
from typing import Any, Tuple

import pytest

import kdbg
from kdbg.errors import ValidationError
from kdbg.helpers.pid import for_each_task
from kdbg.helpers.slab import (
    _Slub,
    find_containing_slab_cache,
    find_slab_cache,
    for_each_slab_cache,
    slab_cache_for_each_allocated_object,
    slab_cache_is_merged,
    slab_cache_objects_per_slab,
    slab_cache_order,
    slab_cache_pages_per_slab,
    slab_cache_usage,
    slab_object_info,
)
from tests.conftest import resolve_dump
from tests.helpers_oracle import SLAB_COUNT_CACHES, helper_answers
from tests.helpers_support import dump_ids, helper_dumps, open_dump
from tests.memory_overlay import overlay
from vmcores.debian import SUITES

DUMPS = helper_dumps(filtered_trixie=False)


@pytest.mark.parametrize("dump", DUMPS, ids=dump_ids)
def test_slab_cache_names_equal_drgn(dump: Tuple[str, str, str]) -> None:
    """Every cache on slab_caches, in order, by name, as drgn lists them; find_slab_cache
    finds each; a merged-away name is not found."""
    prog = open_dump(*dump)
    names = [s.name.string_().decode() for s in for_each_slab_cache(prog)]
    want = helper_answers(dump[0])["slab.names"]
    assert len(want) > 100
    assert names == want
    assert int(find_slab_cache(prog, "mm_struct").object_size) >= prog.type("struct mm_struct").sizeof()
    assert find_slab_cache(prog, b"dentry").name.string_() == b"dentry"
    assert find_slab_cache(prog, "no-such-cache") is None


@pytest.mark.parametrize("dump", [d for d in DUMPS if d[1] != "kdump-d31"], ids=dump_ids)
def test_allocated_objects_equal_drgn(dump: Tuple[str, str, str]) -> None:
    """The allocated objects of caches from kmem_cache (one per cache) to dentry and
    inode_cache (thousands): drgn's count for each, and its first objects."""
    prog = open_dump(*dump)
    want = helper_answers(dump[0])["slab.counts"]
    got = {}
    for name in SLAB_COUNT_CACHES:
        cache = find_slab_cache(prog, name)
        got[name] = None if cache is None else sum(1 for _ in slab_cache_for_each_allocated_object(cache, "void"))
    assert got == want
    assert got["kmem_cache"] == len(helper_answers(dump[0])["slab.names"])
    first = helper_answers(dump[0])["slab.first_objects"]
    for name in ("task_struct", "mm_struct"):
        objs = slab_cache_for_each_allocated_object(find_slab_cache(prog, name), "struct " + name)
        got_first = [int(o) for o in itertools.islice(objs, 5)]
        assert got_first == first[name]


@pytest.mark.parametrize("suite", SUITES)
def test_every_task_is_an_allocated_task_struct(suite: str) -> None:
    """Every task but the static init_task lies at the start of an allocated object of
    the task_struct cache, typed as asked; the geometry helpers agree with the cache."""
    prog = open_dump(suite)
    cache = find_slab_cache(prog, "task_struct")
    objs = {int(o) for o in slab_cache_for_each_allocated_object(cache, prog.type("struct task_struct"))}
    tasks = [int(t) for t in for_each_task(prog) if int(t) != prog["init_task"].address_]
    assert tasks and set(tasks) <= objs
    for addr in tasks[:20]:
        info = slab_object_info(prog, addr + 100)
        assert info is not None and info.address == addr and info.allocated is True
        assert int(info.slab_cache) == int(cache)
        assert int(find_containing_slab_cache(prog, addr)) == int(cache)
    assert slab_object_info(prog, prog["init_task"].address_) is None
    assert not int(find_containing_slab_cache(prog, prog["init_task"].address_))
    per_slab = slab_cache_objects_per_slab(cache)
    assert 0 < per_slab * int(cache.size) <= slab_cache_pages_per_slab(cache) * 4096
    assert slab_cache_pages_per_slab(cache) == 1 << slab_cache_order(cache)
    assert slab_cache_is_merged(find_slab_cache(prog, "kmem_cache")) is False
    obj = next(iter(slab_cache_for_each_allocated_object(cache, "struct task_struct")))
    assert obj.type_.type_name() == "struct task_struct *"


def _slab_with_free_objects(prog: Any, name: str) -> Tuple[_Slub, int, int, int]:
    """A cache helper, and (pfn, freelist head, objects) of one of its slabs with >= 2
    free objects on the slab's own freelist."""
    helper = _Slub(find_slab_cache(prog, name))
    for pfn, cache, head, objects in helper.map.slabs():
        if cache == helper.address and head:
            free = helper.freelist(head, helper.base(pfn), objects, "probe")
            if len(free) >= 2:
                return helper, pfn, head, objects
    raise AssertionError(f"no slab of {name} with free objects")


def _encoded(helper: _Slub, at: int, target: int) -> bytes:
    value = target
    if helper.random is not None:
        value ^= helper.random ^ int.from_bytes(at.to_bytes(8, "little"), "big")
    return value.to_bytes(8, "little")


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("damage", ["cycle", "outside"])
def test_corrupt_freelist_is_one_line_error(suite: str, damage: str) -> None:
    """A slab freelist that loops back on itself, or leaves its slab: one-line
    ValidationError naming the cache, never a hang."""
    prog = kdbg.open_core(str(resolve_dump(suite, "kdump-zlib", "qemu").path))
    helper, pfn, head, objects = _slab_with_free_objects(prog, "kmalloc-64")
    at = head + helper.offset
    target = head if damage == "cycle" else helper.base(pfn) + 100 * 4096
    overlay(prog).patches[at] = _encoded(helper, at, target)
    with pytest.raises(ValidationError) as info:
        for _ in slab_cache_for_each_allocated_object(find_slab_cache(prog, "kmalloc-64"), "void"):
            pass
    msg = str(info.value)
    assert "\n" not in msg and "'kmalloc-64'" in msg
    assert ("cycles" in msg) if damage == "cycle" else ("not an object of its slab" in msg)


@pytest.mark.parametrize("dump", [d for d in DUMPS if d[1] != "kdump-d31"], ids=dump_ids)
def test_slab_cache_usage_equals_drgn(dump: Tuple[str, str, str]) -> None:
    """(slabs, objects, free objects) of each cache equal drgn's slab_cache_usage, and
    the active count is what /proc/slabinfo would show (objects minus free)."""
    prog = open_dump(*dump)
    want = helper_answers(dump[0])["slab.usage"]
    got = {}
    for name in SLAB_COUNT_CACHES:
        cache = find_slab_cache(prog, name)
        if cache is not None:
            u = slab_cache_usage(cache)
            assert u.active_objs == u.num_objs - u.free_objs >= 0
            got[name] = [u.num_slabs, u.num_objs, u.free_objs]
    assert got == want
