"""drgn's panic helpers (``panic_task``, ``panic_message``, ``tainted``) against drgn with
Debian's DWARF and against what the kernels printed, on the crash dumps of the three
kernels (a sysrq panic, an oops in a module, an NMI) and on the reference dumps (no
panic).

The console is the truth: ``panic_message()`` is the console's ``Kernel panic - not
syncing: ...`` line; ``panic_task()`` is the task of the ``CPU: N ... PID: P Comm: C`` line
the panic printed (the oops' own line for an oops, whose panic prints no second one); for
the panic and NMI scenarios, whose line the panic printed, ``tainted()`` is that line's
taint string (``Not tainted``: ``''``).

Where drgn is wrong: on a kernel that did not panic, drgn 0.3.0's ``panic_task()``
raises ``LookupError("panic_cpu is not set")`` though it documents ``NULL``; kdbg returns
``NULL`` (the kernel's own state: ``panic_cpu`` is -1).
"""

from __future__ import annotations

import re
from typing import Optional, Tuple

import pytest

from kdbg.helpers.panic import panic_message, panic_task, tainted
from kdbg.helpers.sched import task_cpu
from tests.conftest import resolve_crash_dump
from tests.helpers_compare import drgn_answers, kdbg_answer, mismatches, open_program, oracle_program
from vmcores.debian import SUITES

CASES = {
    "panic_task": "H.panic_task(prog)",
    "panic_task.pid": "H.panic_task(prog).pid.value_()",
    "panic_message": "H.panic_message(prog)",
    "tainted": "H.tainted(prog)",
    "tainted_mask": "prog['tainted_mask'].value_()",
}
SCENARIOS = ["panic", "oops", "nmi"]
_CPU_LINE = re.compile(r"\] CPU: (\d+) (?:UID: \d+ )?PID: (\d+) Comm: (\S+) (Not tainted|Tainted: (.*?)) (\S+) #")


def _console_panic(console: str) -> Tuple[str, int, int, str, Optional[str]]:
    """``(panic line, cpu, pid, comm, taint or None)`` from the console: the taint only
    when the panic itself printed the CPU line."""
    lines = console.splitlines()
    at = next(i for i, line in enumerate(lines) if "Kernel panic - not syncing:" in line
              and "end Kernel panic" not in line)
    message = lines[at][lines[at].index("Kernel panic"):]
    after = [_CPU_LINE.search(line) for line in lines[at + 1:at + 3]]
    hit = next((m for m in after if m), None)
    printed_by_panic = hit is not None
    if hit is None:
        hit = [m for m in (_CPU_LINE.search(line) for line in lines[:at]) if m][-1]
    taint = None
    if printed_by_panic:
        taint = "" if hit.group(4) == "Not tainted" else hit.group(5)
    return message, int(hit.group(1)), int(hit.group(2)), hit.group(3), taint


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_panic_as_drgn_and_console(suite: str, scenario: str) -> None:
    dump = resolve_crash_dump(suite, scenario, "elf-paging")
    assert mismatches(suite, CASES, core=dump.path) == {}
    prog = open_program(dump.path)
    message, cpu, pid, comm, taint = _console_panic((dump.truth / "console.log").read_text(errors="replace"))
    assert panic_message(prog) == message.encode()
    task = panic_task(prog)
    assert (int(task.pid), task.comm.string_().decode(), task_cpu(task)) == (pid, comm[:15], cpu)
    if taint is not None:
        assert tainted(prog) == taint
    else:
        assert "D" in tainted(prog)  # the oops (TAINT_DIE) happened after its CPU line


@pytest.mark.parametrize("suite", SUITES)
def test_no_panic(suite: str) -> None:
    """A reference dump: no panic. drgn's panic_task raises LookupError (its bug); kdbg's
    is NULL; the rest as drgn."""
    theirs = drgn_answers(suite, CASES)
    assert theirs["panic_task"]["error"] == "LookupError"
    prog = oracle_program(suite)
    assert kdbg_answer(prog, CASES["panic_task"]) == {"type": "struct task_struct *", "value": 0}
    assert int(panic_task(prog)) == 0
    for key in ("panic_message", "tainted", "tainted_mask"):
        assert kdbg_answer(prog, CASES[key]) == theirs[key], key
    assert panic_message(prog) is None
