"""A page-granular LRU cache of decoded pages.

Compressed dumps pay a decompression per page; the cache makes repeated small reads of the
same pages (walking a list, reading a struct member by member) cost a dict lookup. Large
reads go through :meth:`PageCache.get_uncached`, which serves pages already cached but does
not insert new ones, so a 64 MB sequential read neither thrashes the cache nor pays for it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

__all__ = ["PageCache"]


class PageCache:
    """LRU cache ``page number -> bytes`` in front of a ``fetch(page number)`` function."""

    def __init__(self, fetch: Callable[[int], bytes], capacity: int = 4096) -> None:
        self._fetch = fetch
        self.capacity = max(1, capacity)
        self._pages: OrderedDict[int, bytes] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, pfn: int) -> bytes:
        """Page ``pfn``, fetched and cached on a miss (exceptions are not cached)."""
        pages = self._pages
        data = pages.get(pfn)
        if data is not None:
            pages.move_to_end(pfn)
            self.hits += 1
            return data
        self.misses += 1
        data = self._fetch(pfn)
        pages[pfn] = data
        if len(pages) > self.capacity:
            pages.popitem(last=False)
        return data

    def get_uncached(self, pfn: int) -> bytes:
        """Page ``pfn`` without inserting it (bulk path)."""
        data = self._pages.get(pfn)
        if data is not None:
            return data
        return self._fetch(pfn)

    def clear(self) -> None:
        """Drop every cached page."""
        self._pages.clear()

    def __len__(self) -> int:
        return len(self._pages)

    def __contains__(self, pfn: object) -> bool:
        return pfn in self._pages
