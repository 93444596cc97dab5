"""drgn's memory search: ``Program.search_memory``, ``search_memory_u16/u32/u64/word``,
``search_memory_regex`` and the :class:`MemorySearchIterator` they return.

What is searched is drgn 0.3.0's rule for a Linux kernel:

* by default, or for a virtual range inside the direct map's span, the physical memory the
  dump holds (:meth:`kdbg.memory.base.KernelMemory.physical_ranges`), each match given as
  its direct-map virtual address;
* ``set_address_range(..., physical=True)``: physical memory, physical addresses;
* any other virtual range: virtual memory read through the page tables, where an unmapped
  page ends the search with :class:`~kdbg.errors.FaultError` (as drgn's does).

A match never spans a gap between two ranges the dump holds. Pages a dump filter dropped
(makedumpfile's excluded pages) are not searched: the search finds what the dump holds.
"""

from __future__ import annotations

import contextlib
import operator
import re
import struct
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterator, List, Optional, Tuple, TypeVar, Union

from kdbg.core.conversions import alignof
from kdbg.core.object import Object
from kdbg.errors import KdbgError

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["MemorySearchIterator", "MemorySearch", "Region"]

T = TypeVar("T")
_MASK64 = (1 << 64) - 1
#: Reads are aligned to this many bytes (drgn's default read-ahead).
_READ = 1 << 16
#: A regular expression match that ends within this many bytes of a read's end is looked
#: for again with the next read (drgn matches across reads with PCRE's partial matching).
_REGEX_MARGIN = 1 << 16
#: A regular expression's deferred match starting more than this far back is taken as is.
_REGEX_CARRY_MAX = 1 << 24
_UINT = {16: struct.Struct("<H"), 32: struct.Struct("<I"), 64: struct.Struct("<Q")}

#: ``(address, data)`` pieces of one contiguous range, in order.
Region = Iterator[Tuple[int, bytes]]
#: What a search yields for each match, from ``(address, matched bytes)``.
Matcher = Callable[[Iterator[Region], int], Iterator[Any]]


class MemorySearchIterator(Generic[T]):
    """Iterator over the matches of a memory search (drgn's ``MemorySearchIterator``)."""

    def __init__(self, prog: Program, matcher: Matcher) -> None:
        self._prog = prog
        self._matcher = matcher
        self._matches: Optional[Iterator[T]] = None

    def __iter__(self) -> MemorySearchIterator[T]:
        return self

    def __next__(self) -> T:
        if self._matches is None:
            self.set_address_range()
        assert self._matches is not None
        return next(self._matches)

    def set_address_range(self, min_address: Optional[Any] = None, max_address: Optional[Any] = None,
                          physical: bool = False) -> MemorySearchIterator[T]:
        """Search ``[min_address, max_address]`` (both included; by default the whole
        address space) of virtual or ``physical`` memory from here on; returns the
        iterator itself."""
        lo = 0 if min_address is None else operator.index(min_address)
        hi = _MASK64 if max_address is None else operator.index(max_address)
        if lo > hi:
            raise ValueError("invalid memory search address range")  # drgn's words
        hi = min(hi, _MASK64)
        regions, offset = _plan(self._prog, lo, hi, bool(physical))
        self._matches = self._matcher(regions, offset)
        return self

    def set_regions(self, regions: Iterator[Region]) -> MemorySearchIterator[T]:
        """Search these regions (kdbg's addition, for memory no address range reaches,
        such as a process's pages): each an iterator of ``(address, bytes)`` pieces that
        follow one another, a match never spanning two regions; returns the iterator."""
        self._matches = self._matcher(regions, 0)
        return self


def _plan(prog: Program, lo: int, hi: int, physical: bool) -> Tuple[Iterator[Region], int]:
    """The regions to search for ``[lo, hi]`` and the offset that turns their addresses
    into the ones reported (drgn's rule, see the module documentation)."""
    memory = prog.memory
    if memory is None:
        prog.read(0, 1)  # the program's own error saying why there is no memory
        raise AssertionError("unreachable")
    if physical:
        return _ranges(prog, memory.physical_ranges(), lo, hi, True), 0
    ranges = memory.physical_ranges()
    offset = _direct_map(prog)
    if ranges and offset is not None:
        if lo == 0 and hi == _MASK64:
            return _ranges(prog, ranges, 0, _MASK64, True), offset
        plo, phi = (lo - offset) & _MASK64, (hi - offset) & _MASK64
        if ranges[0][0] <= plo and ranges[-1][1] - 1 >= phi:
            return _ranges(prog, ranges, plo, phi, True), offset
    return iter([_pieces(prog, lo, hi + 1, False)]), 0


def _direct_map(prog: Program) -> Optional[int]:
    """Where the kernel maps physical address 0 (``None`` when unknown)."""
    with contextlib.suppress(KdbgError):
        prog.symbol_table  # noqa: B018 - the memory reads the kernel's page_offset_base once symbols load
    assert prog.memory is not None
    return prog.memory.page_offset_base


def _ranges(prog: Program, ranges: List[Tuple[int, int]], lo: int, hi: int, physical: bool) -> Iterator[Region]:
    for start, end in ranges:
        start, end = max(start, lo), min(end, hi + 1)
        if start < end:
            yield _pieces(prog, start, end, physical)


def _pieces(prog: Program, start: int, end: int, physical: bool) -> Region:
    """``[start, end)`` read in pieces aligned to :data:`_READ`."""
    pos = start
    while pos < end:
        stop = min(end, (pos // _READ + 1) * _READ)
        yield pos, prog.read(pos, stop - pos, physical)
        pos = stop


def _literal(needle: bytes, alignment: int, with_match: bool) -> Matcher:
    """Non-overlapping occurrences of ``needle`` at addresses aligned to ``alignment``."""
    size = len(needle)

    def matches(regions: Iterator[Region], offset: int) -> Iterator[Any]:
        for region in regions:
            buf, base = b"", -1
            for address, data in region:
                if base < 0:
                    base = address
                buf += data
                pos = 0
                while True:
                    i = buf.find(needle, pos)
                    if i < 0:
                        break
                    found = (base + i + offset) & _MASK64
                    if found % alignment:
                        pos = i + 1
                        continue
                    pos = i + size
                    yield (found, needle) if with_match else found
                keep = max(pos, len(buf) - size + 1)
                buf, base = buf[keep:], base + keep
    return matches


def _uints(bits: int, values: List[int], mask: int, ranges: List[Tuple[int, int]]) -> Matcher:
    """Naturally aligned ``bits``-bit integers equal to one of ``values`` (bits of
    ``mask`` ignored) or within one of ``ranges``; yields ``(address, value)``.

    Each value and range is looked for by the bytes every match of it has in common (an
    anchor: the value's bytes ``mask`` leaves whole, a range's common high bytes) with
    :meth:`bytes.find`, and each candidate checked; without anchors of two bytes or more,
    every integer is checked."""
    size = bits // 8
    fmt = _UINT[bits]
    keep = ~mask & ((1 << bits) - 1)
    wanted = {v & keep for v in values}
    anchors = [_value_anchor(fmt.pack(v), fmt.pack(keep)) for v in sorted(wanted)]
    anchors += [_range_anchor(fmt.pack(a), fmt.pack(b)) for a, b in ranges]
    anchored = all(len(literal) >= 2 for literal, _at in anchors)

    def hit(v: int) -> bool:
        return v & keep in wanted or any(a <= v <= b for a, b in ranges)

    def matches(regions: Iterator[Region], offset: int) -> Iterator[Tuple[int, int]]:
        for region in regions:
            for address, data in region:
                skip = -address % size
                usable = (len(data) - skip) // size * size
                if usable <= 0:
                    continue
                view = data[skip:skip + usable]
                first = address + skip + offset
                if not anchored:
                    for i, (v,) in enumerate(fmt.iter_unpack(view)):
                        if hit(v):
                            yield (first + i * size) & _MASK64, v
                    continue
                found = set()
                for literal, at in anchors:
                    pos = at
                    while True:
                        i = view.find(literal, pos)
                        if i < 0:
                            break
                        pos = i + 1
                        if (i - at) % size == 0:
                            found.add(i - at)
                for i in sorted(found):
                    (v,) = fmt.unpack_from(view, i)
                    if hit(v):
                        yield (first + i) & _MASK64, v
    return matches


def _value_anchor(value: bytes, keep: bytes) -> Tuple[bytes, int]:
    """The longest run of ``value``'s bytes that ``keep`` keeps whole, and where it starts."""
    best = (b"", 0)
    start = None
    for j in range(len(value) + 1):
        if j < len(value) and keep[j] == 0xFF:
            start = j if start is None else start
        elif start is not None:
            if j - start > len(best[0]):
                best = (value[start:j], start)
            start = None
    return best


def _range_anchor(low: bytes, high: bytes) -> Tuple[bytes, int]:
    """The high bytes (little-endian: the last ones) every integer in ``[low, high]`` has."""
    j = len(low)
    while j > 0 and low[j - 1] == high[j - 1]:
        j -= 1
    return low[j:], j


def _regex(pattern: Union[bytes, str]) -> Matcher:
    """Non-overlapping matches of ``pattern``: ``(address, bytes)`` for a bytes pattern,
    ``(address, str)`` of UTF-8 text for a str one."""
    text = isinstance(pattern, str)
    compiled = re.compile(pattern)

    def matches(regions: Iterator[Region], offset: int) -> Iterator[Tuple[int, Any]]:
        for region in regions:
            buf, base = b"", -1
            for (address, data), last in _with_last(region):
                if base < 0:
                    base = address
                buf += data
                # a match ending near the end of what was read may go on in the next read
                limit = len(buf) if last else max(0, len(buf) - _REGEX_MARGIN)
                resume, done = -1, 0
                for start, end, found in _find(compiled, buf, text):
                    if end > limit and start >= len(buf) - _REGEX_CARRY_MAX:
                        resume = start
                        break
                    yield (base + start + offset) & _MASK64, found
                    done = end
                if resume < 0:
                    resume = max(done, limit)
                buf, base = buf[resume:], base + resume
    return matches


def _find(compiled: re.Pattern[Any], buf: bytes, text: bool) -> Iterator[Tuple[int, int, Any]]:
    """``(start, end, match)`` in ``buf``, byte offsets; a str pattern runs over ``buf``
    decoded as UTF-8 (undecodable bytes kept as surrogate escapes)."""
    if not text:
        for m in compiled.finditer(buf):
            yield m.start(), m.end(), m.group()
        return
    decoded = buf.decode("utf-8", "surrogateescape")
    at_char, at_byte = 0, 0

    def byte_offset(char: int) -> int:
        nonlocal at_char, at_byte
        at_byte += len(decoded[at_char:char].encode("utf-8", "surrogateescape"))
        at_char = char
        return at_byte

    for t in compiled.finditer(decoded):
        start = byte_offset(t.start())
        yield start, byte_offset(t.end()), t.group()


def _with_last(region: Region) -> Iterator[Tuple[Tuple[int, bytes], bool]]:
    """Each piece of ``region`` with whether it is the last."""
    previous: Optional[Tuple[int, bytes]] = None
    for piece in region:
        if previous is not None:
            yield previous, False
        previous = piece
    if previous is not None:
        yield previous, True


def _uint_arguments(bits: int, values: Tuple[Any, ...],
                    ignore_mask: Any) -> Tuple[List[int], int, List[Tuple[int, int]]]:
    """drgn's checks of ``search_memory_u*``'s arguments."""
    def uint(v: Any) -> int:
        n = operator.index(v)
        if not 0 <= n < 1 << bits:
            raise OverflowError(f"Python int too large to convert to C uint{bits}_t" if n > 0 else
                                "can't convert negative value to unsigned int")
        return n

    plain: List[int] = []
    ranges: List[Tuple[int, int]] = []
    for v in values:
        if isinstance(v, tuple):
            if len(v) != 2:
                raise TypeError("values must be int or (int, int)")
            ranges.append((uint(v[0]), uint(v[1])))
        else:
            plain.append(uint(v))
    mask = uint(ignore_mask)
    if not plain and not ranges:
        raise ValueError("at least one value or range is required")
    if not plain and len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
        plain, ranges = [ranges[0][0]], []
    return plain, mask, ranges


class MemorySearch:
    """drgn's ``Program`` memory search methods; mixed into :class:`~kdbg.core.program.Program`."""

    if TYPE_CHECKING:  # what the Program provides

        def address_size(self) -> int: ...

    def search_memory(self, value: Any, *, alignment: Optional[Any] = None) -> MemorySearchIterator[int]:
        """Every non-overlapping occurrence of a byte string (a ``str`` as UTF-8) at
        addresses aligned to ``alignment``; or of an integer (a program word, naturally
        aligned) or an object's value (its type's size and alignment)."""
        prog: Program = self  # type: ignore[assignment]
        if isinstance(value, (bytes, str)):
            needle = value.encode("utf-8") if isinstance(value, str) else value
            align = 1 if alignment is None else operator.index(alignment)
            if not needle:
                raise ValueError("needle cannot be empty")
            if align <= 0 or align & (align - 1):
                raise ValueError("alignment must be power of 2")
            return MemorySearchIterator(prog, _literal(needle, align, False))
        if alignment is not None:
            raise TypeError("alignment is only allowed with bytes or str value")
        if isinstance(value, Object):
            needle = value.to_bytes_()
            if not needle:
                raise ValueError("can't search for object with size 0")
            return MemorySearchIterator(value.prog_, _literal(needle, alignof(value.type_), False))
        if hasattr(value, "__index__"):
            bits = self.address_size() * 8
            (word,), _mask, _ranges = _uint_arguments(bits, (value,), 0)
            return MemorySearchIterator(prog, _literal(_UINT[bits].pack(word), bits // 8, False))
        raise TypeError(f"value must be bytes, str, int, or drgn.Object, not {type(value).__name__}")

    def _search_uint(self, bits: int, values: Tuple[Any, ...],
                     ignore_mask: Any) -> MemorySearchIterator[Tuple[int, int]]:
        plain, mask, ranges = _uint_arguments(bits, values, ignore_mask)
        return MemorySearchIterator(self, _uints(bits, plain, mask, ranges))  # type: ignore[arg-type]

    def search_memory_u16(self, *values: Any, ignore_mask: Any = 0) -> MemorySearchIterator[Tuple[int, int]]:
        """Every naturally aligned 16-bit unsigned integer equal to one of ``values``
        (bits of ``ignore_mask`` ignored) or within one of the ``(min, max)`` ranges
        among them: ``(address, value)``."""
        return self._search_uint(16, values, ignore_mask)

    def search_memory_u32(self, *values: Any, ignore_mask: Any = 0) -> MemorySearchIterator[Tuple[int, int]]:
        """:meth:`search_memory_u16` for 32-bit integers."""
        return self._search_uint(32, values, ignore_mask)

    def search_memory_u64(self, *values: Any, ignore_mask: Any = 0) -> MemorySearchIterator[Tuple[int, int]]:
        """:meth:`search_memory_u16` for 64-bit integers."""
        return self._search_uint(64, values, ignore_mask)

    def search_memory_word(self, *values: Any, ignore_mask: Any = 0) -> MemorySearchIterator[Tuple[int, int]]:
        """:meth:`search_memory_u16` for the program's word (64 bits on x86-64 and arm64)."""
        return self._search_uint(self.address_size() * 8, values, ignore_mask)

    def search_memory_regex(self, pattern: Union[bytes, str]) -> MemorySearchIterator[Tuple[int, Any]]:
        """Every non-overlapping match of the regular expression ``pattern`` (Python's
        :mod:`re` syntax): ``(address, bytes)``, or ``(address, str)`` of UTF-8 text for a
        str pattern."""
        if not isinstance(pattern, (bytes, str)):
            raise TypeError(f"pattern must be bytes or str, not {type(pattern).__name__}")
        return MemorySearchIterator(self, _regex(pattern))  # type: ignore[arg-type]
