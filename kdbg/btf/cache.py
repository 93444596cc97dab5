"""BTF's use of kdbg's one cache (:mod:`kdbg.cache`): indexes and C headers.

Opening vmlinux BTF costs one pass over ~126k type records (the offsets index) and, on the
first name lookup, decoding every type name (the name index). Both depend only on the BTF
bytes, so :func:`open_btf` keeps them in the cache (kind ``btf``), keyed by a SHA-256 hash
of the bytes (and of the base's key for split BTF), and loads them next time: the result
is an ordinary :class:`~kdbg.btf.index.BTF` given a :class:`BTFIndexStore`. The header
and sections are still validated on every open, and a loaded index is checked against
the bytes before use (:class:`~kdbg.btf.decoder.Records`); anything wrong is a miss.

:func:`cached_header_c` keeps ``btf dump --format c`` output (kind ``header``), keyed by
the BTF's key, the types asked for and the source of the code that writes it.

Where the cache lives, its bound and ``KDBG_NO_CACHE`` are :mod:`kdbg.cache`'s business;
what is stored, and how it is serialised, is this module's.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
from array import array
from typing import Any, Dict, List, Optional, Sequence, Tuple

from kdbg import cache
from kdbg.btf.decoder import TypeIndex
from kdbg.btf.header import header_c
from kdbg.btf.index import BTF, NameIndex

__all__ = ["BTFIndexStore", "btf_key", "cached_header_c", "open_btf"]

#: Version of what is stored; a change makes old entries misses.
_FORMAT = 4
_INDEX_KIND = "btf"
_HEADER_KIND = "header"


def btf_key(data: bytes, base: Optional[BTF] = None) -> str:
    """The cache key of ``data`` (on top of ``base``): SHA-256, which current x86-64 and
    arm64 processors compute in hardware (3 ms for vmlinux's 5 MB, BLAKE2 takes 15)."""
    h = hashlib.sha256(data)
    h.update(f"|{_FORMAT}|{sys.version_info[:2]}|{sys.byteorder}".encode())
    if base is not None:
        h.update(_key_of(base).encode())
    return h.hexdigest()


def _key_of(btf: BTF) -> str:
    store = btf.store
    if isinstance(store, BTFIndexStore):
        return store.key
    return btf_key(btf.data, btf.base)


class BTFIndexStore:
    """:class:`~kdbg.btf.index.IndexStore` over :mod:`kdbg.cache`, for one BTF blob.

    The entry holds the offsets index, written when a BTF had to walk its records, and
    the name index once that has been built.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self._blob: Optional[tuple] = None
        payload = cache.load(_INDEX_KIND, key)
        if payload is not None:
            try:
                blob = marshal.loads(payload)
            except (EOFError, ValueError, TypeError):
                blob = None
            if isinstance(blob, tuple) and len(blob) == 5 and blob[0] == _FORMAT:
                self._blob = blob

    def load_index(self) -> Optional[TypeIndex]:
        """The offsets index from the cache, or ``None``."""
        if self._blob is None:
            return None
        arrays = []
        for raw in self._blob[1:4]:
            a = array("I")
            try:
                a.frombytes(raw)
            except (TypeError, ValueError):
                return None
            arrays.append(a)
        return TypeIndex(*arrays)

    def _packed_names(self) -> Optional[Tuple[str, bytes, Dict[str, Any]]]:
        """The stored name index as packed: ``(names joined by NUL, their ids as
        ``array('I')`` bytes, {duplicated name: ids})``, or ``None`` without a usable one."""
        if self._blob is None:
            return None
        packed = self._blob[4]
        if not (isinstance(packed, tuple) and len(packed) == 3):
            return None
        text, ids, dups = packed
        if not (isinstance(text, str) and isinstance(ids, bytes) and isinstance(dups, dict)):
            return None
        return text, ids, dups

    def load_names(self) -> Optional[Dict[str, Any]]:
        """The name index from the cache, or ``None``."""
        packed = self._packed_names()
        if packed is None:
            return None
        text, ids, dups = packed
        idarr = array("I")
        try:
            idarr.frombytes(ids)
            names = NameIndex(zip(text.split("\0"), idarr) if text else ())
            dict.update(names, dups)
        except (TypeError, ValueError, AttributeError):
            return None
        return names

    def find_name(self, name: str) -> Optional[List[int]]:
        """Ids of the types called ``name`` (empty when none), found in the stored name
        index without building it (a search of its packed names); ``None`` when there is
        no usable stored index."""
        packed = self._packed_names()
        if packed is None:
            return None
        text, ids, dups = packed
        if name in dups:
            found = dups[name]
            return list(found) if isinstance(found, list) else None
        if not name or "\0" in name or not text:
            return []
        if text.startswith(name + "\0") or text == name:
            pos = 0
        else:
            at = text.find("\0" + name + "\0")
            if at < 0 and text.endswith("\0" + name):
                at = len(text) - len(name) - 1
            if at < 0:
                return []
            pos = at + 1
        k = text.count("\0", 0, pos)
        if 4 * k + 4 > len(ids):
            return None
        return [int.from_bytes(ids[4 * k:4 * k + 4], sys.byteorder)]

    def save(self, index: TypeIndex, names: Optional[Dict[str, Any]]) -> None:
        """Store the offsets index and, when given, the name index (unique names packed as
        one string and one id array)."""
        packed: Optional[tuple] = None
        if names is not None:
            items = [(k, v if isinstance(v, int) else v[0] if len(v) == 1 else v) for k, v in dict.items(names)]
            uniq = [(k, v) for k, v in items if isinstance(v, int) and "\0" not in k]
            dups = {k: (v if isinstance(v, list) else [v]) for k, v in items if not isinstance(v, int) or "\0" in k}
            packed = ("\0".join(k for k, _ in uniq), array("I", [v for _, v in uniq]).tobytes(), dups)
        blob = (_FORMAT, index.offsets.tobytes(), index.name_offs.tobytes(), index.infos.tobytes(), packed)
        cache.store(_INDEX_KIND, self.key, marshal.dumps(blob))


def open_btf(data: bytes, base: Optional[BTF] = None, name: str = "BTF") -> BTF:
    """Open BTF like :class:`BTF` does, with its indexes kept in kdbg's cache (unless
    ``KDBG_NO_CACHE``). The name index is built (and stored) on first lookup, or now
    with ``build_index()``."""
    if cache.cache_root() is None:
        return BTF(data, base=base, name=name)
    store = BTFIndexStore(btf_key(data, base))
    btf = BTF(data, base=base, name=name, store=store)
    if not btf.records.index_adopted:  # walked: keep the offsets index for next time
        store.save(btf.records.index, None)
    return btf


def _writer_source_hash() -> bytes:
    """A hash of every module of this package and its subpackages (the writer is in
    :mod:`kdbg.btf.header`): a changed writer invalidates its output."""
    h = hashlib.blake2b(digest_size=20)
    here = os.path.dirname(os.path.abspath(__file__))
    for d, dirs, files in sorted(os.walk(here)):
        dirs.sort()
        for fname in sorted(files):
            if fname.endswith(".py"):
                rel = os.path.relpath(os.path.join(d, fname), here)
                with open(os.path.join(d, fname), "rb") as f:
                    h.update(rel.encode() + b"\0" + f.read())
    return h.digest()


def cached_header_c(btf: BTF, types: Optional[Sequence[str]] = None) -> str:
    """:func:`kdbg.btf.header.header_c`, remembered in the cache by the BTF's key and
    ``types``: a second ``btf dump --format c`` of the same kernel reads it back instead
    of rendering 126k types again."""

    if cache.cache_root() is None:
        return header_c(btf, types)
    try:
        source = _writer_source_hash()
    except OSError:
        return header_c(btf, types)
    wanted: Optional[List[str]] = list(types) if types is not None else None
    key = f"{_key_of(btf)}|{wanted!r}|{source.hex()}"
    payload = cache.load(_HEADER_KIND, key)
    if payload is not None:
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            pass
    text = header_c(btf, types)
    cache.store(_HEADER_KIND, key, text.encode("utf-8"))
    return text
