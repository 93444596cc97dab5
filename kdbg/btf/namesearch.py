"""Type ids by name in base BTF without a name index.

Building the name index decodes every type's name (150-300 ms for vmlinux, then 100 ms to
store it); a process that looks up a few names and exits should not pay that.
:class:`NameSearch` answers one name with one search of the string section (every offset
holding the name, a suffix of a longer string included: a record may name the middle of a
string) and a search of the records' packed name offsets for each, both at C speed; a name
held at many offsets (``int`` ends hundreds of strings) makes it build, once, a dict of
each name offset's first record instead. It keeps the string section and the name offsets
it was given, not the blob, so a blob holding one makes no reference cycle.
"""

from __future__ import annotations

import sys
from array import array
from typing import Dict, List, Optional

__all__ = ["NameSearch"]

#: String offsets of one name searched for in the packed name offsets; with more, the dict
#: of first records is built.
FEW_OFFSETS = 8


class NameSearch:
    """Ids of the records of one base blob (``strings``, ``name_offs`` in id order from
    ``start_id``) by name."""

    def __init__(self, strings: bytes, name_offs: array, start_id: int) -> None:
        self._strings = strings
        self._name_offs = name_offs
        self._start_id = start_id
        self._ascii: Optional[bool] = None
        self._packed: Optional[bytes] = None
        self._first: Optional[Dict[int, int]] = None

    def ids(self, name: str) -> Optional[List[int]]:
        """The ids (ascending) of the records called ``name``; ``None`` when the string
        section is not ASCII (names decoded with replacement characters are left to the
        name index)."""
        if self._ascii is None:
            self._ascii = self._strings.isascii()
        if not self._ascii:
            return None
        if not name or "\0" in name or not name.isascii():
            return []
        key = name.encode("ascii") + b"\0"
        strs = self._strings
        offs: List[int] = []
        p = strs.find(key)
        while p >= 0:
            offs.append(p)
            p = strs.find(key, p + 1)
        if not offs:
            return []
        if self._packed is None:
            self._packed = self._name_offs.tobytes()
        packed = self._packed
        width = self._name_offs.itemsize
        first = self._first_named() if len(offs) > FEW_OFFSETS or self._first is not None else None
        start = self._start_id
        ids: List[int] = []
        for off in offs:
            pat = off.to_bytes(width, sys.byteorder)
            if first is not None:
                i = first.get(off)
                if i is None:
                    continue
                ids.append(start + i)
                q = packed.find(pat, width * (i + 1))
            else:
                q = packed.find(pat)
            while q >= 0:
                if not q % width:
                    ids.append(start + q // width)
                q = packed.find(pat, q + 1)
        return sorted(ids)

    def _first_named(self) -> Dict[int, int]:
        """Name offset -> the first record (index from ``start_id``) that has it, made once
        at C speed (no string is decoded)."""
        if self._first is None:
            offs = self._name_offs
            self._first = dict(zip(reversed(offs), range(len(offs) - 1, -1, -1)))
        return self._first
