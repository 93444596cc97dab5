"""The state dumps (:mod:`vmcores.state`) crash's commands are checked on: their forms, the
guest's own names of its processes, and Debian's crash 8.0.2's answers there
(:mod:`vmcores.crash_oracle`: one crash run per dump, cached by its exact list of commands)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

from tests.conftest import resolve_state_dump
from vmcores.crash_oracle import ask_crash
from vmcores.debian import SUITES

#: The forms each command is checked on against the guest: QEMU's ELF and its kdump-compressed form.
FORMS = ("elf", "kdump-zlib")
#: The state dumps each command is checked on: ``(suite, form)``.
STATE_IDS = [(suite, form) for suite in SUITES for form in FORMS]

#: The commands crash 8.0.2 is asked on each state ELF dump (one crash run per dump, cached
#: by this exact list: keep it whole when a command is compared or not).
CRASH_COMMANDS = ["irq", "irq -s", "irq -a", "irq -b", "timer", "timer -r", "kmem -v", "kmem -V", "kmem -z",
                  "kmem -n", "kmem -f", "dev", "dev -d", "dev -p", "bpf"]


def crash_answers(suite: str) -> Dict[str, str]:
    """crash 8.0.2's answers on *suite*'s state ELF dump (:data:`CRASH_COMMANDS`)."""
    return ask_crash(suite, resolve_state_dump(suite, "elf").path, CRASH_COMMANDS).outputs


def guest_pids(truth: Path) -> Dict[str, int]:
    """``NAME -> PID`` of the state guest's processes (its ``pids`` file)."""
    return {line.split()[0]: int(line.split()[1]) for line in (truth / "pids").read_text().splitlines()}
