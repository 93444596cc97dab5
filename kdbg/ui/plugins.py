"""Plugins: Python files or modules that register commands, helpers and declarations.

A plugin registers commands with :func:`kdbg.ui.commands.command` (optionally with
argparse-style ``arguments``), names for the REPL / ``-e`` / script namespace with
:func:`helper`, and C declarations applied to every Program kdbg opens with
:func:`declaration`. See ``plugins/README.md`` for a worked example.

Plugins are found, and loaded in this order (a later registration of a command name
replaces an earlier one, so any of them may replace a built-in command):

1. the shipped ``plugins/`` of kdbg (the ``kdbg_plugins`` package once installed), which
   register commands only: when no plugin of the kinds below exists they load with the
   command table, on its first use, so a run that uses no command does not import them;
2. ``$XDG_CONFIG_HOME/kdbg/plugins`` (default ``~/.config/kdbg/plugins``);
3. each ``--plugin-path DIR``, in the order given;
4. the ``kdbg.ui.plugins`` entry-point group (an entry point names a module, imported, or a
   callable, called with no arguments).

Within a directory, every ``*.py`` not starting with ``_`` loads, by file name. A plugin
that fails to load (a syntax error, an exception at import) is a one-line warning naming
its ``file:line``; the others still load and kdbg still starts. Running as root, a plugin
file is refused, with a warning naming it, when it or a directory above it is owned by
neither root nor the invoking user or may be written by group or others (anyone able to
write it could run code as root): see :mod:`kdbg.ui.plugin_files`, which finds and loads
plugin files.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, TypeVar

from kdbg import cache
from kdbg.errors import KdbgError
from kdbg.ui.plugin_files import (
    load_dir,
    load_shipped_plugins,
    plugin_warnings,
    shipped_plugin_dir,
    user_plugin_dir,
    warn,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "declaration",
    "declarations",
    "helper",
    "helpers",
    "load_plugins",
    "load_shipped_plugins",
    "plugin_warnings",
    "shipped_plugin_dir",
    "user_plugin_dir",
]

#: The entry-point group installed packages use to provide plugins.
ENTRY_POINT_GROUP = "kdbg.plugins"

F = TypeVar("F", bound=Callable[..., Any])

_HELPERS: Dict[str, Any] = {}
_DECLARATIONS: List[str] = []


def helper(obj: Any = None, *, name: Optional[str] = None) -> Any:
    """Add a name to the REPL, ``-e`` and script namespace.

    Use as ``@helper`` (the function's own name), ``@helper(name="x")``, or call
    ``helper(value, name="x")`` for any value.
    """
    if obj is None:
        return lambda o: helper(o, name=name)
    key = name or getattr(obj, "__name__", None)
    if not key:
        raise KdbgError("helper: give a name for a value without __name__")
    _HELPERS[key] = obj
    return obj


def helpers() -> Dict[str, Any]:
    """Every name plugins added with :func:`helper` (a copy)."""
    return dict(_HELPERS)


def declaration(text: str) -> None:
    """Declare globals (``prog.declare`` text, e.g. ``"struct list_head modules;"``) in
    every Program kdbg opens from the command line."""
    _DECLARATIONS.append(text)


def declarations() -> List[str]:
    """Every declaration text plugins gave, in order (a copy)."""
    return list(_DECLARATIONS)


class _CachedEntryPoint:
    """An entry point remembered from an earlier start: ``name`` and ``value``
    (``module`` or ``module:attr.attr``), loaded the way importlib.metadata loads one."""

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value

    def load(self) -> Any:
        """Import the module and follow the attribute path."""
        module, _, attrs = self.value.partition(":")
        obj: Any = importlib.import_module(module.strip())
        for attr in filter(None, attrs.strip().split(".")):
            obj = getattr(obj, attr)
        return obj


#: The metadata directories (or files) of installed distributions, as
#: :mod:`importlib.metadata` finds them in a ``sys.path`` directory.
_DIST_METADATA = (".dist-info", ".egg-info")


def _path_entry_key(d: str) -> str:
    """One ``sys.path`` entry's part of :func:`_entry_points_key`: the name and
    modification time of each distribution's metadata in it, and of its ``entry_points.txt``
    (a zip or other file on ``sys.path``: its own modification time)."""
    path = d or "."
    try:
        with os.scandir(path) as it:
            metas = sorted(e.name for e in it if e.name.endswith(_DIST_METADATA))
    except NotADirectoryError:
        try:
            return f"{d}\0file {os.stat(path).st_mtime_ns}"
        except OSError:
            return f"{d}\0-"
    except OSError:
        return f"{d}\0-"
    parts = [d]
    for name in metas:
        meta = os.path.join(path, name)
        stamps = []
        for f in (meta, os.path.join(meta, "entry_points.txt")):
            try:
                stamps.append(str(os.stat(f).st_mtime_ns))
            except OSError:
                stamps.append("-")
        parts.append(f"{name} {' '.join(stamps)}")
    return "\0".join(parts)


def _entry_points_key() -> str:
    """What the installed entry points depend on: every ``sys.path`` entry and, in each,
    every distribution's metadata (``*.dist-info``, ``*.egg-info``) with the modification
    times of that directory and of its ``entry_points.txt``. Installing, upgrading or
    removing a distribution adds, removes or recreates such a directory, and editing its
    entry points rewrites that file; anything else in a path directory (a plugin's own
    ``__pycache__``, a new module) leaves the key, and so the cache entry, as it was."""
    return "\n".join([ENTRY_POINT_GROUP] + [_path_entry_key(d) for d in sys.path])


def _entry_points() -> Iterable[Any]:
    """The ``kdbg.ui.plugins`` entry points. Scanning them needs :mod:`importlib.metadata`
    (about 10 ms of every start), so the names and values found are kept in the cache,
    keyed by the installed distributions' metadata (:func:`_entry_points_key`)."""

    key = _entry_points_key()
    hit = cache.load("entry-points", key)
    if hit is not None:
        rows = [line.split("\0", 1) for line in hit.decode().splitlines() if "\0" in line]
        return [_CachedEntryPoint(n, v) for n, v in rows]
    # lazy: importlib.metadata costs about 10 ms, paid only when the cache above misses
    from importlib import metadata

    eps: Any = metadata.entry_points()
    found = list(eps.select(group=ENTRY_POINT_GROUP)) if hasattr(eps, "select") else list(
        eps.get(ENTRY_POINT_GROUP, [])  # Python 3.9
    )
    cache.store("entry-points", key, "".join(f"{ep.name}\0{ep.value}\n" for ep in found).encode())
    return found


def _load_entry_point(ep: Any) -> None:
    try:
        obj = ep.load()
        if callable(obj) and not isinstance(obj, type(sys)):
            obj()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:
        frames = traceback.extract_tb(e.__traceback__)
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ep.value
        if isinstance(e, SyntaxError) and e.filename:
            where = f"{e.filename}:{e.lineno}"
        msg = e.msg if isinstance(e, SyntaxError) else str(e)
        warn(f"plugin {ep.name} ({ep.value}) {where}: {type(e).__name__}: {msg}")


def load_plugins(dirs: Sequence[str] = (), *, user: bool = True, entry_points: bool = True) -> List[str]:
    """Load every plugin in the documented order and return the warnings (one line each,
    without the ``kdbg: warning:`` prefix).

    ``dirs`` are the ``--plugin-path`` directories; one that is not a directory raises
    :class:`KdbgError` (bad usage). A plugin that fails to load is a warning, never an
    exception.
    """
    for d in dirs:
        if not os.path.isdir(d):
            raise KdbgError(f"plugin path {d!r} is not a directory")
    u = user_plugin_dir() if user else None
    if u is not None and not u.is_dir():
        u = None
    eps = list(_entry_points()) if entry_points else []
    if u is not None or dirs or eps:
        # any other plugin may replace a shipped command: the shipped ones load first
        load_shipped_plugins()
    # else they load with the command table, on its first use (kdbg.ui.commands): a run
    # that uses no command (-e, a script) does not import them
    if u is not None:
        load_dir(str(u))
    for d in dirs:
        load_dir(d)
    for ep in eps:
        _load_entry_point(ep)
    return plugin_warnings()
