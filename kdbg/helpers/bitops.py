"""Bits of a bitmap (an array of ``unsigned long``): drgn's ``drgn.helpers.linux.bitops``.

``bitmap`` is a pointer to the first word (``unsigned long *``) or the array itself; the
word size is its element type's. Bit ``n`` is bit ``n % bits`` of word ``n // bits``, as
the kernel's ``test_bit``. Words are read in bounded chunks, so a huge ``size`` costs
reads only as far as the caller iterates.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Iterator, SupportsIndex, Tuple

from kdbg.core.object import Object
from kdbg.core.platform import PlatformFlags
from kdbg.core.typeinfo import INTEGER, K_ARRAY, K_PTR, type_info
from kdbg.errors import ObjectTypeError

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["for_each_clear_bit", "for_each_set_bit", "test_bit"]

#: Words read at a time.
_CHUNK_WORDS = 512


def bitmap_layout(bitmap: Object) -> Tuple[int, int, str]:
    """``(address of word 0, bytes per word, byte order)`` of ``bitmap`` (``unsigned long *``
    or an array of integers in memory); anything else is an :class:`ObjectTypeError`."""
    if not isinstance(bitmap, Object):
        raise ObjectTypeError(f"bitmap: expected an unsigned long * Object, not {type(bitmap).__name__}")
    info = type_info(bitmap.type_)
    if info.kind not in (K_PTR, K_ARRAY):
        raise ObjectTypeError(f"bitmap: expected unsigned long * or an array, not '{bitmap.type_.type_name()}'")
    elem = type_info(info.under.type)  # type: ignore[attr-defined]
    if elem.kind not in INTEGER or not elem.size:
        raise ObjectTypeError(f"bitmap: expected words of an integer type, not '{bitmap.type_.type_name()}'")
    if info.kind == K_PTR:
        address = int(bitmap)
    elif bitmap.address_ is not None:
        address = bitmap.address_
    else:
        raise ObjectTypeError("bitmap: expected an array in memory or a pointer, not a value")
    prog = bitmap.prog_
    order = "little" if prog.platform.flags & PlatformFlags.IS_LITTLE_ENDIAN else "big"
    return address, elem.size, order


def nbits_arg(size: SupportsIndex) -> int:
    """``size`` as a bit count (a negative one is a :class:`ValueError`)."""
    n = operator.index(size)
    if n < 0:
        raise ValueError(f"bitmap size must not be negative: {n}")
    return n


def bitmap_words(prog: Program, address: int, word: int, order: str, nbits: int) -> Iterator[Tuple[int, int]]:
    """``(index of the first bit, word)`` of each word holding bits ``0..nbits-1``, the
    bits of the last word past ``nbits`` cleared."""
    bits = 8 * word
    nwords = (nbits + bits - 1) // bits
    for first in range(0, nwords, _CHUNK_WORDS):
        count = min(_CHUNK_WORDS, nwords - first)
        raw = prog.read(address + first * word, count * word)
        for i in range(count):
            n = first + i
            value = int.from_bytes(raw[i * word:(i + 1) * word], order)  # type: ignore[arg-type]
            if (n + 1) * bits > nbits:
                value &= (1 << (nbits - n * bits)) - 1
            yield n * bits, value


def _each(bitmap: Object, size: SupportsIndex, set_bits: bool) -> Iterator[int]:
    nbits = nbits_arg(size)
    address, word, order = bitmap_layout(bitmap)
    bits = 8 * word
    for base, value in bitmap_words(bitmap.prog_, address, word, order, nbits):
        if not set_bits:
            value = ~value & ((1 << min(bits, nbits - base)) - 1)
        while value:
            low = value & -value
            yield base + low.bit_length() - 1
            value ^= low


def for_each_set_bit(bitmap: Object, size: SupportsIndex) -> Iterator[int]:
    """The numbers of the set bits among the first ``size`` bits of ``bitmap``
    (``unsigned long *``), ascending."""
    return _each(bitmap, size, True)


def for_each_clear_bit(bitmap: Object, size: SupportsIndex) -> Iterator[int]:
    """The numbers of the clear bits among the first ``size`` bits of ``bitmap``, ascending."""
    return _each(bitmap, size, False)


def test_bit(nr: SupportsIndex, bitmap: Object) -> bool:
    """Whether bit ``nr`` of ``bitmap`` (``unsigned long *``) is set."""
    n = nbits_arg(nr)
    address, word, order = bitmap_layout(bitmap)
    bits = 8 * word
    value = int.from_bytes(bitmap.prog_.read(address + (n // bits) * word, word), order)  # type: ignore[arg-type]
    return bool(value >> (n % bits) & 1)
