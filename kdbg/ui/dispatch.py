"""Whether a line is a command or Python: the one decision the REPL, piped input, ``-x``
and completion share.

A line is a command when its first word is a registered command and

- that word is not a name bound in the session (``p = find_task(prog, 1)`` makes ``p``
  the user's, as IPython's automagic yields to a variable of the magic's name), and
- the line is not Python written with names the session knows: a statement other than a
  bare expression (``ps = 3``, ``p += 1``), or an expression that is more than the word
  itself and whose every name is bound or a builtin (``help(prog)``).

crash's ``eval (1 << 27)`` is the command (a space after ``eval`` or ``ascii``), while
``eval("1")`` is Python's. Everything else is Python: ``ps 1``, ``bt -a`` and ``p x.pid`` do not parse as Python, so
they stay commands; ``ps`` alone is the command until the session binds ``ps``. A word
alone that is neither a command, nor bound, nor a builtin or keyword goes to the command
table too, which says ``unknown command 'foo' (try 'help')`` rather than Python's
``NameError``.
"""

from __future__ import annotations

import ast
import builtins
import keyword
from typing import Any, Mapping, Optional

from kdbg.ui.commands import is_command, is_command_name

__all__ = ["is_command_line"]

#: Commands named like a Python builtin that crash writes with a space before a parenthesis
#: (``eval (1 << 27)``, ``ascii (...)``): with whitespace after the word, the command.
_SPACED = frozenset({"eval", "ascii"})


def _bound(name: str, namespace: Optional[Mapping[str, Any]]) -> bool:
    return namespace is not None and name in namespace


def is_command_line(line: str, namespace: Optional[Mapping[str, Any]] = None) -> bool:
    """Whether ``line`` (one line or a block) runs a command rather than Python, given the
    session's ``namespace`` (see the module docstring)."""
    words = line.split(None, 1)
    if not words or _bound(words[0], namespace):
        return False
    if words[0].startswith("*") and is_command(line):
        return True  # crash's `*TYPE ADDR` (a starred expression alone is no Python)
    if not is_command_name(words[0]):
        word = line.strip()
        return (word.isidentifier() and not keyword.iskeyword(word) and not hasattr(builtins, word)
                and namespace is not None)
    if words[0] in _SPACED and len(words) > 1 and line.lstrip()[len(words[0])].isspace():
        return True
    try:
        tree = ast.parse(line.strip())
    except (SyntaxError, ValueError):
        return True  # `ps 1`, `bt -a`, `p x.pid`: not Python
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        return False  # `ps = 3`, `p += 1`, `del p`, or several statements
    expr = tree.body[0].value
    if isinstance(expr, ast.Name):
        return True  # the command's name alone
    names = {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}
    return not all(_bound(n, namespace) or hasattr(builtins, n) for n in names)
