"""The interactive REPL (prompt_toolkit + pygments): commands when the first word is one,
Python otherwise, evaluated by :func:`kdbg.ui.evaluate.evaluate` in the namespace of
:func:`kdbg.ui.evaluate.script_globals`.

- Multi-line input: Enter on an incomplete statement (``for t in for_each_task(prog):``)
  inserts a newline and the indentation; Enter on a blank line or a complete statement runs
  the whole block (Alt-Enter always runs it).
- Completion (Tab inserts the best candidate and opens the menu; Tab again cycles; it runs
  in a thread): see :mod:`kdbg.ui.completion`.
- Highlighting: the input as Python; the value of an expression and the output of
  ``ptype``/``whatis``/``p`` as C. ``NO_COLOR`` or a non-terminal give plain text.
- History in ``$XDG_STATE_HOME/kdbg/history`` (``~/.local/state/kdbg/history``), mode 0600;
  Ctrl-R searches it, and suggestions from it show in grey (Right arrow takes one).
- Output of one line longer than the screen goes through ``$PAGER`` (``less -R``).
- Ctrl-C at the prompt clears the line; Ctrl-C while a line runs aborts that line only
  (``kdbg: interrupted``) and the prompt returns. Ctrl-D (or the end of piped input) quits.
- Errors print one line; the ``traceback`` command prints the last one in full.
"""

from __future__ import annotations

import code
import contextlib
import dataclasses
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import traceback
from pathlib import Path
from typing import IO, Any, Dict, List, Optional, cast

from kdbg.errors import KdbgError
from kdbg.ui.commands import CommandContext, command, is_command, run_command
from kdbg.ui.evaluate import evaluate

__all__ = ["run_repl", "run_line", "history_path", "is_command_line", "needs_more", "last_traceback"]

#: Commands whose output is C (highlighted as such).
_C_OUTPUT_COMMANDS = frozenset({"ptype", "whatis", "p"})

#: The last error's full traceback (``traceback`` prints it).
_last_traceback: Optional[str] = None


def last_traceback() -> Optional[str]:
    """The formatted traceback of the last failed REPL line, or ``None``."""
    return _last_traceback


@command("traceback", "show the full traceback of the last error in the REPL", "traceback")
def traceback_cmd(prog: Any, args: str, ctx: CommandContext) -> None:
    """Print the last REPL error's full traceback."""
    ctx.out.write(_last_traceback or "no error yet\n")


def history_path() -> Path:
    """``$XDG_STATE_HOME/kdbg/history`` (``~/.local/state/kdbg/history`` by default)."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "kdbg" / "history"


def _open_history() -> Any:
    """A FileHistory at :func:`history_path` created with mode 0600, or an in-memory one
    when the file cannot be made (a read-only home)."""
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    path = history_path()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)
    except OSError as e:
        sys.stderr.write(f"kdbg: warning: no history: {path}: {e.strerror or e}\n")
        return InMemoryHistory()
    return FileHistory(str(path))


_ASSIGNMENT = re.compile(r"\s*\w+\s*(?:[-+*/%&|^@]|//|\*\*|<<|>>)?=(?!=)")


def is_command_line(line: str) -> bool:
    """Whether ``line`` runs a command: its first word is one, and it is not a Python
    assignment to a name that happens to be a command's (``p = prog["init_task"]``)."""
    return is_command(line) and not _ASSIGNMENT.match(line)


def needs_more(text: str) -> bool:
    """Whether Enter on ``text`` continues the block (an incomplete Python statement) rather
    than running it; a blank last line ends a block."""
    if not text.strip() or is_command_line(text):
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


def _colour(stream: IO[str]) -> bool:
    return "NO_COLOR" not in os.environ and bool(getattr(stream, "isatty", lambda: False)())


def _highlight_c(text: str) -> str:
    from pygments import highlight
    from pygments.formatters import TerminalFormatter
    from pygments.lexers import CLexer

    out: str = highlight(text, CLexer(), TerminalFormatter())
    return out if text.endswith("\n") else out.rstrip("\n")


class _Output(io.TextIOBase):
    """One line's output: held until the line ends (then paged when longer than the screen,
    highlighted as C when ``c_like``), or written through from the first ``flush``."""

    def __init__(self, out: IO[str], c_like: bool, interactive: bool) -> None:
        super().__init__()
        self.out = out
        self.c_like = c_like
        self.interactive = interactive
        self.parts: List[str] = []
        self.streaming = False

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return bool(getattr(self.out, "isatty", lambda: False)())

    def write(self, s: str) -> int:
        if self.streaming:
            self.out.write(s)
        else:
            self.parts.append(s)
        return len(s)

    def flush(self) -> None:
        if not self.streaming:
            self.streaming = True
            text = "".join(self.parts)
            self.parts.clear()
            self.out.write(text)
        self.out.flush()

    def finish(self) -> None:
        """Show what is held: through the pager when it does not fit the screen."""
        if self.streaming:
            _flush(self.out)
            return
        text = "".join(self.parts)
        self.parts.clear()
        if not text:
            return
        colour = _colour(self.out)
        if colour and self.c_like:
            with contextlib.suppress(Exception):
                text = _highlight_c(text)
        rows = shutil.get_terminal_size((80, 24)).lines
        if self.interactive and self.isatty() and text.count("\n") >= rows - 1 and _page(text, colour):
            return
        self.out.write(text)
        _flush(self.out)


def _page(text: str, colour: bool) -> bool:
    """Show ``text`` in ``$PAGER`` (``less -R``); False when no pager could run."""
    pager = os.environ.get("PAGER") or "less -R"
    try:
        argv = shlex.split(pager)
    except ValueError:
        return False
    if not argv:
        return False
    env = dict(os.environ)
    env.setdefault("LESS", "-R")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, env=env)
    except OSError:
        return False
    assert proc.stdin is not None
    try:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(text.encode("utf-8", "replace"))
            proc.stdin.close()
        while True:
            try:
                proc.wait()
                break
            except KeyboardInterrupt:  # the pager handles Ctrl-C itself
                continue
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    return True


def _session(prog: Any, g: Dict[str, Any]) -> Any:
    """The prompt_toolkit session: multi-line Python with completion, history, colours."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
    from prompt_toolkit.completion import ThreadedCompleter
    from prompt_toolkit.filters import has_completions
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.lexers import PygmentsLexer
    from pygments.lexers import PythonLexer

    from kdbg.ui.completion import KdbgCompleter

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
        if b.document.is_cursor_at_the_end and needs_more(text):
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
        history=_open_history(),
        auto_suggest=AutoSuggestFromHistory(),
        enable_history_search=False,
        prompt_continuation=lambda width, line, soft: "... ",
        color_depth=None if colour else _monochrome(),
    )


def _monochrome() -> Any:
    from prompt_toolkit.output import ColorDepth

    return ColorDepth.MONOCHROME


def run_repl(prog: Any, ctx: CommandContext, g: Dict[str, Any], quiet: bool = False) -> None:
    """Read lines (blocks, in a terminal) until EOF; run each as a command or Python."""
    interactive = sys.stdin.isatty()
    if not quiet:
        ctx.out.write(f"kdbg on {prog.description}; 'help' lists commands, Ctrl-D quits\n")
    if not interactive:
        for line in sys.stdin:
            line = line.rstrip("\n")
            if line.strip():
                run_line(prog, line, ctx, g)
        return
    session = _session(prog, g)
    while True:
        try:
            text = session.prompt(">>> ")
        except EOFError:
            return
        except KeyboardInterrupt:
            continue
        if not text.strip():
            continue
        run_line(prog, text.rstrip(), ctx, g, interactive=True)


def run_line(prog: Any, line: str, ctx: CommandContext, g: Dict[str, Any], interactive: bool = False) -> None:
    """Run one REPL line or block (a command, else Python); report its failure (one line:
    ``traceback`` shows it all) or interruption on stderr and return, so the REPL goes on."""
    global _last_traceback
    cmd = is_command_line(line)
    if cmd:
        c_like = line.split(None, 1)[0] in _C_OUTPUT_COMMANDS
    else:
        try:
            compile(line, "<kdbg>", "eval")
            c_like = True
        except (SyntaxError, ValueError):
            c_like = False
    out = _Output(ctx.out, c_like, interactive)
    stream = cast(IO[str], out)
    line_ctx = dataclasses.replace(ctx, out=stream, namespace=g)
    try:
        if cmd:
            run_command(prog, line, line_ctx)
        else:
            evaluate(line, g, stream, "<kdbg>")
        out.finish()
    except KeyboardInterrupt:
        out.streaming = True
        out.out.write("".join(out.parts))
        _flush(ctx.out)
        sys.stderr.write("kdbg: interrupted\n")
    except SystemExit:
        raise
    except Exception as e:
        with contextlib.suppress(Exception):
            out.finish()
        _last_traceback = _user_traceback(e)
        if isinstance(e, KdbgError):
            sys.stderr.write(f"kdbg: {e}\n")
        else:
            sys.stderr.write(f"kdbg: {type(e).__name__}: {e} ('traceback' shows where)\n")
        _flush(sys.stderr)


def _user_traceback(e: BaseException) -> str:
    """``e``'s traceback without the REPL's own frames above the user's code."""
    tb = e.__traceback__
    own = (__file__, evaluate.__code__.co_filename)
    while tb is not None and tb.tb_next is not None and tb.tb_frame.f_code.co_filename in own:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(e), e, tb))


def _flush(out: Any) -> None:
    with contextlib.suppress(OSError, ValueError):
        out.flush()
