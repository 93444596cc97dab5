"""Runs drgn documentation examples as drgn's interactive mode would, under whichever
debugger runs this script (drgn's command line, or kdbg's: ``prog`` is a global).

``doc_driver.py EXAMPLES.json``: the file is :func:`vmcores.doc_examples.driver_input`'s.
Each session (one document's examples) gets a fresh namespace built as drgn's
``cli.default_globals`` builds it (``prog``, ``drgn``, drgn's default globals, every name of
``drgn.helpers.common`` and ``drgn.helpers.linux``); each statement is compiled as the
console compiles a line (``single`` mode: an expression statement's value goes to the
display hook), and the display hook is drgn's (``format_(columns=...)`` for objects,
``str()`` for drgn's display-as-string types, ``repr()`` otherwise; ``_`` set as Python's).

Each example's output follows a line of the input's ``mark`` and the example's id; the
names drgn's namespace has and the debugger lacks follow the mark and the input's
``namespace_id``, last. An exception ends its
statement, not the example (as at the console) and prints as ``Traceback (most recent call
last):`` and ``Class: message``, where Class is the first class of the exception's MRO that
drgn's ``__all__`` or Python's builtins name (what a drgn user can catch it as). A statement taking
more than :data:`STATEMENT_TIMEOUT` seconds raises ``TimeoutError``.

This file is run as a script by both debuggers, so it imports nothing of kdbg's or of this
repository's.
"""

import builtins
import importlib
import json
import signal
import sys
from typing import Any, Dict, List, Optional, Tuple

import drgn

#: Seconds one statement may take.
STATEMENT_TIMEOUT = 300


def _drgn_name(name: str) -> Optional[Any]:
    """``drgn.<name>``, or ``None`` when the running debugger has no such name."""
    try:
        return getattr(drgn, name)
    except Exception:  # noqa: BLE001 - kdbg answers a name it lacks with its own error
        return None


def _public_class(cls: type, api: List[str]) -> str:
    """The name of the first class in ``cls``'s MRO that drgn's API (the names ``api`` of
    drgn's ``__all__``) or the builtins name: what a drgn user can catch it as."""
    for c in cls.__mro__:
        if (c.__name__ in api and _drgn_name(c.__name__) is c) or getattr(builtins, c.__name__, None) is c:
            return c.__name__
    return cls.__name__


def default_globals(prog: Any, names: List[str]) -> Tuple[Dict[str, Any], List[str]]:
    """drgn's interactive namespace for ``prog``, and the names that could not be had."""
    g: Dict[str, Any] = {"prog": prog, "drgn": drgn, "__name__": "__main__", "__doc__": None}
    missing = []
    for attr in names:
        value = _drgn_name(attr)
        if value is None:
            missing.append(f"drgn.{attr}")
        else:
            g[attr] = value
    for modname in ("drgn.helpers.common", "drgn.helpers.linux"):
        module = importlib.import_module(modname)
        for name in module.__dict__["__all__"]:
            g[name] = getattr(module, name)
    return g, missing


class _DisplayHook:
    """drgn's ``cli._displayhook`` with a fixed terminal width."""

    def __init__(self, columns: int, display_str: Tuple[type, ...]) -> None:
        self.columns = columns
        self.display_str = display_str

    def __call__(self, value: Any) -> None:
        if value is None:
            return
        builtins._ = None  # type: ignore[attr-defined]
        if isinstance(value, drgn.Object):
            try:
                text = value.format_(columns=self.columns)
            except drgn.FaultError as e:
                print(f"warning: can't print value: {e}", file=sys.stderr)
                text = repr(value)
        elif isinstance(value, self.display_str):
            text = str(value)
        else:
            text = repr(value)
        sys.stdout.write(text + "\n")
        builtins._ = value  # type: ignore[attr-defined]


def _timeout(signum: int, frame: Any) -> None:
    raise TimeoutError(f"statement took more than {STATEMENT_TIMEOUT} s")


def _code_lines(source: str) -> List[str]:
    return [line for line in source.splitlines() if line.strip() and not line.strip().startswith("#")]


def run_statement(source: str, g: Dict[str, Any], api: List[str]) -> None:
    """Run one console statement in ``g``; print an exception as the console would."""
    if not _code_lines(source):
        return  # a comment: the console does nothing
    signal.alarm(STATEMENT_TIMEOUT)
    try:
        code = compile(source + "\n", "<console>", "single")
        exec(code, g)
    except Exception as e:  # noqa: BLE001 - the console prints any exception and goes on
        sys.stdout.flush()
        message = str(e)
        name = _public_class(type(e), api)
        print("Traceback (most recent call last):")
        print(f"{name}: {message}" if message else name)
    finally:
        signal.alarm(0)
    sys.stdout.flush()


def main(prog: Any, path: str) -> None:
    """Run every session of the input file ``path`` on ``prog``."""
    with open(path) as f:
        data = json.load(f)
    display_str = tuple(t for t in map(_drgn_name, data["names"]["display_str"]) if isinstance(t, type))
    signal.signal(signal.SIGALRM, _timeout)
    sys.displayhook = _DisplayHook(data["columns"], display_str)
    missing: List[str] = []
    for session in data["sessions"]:
        g, missing = default_globals(prog, data["names"]["globals"])
        for example in session["examples"]:
            print(data["mark"] + example["id"], flush=True)
            for source in example["statements"]:
                run_statement(source, g, data["names"]["api"])
    print(data["mark"] + data["namespace_id"])
    for name in missing:
        print(f"missing default global: {name}")
    sys.stdout.flush()


if __name__ == "__main__":
    main(globals()["prog"], sys.argv[1])
