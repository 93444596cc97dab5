"""Running the lines of a session: the REPL's, piped input's and ``-x``'s.

:func:`run_line` runs one line or block, as a command or as Python
(:func:`kdbg.ui.dispatch.is_command_line` decides, for every caller), and reports a failure
in one line on stderr; :func:`run_lines` runs input that is not a terminal the way the
interactive REPL would (``code.InteractiveConsole``'s compilation: a block runs when a
blank line or a dedented statement ends it) and tells whether every line succeeded.
:func:`last_traceback` keeps the last failure in full (the REPL's ``traceback`` command).
"""

from __future__ import annotations

import codeop
import contextlib
import dataclasses
import sys
import traceback
from typing import IO, Any, Dict, Iterable, List, Mapping, Optional, cast

from kdbg.errors import KdbgError
from kdbg.ui.commands import CommandContext, run_command
from kdbg.ui.dispatch import is_command_line
from kdbg.ui.evaluate import evaluate, python_globals
from kdbg.ui.pager import LineOutput, flush
from kdbg.ui.pipes import run_redirected, split_redirect

__all__ = ["REPL_HINT", "last_traceback", "run_line", "run_lines"]

#: Commands whose output is C (highlighted as such).
_C_OUTPUT_COMMANDS = frozenset({"ptype", "whatis", "p"})
#: How a REPL error line says where to find the whole traceback.
REPL_HINT = "'traceback' shows where"

#: The last error's full traceback (``traceback`` prints it).
_last_traceback: Optional[str] = None


def last_traceback() -> Optional[str]:
    """The formatted traceback of the last failed line, or ``None``."""
    return _last_traceback


def _c_like(line: str, cmd: bool) -> bool:
    if cmd:
        return line.split(None, 1)[0] in _C_OUTPUT_COMMANDS
    try:
        compile(line, "<kdbg>", "eval")
    except (SyntaxError, ValueError):
        return False
    return True


def run_line(
    prog: Any,
    line: str,
    ctx: CommandContext,
    g: Mapping[str, Any],
    *,
    interactive: bool = False,
    styled: bool = True,
    filename: str = "<kdbg>",
    hint: str = REPL_HINT,
    full_traceback: bool = False,
) -> Optional[BaseException]:
    """Run one line or block (a command, else Python in ``g``, a dict or a
    :class:`~kdbg.ui.evaluate.SessionNamespace`) and return ``None``, or the
    exception that failed or interrupted it, already reported on stderr in one line
    (``kdbg: ...``, then ``(hint)`` unless kdbg's own error; the whole traceback after it
    with ``full_traceback``), so that the caller goes on.

    ``styled`` output is held until the line ends, coloured as C where that fits and, when
    ``interactive`` and the session's ``scroll`` setting is on, paged
    (:mod:`kdbg.ui.pager`); otherwise it goes straight to ``ctx.out``.
    """
    global _last_traceback
    cmd = is_command_line(line, g)
    out: Optional[LineOutput] = None
    stream = ctx.out
    if styled:
        out = LineOutput(ctx.out, _c_like(line, cmd), interactive and ctx.settings.scroll)
        stream = cast(IO[str], out)
    line_ctx = dataclasses.replace(ctx, out=stream, namespace=g)
    try:
        redirect = split_redirect(line, g) if cmd else None
        if redirect is not None:
            command = redirect.command
            run_redirected(redirect, lambda buf: run_command(prog, command, dataclasses.replace(line_ctx, out=buf)),
                           stream)
        elif cmd:
            run_command(prog, line, line_ctx)
        else:
            evaluate(line, python_globals(g), stream, filename)
        if out is not None:
            out.finish()
        return None
    except KeyboardInterrupt as e:
        if out is not None:
            out.release()
        sys.stderr.write("kdbg: interrupted\n")
        flush(sys.stderr)
        return e
    except (SystemExit, BrokenPipeError):
        raise
    except Exception as e:
        if out is not None:
            with contextlib.suppress(Exception):  # the output stream itself failed
                out.finish()
        else:
            flush(ctx.out)
        _last_traceback = _user_traceback(e)
        if isinstance(e, KdbgError):
            sys.stderr.write(f"kdbg: {e}\n")
        else:
            sys.stderr.write(f"kdbg: {type(e).__name__}: {e} ({hint})\n")
        if full_traceback:
            sys.stderr.write(_last_traceback)
        flush(sys.stderr)
        return e


def run_lines(prog: Any, lines: Iterable[str], ctx: CommandContext, g: Dict[str, Any]) -> bool:
    """Run input that is not a terminal as the interactive REPL would: a command line at
    once, Python statement by statement with blocks collected until they are complete
    (``codeop``, as ``code.InteractiveConsole``). A blank line ends a block, and so does a
    line that starts a new statement at the left margin; an unfinished block at the end
    runs too. True when every line succeeded."""
    ok = True
    buffer: List[str] = []

    def run(source: str) -> None:
        nonlocal ok
        ok = run_line(prog, source, ctx, g) is None and ok

    for raw in lines:
        line = raw.rstrip("\r\n")
        if buffer:
            buffer.append(line)
            try:
                if codeop.compile_command("\n".join(buffer), "<kdbg>", "single") is None:
                    continue
            except (SyntaxError, OverflowError, ValueError):
                if line.strip() and not line[:1].isspace():
                    run("\n".join(buffer[:-1]))  # the block before a new statement
                    buffer.clear()
                else:
                    run("\n".join(buffer))  # run_line reports the error in its one line
                    buffer.clear()
                    continue
            else:
                run("\n".join(buffer))
                buffer.clear()
                continue
        if not line.strip():
            continue
        if is_command_line(line, g):
            run(line)
            continue
        try:
            if codeop.compile_command(line, "<kdbg>", "single") is None:
                buffer.append(line)
                continue
        except (SyntaxError, OverflowError, ValueError):
            pass
        run(line)
    if buffer:
        run("\n".join(buffer))
    return ok


def _user_traceback(e: BaseException) -> str:
    """``e``'s traceback without the session's own frames above the user's code."""
    tb = e.__traceback__
    own = (__file__, evaluate.__code__.co_filename)
    while tb is not None and tb.tb_next is not None and tb.tb_frame.f_code.co_filename in own:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(e), e, tb))
