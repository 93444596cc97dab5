"""The one on-disk cache kdbg keeps (BTF indexes, C headers, decoded kallsyms).

Where: ``$KDBG_CACHE``, else ``$XDG_CACHE_HOME/kdbg``, else ``~/.cache/kdbg``
(:func:`cache_root`); ``KDBG_NO_CACHE=1`` turns caching off (:func:`cache_root` returns
``None``, :func:`load` misses and :func:`store` does nothing).

What: entries are opaque ``bytes`` payloads, addressed by a *kind* (a short lowercase
name: ``"btf"``, ``"header"``, ``"kallsyms"``) and a *key* (any string: a build id, a
content hash).  An entry lives in ``<root>/<kind>/<hash of kind and key>.kce`` and holds a
magic, a SHA-256 over key and payload, the key itself and the payload.  :func:`load`
returns the payload only when the checksum matches and the stored key equals the key
asked for (so a corrupt file or a hash collision is a miss, never a wrong answer).
Callers still check what they load against the target before trusting it.

How:

* :func:`store` writes a temporary file in the entry's directory and renames it into
  place (readers never see half an entry; the temporary is removed if anything fails);
  it never raises for I/O problems: a cache that cannot be written is a cache miss later.
* The cache is bounded: after each store, entries beyond ``$KDBG_CACHE_MAX`` bytes in total
  (default :data:`DEFAULT_MAX_BYTES`, 512 MiB; suffixes ``K``, ``M``, ``G`` accepted) are
  removed, least recently used first (a hit refreshes an entry's modification time).
  Only files this module writes (``*.kce`` in kind directories) are counted or removed;
  other things under the root (``vmcores/``, ``debian/`` of the reference-dump builder)
  are left alone.
* Temporary files (``.kce-tmp-*``) left by a writer that died (older than an hour) are
  removed.
* ``sudo``: running as root with ``SUDO_UID`` set, when the cache root lies inside a
  directory tree owned by that user (their home, typically, when ``HOME`` was kept), every
  directory and file this module creates is given to ``SUDO_UID``/``SUDO_GID``, so the user
  can still read, replace and delete their cache afterwards.  Otherwise (root's own
  ``/root/.cache``, or a root-owned ``$KDBG_CACHE``) files stay root's.

Trust (:mod:`kdbg.trust`): a checksum is not authentication, and callers unmarshal what
they load (and import the entry points it lists).  So :func:`load` serves an entry only
when the file and every directory above it are owned by root or the effective user and
not writable by others; as root, owned by root alone and not group-writable either, so
root never acts on what a non-root user could have written (under ``sudo`` the user's
cache above is theirs: root then rebuilds what it needs, and still stores it for them).  The cache root and its kind
directories are never entered through a symlink, by :func:`load` or :func:`store`; a
symlink above the root is followed only when its owner and its directory are trusted
(root's alone, as root).  Anything else is a miss, and a store that does nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import stat
import struct
import time
from typing import List, Optional, Tuple

from kdbg import trust

__all__ = ["DEFAULT_MAX_BYTES", "cache_root", "load", "max_bytes", "store"]

#: Default bound of the cache's total size in bytes (``$KDBG_CACHE_MAX`` overrides).
DEFAULT_MAX_BYTES = 512 << 20

_MAGIC = b"KDBGCE01"
_HEAD = struct.Struct("<8s32sI")  # magic, sha256(key length + key + payload), key length
_SUFFIX = ".kce"
_TMP_PREFIX = ".kce-tmp-"
_STALE_TMP_SECONDS = 3600.0
_KIND_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}\Z")
_ENTRY_RE = re.compile(r"[0-9a-f]{40}\.kce\Z")


def cache_root() -> Optional[str]:
    """The cache directory, or ``None`` when ``KDBG_NO_CACHE`` is set (to anything but 0).

    ``$KDBG_CACHE``, else ``$XDG_CACHE_HOME/kdbg``, else ``~/.cache/kdbg`` (``None`` when
    there is no home either).  The directory need not exist yet.
    """
    if os.environ.get("KDBG_NO_CACHE", "") not in ("", "0"):
        return None
    env = os.environ.get("KDBG_CACHE")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return os.path.abspath(os.path.join(os.path.expanduser(xdg), "kdbg"))
    home = os.path.expanduser("~")
    if home.startswith("~"):  # no $HOME and no passwd entry: nowhere to cache
        return None
    return os.path.abspath(os.path.join(home, ".cache", "kdbg"))


def max_bytes() -> int:
    """The size bound: ``$KDBG_CACHE_MAX`` (bytes, or with a K/M/G suffix), else 512 MiB."""
    text = os.environ.get("KDBG_CACHE_MAX", "").strip().upper().removesuffix("B")
    if not text:
        return DEFAULT_MAX_BYTES
    scale = 1
    if text[-1:] in ("K", "M", "G"):
        scale = 1 << (10 * ("KMG".index(text[-1]) + 1))
        text = text[:-1]
    try:
        value = int(float(text) * scale)
    except ValueError:
        return DEFAULT_MAX_BYTES
    return max(value, 0)


def _entry_name(kind: str, key: str) -> str:
    if not _KIND_RE.match(kind):
        raise ValueError(f"cache kind {kind!r} is not a short lowercase name")
    digest = hashlib.blake2b(f"{kind}\0{key}".encode("utf-8", "surrogatepass"),
                             digest_size=20).hexdigest()
    return digest + _SUFFIX


def _entry_path(root: str, kind: str, key: str) -> str:
    return os.path.join(root, kind, _entry_name(kind, key))


def _checksum(key_bytes: bytes, payload: bytes) -> bytes:
    h = hashlib.sha256(struct.pack("<I", len(key_bytes)))
    h.update(key_bytes)
    h.update(payload)
    return h.digest()


def _group_ok() -> bool:
    """Whether a group-writable cache is trusted: not as root (a user's group may share
    it), yes for other users (user private groups make everything group-writable)."""
    return os.geteuid() != 0


def _open_kind_dir(root: str, kind: str, *, create: bool = False,
                   owner: Optional[Tuple[int, int]] = None) -> int:
    """A descriptor of ``<root>/<kind>``: neither entered through a symlink; for reading
    (not ``create``) every directory from ``/`` down trusted (:mod:`kdbg.trust`)."""
    return trust.open_dir(os.path.join(root, kind), trust.trusted_uids(), strict=2, create=create,
                          owner=owner, check=not create, group_ok=_group_ok())


def load(kind: str, key: str, *, root: Optional[str] = None) -> Optional[bytes]:
    """The payload stored under ``kind``/``key``, or ``None`` on a miss.

    A missing, unreadable, truncated or corrupt entry, one written for another key
    (a hash collision), or one someone else could have written (see the module
    docstring: as root, anything not root's alone), is a miss.  A hit marks the entry
    recently used.  ``root`` overrides :func:`cache_root` (tests and benchmarks use a
    private directory).
    """
    root = root if root is not None else cache_root()
    if root is None:
        return None
    name = _entry_name(kind, key)
    try:
        dfd = _open_kind_dir(root, kind)
    except OSError:
        return None
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
    except OSError:
        os.close(dfd)
        return None
    os.close(dfd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or trust.problem(st, trust.trusted_uids(), _group_ok()):
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            payload = _parse(f.read(), key)
        if payload is not None:
            with contextlib.suppress(OSError):
                os.utime(fd)
        return payload
    except OSError:
        return None
    finally:
        os.close(fd)


def _parse(data: bytes, key: str) -> Optional[bytes]:
    """The payload of entry bytes ``data`` if they are intact and written for ``key``."""
    if len(data) < _HEAD.size:
        return None
    magic, digest, klen = _HEAD.unpack_from(data)
    if magic != _MAGIC or _HEAD.size + klen > len(data):
        return None
    key_bytes = data[_HEAD.size:_HEAD.size + klen]
    payload = data[_HEAD.size + klen:]
    if key_bytes != key.encode("utf-8", "surrogatepass"):
        return None
    if _checksum(key_bytes, payload) != digest:
        return None
    return payload


def store(kind: str, key: str, payload: bytes, *, root: Optional[str] = None) -> None:
    """Store ``payload`` under ``kind``/``key`` (atomically replacing an older entry).

    Never raises for I/O problems (a full disk, a read-only or missing home, a race with
    another writer, a symlinked cache directory): the entry is then simply absent.
    Afterwards the cache is trimmed to :func:`max_bytes`.  A payload larger than the bound
    is not stored.
    """
    root = root if root is not None else cache_root()
    if root is None:
        return
    name = _entry_name(kind, key)
    limit = max_bytes()
    key_bytes = key.encode("utf-8", "surrogatepass")
    size = _HEAD.size + len(key_bytes) + len(payload)
    if size > limit:
        return
    owner = _sudo_owner(root)
    try:
        dfd = _open_kind_dir(root, kind, create=True, owner=owner)
    except OSError:
        return
    tmp: Optional[str] = None
    try:
        fd, tmp = _temporary(dfd)
        with os.fdopen(fd, "wb") as f:
            f.write(_HEAD.pack(_MAGIC, _checksum(key_bytes, payload), len(key_bytes)))
            f.write(key_bytes)
            f.write(payload)
            if owner is not None:
                os.fchown(f.fileno(), *owner)
        os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        tmp = None
    except (OSError, OverflowError):
        return
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
        os.close(dfd)
    with contextlib.suppress(OSError):
        _trim(root, limit)


def _temporary(dfd: int) -> Tuple[int, str]:
    """A new file (mode 0600) in directory ``dfd`` under a fresh ``.kce-tmp-*`` name."""
    for _ in range(100):
        name = _TMP_PREFIX + secrets.token_hex(8)
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=dfd)
        except FileExistsError:
            continue
        return fd, name
    raise FileExistsError("no free temporary name in the cache")


def _sudo_owner(root: str) -> Optional[Tuple[int, int]]:
    """``(SUDO_UID, SUDO_GID)`` when running as root under sudo and ``root`` lies inside a
    tree the invoking user owns; else ``None`` (files keep the creating user's ids)."""
    if os.geteuid() != 0:
        return None
    try:
        uid = int(os.environ.get("SUDO_UID", ""))
    except ValueError:
        return None
    if uid <= 0:
        return None
    try:
        gid = int(os.environ.get("SUDO_GID", ""))
    except ValueError:
        gid = -1  # os.chown: leave the group alone
    path = os.path.abspath(root)
    while True:
        try:
            if os.stat(path).st_uid == uid:
                return uid, gid
        except OSError:
            pass
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def _trim(root: str, limit: int) -> None:
    """Remove stale temporaries and, beyond ``limit`` bytes, least recently used entries
    (only in kind directories that are real directories, reached without symlinks)."""
    now = time.time()
    entries: List[Tuple[float, int, int, str]] = []
    total = 0
    rfd = trust.open_dir(root, trust.trusted_uids(), strict=1, check=False)
    kind_fds: List[int] = []
    try:
        with os.scandir(rfd) as kinds:
            names = [k.name for k in kinds if _KIND_RE.match(k.name) and k.is_dir(follow_symlinks=False)]
        for kname in names:
            try:
                kind_fds.append(os.open(kname, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                        dir_fd=rfd))
            except OSError:
                continue
        for kfd in kind_fds:
            with os.scandir(kfd) as it:
                for e in it:
                    try:
                        if not e.is_file(follow_symlinks=False):
                            continue
                        st = e.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if e.name.startswith(_TMP_PREFIX):
                        if now - st.st_mtime > _STALE_TMP_SECONDS:
                            with contextlib.suppress(OSError):
                                os.unlink(e.name, dir_fd=kfd)
                    elif _ENTRY_RE.match(e.name):
                        entries.append((st.st_mtime, st.st_size, kfd, e.name))
                        total += st.st_size
        if total <= limit:
            return
        entries.sort()
        for _, size, kfd, name in entries:
            if total <= limit:
                break
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=kfd)
            total -= size
    finally:
        for kfd in kind_fds:
            os.close(kfd)
        os.close(rfd)
