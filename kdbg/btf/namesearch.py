"""Type ids, and enums by enumerator, by name in base BTF without an index.

Building the name index decodes every type's name (150-300 ms for vmlinux, then 100 ms to
store it); a process that looks up a few names and exits should not pay that.
:meth:`NameSearch.ids` answers one name with one search of the string section (every
offset holding the name, a suffix of a longer string included: a record may name the
middle of a string) and a search of the records' packed name offsets for each, both at C
speed; a name held at many offsets (``int`` ends hundreds of strings) makes it build,
once, a dict of each name offset's first record instead.

The enum holding an enumerator is found the same way (:meth:`NameSearch.enum_ids`), from a
dict of the enumerators' name offsets read out of the enum records' words (no string or
value decoded), instead of decoding every enum of the kernel (the enumerator index: 1,760
enums on 6.1) for the first ``prog[name]`` that is not a per-CPU variable.

A search keeps the sections and arrays it was given, not the blob's
:class:`~kdbg.btf.decoder.Records`, so a blob holding one makes no reference cycle.
"""

from __future__ import annotations

import sys
from array import array
from itertools import repeat
from typing import Dict, List, NamedTuple, Optional

from kdbg.btf import constants as K

__all__ = ["FEW_OFFSETS", "NameSearch", "TypeSection"]

#: String offsets of one name searched for in the packed name offsets; with more, the dict
#: of first records is built.
FEW_OFFSETS = 8

#: bytes.translate table: kind -> 1 for ENUM and ENUM64.
_ENUMS = bytes(1 if k in (K.KIND_ENUM, K.KIND_ENUM64) else 0 for k in range(256))


class TypeSection(NamedTuple):
    """What :meth:`NameSearch.enum_ids` reads: the type section as native u32 words (from
    its byte offset ``start``), each record's byte offset and info word, and each record's
    kind as one byte."""

    words: array
    start: int
    offsets: array
    infos: array
    kinds: bytes


class NameSearch:
    """Ids of the records of one base blob (``strings``, ``name_offs`` in id order from
    ``start_id``; ``section`` for enumerators) by name."""

    def __init__(self, strings: bytes, name_offs: array, start_id: int,
                 section: Optional[TypeSection] = None) -> None:
        self._strings = strings
        self._name_offs = name_offs
        self._start_id = start_id
        self._section = section
        self._ascii: Optional[bool] = None
        self._packed: Optional[bytes] = None
        self._first: Optional[Dict[int, int]] = None
        self._enums: Optional[Dict[int, int]] = None

    def _string_offsets(self, name: str) -> Optional[List[int]]:
        """Every offset of the string section holding ``name`` (a suffix included);
        ``None`` when the section is not ASCII."""
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
        return offs

    def ids(self, name: str) -> Optional[List[int]]:
        """The ids (ascending) of the records called ``name``; ``None`` when the string
        section is not ASCII (names decoded with replacement characters are left to the
        name index)."""
        offs = self._string_offsets(name)
        if not offs:
            return offs
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

    def enum_ids(self, name: str) -> Optional[List[int]]:
        """``[id]`` of the first ENUM or ENUM64 (in id order) with an enumerator called
        ``name``, ``[]`` when none has one; ``None`` when this search cannot tell (no type
        section given, a non-ASCII string section)."""
        if self._section is None:
            return None
        offs = self._string_offsets(name)
        if offs is None:
            return None
        if not offs:  # no string of that name: no enumerator either
            return []
        first = self._first_enumerators(self._section)
        hits = [first[o] for o in offs if o in first]
        return [min(hits)] if hits else []

    def _first_enumerators(self, sec: TypeSection) -> Dict[int, int]:
        """Enumerator name offset -> the id of the first enum holding it, read once from the
        enums' name words."""
        if self._enums is None:
            out: Dict[int, int] = {}
            mask = sec.kinds.translate(_ENUMS)
            found: List[int] = []
            i = mask.find(1)
            while i >= 0:
                found.append(i)
                i = mask.find(1, i + 1)
            words, offsets, infos = sec.words, sec.offsets, sec.infos
            for i in reversed(found):  # the lowest id last: it wins
                info = infos[i]
                step = 3 if (info >> 24) & 0x7F == K.KIND_ENUM64 else 2
                w = ((offsets[i] - sec.start) >> 2) + 3
                out.update(zip(words[w:w + step * (info & 0xFFFFFF):step], repeat(self._start_id + i)))
            self._enums = out
        return self._enums
