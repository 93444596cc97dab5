"""A minimal prompt_toolkit REPL: commands when the first word is one, Python otherwise.

The full REPL (completion over members, syntax highlighting, history) is a later issue;
this keeps the contract's shape so ``kdbg`` with no -e/-x/SCRIPT is usable today.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any, Dict

from kdbg.commands import CommandContext, is_command, run_command
from kdbg.errors import KdbgError

__all__ = ["run_repl"]


def run_repl(prog: Any, ctx: CommandContext, g: Dict[str, Any], quiet: bool = False) -> None:
    """Read lines until EOF; run each as a command or Python."""
    from kdbg.cli import evaluate

    if not sys.stdin.isatty():
        lines = (line.rstrip("\n") for line in sys.stdin)
        prompt = None
    else:
        from prompt_toolkit import PromptSession

        session: Any = PromptSession()
        prompt = session.prompt
        lines = None
    if not quiet:
        ctx.out.write(f"kdbg on {prog.description}; 'help' lists commands, Ctrl-D quits\n")
    while True:
        try:
            line = next(lines) if lines is not None else prompt(">>> ")  # type: ignore[misc]
        except (EOFError, StopIteration):
            return
        except KeyboardInterrupt:
            continue
        if not line.strip():
            continue
        try:
            if is_command(line):
                run_command(prog, line, ctx)
            else:
                evaluate(prog, line, g, ctx.out)
        except KdbgError as e:
            sys.stderr.write(f"kdbg: {e}\n")
        except Exception:
            traceback.print_exc()
