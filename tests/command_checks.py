"""Checks every command test makes of kdbg's command line on a dump: its output's lines, a
run that must succeed, bad input (one line naming what is wrong, exit status 1, the next
command still runs) and ``help`` with the REPL's completion of the options."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Optional, Tuple

from kdbg.ui.completion import complete
from tests.cli_support import kdbg_commands


def output_lines(text: str) -> List[str]:
    """*text*'s lines without trailing blanks, empty lines dropped (crash's, drgn's and
    kdbg's output compared line by line)."""
    return [line.rstrip() for line in text.splitlines() if line.strip()]


#: A branch's operand in crash's (gdb's) and kdbg's ``dis``: the target, and its symbol.
BRANCH_TARGET = re.compile(r"(0x[0-9a-f]+)(?: (<[^>]+>))?$")


def assert_same_instruction(what: object, mine: Tuple[str, str], gdb: Tuple[str, str]) -> None:
    """One instruction of kdbg's ``dis`` (capstone) as crash's (gdb's): ``(mnemonic, operands)``.
    gdb's padding (``data16``, ``cs``, ``xchg %ax,%ax``, ``nop*``) is any nop to capstone, and
    gdb adds size suffixes capstone leaves out; a direct branch's target is the same address,
    named alike."""
    (m1, o1), (m2, o2) = mine, gdb
    if m2 in ("data16", "cs") or m2.startswith("nop") or (m2, o2) == ("xchg", "%ax,%ax"):
        assert m1.startswith("nop") or m1 == m2, (what, m1, m2)
        return
    assert m1 == m2 or m1[:-1] == m2 or m2.startswith(m1), (what, m1, m2)
    if m2.startswith("j") or m2.startswith("call"):
        t1, t2 = BRANCH_TARGET.search(o1), BRANCH_TARGET.search(o2)
        if t2 is not None:  # a direct branch: the same target, named alike
            assert t1 is not None and t1.groups() == t2.groups(), (what, o1, o2)


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
