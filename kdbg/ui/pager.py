"""One REPL line's output: held until the line ends, then highlighted as C where that fits
and paged when it does not fit the screen.

The pager is ``$PAGER`` (default ``less``) with ``$LESS`` defaulting to ``FRX``, as git
and crash run it: ``-F`` quits at once when the text fits, ``-R`` passes colours, and
``-X`` keeps the listing on the screen after ``q`` (no switch to the alternate screen).
A ``$PAGER`` or ``$LESS`` of the user's own wins. ``set scroll off`` (crash's) turns
paging off for the session: :attr:`kdbg.ui.commands.Settings.scroll`.
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import shutil
import subprocess
from typing import IO, Any, List

__all__ = ["DEFAULT_LESS", "DEFAULT_PAGER", "LineOutput", "colour", "flush", "page"]

#: The pager without ``$PAGER``.
DEFAULT_PAGER = "less"
#: ``$LESS`` without one of the user's: quit if one screen, raw colours, no alternate screen.
DEFAULT_LESS = "FRX"


def colour(stream: IO[str]) -> bool:
    """Whether to colour what goes to ``stream``: a terminal, and no ``NO_COLOR``."""
    return "NO_COLOR" not in os.environ and bool(getattr(stream, "isatty", lambda: False)())


def flush(out: Any) -> None:
    """Flush ``out``, ignoring a closed or broken stream."""
    with contextlib.suppress(OSError, ValueError):
        out.flush()


def _highlight_c(text: str) -> str:
    # lazy: pygments costs tens of ms to import, paid only when colour goes to a terminal
    from pygments import highlight
    from pygments.formatters import TerminalFormatter
    from pygments.lexers import CLexer

    out: str = highlight(text, CLexer(), TerminalFormatter())
    return out if text.endswith("\n") else out.rstrip("\n")


class LineOutput(io.TextIOBase):
    """One line's output: held until the line ends (then paged when longer than the
    screen and ``paging``, highlighted as C when ``c_like``), or written through from the
    first ``flush``."""

    def __init__(self, out: IO[str], c_like: bool, paging: bool) -> None:
        super().__init__()
        self.out = out
        self.c_like = c_like
        self.paging = paging
        self.parts: List[str] = []
        self.streaming = False

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return bool(getattr(self.out, "isatty", lambda: False)())

    def write(self, s: str) -> int:
        if self.streaming:
            self.out.write(s)
        else:
            self.parts.append(s)
        return len(s)

    def flush(self) -> None:
        if not self.streaming:
            self.streaming = True
            text = "".join(self.parts)
            self.parts.clear()
            self.out.write(text)
        self.out.flush()

    def release(self) -> None:
        """Write what is held as it is (an interrupted line) and stream from now on."""
        self.streaming = True
        self.out.write("".join(self.parts))
        self.parts.clear()
        flush(self.out)

    def finish(self) -> None:
        """Show what is held: through the pager when it does not fit the screen."""
        if self.streaming:
            flush(self.out)
            return
        text = "".join(self.parts)
        self.parts.clear()
        if not text:
            return
        coloured = colour(self.out)
        if coloured and self.c_like:
            with contextlib.suppress(Exception):
                text = _highlight_c(text)
        rows = shutil.get_terminal_size((80, 24)).lines
        if self.paging and self.isatty() and text.count("\n") >= rows - 1 and page(text):
            return
        self.out.write(text)
        flush(self.out)


def page(text: str) -> bool:
    """Show ``text`` in ``$PAGER`` (``less`` with ``LESS=FRX`` unless the user set
    ``$LESS``); False when no pager could run."""
    pager = os.environ.get("PAGER") or DEFAULT_PAGER
    try:
        argv = shlex.split(pager)
    except ValueError:
        return False
    if not argv:
        return False
    env = dict(os.environ)
    env.setdefault("LESS", DEFAULT_LESS)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, env=env)
    except OSError:
        return False
    assert proc.stdin is not None
    try:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(text.encode("utf-8", "replace"))
            proc.stdin.close()
        while True:
            try:
                proc.wait()
                break
            except KeyboardInterrupt:  # the pager handles Ctrl-C itself
                continue
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    return True
