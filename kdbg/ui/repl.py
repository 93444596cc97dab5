"""The interactive REPL (prompt_toolkit + pygments): commands or Python as
:func:`kdbg.ui.dispatch.is_command_line` decides (a name the session bound wins over a
command), run by :func:`kdbg.ui.session.run_line` in the namespace of
:func:`kdbg.ui.evaluate.script_globals`.

- Multi-line input: Enter on an incomplete statement (``for t in for_each_task(prog):``)
  inserts a newline and the indentation; Enter on a blank line or a complete statement runs
  the whole block (Alt-Enter always runs it).
- Completion (Tab inserts the best candidate and opens the menu; Tab again cycles; it runs
  in a thread): see :mod:`kdbg.ui.completion`.
- Highlighting: the input as Python; the value of an expression and the output of
  ``ptype``/``whatis``/``p`` as C. ``NO_COLOR`` or a non-terminal give plain text.
- History in ``$XDG_STATE_HOME/kdbg/history`` (``~/.local/state/kdbg/history``), mode 0600,
  never through a symlink nor in another user's file (:mod:`kdbg.ui.history`); Ctrl-R
  searches it, and suggestions from it show in grey (Right arrow takes one).
- Output of one line longer than the screen goes through ``$PAGER`` (``less`` with
  ``LESS=FRX``: it stays on the screen after ``q``); ``set scroll off`` stops paging
  (:mod:`kdbg.ui.pager`).
- Input that is not a terminal runs as typed input would, blocks included
  (:func:`kdbg.ui.session.run_lines`); the exit status is then 1 when any line failed.
- Ctrl-C at the prompt clears the line; Ctrl-C while a line runs aborts that line only
  (``kdbg: interrupted``) and the prompt returns. Ctrl-D (or the end of piped input) quits.
- Errors print one line; the ``traceback`` command prints the last one in full.
"""

from __future__ import annotations

import code
import gc
import os
import sys
from typing import Any, Dict

from kdbg.ui.commands import CommandContext, command
from kdbg.ui.dispatch import is_command_line
from kdbg.ui.session import last_traceback, run_line, run_lines

__all__ = ["run_repl", "run_line", "is_command_line", "needs_more", "last_traceback"]


@command("traceback", "show the full traceback of the last error in the REPL", "traceback")
def traceback_cmd(prog: Any, args: str, ctx: CommandContext) -> None:
    """Print the last failed line's full traceback."""
    ctx.out.write(last_traceback() or "no error yet\n")


def needs_more(text: str, namespace: Any = None) -> bool:
    """Whether Enter on ``text`` continues the block (an incomplete Python statement) rather
    than running it; a blank last line ends a block."""
    if not text.strip() or is_command_line(text, namespace):
        return False
    lines = text.split("\n")
    if len(lines) > 1 and not lines[-1].strip():
        return False
    try:
        return code.compile_command(text, "<kdbg>", "single") is None
    except (SyntaxError, ValueError, OverflowError):
        return False


def _indent_for(text: str) -> str:
    """The indentation of the next line of a block."""
    last = text.split("\n")[-1]
    indent = last[: len(last) - len(last.lstrip())]
    if last.rstrip().endswith(":"):
        indent += "    "
    return indent


def _warn(message: str) -> None:
    sys.stderr.write(f"kdbg: warning: {message}\n")


def _session(prog: Any, g: Dict[str, Any]) -> Any:
    """The prompt_toolkit session: multi-line Python with completion, history, colours."""
    # The interactive prompt's imports (prompt_toolkit, pygments, and the completer and
    # history built on them) load only when a REPL starts: -x, -e and scripts never pay
    # for them (prompt_toolkit alone is most of a second).
    from prompt_toolkit import PromptSession
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
    from prompt_toolkit.completion import ThreadedCompleter
    from prompt_toolkit.filters import has_completions
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.lexers import PygmentsLexer
    from pygments.lexers import PythonLexer

    from kdbg.ui.completion import KdbgCompleter
    from kdbg.ui.history import open_history

    kb = KeyBindings()

    @kb.add("enter")
    def _enter(event: Any) -> None:
        b = event.current_buffer
        state = b.complete_state
        if state is not None and state.current_completion is not None:
            b.complete_state = None  # take the selected completion, run nothing yet
            return
        b.cancel_completion()
        text = b.document.text
        if b.document.is_cursor_at_the_end and needs_more(text, g):
            b.insert_text("\n" + _indent_for(text))
            return
        b.validate_and_handle()

    @kb.add("escape", "enter")
    def _run(event: Any) -> None:
        event.current_buffer.validate_and_handle()

    @kb.add("tab", filter=~has_completions)
    def _tab(event: Any) -> None:
        b = event.current_buffer
        before = b.document.current_line_before_cursor
        if not before.strip():
            b.insert_text("    ")
            return
        b.start_completion(select_first=True)

    colour = "NO_COLOR" not in os.environ
    return PromptSession(
        multiline=True,
        key_bindings=kb,
        completer=ThreadedCompleter(KdbgCompleter(prog, g)),
        complete_while_typing=False,
        lexer=PygmentsLexer(PythonLexer) if colour else None,
        history=open_history(_warn),
        auto_suggest=AutoSuggestFromHistory(),
        enable_history_search=False,
        prompt_continuation=lambda width, line, soft: "... ",
        color_depth=None if colour else _monochrome(),
    )


def _monochrome() -> Any:
    from prompt_toolkit.output import ColorDepth  # lazy, as _session's: only a REPL needs it

    return ColorDepth.MONOCHROME


def run_repl(prog: Any, ctx: CommandContext, g: Dict[str, Any], quiet: bool = False) -> bool:
    """Read lines (blocks, in a terminal) until EOF; run each as a command or Python.
    False when input was not a terminal and a line of it failed (the caller's exit
    status); an interactive session is always True."""
    interactive = sys.stdin.isatty()
    if not quiet:
        ctx.out.write(f"kdbg on {prog.description}; 'help' lists commands, Ctrl-D quits\n")
    if not interactive:
        return run_lines(prog, sys.stdin, ctx, g)
    session = _session(prog, g)
    while True:
        try:
            text = session.prompt(">>> ")
        except EOFError:
            return True
        except KeyboardInterrupt:
            continue
        if not text.strip():
            continue
        # Each prompt leaves an asyncio event loop in a reference cycle. Collected in the
        # middle of the user's code, its __del__ can be where Ctrl-C lands, and Python
        # ignores a KeyboardInterrupt raised in a finalizer: the Ctrl-C would be lost (seen
        # in a tmux session: "Exception ignored in: BaseEventLoop.__del__", the loop ran on).
        # Collect it here, before the line runs.
        gc.collect()
        run_line(prog, text.rstrip(), ctx, g, interactive=True)
