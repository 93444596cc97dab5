"""Bitmaps: drgn's ``drgn.helpers.linux.bitmap`` (the iteration helpers are in
:mod:`kdbg.helpers.bitops`, as in drgn)."""

from __future__ import annotations

from typing import SupportsIndex

from kdbg.core.object import Object
from kdbg.helpers.bitops import BitmapSource, nbits_arg

__all__ = ["bitmap_weight"]


def bitmap_weight(bitmap: Object, size: SupportsIndex) -> int:
    """How many of the first ``size`` bits of ``bitmap`` (``unsigned long *``) are set."""
    nbits = nbits_arg(size)
    return sum(bin(value).count("1") for _, value in BitmapSource(bitmap).words(nbits))
