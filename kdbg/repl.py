"""A minimal prompt_toolkit REPL: commands when the first word is one, Python otherwise.

The full REPL (completion over members, syntax highlighting, history) is a later issue;
this keeps the contract's shape so ``kdbg`` with no -e/-x/SCRIPT is usable today.

Ctrl-C at the prompt clears the line; Ctrl-C while a line runs aborts that line only
(``kdbg: interrupted``) and the prompt returns. Ctrl-D (or the end of piped input) quits.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from typing import Any, Dict

from kdbg.commands import CommandContext, is_command, run_command
from kdbg.errors import KdbgError
from kdbg.evaluate import evaluate

__all__ = ["run_repl", "run_line"]


def run_repl(prog: Any, ctx: CommandContext, g: Dict[str, Any], quiet: bool = False) -> None:
    """Read lines until EOF; run each as a command or Python."""
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
        run_line(prog, line, ctx, g)


def run_line(prog: Any, line: str, ctx: CommandContext, g: Dict[str, Any]) -> None:
    """Run one REPL line (a command, else Python); report its failure or interruption on
    stderr and return, so the REPL goes on."""
    try:
        if is_command(line):
            run_command(prog, line, ctx)
        else:
            evaluate(line, g, ctx.out, "<kdbg>")
    except KeyboardInterrupt:
        _flush(ctx.out)
        sys.stderr.write("kdbg: interrupted\n")
    except KdbgError as e:
        sys.stderr.write(f"kdbg: {e}\n")
    except SystemExit:
        raise
    except Exception:
        traceback.print_exc()


def _flush(out: Any) -> None:
    with contextlib.suppress(OSError, ValueError):
        out.flush()
