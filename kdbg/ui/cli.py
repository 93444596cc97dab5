"""The ``kdbg`` command line (see the contract in DESIGN.md).

``kdbg [TARGET] [--json] [-q] [--plugin-path DIR]... [-e CODE | -x COMMAND... | SCRIPT [ARG...]]``

``kdbg shrink ...``, ``kdbg report ...`` and ``kdbg triage ...`` (the first word) are
:mod:`kdbg.ui.shrink`, :mod:`kdbg.ui.report` and :mod:`kdbg.ui.triage`, chosen by the
dispatch table :data:`TOOLS` and imported only when named (a ``kdbg -x`` or ``-e`` run does
not pay for the report's, the shrinker's or triage's imports); a script of one of those
names runs as ``kdbg ./shrink``.

Exit status: 0 ok, 1 a command or script failed, 2 bad usage or unusable target. Errors are
one line on stderr; ``--traceback`` shows the full one. An unusable target is exit 2 also
when it shows only as a layer loads lazily (see :func:`kdbg.core.program.is_target_error`). A
plugin that fails to load is one warning line naming its ``file:line`` and kdbg still
starts; a ``--plugin-path`` that is not a directory is bad usage (exit 2).

Warnings the memory source reports (``memory.warnings``, e.g. a truncated dump and how much
of it is missing) are printed once each at open as ``kdbg: warning: ...``, **even with
-q**: ``-q`` drops the banner and notices (such as "memory is unavailable" on a host
without /proc/kcore), but a dump that cannot answer everything it seems to must never look
complete, least of all in scripts that run with -q.

Plugins (see :mod:`kdbg.ui.plugins`) load after the built-in commands: the shipped
``plugins/``, ``$XDG_CONFIG_HOME/kdbg/plugins``, each ``--plugin-path`` in order, then the
``kdbg.ui.plugins`` entry points; by file name within a directory. A plugin registering a
built-in's name replaces it. Plugin warnings (a broken plugin, one refused under root
because group or others may write it) print even with -q. Names plugins add with
:func:`kdbg.ui.plugins.helper` join the ``-e``/script/REPL namespace; their
:func:`kdbg.ui.plugins.declaration` texts are declared in the opened Program.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import runpy
import sys
import traceback
from typing import IO, TYPE_CHECKING, Any, Callable, Dict, List, NoReturn, Optional, Set

from kdbg import __version__, compat
from kdbg import target as program
from kdbg.core.default import set_default_prog
from kdbg.core.program import is_target_error
from kdbg.errors import KdbgError
from kdbg.lazy import LazyNames
from kdbg.ui.commands import CommandContext
from kdbg.ui.evaluate import SessionNamespace, evaluate, lazy_script_globals, script_globals, script_names
from kdbg.ui.plugins import declarations, helpers, load_plugins, plugin_warnings

if TYPE_CHECKING:
    from kdbg.memory.base import KernelMemory

__all__ = ["TOOLS", "main", "build_parser", "load_plugins", "namespace", "open_program", "print_warnings"]

USAGE = "kdbg [TARGET] [--json] [-q] [--plugin-path DIR]... [-e CODE | -x COMMAND... | SCRIPT [ARG...]]"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"kdbg: {message} (see kdbg --help)\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for the contract's command line."""
    p = _Parser(
        prog="kdbg",
        usage=USAGE,
        epilog="With no -e, -x or SCRIPT, kdbg starts the REPL. Exit status: 0 ok, 1 a command or script "
               "failed, 2 bad usage or unusable target.",
        description="Debug a Linux kernel from BTF + kallsyms + memory: live, a vmcore, or files.",
    )
    t = p.add_argument_group("target (default: the live kernel)")
    t.add_argument("-c", "--core", metavar="PATH", help="a vmcore: ELF, kdump-compressed or flattened")
    t.add_argument(
        "--btf", metavar="PATH", action="append", default=[],
        help="types from raw BTF, an ELF with .BTF or a vmlinuz (repeat: base first, then split)",
    )
    t.add_argument("--kallsyms", metavar="PATH", help="symbols from a file in /proc/kallsyms format")
    p.add_argument("--json", action="store_true", help="JSON output for table commands")
    p.add_argument(
        "-q", "--quiet", action="store_true",
        help="no banner or notices (warnings about the target, e.g. a truncated dump, still print)",
    )
    p.add_argument(
        "--plugin-path", metavar="DIR", action="append", default=[],
        help="also load plugins from DIR (after the shipped ones and $XDG_CONFIG_HOME/kdbg/plugins; "
             "a plugin may replace a command)",
    )
    p.add_argument("--traceback", action="store_true", help="show full tracebacks on errors")
    p.add_argument("--version", action="version", version=f"kdbg {__version__}", help="print the version and exit")
    a = p.add_mutually_exclusive_group()
    a.add_argument("-e", metavar="CODE", dest="code",
                   help="evaluate Python with `prog` and the helpers in scope (a value prints as in the REPL)")
    a.add_argument("-x", metavar="COMMAND", dest="commands", action="append",
                   help="run one REPL command (repeatable, in order)")
    p.add_argument("script", metavar="SCRIPT", nargs="?", help="a Python script run with `prog` in its globals")
    p.add_argument("args", metavar="ARG", nargs=argparse.REMAINDER, help="the script's sys.argv[1:]")
    return p


def _err(msg: str) -> None:
    sys.stderr.write(f"kdbg: {msg}\n")


def open_program(ns: argparse.Namespace) -> Any:
    """Open the target named on the command line."""

    if ns.core:
        return program.open_core(ns.core, btf=ns.btf, kallsyms=ns.kallsyms)
    if ns.btf or ns.kallsyms:
        return program.open_files(btf=ns.btf, kallsyms=ns.kallsyms)
    return program.open_live()


def namespace(prog: Any, lazy: bool = False) -> Dict[str, Any]:
    """The ``-e``/script/REPL globals: :func:`kdbg.ui.evaluate.script_globals` plus the names
    plugins added; with ``lazy``, the package names bind on first use
    (:func:`kdbg.ui.evaluate.lazy_script_globals`: for code run in the dict itself)."""

    g = lazy_script_globals(prog) if lazy else script_globals(prog)
    g.update(helpers())
    return g


def _declare_plugin_globals(prog: Any) -> None:

    for text in declarations():
        try:
            prog.declare(text)
        except KdbgError as e:
            _err(f"warning: plugin declaration {text!r}: {e}")


def print_warnings(memory: Optional[KernelMemory], err: IO[str], seen: Optional[Set[str]] = None) -> None:
    """Print each of the memory source's warnings once (``kdbg: warning: ...``).

    Besides :attr:`~kdbg.memory.base.KernelMemory.warnings` (known at open, e.g. a truncated
    dump) this prints :attr:`~kdbg.memory.base.KernelMemory.layout_notes`, which exist only
    once symbols have loaded (a layout variable that disagrees with the page tables). Pass
    the same ``seen`` set to later calls so that nothing is printed twice.
    """
    if memory is None:
        return
    seen = set() if seen is None else seen
    for w in list(memory.warnings) + list(memory.layout_notes):
        if w not in seen:
            seen.add(w)
            err.write(f"kdbg: warning: {w}\n")


def _fail(e: BaseException, ns: argparse.Namespace, status: int) -> int:
    _err(str(e))
    if ns.traceback:
        traceback.print_exc()
    return status


#: What runs ``-x`` lines and the REPL, imported when they run: a ``-e`` or script run
#: does not pay for the session's and the REPL's imports (code, the pager, pipes).
_RUNNERS = LazyNames({"run_line": "kdbg.ui.session", "run_repl": "kdbg.ui.repl"})


def _run_commands(prog: Any, ns: argparse.Namespace, ctx: Any) -> int:
    """Run each ``-x`` line as a REPL line (a command, or Python in one namespace, so
    ``-x 'x = ...' -x 'p x'`` works). A failing line is one error line and the next ones
    still run; the status is 1 if any failed, 2 at once when the target proves unusable,
    1 at once on Ctrl-C."""

    # built only when a line runs Python: `-x sys` imports no helper `sys` does not use
    g = SessionNamespace(lambda: namespace(prog), [*script_names(), *helpers()])
    status = EXIT_OK
    for line in ns.commands:
        err = _RUNNERS.resolve("run_line")(prog, line, ctx, g, styled=False, filename="<kdbg -x>",
                       hint="--traceback shows where", full_traceback=ns.traceback)
        if err is None:
            continue
        if isinstance(err, KeyboardInterrupt):
            return EXIT_FAILED
        if is_target_error(err):
            return EXIT_USAGE
        status = EXIT_FAILED
    return status


#: Each tool's module (whose ``COMMAND`` is the tool's word), imported when the tool runs.
_TOOL_MODULES = LazyNames({"shrink": "kdbg.ui.shrink", "report": "kdbg.ui.report", "triage": "kdbg.ui.triage"})


def _shrink(args: List[str]) -> int:
    """``kdbg shrink ...`` (:mod:`kdbg.ui.shrink`)."""
    shrink = _TOOL_MODULES.import_home("shrink")
    try:
        job = shrink.ShrinkJob(shrink.parse_args(args))
    except KdbgError as e:
        _err(str(e))
        return EXIT_USAGE
    if not job.ns.quiet:
        return _session(job.ns, job.open, job.finish, job.run)
    # -q: the analysis runs for its reads only; what it prints goes nowhere.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        return _session(job.ns, job.open, job.finish, job.run)


def _report(args: List[str]) -> int:
    """``kdbg report ...`` (:mod:`kdbg.ui.report`)."""
    report = _TOOL_MODULES.import_home("report")
    try:
        ns = report.parse_args(args)
    except KdbgError as e:
        _err(str(e))
        return EXIT_USAGE
    return _session(ns, open_program, None, report.run)


def _triage(args: List[str]) -> int:
    """``kdbg triage ...`` (:mod:`kdbg.ui.triage`)."""
    return int(_TOOL_MODULES.import_home("triage").main(args))


#: The tools named by the first word (``kdbg shrink ...``): each imports its module
#: (whose ``COMMAND`` is that word) only when it runs.
TOOLS: Dict[str, Callable[[List[str]], int]] = {"shrink": _shrink, "report": _report, "triage": _triage}


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``kdbg`` console script (``kdbg shrink ...`` and the other
    :data:`TOOLS` go to their modules)."""
    args = sys.argv[1:] if argv is None else list(argv)
    tool = TOOLS.get(args[0]) if args else None
    if tool is not None:
        return tool(args[1:])
    ns = build_parser().parse_args(args)
    if ns.script and (ns.code or ns.commands):
        _err("give either -e, -x or a SCRIPT, not several")
        return EXIT_USAGE
    return _session(ns, open_program, None)


#: What a session runs on the opened program: ``(prog, ns, ctx) -> exit status``.
Runner = Callable[[Any, argparse.Namespace, CommandContext], int]


def _session(ns: argparse.Namespace, open_target: Callable[[argparse.Namespace], Any],
             finish: Optional[Callable[[Any, int], int]], run: Optional[Runner] = None) -> int:
    # Inside kdbg, ``import drgn`` is kdbg: plugins, scripts, -e code and REPL lines
    # written for drgn run on kdbg's implementation of drgn's API.
    compat.install()
    try:
        return _main(ns, open_target, finish, run or _run)
    finally:
        set_default_prog(None)
        compat.uninstall()


def _main(ns: argparse.Namespace, open_target: Callable[[argparse.Namespace], Any],
          finish: Optional[Callable[[Any, int], int]], run: Runner) -> int:
    """Open the target, ``run`` on it (by default what ``ns`` asks for, or the REPL), then
    ``finish(prog, status)`` (its return is the exit status) before the program is closed."""
    try:
        for w in load_plugins(ns.plugin_path):
            _err(f"warning: {w}")
        # What imports and plugins made lives until exit: no collection walks it again
        # (prog.close()'s full one included; 5-7% of a warm start's and a header's CPU).
        # Once per process: a later session's leftovers must stay collectable.
        if not gc.get_freeze_count():
            gc.freeze()
        prog = open_target(ns)
        # Files named on the command line are the target: an unusable one is exit 2.
        if ns.btf:
            _ = prog.btfs
        if ns.kallsyms:
            _ = prog.symbol_table
    except KdbgError as e:
        return _fail(e, ns, EXIT_USAGE)
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_FAILED
    set_default_prog(prog)
    warned: Set[str] = set()
    print_warnings(prog.memory, sys.stderr, warned)
    _declare_plugin_globals(prog)
    if prog.memory is None and prog.memory_unavailable and not ns.quiet and not (ns.btf or ns.kallsyms):
        _err(f"{prog.memory_unavailable}; types and symbols still work")

    ctx = CommandContext(out=sys.stdout, json=ns.json, err=sys.stderr)
    try:
        status = _guarded(run, prog, ns, ctx)
        return finish(prog, status) if finish is not None else status
    finally:
        print_warnings(prog.memory, sys.stderr, warned)
        for w in plugin_warnings():  # the shipped plugins', when the command table loaded them
            _err(f"warning: {w}")
        prog.close()


def _guarded(run: Runner, prog: Any, ns: argparse.Namespace, ctx: CommandContext) -> int:
    """``run``'s exit status; an error is one line (exit 1, or 2 when the target proved
    unusable)."""
    try:
        return run(prog, ns, ctx)
    except KdbgError as e:
        return _fail(e, ns, EXIT_USAGE if is_target_error(e) else EXIT_FAILED)
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_FAILED
    except SystemExit:
        raise
    except Exception as e:  # a user's script or expression failing
        if ns.traceback:
            traceback.print_exc()
        else:
            _err(f"{type(e).__name__}: {e} (--traceback shows where)")
        return EXIT_FAILED


def _run(prog: Any, ns: argparse.Namespace, ctx: CommandContext) -> int:
    """The exit status of running ``-x``, ``-e``, the script or the REPL on ``prog``."""
    if ns.commands:
        return _run_commands(prog, ns, ctx)
    if ns.code:
        evaluate(ns.code, namespace(prog, lazy=True), sys.stdout)
        return EXIT_OK
    if ns.script:
        g = namespace(prog)
        del g["__name__"]
        sys.argv = [ns.script] + list(ns.args)
        # As python and drgn do: the script's directory is first on the import path.
        sys.path.insert(0, os.path.dirname(os.path.abspath(ns.script)))
        try:
            runpy.run_path(ns.script, init_globals=g, run_name="__main__")
        except KdbgError as e:
            if is_target_error(e):
                raise
            # A script's uncaught error names its class, as Python's would: scripts
            # catch errors by class (``except LookupError``).
            return _fail(RuntimeError(f"{type(e).__name__}: {e}"), ns, EXIT_FAILED)
        return EXIT_OK

    return EXIT_OK if _RUNNERS.resolve("run_repl")(prog, ctx, namespace(prog), quiet=ns.quiet) else EXIT_FAILED
