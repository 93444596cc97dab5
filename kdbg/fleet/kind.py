"""What kind of crash a dump records, read from the kernel's own log.

The kernel says what happened in fixed words: ``BUG: kernel NULL pointer dereference``
(arm64: ``Unable to handle kernel NULL pointer dereference``),
``general protection fault``, ``watchdog: BUG: soft lockup``, ``Kernel panic - not syncing:
...``. :func:`classify` finds the panic line (the last ``Kernel panic - not syncing``) and
takes the nearest line before it that names a cause; without one, the panic's own words;
without a panic, the last cause the log names (a dump taken after an oops that did not
panic), else ``none`` (a live kernel, or a dump taken on demand).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Pattern, Sequence, Tuple

__all__ = ["KINDS", "CrashKind", "classify"]

#: Every kind, with how a person reads it.
KINDS = {
    "null-deref": "NULL pointer dereference",
    "bad-pointer": "bad pointer dereference",
    "gpf": "general protection fault",
    "bug": "BUG",
    "warning": "WARNING with panic_on_warn",
    "soft-lockup": "soft lockup",
    "hard-lockup": "hard lockup",
    "hung-task": "hung task",
    "rcu-stall": "RCU stall",
    "oom": "out-of-memory panic",
    "sysrq": "crash forced with sysrq",
    "nmi": "NMI",
    "panic": "panic",
    "none": "no crash",
    "unknown": "unknown (the log cannot be read)",
}

#: Lines that name a cause, most specific first within a line (one kind per line).
_CAUSES: Tuple[Tuple[str, Pattern[str]], ...] = tuple((k, re.compile(p)) for k, p in (
    ("soft-lockup", r"BUG: soft lockup"),
    ("null-deref", r"BUG: kernel NULL pointer dereference|^Unable to handle kernel NULL pointer dereference"),
    ("bad-pointer", r"BUG: unable to handle (?:page fault|kernel paging request|kernel NULL)"
                    r"|^Unable to handle kernel (?:paging request|access to user memory|execute from non-executable"
                    r"|write to read-only memory)"),
    ("gpf", r"general protection fault"),
    ("bug", r"kernel BUG at |BUG: "),
    ("hard-lockup", r"Watchdog detected hard LOCKUP"),
    ("hung-task", r"INFO: task .* blocked for more than"),
    ("rcu-stall", r"rcu: INFO: .*detected stall|rcu_.* self-detected stall|detected stalls on CPUs"),
    ("oom", r"Out of memory|System is deadlocked on memory"),
    ("sysrq", r"[Ss]ys[Rr]q ?: Trigger a crash"),
    ("nmi", r"NMI received for unknown reason|NMI: IOCK error|NMI: PCI system error"),
    ("warning", r"^WARNING: "),
))

#: What a panic line says when no cause line precedes it.
_PANIC_WORDS: Tuple[Tuple[str, Pattern[str]], ...] = tuple((k, re.compile(p)) for k, p in (
    ("hung-task", r"hung_task: blocked tasks"),
    ("soft-lockup", r"softlockup: hung tasks"),
    ("hard-lockup", r"Hard LOCKUP"),
    ("rcu-stall", r"RCU Stall"),
    ("oom", r"Out of memory|System is deadlocked on memory"),
    ("sysrq", r"sysrq triggered crash"),
    ("nmi", r"NMI"),
    ("warning", r"panic_on_warn"),
))

_PANIC = re.compile(r"^(?!---\[ end )Kernel panic - not syncing: ?(.*)")

#: The hung-task detector's line: ``INFO: task COMM:PID blocked for more than N seconds.``
_HUNG = re.compile(r"INFO: task (?P<comm>.*):(?P<pid>\d+) blocked for more than (?P<secs>\d+) seconds")


@dataclass(frozen=True)
class CrashKind:
    """A crash's kind (a key of :data:`KINDS`), the log line that says so (``None`` for
    ``none``) and the panic's own message (``None`` when the kernel did not panic)."""

    kind: str
    evidence: Optional[str]
    panic: Optional[str]

    @property
    def label(self) -> str:
        """How a person reads the kind (``"NULL pointer dereference"``)."""
        return KINDS[self.kind]

    @property
    def blocked_pid(self) -> Optional[int]:
        """For a hung task, the PID the detector named (the task that hung, whose stack is
        the bug: the panicking task is only the detector); else None."""
        m = _HUNG.search(self.evidence or "") if self.kind == "hung-task" else None
        return int(m.group("pid")) if m else None


def _cause(line: str) -> Optional[str]:
    for kind, pattern in _CAUSES:
        if pattern.search(line):
            return kind
    return None


def classify(log: Sequence[str]) -> CrashKind:
    """The kind of crash the kernel log ``log`` (its lines, without timestamps) records."""
    lines: List[str] = [line.rstrip("\n") for line in log]
    panic_at = next((i for i in range(len(lines) - 1, -1, -1) if _PANIC.search(lines[i])), None)
    if panic_at is None:
        for line in reversed(lines):
            kind = _cause(line)
            if kind is not None:
                return CrashKind(kind, line.strip(), None)
        return CrashKind("none", None, None)
    m = _PANIC.search(lines[panic_at])
    assert m is not None
    message = m.group(1).strip()
    for line in reversed(lines[:panic_at]):
        kind = _cause(line)
        if kind is not None:
            return CrashKind(kind, line.strip(), message)
    for kind, pattern in _PANIC_WORDS:
        if pattern.search(message):
            return CrashKind(kind, lines[panic_at].strip(), message)
    return CrashKind("panic", lines[panic_at].strip(), message)
