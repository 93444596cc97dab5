"""On-disk cache of BTF indexes: open a known BTF without walking its type section.

Opening vmlinux BTF costs one pass over ~126k type records (the offsets index) and, on the
first name lookup, decoding every type name (the name index). Both depend only on the BTF
bytes, so :func:`open_btf` stores them under ``$XDG_CACHE_HOME/kdbg`` (default
``~/.cache/kdbg``), keyed by a BLAKE2 hash of the bytes (and of the base's key for split
BTF), and loads them next time. The result is an ordinary :class:`~kdbg.btf.parser.BTF`
(a subclass that only replaces how the two indexes are built); the header and sections
are still validated on every open. Any cache problem falls back to the normal parse.
``KDBG_NO_CACHE=1`` disables the cache.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import tempfile
from array import array
from typing import Dict, List, Optional, cast

from kdbg.btf.parser import BTF, NameIndex

__all__ = ["CachedBTF", "cache_dir", "open_btf"]

_FORMAT = 2


def cache_dir() -> str:
    """The directory cache files go to."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "kdbg")


class CachedBTF(BTF):
    """A :class:`BTF` whose offsets and name indexes come from (and go to) the cache."""

    def __init__(self, data: bytes, base: Optional[BTF] = None, name: str = "BTF", key: str = "") -> None:
        self.cache_key = key
        self._cache_path = os.path.join(cache_dir(), f"btf-{key}.idx")
        self._loaded: Optional[tuple] = None
        self._cache_hit = False
        try:
            with open(self._cache_path, "rb") as f:
                blob = marshal.load(f)
            if isinstance(blob, tuple) and len(blob) == 5 and blob[0] == _FORMAT:
                self._loaded = blob
        except (OSError, EOFError, ValueError, TypeError):
            self._loaded = None
        super().__init__(data, base=base, name=name)

    @property
    def cache_hit(self) -> bool:
        """True when the indexes came from the cache."""
        return self._cache_hit

    def _index(self) -> None:
        if self._loaded is not None:
            _, offs, name_offs, infos, _names = self._loaded
            self._offs.frombytes(offs)
            self._name_offs.frombytes(name_offs)
            self._infos.frombytes(infos)
            n = len(self._offs)
            if n == len(self._name_offs) == len(self._infos) and (
                n == 0 or self._type_start <= self._offs[-1] < self._type_end
            ):
                self._cache_hit = True
                return
            self._offs, self._name_offs, self._infos = array("I"), array("I"), array("I")
            self._loaded = None
        super()._index()

    def _name_index(self) -> Dict[str, List[int]]:
        if self._names is None and self._loaded is not None:
            packed = self._loaded[4]
            if isinstance(packed, tuple) and len(packed) == 3:
                text, ids, dups = packed
                idarr = array("I")
                idarr.frombytes(ids)
                loaded = NameIndex(zip(text.split("\0"), idarr) if text else ())
                loaded.update(dups)
                self._names = cast(Dict[str, List[int]], loaded)
        if self._names is None:
            names = super()._name_index()
            self._store(names)
            return names
        return self._names

    def _store(self, names: Dict[str, List[int]]) -> None:
        items = [(k, v if isinstance(v, int) else v[0] if len(v) == 1 else v) for k, v in dict.items(names)]
        uniq = [(k, v) for k, v in items if isinstance(v, int) and "\0" not in k]
        dups = {k: (v if isinstance(v, list) else [v]) for k, v in items if not isinstance(v, int) or "\0" in k}
        packed = ("\0".join(k for k, _ in uniq), array("I", [v for _, v in uniq]).tobytes(), dups)
        blob = (_FORMAT, self._offs.tobytes(), self._name_offs.tobytes(), self._infos.tobytes(), packed)
        try:
            os.makedirs(cache_dir(), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cache_dir(), prefix=".btf-")
            with os.fdopen(fd, "wb") as f:
                marshal.dump(blob, f)
            os.replace(tmp, self._cache_path)
        except OSError:
            pass


def btf_key(data: bytes, base: Optional[BTF] = None) -> str:
    """The cache key of ``data`` (on top of ``base``)."""
    h = hashlib.blake2b(data, digest_size=20)
    h.update(f"|{_FORMAT}|{sys.version_info[:2]}|{sys.byteorder}".encode())
    if base is not None:
        h.update(getattr(base, "cache_key", "").encode() or hashlib.blake2b(base.data).digest())
    return h.hexdigest()


def open_btf(data: bytes, base: Optional[BTF] = None, name: str = "BTF") -> BTF:
    """Open BTF like :class:`BTF` does, using the index cache unless ``KDBG_NO_CACHE``.

    The name index is built (and cached) on first lookup, or now with ``build_index()``.
    """
    if os.environ.get("KDBG_NO_CACHE"):
        return BTF(data, base=base, name=name)
    return CachedBTF(data, base=base, name=name, key=btf_key(data, base))


def cached_header_c(btf: BTF, types: Optional[List[str]] = None) -> str:
    """:func:`kdbg.btf.header.header_c`, remembered on disk by the BTF's key and ``types``.

    A header depends only on the BTF bytes (and the writer's code), so a second
    ``btf dump --format c`` of the same kernel reads the file back instead of rendering
    126k types again. ``KDBG_NO_CACHE`` turns it off.
    """
    from kdbg.btf import header

    if os.environ.get("KDBG_NO_CACHE"):
        return header.header_c(btf, types)
    key = getattr(btf, "cache_key", "") or btf_key(btf.data, btf.base)
    h = hashlib.blake2b(key.encode(), digest_size=20)
    h.update(repr(types).encode())
    try:
        with open(header.__file__, "rb") as f:  # a changed writer invalidates its output
            h.update(f.read())
    except OSError:
        return header.header_c(btf, types)
    path = os.path.join(cache_dir(), f"header-{h.hexdigest()}.h")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        pass
    text = header.header_c(btf, types)
    try:
        os.makedirs(cache_dir(), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir(), prefix=".header-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError:
        pass
    return text
