"""A Ctrl-C during a REPL line is never lost to a finalizer.

prompt_toolkit leaves each prompt's asyncio event loop in a reference cycle. When Python's
collector frees it in the middle of the user's line, ``BaseEventLoop.__del__`` runs there, and
a KeyboardInterrupt raised inside a finalizer is printed as "Exception ignored in" and
dropped: the user's Ctrl-C is lost and the line runs on (seen in a tmux session of a
``foreach bt``). The REPL collects before each line runs, so no such loop is left for the
line's own collections.

Deterministically: the REPL reads lines through a pipe (prompt_toolkit's own pipe input, as
a terminal would feed them), and each line asks the collector what unreachable objects are
waiting (``DEBUG_SAVEALL`` keeps them in ``gc.garbage`` instead of freeing them). With the
REPL's collection, no event loop is among them; without it (the control), one is: the
premise holds with the installed prompt_toolkit, so the check can fail.
"""

from __future__ import annotations

import io
import json
import sys
import types
from pathlib import Path
from typing import Any, List

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

import kdbg
from kdbg.ui import repl
from kdbg.ui.commands import CommandContext

SAMPLE = Path(__file__).resolve().parent.parent / "vmcores" / "sample"

#: One line: how many event loops wait, unreachable, for the collector as the line starts.
CHECK = ("import gc, asyncio; gc.set_debug(gc.DEBUG_SAVEALL); gc.collect(); "
         "print('LOOPS', sum(isinstance(o, asyncio.AbstractEventLoop) for o in gc.garbage)); "
         "gc.set_debug(0); gc.garbage.clear()")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def waiting_loops(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], lines: int) -> List[int]:
    """Run the REPL on the sample dump with ``lines`` copies of :data:`CHECK` typed, then
    Ctrl-D; the count each line printed."""
    info = json.loads((SAMPLE / "sample.json").read_text())
    prog = kdbg.open_core(str(SAMPLE / info["file"]))
    monkeypatch.setattr(sys, "stdin", _Terminal())
    g: dict = {"prog": prog}
    try:
        with create_pipe_input() as inp, create_app_session(input=inp, output=DummyOutput()):
            for _ in range(lines):
                inp.send_text(CHECK + "\r")
            inp.send_text("\x04")
            assert repl.run_repl(prog, CommandContext(out=sys.stdout), g, quiet=True)
    finally:
        prog.close()
    out = capsys.readouterr().out
    return [int(line.split()[1]) for line in out.splitlines() if line.startswith("LOOPS ")]


@pytest.mark.timeout(120)
def test_no_event_loop_waits_for_the_collector_when_a_line_starts(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))  # the REPL's history goes there
    assert waiting_loops(monkeypatch, capsys, 4) == [0, 0, 0, 0]


@pytest.mark.timeout(120)
def test_control_without_the_collection_a_loop_waits(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The premise: without the REPL's collection, a prompt's loop is waiting when a line
    starts. If this fails, prompt_toolkit no longer leaves the cycle, and the collection in
    :func:`kdbg.ui.repl.run_repl` may go."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    fake: Any = types.SimpleNamespace(collect=lambda *a: 0)
    monkeypatch.setattr(repl, "gc", fake)
    counts = waiting_loops(monkeypatch, capsys, 4)
    assert len(counts) == 4 and any(counts), counts
