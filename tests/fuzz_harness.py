"""What every fuzz test needs: a watchdog that stops a hanging case from outside, and a
count of how far the cases got (their *reach*), so a fuzz run that never gets past the
first check cannot pass for a thorough one.

A case runs under :func:`watchdog`: ``setitimer(ITIMER_REAL)`` delivers SIGALRM to the main
thread (where pytest runs tests) and the handler raises :class:`CaseHang` inside whatever
Python code the case is executing, so a loop that never ends is caught while it runs, not
measured after it returns.  (Code stuck inside one C call is only interrupted when that
call returns; kdbg's decoders are Python loops, so this is where a hang would sit.)
The limit is deliberately generous: it detects hangs, it is not a speed assertion.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from dataclasses import dataclass, field
from typing import Dict, Iterator, List

#: A case still running after this many seconds is a hang.
HANG_SECONDS = 20.0

#: One line per checked :class:`Reach`, printed at the end of the run (tests/conftest.py).
REPORTS: List[str] = []


class CaseHang(BaseException):
    """A fuzz case was still running when its watchdog fired.

    A ``BaseException`` (like ``KeyboardInterrupt``) so that no ``except Exception`` in the
    code under test can swallow it and keep hanging."""


@contextlib.contextmanager
def watchdog(seconds: float = HANG_SECONDS, what: str = "case") -> Iterator[None]:
    """Run the block with a SIGALRM watchdog: :class:`CaseHang` after *seconds*."""
    assert threading.current_thread() is threading.main_thread(), "signals need the main thread"

    def fire(signum: int, frame: object) -> None:
        raise CaseHang(f"{what} still running after {seconds:g}s (a hang)")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass
class Reach:
    """How many cases ran and how many got past each named stage."""

    name: str
    stages: List[str]
    cases: int = 0
    passed: Dict[str, int] = field(default_factory=dict)
    hangs: List[str] = field(default_factory=list)

    def record(self, stage: str) -> None:
        """Count one case that got as far as *stage* (and so past every earlier one);
        ``""`` means it stopped before the first."""
        self.cases += 1
        if stage:
            for s in self.stages[: self.stages.index(stage) + 1]:
                self.passed[s] = self.passed.get(s, 0) + 1

    def fraction(self, stage: str) -> float:
        """Share of the cases that got past *stage*."""
        return self.passed.get(stage, 0) / self.cases if self.cases else 0.0

    def __str__(self) -> str:
        parts = ", ".join(f"{s} {self.passed.get(s, 0)} ({100 * self.fraction(s):.0f}%)" for s in self.stages)
        return f"{self.name}: {self.cases} cases; past {parts}; hangs {len(self.hangs)}"

    def check(self, floors: Dict[str, float], min_cases: int) -> None:
        """Report the reach and assert: no hangs, enough cases, each stage above its floor."""
        print(f"\n{self}")
        REPORTS.append(str(self))
        assert not self.hangs, "\n".join(self.hangs[:5])
        assert self.cases >= min_cases, str(self)
        for stage, floor in floors.items():
            assert self.fraction(stage) >= floor, f"reach below {floor:.0%} at {stage!r}: {self}"
