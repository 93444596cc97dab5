"""``kmem -s``'s rows: a slab cache as crash tabulates it (``CACHE OBJSIZE ALLOCATED TOTAL
SLABS SSIZE NAME``), for ``kmem -s`` and ``kmem ADDR``.

Slabs and objects come from :func:`kdbg.helpers.slab.slab_cache_usage`; the allocated
objects are counted one by one (:func:`~kdbg.helpers.slab.slab_cache_for_each_allocated_object`),
as crash counts them.
"""

from __future__ import annotations

from typing import Any, Dict

from kdbg.helpers.mm import memory_map
from kdbg.helpers.slab import slab_cache_for_each_allocated_object, slab_cache_order, slab_cache_usage

__all__ = ["SLAB_CACHE_HEADER", "slab_cache_line", "slab_cache_row"]

#: crash's ``kmem_cache_hdr`` (64-bit addresses).
SLAB_CACHE_HEADER = "CACHE             OBJSIZE  ALLOCATED     TOTAL  SLABS  SSIZE  NAME"


def slab_cache_row(prog: Any, cache: Any) -> Dict[str, Any]:
    """A ``struct kmem_cache *``'s row: ``cache``, ``objsize``, ``allocated``, ``total``,
    ``slabs``, ``ssize`` (bytes per slab) and ``name``."""
    page_size = 1 << memory_map(prog).page_shift
    usage = slab_cache_usage(cache)
    # crash's ALLOCATED is every object not on any freelist (the active slabs' own
    # freelists too, which /proc/slabinfo's active_objs and slab_cache_usage count as in use)
    allocated = sum(1 for _ in slab_cache_for_each_allocated_object(cache, "void")) if usage.num_objs else 0
    return {"cache": int(cache), "objsize": int(cache.object_size), "allocated": allocated,
            "total": usage.num_objs, "slabs": usage.num_slabs,
            "ssize": page_size << slab_cache_order(cache), "name": cache.name.string_().decode("utf-8", "replace")}


def slab_cache_line(r: Dict[str, Any]) -> str:
    """A row as crash prints it."""
    return (f"{r['cache']:016x} {r['objsize']:8d} {r['allocated']:10d} {r['total']:9d} {r['slabs']:6d} "
            f"{r['ssize'] // 1024:5d}k  {r['name']}")
