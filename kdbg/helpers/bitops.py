"""Bits of a bitmap (an array of ``unsigned long``): drgn's ``drgn.helpers.linux.bitops``.

``bitmap`` is a pointer to the first word (``unsigned long *``) or the array itself (in
memory, or a value); the word size is its element type's. Bit ``n`` is bit ``n % bits`` of
word ``n // bits``, as the kernel's ``test_bit``. Words are read in bounded chunks, so a huge ``size`` costs
reads only as far as the caller iterates.
"""

from __future__ import annotations

from typing import Iterator, Optional, SupportsIndex, Tuple

from kdbg.core.integer import integer_value
from kdbg.core.object import Object
from kdbg.core.platform import PlatformFlags
from kdbg.core.typeinfo import INTEGER, K_ARRAY, K_PTR, type_info
from kdbg.errors import ObjectTypeError, OutOfBoundsError

__all__ = ["for_each_clear_bit", "for_each_set_bit", "test_bit"]

#: Words read at a time.
_CHUNK_WORDS = 512


class BitmapSource:
    """Where the words of a bitmap are: ``word`` bytes each in ``order``, read from memory
    (a pointer, or an array in memory) or from the value of an array that has no address."""

    __slots__ = ("prog", "address", "data", "word", "order")

    def __init__(self, bitmap: Object) -> None:
        if not isinstance(bitmap, Object):
            raise ObjectTypeError(f"bitmap: expected an unsigned long * Object, not {type(bitmap).__name__}")
        info = type_info(bitmap.type_)
        if info.kind not in (K_PTR, K_ARRAY):
            raise ObjectTypeError(f"bitmap: expected unsigned long * or an array, not '{bitmap.type_.type_name()}'")
        elem = type_info(info.under.type)  # type: ignore[attr-defined]
        if elem.kind not in INTEGER or not elem.size:
            raise ObjectTypeError(f"bitmap: expected words of an integer type, not '{bitmap.type_.type_name()}'")
        self.prog = bitmap.prog_
        self.word: int = elem.size
        self.order = "little" if self.prog.platform.flags & PlatformFlags.IS_LITTLE_ENDIAN else "big"
        self.data: Optional[bytes] = None
        self.address = 0
        if info.kind == K_PTR:
            self.address = int(bitmap)
        elif bitmap.address_ is not None:
            self.address = bitmap.address_
        else:
            self.data = bitmap.to_bytes_()

    def read(self, first: int, count: int) -> bytes:
        """Words ``first`` to ``first + count - 1``."""
        start, size = first * self.word, count * self.word
        if self.data is None:
            return self.prog.read(self.address + start, size)
        if start + size > len(self.data):
            raise OutOfBoundsError(f"bitmap: word {first + count - 1} is out of bounds of a "
                                   f"{len(self.data) // self.word}-word array value")
        return self.data[start:start + size]

    def words(self, nbits: int) -> Iterator[Tuple[int, int]]:
        """``(index of the first bit, word)`` of each word holding bits ``0..nbits-1``, the
        bits of the last word past ``nbits`` cleared."""
        word, order = self.word, self.order
        bits = 8 * word
        nwords = (nbits + bits - 1) // bits
        for first in range(0, nwords, _CHUNK_WORDS):
            count = min(_CHUNK_WORDS, nwords - first)
            raw = self.read(first, count)
            for i in range(count):
                n = first + i
                value = int.from_bytes(raw[i * word:(i + 1) * word], order)  # type: ignore[arg-type]
                if (n + 1) * bits > nbits:
                    value &= (1 << (nbits - n * bits)) - 1
                yield n * bits, value


def nbits_arg(size: SupportsIndex) -> int:
    """``size`` as a bit count (a negative one is a :class:`ValueError`)."""
    n = integer_value(size)
    if n < 0:
        raise ValueError(f"bitmap size must not be negative: {n}")
    return n


def _each(bitmap: Object, size: SupportsIndex, set_bits: bool) -> Iterator[int]:
    nbits = nbits_arg(size)
    source = BitmapSource(bitmap)
    bits = 8 * source.word
    for base, value in source.words(nbits):
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
    source = BitmapSource(bitmap)
    bits = 8 * source.word
    value = int.from_bytes(source.read(n // bits, 1), source.order)  # type: ignore[arg-type]
    return bool(value >> (n % bits) & 1)
