"""Crash-like commands (``ptype``, ``btf``, ``sym``, ``rd`` ...), runnable from the REPL and
with ``kdbg -x``. Plugins register more through :func:`command`.

A command is a function ``(prog, args, ctx) -> None`` where ``args`` is the rest of the
line after the command name and ``ctx`` carries the output stream and ``--json``. A command
registered with ``arguments`` (argparse-style, see :func:`argument`) gets an
:class:`argparse.Namespace` as ``args`` instead: the line is split like a shell would and
parsed, ``-h``/``--help`` prints the command's help, and a bad argument is one line
(:class:`~kdbg.errors.ExpressionError`) with the command's usage.

The shipped plugins (``plugins/``: ``ps``, ``files``, ``dmesg``, ``lsmod``, ``mount``) register
no built-in's name (a test checks it), so they load when a name that is not a built-in is
asked for, or the whole table is.

The built-in commands load on first use, by name: :data:`BUILTINS` says which module
registers each, so ``kdbg -x sys`` imports :mod:`kdbg.ui.commands.system` and no other
command module (nor the helpers only those use); :func:`commands`, the whole table (``help``,
completion), imports them all.

Registration order is well defined: a later registration of a name replaces the earlier
one, so a plugin can replace a built-in command, and a built-in module imported late (on the
first use of one of its names, after the plugins loaded) never takes a name back from a
plugin. The table ends up the same whichever order the built-in modules load in.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Dict, List, Mapping, NoReturn, Optional, Sequence, Tuple

from kdbg.core.program import Program, is_target_error
from kdbg.errors import ExpressionError, KdbgError, SymbolNotFoundError
from kdbg.lazy import LazyNames
from kdbg.symbols.table import Symbol
from kdbg.ui.plugin_files import load_shipped_plugins

__all__ = [
    "Argument",
    "BUILTINS",
    "Command",
    "CommandContext",
    "Settings",
    "argument",
    "centred",
    "command",
    "commands",
    "is_command",
    "is_command_name",
    "lookup",
    "run_command",
    "split_args",
]


@dataclass
class Settings:
    """What ``set`` changes for the rest of a session (shared by every line's context)."""

    #: Page output longer than the screen in an interactive session (crash's ``set scroll``).
    scroll: bool = True
    #: The current context's ``task_struct`` address (crash's ``set PID|TASK``); ``None``:
    #: the task that crashed the kernel (:mod:`kdbg.ui.commands.context`).
    task: Optional[int] = None
    #: Bytes ``dis`` skips after each ``ud2`` (crash's ``dis -b NUM``; 0 on x86-64 kernels
    #: since 2.6.20, whose ``BUG()`` keeps its data in ``__bug_table``).
    bug_bytes: int = 0


@dataclass
class CommandContext:
    """Where a command writes and how (``json`` for table output); ``namespace`` is the
    Python namespace the line runs in (the REPL's, so ``p x`` sees the user's ``x``);
    ``settings`` the session's (one object for every line of a session)."""

    out: IO[str]
    json: bool = False
    err: Optional[IO[str]] = None
    namespace: Optional[Mapping[str, Any]] = None
    settings: Settings = field(default_factory=Settings)


@dataclass(frozen=True)
class Argument:
    """One ``add_argument(*names, **options)`` of a command's parser (see :func:`argument`)."""

    names: Tuple[str, ...]
    options: Dict[str, Any]


def argument(*names: str, **options: Any) -> Argument:
    """An argparse argument of a command: ``argument("pid", type=int)``,
    ``argument("--json", action="store_true", help="...")``."""
    return Argument(tuple(names), dict(options))


class _HelpShown(Exception):
    """``-h`` was given: the help is printed, the command does not run."""


class _CommandParser(argparse.ArgumentParser):
    """An argparse parser that writes help to the command's output and turns errors into
    one-line :class:`ExpressionError`s instead of exiting."""

    out: Optional[IO[str]] = None

    def _print_message(self, message: str, file: Any = None) -> None:
        if message and self.out is not None:
            self.out.write(message)

    def exit(self, status: int = 0, message: Optional[str] = None) -> NoReturn:
        if message:
            raise ExpressionError(message.strip())
        raise _HelpShown()

    def error(self, message: str) -> NoReturn:
        usage = " ".join(self.format_usage().replace("usage: ", "", 1).split())
        raise ExpressionError(f"{self.prog}: {message} (usage: {usage})")


@dataclass
class Command:
    """A registered command."""

    name: str
    func: Callable[[Program, Any, CommandContext], None]
    summary: str
    usage: str = ""
    aliases: List[str] = field(default_factory=list)
    #: Whether kdbg ships it (``kdbg.ui.commands.*``) rather than a plugin.
    builtin: bool = False
    #: The argparse arguments, or ``None`` for a command that takes its line as a string.
    arguments: Optional[List[Argument]] = None

    def parser(self) -> Optional[argparse.ArgumentParser]:
        """The command's argparse parser (``None`` without ``arguments``)."""
        if self.arguments is None:
            return None
        # crash's -h means something else in some commands (list -h): they keep --help only
        add_help = not any("-h" in a.names for a in self.arguments)
        p = _CommandParser(prog=self.name, description=self.summary, add_help=add_help)
        for a in self.arguments:
            p.add_argument(*a.names, **a.options)
        return p

    def option_strings(self) -> List[str]:
        """The command's options (``-H``, ``-s``, ``--json`` ...), for completion."""
        if self.arguments is None:
            return []
        p = self.parser()
        assert p is not None
        return sorted({s for a in p._actions for s in a.option_strings})

    def help_text(self) -> str:
        """What ``help NAME`` prints."""
        p = self.parser()
        if p is not None:
            return p.format_help()
        return f"{self.usage}\n    {self.summary}\n"


_COMMANDS: Dict[str, Command] = {}

#: Every built-in command name (aliases included) -> the module that registers it, in the
#: order :func:`commands` imports them (``tests/test_lazy_names.py`` checks it against the
#: modules' own registrations).
BUILTINS = LazyNames.by_module([(f"{__name__}.{module}", names) for module, names in (
    ("types", ("ptype", "p", "whatis", "btf")),
    ("memory", ("sym", "rd")),
    ("stack", ("bt",)),
    ("help", ("help",)),
    ("settings", ("set",)),
    ("foreach", ("foreach",)),
    ("system", ("sys", "log")),
    ("structs", ("struct", "union", "task")),
    ("lists", ("list",)),
    ("disasm", ("dis",)),
    ("calc", ("eval", "ascii", "btop", "ptob", "ptov", "vtop", "pte")),
    ("kmem", ("kmem",)),
    ("runq", ("runq",)),
    ("search", ("search",)),
    ("tree", ("tree",)),
    ("sig", ("sig",)),
    ("swap", ("swap",)),
    ("ipcs", ("ipcs",)),
    ("net", ("net",)),
    ("vm", ("vm",)),
    ("irq", ("irq",)),
    ("timer", ("timer",)),
    ("dev", ("dev",)),
    ("modules", ("mod",)),
    ("waitq", ("waitq",)),
    ("bpf", ("bpf",)),
)])
_BUILTIN_MODULES = tuple(BUILTINS.modules())
_all_loaded = False


CommandFunc = Callable[[Program, Any, CommandContext], None]


def command(
    name: str,
    summary: str,
    usage: str = "",
    aliases: Optional[List[str]] = None,
    arguments: Optional[Sequence[Argument]] = None,
) -> Callable[[CommandFunc], CommandFunc]:
    """Decorator registering a command under ``name`` (and ``aliases``).

    Without ``arguments`` the function gets the rest of the line as a string; with them
    (a list of :func:`argument`), an :class:`argparse.Namespace` (``usage`` defaults to
    the parser's).
    """

    def deco(func: CommandFunc) -> CommandFunc:
        builtin = func.__module__ in _BUILTIN_MODULES
        args = list(arguments) if arguments is not None else None
        cmd = Command(name, func, summary, usage or name, list(aliases or []), builtin, args)
        if args is not None and not usage:
            p = cmd.parser()
            assert p is not None
            cmd.usage = p.format_usage().strip().replace("usage: ", "", 1)
        for key in [name, *cmd.aliases]:
            old = _COMMANDS.get(key)
            if builtin and old is not None and not old.builtin:
                continue  # a plugin already replaced this built-in
            _COMMANDS[key] = cmd
        return func

    return deco


def commands() -> Dict[str, Command]:
    """Every registered command by name (aliases included): the shipped plugins and every
    built-in module load on first use."""
    global _all_loaded
    load_shipped_plugins()
    if not _all_loaded:
        _all_loaded = True
        for mod in _BUILTIN_MODULES:
            importlib.import_module(mod)
    return _COMMANDS


def lookup(name: str) -> Optional[Command]:
    """The command registered as ``name``, or ``None``; of the built-ins only the module
    that registers ``name`` is imported, and the shipped plugins (which register no
    built-in's name) only for a name that is not a built-in."""
    if name not in BUILTINS:
        load_shipped_plugins()
    cmd = _COMMANDS.get(name)
    if cmd is None and name in BUILTINS:
        BUILTINS.import_home(name)
        cmd = _COMMANDS.get(name)
    return cmd


def is_command_name(name: str) -> bool:
    """Whether ``name`` is a registered command (imports no built-in command module, and
    the shipped plugins only for a name that is not a built-in)."""
    if name in _COMMANDS or name in BUILTINS:
        return True
    load_shipped_plugins()
    return name in _COMMANDS


#: crash's ``*TYPE[.member,...]`` word (not Python's ``*a, b = ...``: no trailing comma).
_STAR = re.compile(r"\*[A-Za-z_]\w*(\.[\w.,]*)?")


def _star_form(line: str) -> str:
    """crash's bare ``*TYPE ADDR``: ``struct TYPE ADDR`` (``union`` for a union type);
    any other line unchanged."""
    words = line.split()
    if words and _STAR.fullmatch(words[0]) and not words[0].endswith(","):
        return "struct " + line.strip()[1:]
    return line


def centred(text: str, width: int, number: bool) -> str:
    """``text`` centred in ``width`` as crash centres its cells: a number (and its header)
    puts an odd space on the left, an address on the right."""
    spare = max(width - len(text), 0)
    left = (spare + 1) // 2 if number else spare // 2
    return " " * left + text + " " * (spare - left)


def is_command(line: str) -> bool:
    """True when the first word of ``line`` is a registered command (or crash's
    ``*TYPE ADDR``, which is ``struct TYPE ADDR``)."""
    words = _star_form(line).split(None, 1)
    return bool(words) and is_command_name(words[0])


def split_args(args: str) -> List[str]:
    """Split a command's arguments like a shell would; a clear error on bad quoting."""
    try:
        return shlex.split(args)
    except ValueError as e:
        raise ExpressionError(f"cannot parse arguments {args!r}: {e}") from None


def run_command(prog: Program, line: str, ctx: CommandContext) -> None:
    """Run one command line.

    A :class:`~kdbg.errors.KdbgError` the command raises comes out as one
    :class:`~kdbg.errors.ExpressionError` naming the command (``mod: no module
    'x'``), unless it is already an ``ExpressionError`` (whose message the command
    wrote), its message already starts with the command's name, or it says the target
    is unusable (:func:`~kdbg.core.program.is_target_error`: no memory, no symbols...,
    exit status 2 rather than a failed command's 1)."""
    words = _star_form(line).strip().split(None, 1)
    if not words:
        return
    cmd = lookup(words[0])
    if cmd is None:
        raise ExpressionError(f"unknown command {words[0]!r} (try 'help')")
    rest = words[1] if len(words) > 1 else ""
    parser = cmd.parser()
    if parser is None:
        _call(cmd, prog, rest, ctx)
        return
    assert isinstance(parser, _CommandParser)
    parser.out = ctx.out
    try:
        # options may come between the positionals, as crash takes them (`struct T -x ADDR`)
        ns = parser.parse_intermixed_args(split_args(rest))
    except _HelpShown:
        return
    _call(cmd, prog, ns, ctx)


def _call(cmd: Command, prog: Program, args: Any, ctx: CommandContext) -> None:
    """Run ``cmd``, naming it in the one line of any kdbg error it raises."""
    try:
        cmd.func(prog, args, ctx)
    except ExpressionError:
        raise
    except KdbgError as e:
        if is_target_error(e):
            raise
        if str(e).startswith(f"{cmd.name}:"):
            raise ExpressionError(str(e)) from e
        raise ExpressionError(f"{cmd.name}: {e}") from e


class _ProgramSymbols:
    """A program's symbols by name through all its symbol finders (modules' too)."""

    def __init__(self, prog: Program) -> None:
        self.prog = prog

    def get(self, name: str) -> Optional[Symbol]:
        try:
            return self.prog.symbol(name)
        except SymbolNotFoundError:
            return None

    def why_missing(self) -> str:
        """What a "no symbol" error adds (:meth:`kdbg.symbols.table.SymbolTable.why_missing`)."""
        return self.prog.symbol_table.why_missing()


def program_symbols(prog: Program) -> Callable[[], _ProgramSymbols]:
    """What :func:`kdbg.symbols.address.parse_address` takes to resolve names in ``prog``:
    the kernel's symbols load when a word may be one (a hex word is the number when they
    cannot)."""

    def load() -> _ProgramSymbols:
        prog.symbol_table  # noqa: B018 - raises when the target has no symbols
        return _ProgramSymbols(prog)

    return load
