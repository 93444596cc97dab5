"""Progress on stderr for work that takes over a second (a leaf: any layer may import it).

``with progress("decoding kallsyms") as p: ... p.update(done, total)`` shows
``kdbg: decoding kallsyms... 45%`` on stderr, rewritten in place with ``\\r``, but only
when stderr is a terminal and only once the work has taken longer than the threshold
(1 s; ``KDBG_PROGRESS_AFTER`` in seconds overrides it). A timer shows the line even when
the work reports no fractions. At the end the line is cleared. With stderr not a terminal
nothing is ever written.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from types import TracebackType
from typing import IO, Optional, Tuple, Type

__all__ = ["Progress", "progress"]

#: Seconds before anything is shown.
DEFAULT_AFTER = 1.0


def _threshold() -> float:
    try:
        return max(0.0, float(os.environ.get("KDBG_PROGRESS_AFTER", DEFAULT_AFTER)))
    except ValueError:
        return DEFAULT_AFTER


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class Progress:
    """One piece of slow work: :meth:`update` reports how far it is."""

    def __init__(self, what: str, stream: Optional[IO[str]] = None, after: Optional[float] = None) -> None:
        self.what = what
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _is_terminal(self.stream)
        self.after = _threshold() if after is None else after
        self.start = time.monotonic()
        self.shown = False
        self.percent: Optional[int] = None
        self.detail = ""
        self.counts: Optional[Tuple[int, int]] = None
        self._lock = threading.Lock()
        self._timer: Optional[threading.Timer] = None
        self._done = False

    def __enter__(self) -> Progress:
        if self.enabled:
            if self.after <= 0:
                self._show()
            else:
                self._timer = threading.Timer(self.after, self._show)
                self._timer.daemon = True
                self._timer.start()
        return self

    def update(self, done: int, total: int, detail: str = "") -> None:
        """``done`` of ``total`` units are finished (rewrites the line when the percentage
        changes and the threshold has passed). With ``detail`` (what is being done now,
        e.g. the current file) the line also counts ``done/total`` and estimates the time
        left from the pace so far."""
        if not self.enabled or total <= 0:
            return
        pct = min(100, max(0, done * 100 // total))
        if pct == self.percent and detail == self.detail:
            return
        self.percent = pct
        self.detail = detail
        self.counts = (done, total) if detail else None
        if self.shown or time.monotonic() - self.start >= self.after:
            self._show()

    def _show(self) -> None:
        with self._lock:
            if self._done:
                return
            text = f"kdbg: {self.what}..."
            if self.percent is not None:
                text += f" {self.percent}%"
            if self.counts is not None:
                done, total = self.counts
                text += f" ({done}/{total}) {self.detail}"
                if done:
                    left = (time.monotonic() - self.start) / done * (total - done)
                    text += f", about {_duration(left)} left"
            try:
                self.stream.write("\r\x1b[K" + text)
                self.stream.flush()
            except (OSError, ValueError):
                return
            self.shown = True

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._done = True
            if self.shown:
                try:
                    self.stream.write("\r\x1b[K")
                    self.stream.flush()
                except (OSError, ValueError):
                    pass


def _duration(seconds: float) -> str:
    """``45s``, ``3m05s``, ``1h02m``."""
    s = int(seconds + 0.5)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def progress(what: str, stream: Optional[IO[str]] = None, after: Optional[float] = None) -> Progress:
    """A :class:`Progress` context manager for ``what`` (e.g. ``"decoding kallsyms"``)."""
    return Progress(what, stream, after)
