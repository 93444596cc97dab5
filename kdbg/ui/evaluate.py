"""Evaluating Python against a Program: the namespace and the value printing that ``-e``,
scripts and the REPL share.

This module sits below both :mod:`kdbg.ui.cli` and :mod:`kdbg.ui.repl` so that neither imports
the other for it.
"""

from __future__ import annotations

import importlib
from typing import IO, Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional

import kdbg

__all__ = ["LazyGlobals", "SessionNamespace", "evaluate", "lazy_script_globals", "python_globals", "script_globals",
           "script_names"]

#: Optional modules whose ``__all__`` joins the namespace when they exist.
_OPTIONAL_MODULES = ("kdbg.helpers",)


def _optional_module(name: str) -> Any:
    """Import ``name``, or ``None`` when that module itself does not exist.

    Only the module's own absence is tolerated: an ``ImportError`` raised while the module
    runs (a broken dependency, a typo inside it) propagates, since hiding it would leave
    users without names they expect and no hint why.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and (e.name == name or name.startswith(e.name + ".")):
            return None
        raise


def script_globals(prog: Any) -> Dict[str, Any]:
    """Globals for -e, scripts and the REPL: ``prog`` plus kdbg's public names."""

    g: Dict[str, Any] = {"prog": prog, "kdbg": kdbg, "__name__": "__main__"}
    for name, mod in _exports().items():
        g[name] = getattr(mod, name)
    return g


class LazyGlobals(Dict[str, Any]):
    """A namespace dict whose package names (``kdbg``'s and the helpers') are bound on
    their first lookup, so ``kdbg -e 'prog["init_task"].comm'`` imports no helper module
    it does not name.

    Python looks a name up in a ``dict`` subclass through ``__getitem__`` (module level
    and inside functions and comprehensions alike), so a missing name lands in
    :meth:`__missing__`, which resolves it from the package that exports it (the packages'
    lazy registries import its module) and keeps it; any other name is missing as usual.
    """

    def __init__(self, base: Dict[str, Any], exports: Mapping[str, Any]) -> None:
        super().__init__(base)
        #: name -> the module (package) that exports it
        self._exports = exports

    def __missing__(self, name: str) -> Any:
        mod = self._exports.get(name)
        if mod is None:
            raise KeyError(name)
        value = getattr(mod, name)
        self[name] = value
        return value


def _exports() -> Dict[str, Any]:
    """Every name :func:`script_globals` binds from a package, with that package."""
    out: Dict[str, Any] = {name: kdbg for name in getattr(kdbg, "__all__", [])}
    for modname in _OPTIONAL_MODULES:
        mod = _optional_module(modname)
        out.update((name, mod) for name in getattr(mod, "__all__", []))
    return out


def lazy_script_globals(prog: Any) -> LazyGlobals:
    """:func:`script_globals` as a :class:`LazyGlobals`: the same names, each bound (its
    module imported) when code first uses it. For code that runs in the dict itself
    (``-e``); a copy (``runpy``'s ``init_globals``, the REPL's) needs every value now."""
    return LazyGlobals({"prog": prog, "kdbg": kdbg, "__name__": "__main__"}, _exports())


def script_names() -> List[str]:
    """The names :func:`script_globals` binds, known without importing what they name
    (the packages' ``__all__`` come from their lazy registries)."""
    return ["prog", "kdbg", "__name__", *_exports()]


class SessionNamespace(Mapping[str, Any]):
    """A session's Python namespace that is built when Python first needs it.

    Which names it binds is known at once (``name in ns``: what decides whether a line is
    a command, :mod:`kdbg.ui.dispatch`); the values, and the imports of every helper they
    take, come on the first lookup, iteration or :meth:`globals` call. A ``kdbg -x`` run
    whose lines are all commands that evaluate no Python never builds it.
    """

    def __init__(self, build: Callable[[], Dict[str, Any]], names: Iterable[str]) -> None:
        self._build = build
        self._names = frozenset(names)
        self._g: Optional[Dict[str, Any]] = None

    def globals(self) -> Dict[str, Any]:
        """The namespace itself (built on the first call; the same dict after)."""
        if self._g is None:
            self._g = self._build()
        return self._g

    def __contains__(self, name: object) -> bool:
        return name in (self._names if self._g is None else self._g)

    def __getitem__(self, name: str) -> Any:
        return self.globals()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.globals())

    def __len__(self) -> int:
        return len(self.globals())


def python_globals(namespace: Mapping[str, Any]) -> Dict[str, Any]:
    """The dict Python code runs in for ``namespace`` (a :class:`SessionNamespace`'s, built
    now, or the dict itself)."""
    if isinstance(namespace, SessionNamespace):
        return namespace.globals()
    if not isinstance(namespace, dict):
        raise TypeError(f"a session namespace is a dict or a SessionNamespace, not {type(namespace).__name__}")
    return namespace


def format_value(value: Any) -> str:
    """How an expression's value is shown: ``format_()`` when it has one (kdbg objects),
    else ``repr``."""
    fmt = getattr(value, "format_", None)
    return fmt() if callable(fmt) else repr(value)


def evaluate(code: str, g: Dict[str, Any], out: IO[str], filename: str = "<kdbg -e>") -> None:
    """Run ``code`` in ``g``: an expression's value (unless ``None``) is printed to ``out``,
    statements are executed."""
    try:
        compiled = compile(code, filename, "eval")
    except SyntaxError:
        exec(compile(code, filename, "exec"), g)
        return
    value = eval(compiled, g)
    if value is not None:
        out.write(format_value(value) + "\n")
