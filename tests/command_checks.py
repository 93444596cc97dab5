"""Checks every command test makes of kdbg's command line on a dump: its output's lines, a
run that must succeed, bad input (one line naming what is wrong, exit status 1, the next
command still runs) and ``help`` with the REPL's completion of the options."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

from kdbg.ui.completion import complete
from tests.cli_support import kdbg_commands


def output_lines(text: str) -> List[str]:
    """*text*'s lines without trailing blanks, empty lines dropped (crash's, drgn's and
    kdbg's output compared line by line)."""
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def run_lines(path: Path, *commands: str) -> List[str]:
    """The output lines of *commands* run with ``-x`` on the dump *path*, which all succeed
    with nothing on stderr."""
    r = kdbg_commands(path, *commands)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return r.stdout.splitlines()


def bad_input(path: Path, cases: List[Tuple[str, str]], good: str, expected: Optional[str] = None) -> str:
    """Each bad command of *cases* (``(command, words its error holds)``) is one line
    naming what is wrong and exit status 1; *good* after it still runs and prints the
    same each time (*expected*, when given). Returns *good*'s output."""
    out = expected
    for cmd, words in cases:
        r = kdbg_commands(path, cmd, good)
        assert r.returncode == 1, (cmd, r.stderr)
        assert len(r.stderr.splitlines()) == 1 and words in r.stderr and "Traceback" not in r.stderr, (cmd, r.stderr)
        assert out is None or r.stdout == out, (cmd, r.stdout)
        out = r.stdout
    assert out
    return out


def help_and_completion(path: Path, name: str, options: List[str]) -> None:
    """``help NAME`` is NAME's usage and lists each of *options*; the REPL completes
    ``NAME -`` to at least those."""
    r = kdbg_commands(path, f"help {name}")
    assert r.returncode == 0 and r.stdout.startswith(f"usage: {name}"), r.stdout
    for option in options:
        assert option in r.stdout, option
    start, got = complete(None, {}, f"{name} -")
    assert start == len(f"{name} -") - 1 and set(options) <= set(got), got
