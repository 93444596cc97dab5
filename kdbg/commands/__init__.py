"""Crash-like commands (``ptype``, ``btf``, ``sym``, ``rd`` ...), runnable from the REPL and
with ``kdbg -x``. Plugins register more through :func:`command`.

A command is a function ``(prog, args, ctx) -> None`` where ``args`` is the rest of the
line after the command name and ``ctx`` carries the output stream and ``--json``.

Registration order is well defined: the built-in commands load first (on the first use of
the table, or when plugins are about to load), and a later registration of a name replaces
the earlier one, so a plugin can replace a built-in command. A built-in module imported
late never takes a name back from a plugin.
"""

from __future__ import annotations

import importlib
import shlex
from dataclasses import dataclass, field
from typing import IO, Callable, Dict, List, Optional

from kdbg.errors import ExpressionError
from kdbg.program import Program

__all__ = ["Command", "CommandContext", "command", "commands", "run_command", "is_command", "split_args"]


@dataclass
class CommandContext:
    """Where a command writes and how (``json`` for table output)."""

    out: IO[str]
    json: bool = False
    err: Optional[IO[str]] = None


@dataclass
class Command:
    """A registered command."""

    name: str
    func: Callable[[Program, str, CommandContext], None]
    summary: str
    usage: str = ""
    aliases: List[str] = field(default_factory=list)
    #: Whether kdbg ships it (``kdbg.commands.*``) rather than a plugin.
    builtin: bool = False


_COMMANDS: Dict[str, Command] = {}
_BUILTIN_MODULES = ("kdbg.commands.types", "kdbg.commands.memory", "kdbg.commands.help",
                    "kdbg.commands.modules", "kdbg.commands.kernel")
_loaded = False


def command(
    name: str, summary: str, usage: str = "", aliases: Optional[List[str]] = None
) -> Callable[[Callable[[Program, str, CommandContext], None]], Callable[[Program, str, CommandContext], None]]:
    """Decorator registering a command under ``name`` (and ``aliases``)."""

    def deco(
        func: Callable[[Program, str, CommandContext], None],
    ) -> Callable[[Program, str, CommandContext], None]:
        builtin = func.__module__ in _BUILTIN_MODULES
        cmd = Command(name, func, summary, usage or name, list(aliases or []), builtin)
        for key in [name, *cmd.aliases]:
            old = _COMMANDS.get(key)
            if builtin and old is not None and not old.builtin:
                continue  # a plugin already replaced this built-in
            _COMMANDS[key] = cmd
        return func

    return deco


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for mod in _BUILTIN_MODULES:
            importlib.import_module(mod)


def commands() -> Dict[str, Command]:
    """Every registered command by name (aliases included)."""
    _load_builtins()
    return _COMMANDS


def is_command(line: str) -> bool:
    """True when the first word of ``line`` is a registered command."""
    words = line.split(None, 1)
    return bool(words) and words[0] in commands()


def split_args(args: str) -> List[str]:
    """Split a command's arguments like a shell would; a clear error on bad quoting."""
    try:
        return shlex.split(args)
    except ValueError as e:
        raise ExpressionError(f"cannot parse arguments {args!r}: {e}") from None


def run_command(prog: Program, line: str, ctx: CommandContext) -> None:
    """Run one command line."""
    words = line.strip().split(None, 1)
    if not words:
        return
    cmd = commands().get(words[0])
    if cmd is None:
        raise ExpressionError(f"unknown command {words[0]!r} (try 'help')")
    cmd.func(prog, words[1] if len(words) > 1 else "", ctx)
