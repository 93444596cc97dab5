"""The REPL's history file: ``$XDG_STATE_HOME/kdbg/history``
(``~/.local/state/kdbg/history``), mode 0600, in prompt_toolkit's ``FileHistory`` format.

The file is opened once, below a descriptor of its directory, with ``O_NOFOLLOW``: a
symlink in its place is refused rather than followed (someone else's file would be
chmodded and appended to), and so is a file owned by another user. The REPL then keeps an
in-memory history and says why in one warning line. Every line is appended through that
one descriptor; the path is never opened again.
"""

from __future__ import annotations

import datetime
import errno
import os
import stat
from pathlib import Path
from typing import Callable, Iterable, List

from prompt_toolkit.history import FileHistory, History, InMemoryHistory

from kdbg import trust

__all__ = ["DescriptorHistory", "history_path", "open_history", "open_history_file"]


def history_path() -> Path:
    """``$XDG_STATE_HOME/kdbg/history`` (``~/.local/state/kdbg/history`` by default)."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "kdbg" / "history"


def open_history_file(path: Path) -> int:
    """A read-write, appending descriptor of the history file at ``path`` (created 0600,
    its directory 0700); ``OSError`` (:class:`kdbg.trust.Untrusted` with the reason) for a
    symlink, something other than a regular file, or a file another user owns."""
    dfd = trust.open_dir(str(path.parent), trust.trusted_uids(), strict=1, create=True, check=False, mode=0o700)
    try:
        try:
            fd = os.open(path.name, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=dfd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise trust.Untrusted(str(path), "a symlink") from None
            raise
    finally:
        os.close(dfd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise trust.Untrusted(str(path), "not a regular file")
        if st.st_uid != os.geteuid():
            raise trust.Untrusted(str(path), f"owned by {trust.describe_uid(st.st_uid)}, not by you")
        if stat.S_IMODE(st.st_mode) != 0o600:
            os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _parse(data: bytes) -> List[str]:
    """The entries of a history file, oldest first (``+`` lines joined; anything else,
    such as the ``# date`` lines, separates entries)."""
    strings: List[str] = []
    lines: List[str] = []
    for raw in data.splitlines(keepends=True):
        line = raw.decode("utf-8", errors="replace")
        if line.startswith("+"):
            lines.append(line[1:])
        else:
            if lines:
                strings.append("".join(lines)[:-1])
            lines = []
    if lines:
        strings.append("".join(lines)[:-1])
    return strings


class DescriptorHistory(FileHistory):
    """prompt_toolkit's ``FileHistory`` reading and appending through one open descriptor
    (see the module docstring) instead of opening its path for every line."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        super().__init__(str(path))

    def load_history_strings(self) -> Iterable[str]:
        """The stored entries, newest first."""
        chunks: List[bytes] = []
        offset = 0
        while True:
            chunk = os.pread(self.fd, 1 << 16, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        return reversed(_parse(b"".join(chunks)))

    def store_string(self, string: str) -> None:
        """Append one entry (``# date`` and its ``+`` lines), as ``FileHistory`` does."""
        text = f"\n# {datetime.datetime.now()}\n" + "".join(f"+{line}\n" for line in string.split("\n"))
        data = text.encode("utf-8")
        while data:
            n = os.write(self.fd, data)
            data = data[n:]


def open_history(warn: Callable[[str], None]) -> History:
    """The REPL's history: :class:`DescriptorHistory` over :func:`history_path`, or an
    in-memory one (after ``warn("no history: ...")``) when the file cannot be used."""
    path = history_path()
    try:
        fd = open_history_file(path)
    except trust.Untrusted as e:
        warn(f"no history: {e}: not used")
        return InMemoryHistory()
    except OSError as e:
        warn(f"no history: {path}: {e.strerror or e}")
        return InMemoryHistory()
    return DescriptorHistory(fd, path)

