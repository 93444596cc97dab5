"""Which files kdbg may trust: who could have written a path, and opening directories
without being redirected by someone else's symlink.

Root must not run, import or unmarshal anything a non-root user could have written: a
plugin (:mod:`kdbg.ui.plugin_files`) and a cache entry (:mod:`kdbg.cache`) are code or
data root would act on. A path is *trusted* for a set of user ids when every component,
from ``/`` down to the path itself, is

* owned by one of those ids (a symlink too: then its target is checked the same way), and
* not writable by others, and not by the group either unless ``group_ok`` (a directory
  with the sticky bit, such as ``/tmp``, may be writable by all: nobody can replace the
  entries of others in it, and what lies below is checked on its own).

:func:`open_dir` opens a directory one component at a time below file descriptors
(``O_NOFOLLOW``), so a symlink is followed only when the ids trust it and the directory
holding it, and the last components (a cache's own directories) never through one.
"""

from __future__ import annotations

import errno
import os
import pwd
import stat
from typing import AbstractSet, FrozenSet, List, Optional, Tuple

__all__ = ["Untrusted", "check_path", "describe_uid", "invoking_uid", "open_dir", "problem", "trusted_uids"]

#: Symlinks followed in one path before giving up (the kernel's own limit).
_MAX_LINKS = 40
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class Untrusted(OSError):
    """A path someone outside the trusted ids could have written: ``path`` names the
    component, ``reason`` says why (``owned by uid 65534 (nobody)``, ``writable by group
    or others``, ``a symlink``)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(errno.EPERM, f"{path} is {reason}")
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path} is {self.reason}"


def invoking_uid() -> int:
    """The user who asked for this run: ``SUDO_UID`` when root runs under sudo, else the
    effective user."""
    euid = os.geteuid()
    if euid == 0:
        try:
            uid = int(os.environ.get("SUDO_UID", ""))
        except ValueError:
            return 0
        return uid if uid >= 0 else 0
    return euid


def trusted_uids(*, invoking: bool = False) -> FrozenSet[int]:
    """The owners whose files this process may act on: root and the effective user; as
    root, with ``invoking``, also the user who ran sudo (:func:`invoking_uid`)."""
    uids = {0, os.geteuid()}
    if invoking:
        uids.add(invoking_uid())
    return frozenset(uids)


def describe_uid(uid: int) -> str:
    """``uid 65534 (nobody)``, or ``uid 1234`` for an id without a passwd entry."""
    try:
        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except KeyError:
        return f"uid {uid}"


def problem(st: os.stat_result, uids: AbstractSet[int], group_ok: bool) -> Optional[str]:
    """Why a file or directory with status ``st`` is not trusted, or ``None``."""
    if st.st_uid not in uids:
        return f"owned by {describe_uid(st.st_uid)}"
    if stat.S_ISLNK(st.st_mode):
        return None  # a link's own mode means nothing; its directory and target count
    sticky_dir = stat.S_ISDIR(st.st_mode) and bool(st.st_mode & stat.S_ISVTX)
    writable = stat.S_IWOTH if group_ok else stat.S_IWOTH | stat.S_IWGRP
    if st.st_mode & writable and not sticky_dir:
        return "writable by group or others" if st.st_mode & stat.S_IWGRP else "writable by others"
    return None


def _components(path: str) -> List[str]:
    return [p for p in os.path.abspath(path).split(os.sep) if p]


def check_path(path: str, uids: AbstractSet[int], *, group_ok: bool = False) -> None:
    """Raise :class:`Untrusted` unless every component of ``path`` (``/``, each directory,
    each symlink and what it points to, the path itself) is trusted by ``uids``; an
    ``OSError`` when it cannot be examined."""
    pending = _components(path)
    current = os.sep
    _check(current, os.lstat(current), uids, group_ok)
    links = 0
    while pending:
        name = pending.pop(0)
        if name == ".":
            continue
        nxt = os.path.dirname(current) if name == ".." else os.path.join(current, name)
        st = os.lstat(nxt)
        _check(nxt, st, uids, group_ok)
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_LINKS:
                raise OSError(errno.ELOOP, f"too many levels of symbolic links: {path}")
            target = os.readlink(nxt)
            if os.path.isabs(target):
                current = os.sep
            pending[:0] = [p for p in target.split(os.sep) if p]
            continue
        current = nxt


def _check(path: str, st: os.stat_result, uids: AbstractSet[int], group_ok: bool) -> None:
    why = problem(st, uids, group_ok)
    if why is not None:
        raise Untrusted(path, why)


def open_dir(
    path: str,
    uids: AbstractSet[int],
    *,
    strict: int = 0,
    create: bool = False,
    owner: Optional[Tuple[int, int]] = None,
    check: bool = True,
    group_ok: bool = False,
    mode: int = 0o777,
) -> int:
    """A file descriptor of directory ``path``, opened one component at a time.

    A symlink on the way is followed only when its owner is in ``uids`` and the directory
    holding it is trusted; the last ``strict`` components are never followed through a
    symlink (a cache's own directories). With ``check``, every directory on the way must
    be trusted (:func:`check_path`'s rules); without it (writing, where only being
    redirected matters) directories of any owner are entered. With ``create``, missing
    directories are made with ``mode`` (less the umask; ``owner``: ``(uid, gid)`` to give
    them to). Raises :class:`Untrusted` or another ``OSError``.
    """
    parts = _components(path)
    free = len(parts) - strict  # components [0, free) may be reached through a trusted link
    fd = os.open(os.sep, _DIR_FLAGS)
    where = os.sep
    try:
        if check:
            _check(where, os.fstat(fd), uids, group_ok)
        pending: List[Tuple[str, bool]] = [(p, i < free) for i, p in enumerate(parts)]
        links = 0
        while pending:
            name, may_follow = pending.pop(0)
            if name == ".":
                continue
            nxt = os.path.dirname(where) if name == ".." else os.path.join(where, name)
            try:
                new = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                if not create or name == "..":
                    raise
                made = True
                try:
                    os.mkdir(name, mode, dir_fd=fd)
                except FileExistsError:
                    made = False
                new = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
                if made and owner is not None:
                    os.fchown(new, *owner)
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if not stat.S_ISLNK(st.st_mode):
                    raise
                if not may_follow:
                    raise Untrusted(nxt, "a symlink") from None
                _check(nxt, st, uids, group_ok)
                _check(where, os.fstat(fd), uids, group_ok)  # who could replace the link
                links += 1
                if links > _MAX_LINKS:
                    raise OSError(errno.ELOOP, f"too many levels of symbolic links: {path}") from None
                target = os.readlink(name, dir_fd=fd)
                if os.path.isabs(target):
                    os.close(fd)
                    fd = -1
                    fd = os.open(os.sep, _DIR_FLAGS)
                    where = os.sep
                pending[:0] = [(p, True) for p in target.split(os.sep) if p]
                continue
            os.close(fd)
            fd = new
            where = nxt
            if check:
                _check(where, os.fstat(fd), uids, group_ok)
        return fd
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise
