"""One vmlinux symbol by name, without expanding the other 100,000 names.

Linux 6.2 added ``kallsyms_seqs_of_names``: every symbol's index (3 bytes, big-endian)
sorted by name (the name without its type letter, compared as ``strcmp`` does, then by
address), so that ``kallsyms_lookup_name`` is a binary search; some older kernels carry it
as a backport (Debian's 6.1), so the version does not say whether it is there. It sits
either between ``kallsyms_markers`` and the token table (6.2, 6.3 and the backports) or
after the address table, the last of the tables (6.4 and later). :meth:`NameFinder.open`
tries both places and keeps one only when it fits exactly and checks out (below); else
there is no finder and the caller decodes every name
(:func:`kdbg.symbols.kallsyms.decode.decode_tables`).

A name is expanded from ``kallsyms_markers`` (the offset of every 256th name) by stepping
over at most 255 length-prefixed names; a binary search expands about 17. Addresses use
the encoding that reproduces VMCOREINFO's ``_stext`` (and ``init_uts_ns``), as the full
decode picks it. kallsyms is sorted by address (the kernel's own ``get_symbol_pos``
bisects it), so a symbol's index here is its index in the decoded table, and its size is
the distance to the next higher address, as :class:`~kdbg.symbols.table.SymbolTable`
derives it.

What is checked before a finder is used: the markers start at 0, ascend, lie where the
layout puts them right after the names (the last block of names must end there), each
block of 256 names steps exactly onto the next marker when first walked, and the seqs at
17 spread positions are distinct symbols (of the count) whose names are in order. A
name found is compared in full, so a hit is exact; a miss is only "not here" and the
caller decodes everything before saying a symbol does not exist.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from typing import Dict, List, Optional, Sequence, Tuple

from kdbg.errors import CoreError
from kdbg.memory.base import KernelMemory
from kdbg.memory.vmcoreinfo import VMCoreInfo
from kdbg.symbols.kallsyms.decode import (
    MAX_NAMES_TABLE,
    KallsymsTables,
    address_candidates,
    address_fn,
    check_points,
    pick_encoding,
    read_exact,
    read_num_syms,
    read_tokens,
)
from kdbg.symbols.table import section_class

__all__ = ["NameFinder", "SEQ_WIDTHS"]

#: Bytes per ``kallsyms_seqs_of_names`` entry: 3 in every release (4 in 6.2-rc only).
SEQ_WIDTHS = (3, 4)
#: Names compared with their neighbours in seqs order before a finder is trusted.
_ORDER_SAMPLES = 16


def _align8(x: int) -> int:
    return (x + 7) & ~7


class _Broken(Exception):
    """The tables do not hold together as this module reads them."""


class NameFinder:
    """By-name access to vmlinux kallsyms through ``kallsyms_seqs_of_names`` (see the
    module docstring); make one with :meth:`open`."""

    def __init__(
        self, count: int, tokens: Sequence[str], names: bytes, markers: Sequence[int],
        seqs: bytes, width: int,
    ) -> None:
        self.count = count
        self._tokens = list(tokens)
        self._names = names
        self._markers = markers
        self._seqs = seqs
        self._width = width
        #: Start offsets (in the names table) of each walked block's names.
        self._blocks: Dict[int, List[int]] = {}
        #: The answers of :meth:`indices` so far (a start asks for some names twice).
        self._found: Dict[str, List[int]] = {}
        self._raw: Optional[array] = None
        self._fn = address_fn("base-relative", 0, 0)
        #: The address encoding picked (one of :data:`~kdbg.symbols.kallsyms.decode.ENCODINGS`).
        self.encoding = ""

    # ---------------------------------------------------------------- construction
    @classmethod
    def open(cls, mem: KernelMemory, t: KallsymsTables,
             vmci: Optional[VMCoreInfo]) -> Optional[NameFinder]:
        """A finder for the tables at ``t`` when they carry a usable
        ``kallsyms_seqs_of_names``, else ``None`` (also for tables that cannot be read:
        the full decode reports those)."""
        try:
            count = read_num_syms(mem, t)
            if not (t.names < t.token_table and t.token_table - t.names <= MAX_NAMES_TABLE):
                return None
            tokens, _ = read_tokens(mem, t)
            blob = read_exact(mem, t.names, t.token_table - t.names, "kallsyms_names")
            for markers_at, seqs_at, width in cls._layouts(t, count):
                finder = cls._try(mem, t, count, tokens, blob, markers_at, seqs_at, width)
                if finder is not None and finder._pick_encoding(mem, t, vmci):
                    return finder
        except (CoreError, _Broken, ValueError):
            return None
        return None

    @staticmethod
    def _layouts(t: KallsymsTables, count: int) -> List[Tuple[int, int, int]]:
        """``(markers address, seqs address, seq width)`` of every place the tables may
        put ``kallsyms_seqs_of_names``."""
        n_markers = (count + 255) >> 8
        out: List[Tuple[int, int, int]] = []
        for width in SEQ_WIDTHS:
            # 6.2/6.3 and backports: names, markers, seqs, token table (each 8-aligned).
            seqs = (t.token_table - width * count) & ~7
            if _align8(seqs + width * count) == t.token_table:
                out.append((seqs - _align8(4 * n_markers), seqs, width))
        # 6.4+: names, markers, token table and index, address table, seqs last.
        ends = [a + size for a, size in ((t.offsets, 4 * count), (t.relative_base, 8),
                                         (t.addresses, 8 * count)) if a is not None]
        if ends:
            for width in SEQ_WIDTHS:
                out.append((t.token_table - _align8(4 * n_markers), _align8(max(ends)), width))
        return out

    @classmethod
    def _try(cls, mem: KernelMemory, t: KallsymsTables, count: int, tokens: Sequence[str],
             blob: bytes, markers_at: int, seqs_at: int, width: int) -> Optional[NameFinder]:
        n_markers = (count + 255) >> 8
        if not t.names < markers_at < t.token_table:
            return None
        raw_markers = blob[markers_at - t.names:markers_at - t.names + 4 * n_markers]
        markers = array("I")
        markers.frombytes(raw_markers)
        if array("I").itemsize != 4 or len(markers) != n_markers:  # pragma: no cover
            return None
        if markers[0] != 0 or any(a >= b for a, b in zip(markers, markers[1:])):
            return None
        if markers[-1] >= markers_at - t.names:
            return None
        names = blob[:markers_at - t.names]
        seqs = read_exact(mem, seqs_at, width * count, "kallsyms_seqs_of_names")
        finder = cls(count, tokens, names, markers, seqs, width)
        try:
            # the last block of names ends where the markers begin (8-aligned)
            last = finder._block(n_markers - 1)
            end = finder._entry(last[-1])[1]
            if _align8(t.names + end) != markers_at:
                return None
            picks = sorted({k * (count - 1) // _ORDER_SAMPLES for k in range(_ORDER_SAMPLES + 1)})
            at = [finder.seq(p) for p in picks]
            seen = [finder.name(i) for i in at]
        except _Broken:
            return None
        # a permutation, sorted by name: distinct entries, names in order
        if len(set(at)) != len(at) or seen != sorted(seen):
            return None
        return finder

    def _pick_encoding(self, mem: KernelMemory, t: KallsymsTables, vmci: Optional[VMCoreInfo]) -> bool:
        """Choose the address encoding as the full decode does; ``False`` when the check
        symbols are not found or nothing reproduces them."""
        points = check_points(vmci, self._first_index)
        if not points:
            return False
        try:
            enc, raw, rel_base, base = pick_encoding(
                address_candidates(mem, t, self.count), points, "_stext")
        except CoreError:
            return False
        self.encoding, self._raw, self._fn = enc, raw, address_fn(enc, rel_base, base)
        return True

    def _first_index(self, name: str) -> Optional[int]:
        found = self.indices(name)
        return found[0] if found else None

    # ---------------------------------------------------------------- names
    def seq(self, p: int) -> int:
        """Entry ``p`` of ``kallsyms_seqs_of_names``: the index of the ``p``-th symbol in
        name order."""
        w = self._width
        return int.from_bytes(self._seqs[w * p:w * p + w], "big")

    def _entry(self, pos: int) -> Tuple[int, int]:
        """``(offset of the codes, offset of the next entry)`` of the name at ``pos``."""
        names = self._names
        n = names[pos]
        if n & 0x80:
            n = (n & 0x7F) | (names[pos + 1] << 7)
            pos += 1
        if pos + 1 + n > len(names):
            raise _Broken("kallsyms: a name runs past the names table")
        return pos + 1, pos + 1 + n

    def _block(self, k: int) -> List[int]:
        """Where each name of block ``k`` (names ``256 k ...``) starts; the walk must land
        on the next marker."""
        starts = self._blocks.get(k)
        if starts is None:
            if not 0 <= k < len(self._markers):
                raise _Broken(f"kallsyms: no names block {k}")
            names = self._names
            pos = self._markers[k]
            starts = []
            add = starts.append
            try:
                for _ in range(min(256, self.count - 256 * k)):
                    add(pos)
                    n = names[pos]
                    pos += 1 + n if n < 0x80 else 2 + ((n & 0x7F) | (names[pos + 1] << 7))
            except IndexError:
                raise _Broken(f"kallsyms: names block {k} runs past the names table") from None
            end = self._markers[k + 1] if k + 1 < len(self._markers) else len(names)
            if pos > end or (k + 1 < len(self._markers) and pos != end):
                raise _Broken(f"kallsyms: names block {k} does not end at the next marker")
            self._blocks[k] = starts
        return starts

    def _start(self, i: int) -> int:
        """Where symbol ``i``'s entry starts: from its block's walk when that was made,
        else by walking block ``i >> 8`` from its marker only as far as ``i`` (a name
        lookup's probes land in a different block each, so a whole-block walk per probe
        did twice the work); that walk must stay before the next marker."""
        k, j = i >> 8, i & 255
        starts = self._blocks.get(k)
        if starts is not None:
            return starts[j]
        markers = self._markers
        if not 0 <= k < len(markers):
            raise _Broken(f"kallsyms: no names block {k}")
        names = self._names
        pos = markers[k]
        try:
            for _ in range(j):
                n = names[pos]
                pos += 1 + n if n < 0x80 else 2 + ((n & 0x7F) | (names[pos + 1] << 7))
        except IndexError:
            raise _Broken(f"kallsyms: names block {k} runs past the names table") from None
        if k + 1 < len(markers) and pos >= markers[k + 1]:
            raise _Broken(f"kallsyms: names block {k} runs past the next marker")
        return pos

    def _full(self, i: int) -> str:
        """Symbol ``i``'s expanded name, type letter first."""
        if not 0 <= i < self.count:
            raise _Broken(f"kallsyms: symbol index {i} is past the {self.count} symbols")
        a, b = self._entry(self._start(i))
        tokens = self._tokens
        return "".join([tokens[c] for c in self._names[a:b]])

    def name(self, i: int) -> str:
        """Symbol ``i``'s name."""
        return self._full(i)[1:]

    def type(self, i: int) -> str:
        """Symbol ``i``'s type letter."""
        return self._full(i)[:1]

    # ---------------------------------------------------------------- lookups
    def indices(self, name: str) -> List[int]:
        """The indexes (ascending) of the symbols called ``name``; empty when this table
        has none. Raises :class:`~kdbg.errors.CoreError` when the names table turns out
        broken."""
        found = self._found.get(name)
        if found is not None:
            return list(found)
        try:
            name_at = _NameAt(self)
            lo = bisect_left(name_at, name)
            out = []
            while lo < self.count and name_at[lo] == name:
                out.append(self.seq(lo))
                lo += 1
        except _Broken as e:
            raise CoreError(str(e)) from None
        self._found[name] = out = sorted(out)
        return list(out)

    def address(self, i: int) -> int:
        """Symbol ``i``'s address."""
        assert self._raw is not None
        return self._fn(i, self._raw[i])

    def size(self, i: int) -> Optional[int]:
        """Symbol ``i``'s size as the decoded table derives it: up to the next higher
        address, when that symbol is of the same kind of section; else ``None``."""
        here = self.address(i)
        j = i + 1
        while j < self.count and self.address(j) == here:
            j += 1
        if j >= self.count:
            return None
        if section_class(self.type(j)) != section_class(self.type(i)):
            return None
        return self.address(j) - here


class _NameAt:
    """The names in seqs order, as a sequence :func:`bisect.bisect_left` can search."""

    def __init__(self, finder: NameFinder) -> None:
        self._finder = finder

    def __len__(self) -> int:
        return self._finder.count

    def __getitem__(self, p: int) -> str:
        f = self._finder
        return f.name(f.seq(p))
