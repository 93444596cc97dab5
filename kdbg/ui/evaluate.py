"""Evaluating Python against a Program: the namespace and the value printing that ``-e``,
scripts and the REPL share.

This module sits below both :mod:`kdbg.ui.cli` and :mod:`kdbg.ui.repl` so that neither imports
the other for it.
"""

from __future__ import annotations

import importlib
from typing import IO, Any, Dict

import kdbg

__all__ = ["evaluate", "script_globals"]

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
    for name in getattr(kdbg, "__all__", []):
        g[name] = getattr(kdbg, name)
    for modname in _OPTIONAL_MODULES:
        mod = _optional_module(modname)
        for name in getattr(mod, "__all__", []):
            g[name] = getattr(mod, name)
    return g


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
