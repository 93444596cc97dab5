"""Scalable bitmaps (drgn's ``drgn.helpers.linux.sbitmap``): ``struct sbitmap``, the bitmap
blk-mq keeps its tags and software queues in, split over ``map_nr`` words of
``1 << shift`` bits each (the last word holds the rest of ``depth``)."""

from __future__ import annotations

from typing import Iterator

from kdbg.core.object import Object
from kdbg.helpers.common import deref_if_pointer

__all__ = ["sbitmap_for_each_set"]


def sbitmap_for_each_set(sb: Object) -> Iterator[int]:
    """The set bits of ``sb`` (``struct sbitmap *``) in increasing order; a bit a word's
    ``cleared`` mask (Linux 5.0 and later: freed but not yet cleared) holds counts as clear."""
    s = deref_if_pointer(sb)
    depth = int(s.depth)
    shift = int(s.shift)
    map_nr = int(s.map_nr)
    words = s.map
    for i in range(map_nr):
        w = words[i]
        start = i << shift
        bits = (1 << shift) if i < map_nr - 1 else depth - start
        value = int(w.word)
        if w.type_.unaliased().has_member("cleared"):  # Linux 5.0 and later
            value &= ~int(w.cleared)
        for j in range(max(bits, 0)):
            if value >> j & 1:
                yield start + j
