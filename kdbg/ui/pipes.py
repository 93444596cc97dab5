"""crash's pipes and redirection of a command line: ``foreach bt | grep -B3 mutex_lock``,
``kmem -s > slabs.txt``, ``log >> all.txt``.

The line splits at its first ``|``, ``>`` or ``>>`` outside quotes. It is a pipe or a
redirection only when the part before it is a command line by itself
(:func:`kdbg.ui.dispatch.is_command_line`): a Python line that uses ``|`` or ``>``
(``flags | 4``, ``x > 3`` with ``x`` bound) stays Python. The command's output goes, as
crash sends it, to the system shell's command (``/bin/sh -c``, whose output and exit
status come back to the session: a failing shell command fails the line) or to the file
(created or, with ``>>``, appended to).
"""

from __future__ import annotations

import io
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from kdbg.errors import ExpressionError
from kdbg.ui.dispatch import is_command_line

__all__ = ["Redirect", "split_redirect", "run_redirected"]

#: Seconds a pipe's shell command may run.
SHELL_TIMEOUT = 600


@dataclass(frozen=True)
class Redirect:
    """A command line's pipe or redirection: ``command``, then ``op`` (``|``, ``>`` or
    ``>>``) and ``target`` (the shell command or the file name)."""

    command: str
    op: str
    target: str


def _split(line: str) -> Optional[Redirect]:
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "|>":
            op = ">>" if line.startswith(">>", i) else ch
            return Redirect(line[:i].rstrip(), op, line[i + len(op):].strip())
    return None


def split_redirect(line: str, namespace: Optional[Mapping[str, Any]] = None) -> Optional[Redirect]:
    """The pipe or redirection of a command ``line``, or ``None`` when it has none (see
    the module docstring: the part before the operator must be a command line)."""
    found = _split(line)
    if found is None or not found.command or not is_command_line(found.command, namespace):
        return None
    if not found.target:
        raise ExpressionError(f"{found.op}: nothing after it (a shell command or a file name)")
    return found


def run_redirected(redirect: Redirect, run: Callable[[io.StringIO], None], out: Any) -> None:
    """Run the command (``run`` writes its output to the buffer it is given), then hand
    the output to the shell command (its output to ``out``) or write it to the file."""
    buf = io.StringIO()
    try:
        run(buf)
    finally:
        _deliver(redirect, buf.getvalue(), out)


def _deliver(redirect: Redirect, text: str, out: Any) -> None:
    if redirect.op == "|":
        try:
            proc = subprocess.run(["/bin/sh", "-c", redirect.target], input=text, capture_output=True, text=True,
                                  timeout=SHELL_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise ExpressionError(f"| {redirect.target}: still running after {SHELL_TIMEOUT}s: stopped") from None
        out.write(proc.stdout)
        err = proc.stderr.strip().splitlines()
        # a status without a message (grep's 1: no line matched) is no failure, as in crash
        if proc.returncode and err:
            raise ExpressionError(f"| {redirect.target}: {err[-1]}")
        return
    try:
        with Path(redirect.target).expanduser().open("a" if redirect.op == ">>" else "w") as f:
            f.write(text)
    except OSError as e:
        raise ExpressionError(f"{redirect.op} {redirect.target}: {e.strerror or e}") from None
