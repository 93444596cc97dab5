"""The default program (drgn's ``set_default_prog``/``get_default_prog``) and the helper
decorator that lets a helper's first argument, the program, be left out:
``find_task(1)`` is ``find_task(get_default_prog(), 1)``.

The default program is the one piece of process-wide state: the command line sets it to
the program it opened, as drgn's does; a script may set its own.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, Callable, List, Optional, TypeVar

from kdbg.errors import KdbgError

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["set_default_prog", "get_default_prog", "NoDefaultProgramError", "takes_program_or_default",
           "takes_object_or_program_or_default"]

_F = TypeVar("_F", bound=Callable[..., Any])
_DEFAULT: List[Optional[Program]] = [None]


class NoDefaultProgramError(KdbgError):
    """No program was given and no default program is set."""


def set_default_prog(prog: Optional[Program]) -> None:
    """Make ``prog`` the default program (``None``: none)."""
    _DEFAULT[0] = prog


def get_default_prog() -> Program:
    """The default program; :class:`NoDefaultProgramError` when none is set."""
    prog = _DEFAULT[0]
    if prog is None:
        raise NoDefaultProgramError("no default program has been set")
    return prog


def _is_program(value: Any) -> bool:
    return type(value).__name__ == "Program" and hasattr(value, "register_type_finder")


def _is_object(value: Any) -> bool:
    return hasattr(value, "prog_") and hasattr(value, "type_")


def takes_program_or_default(fn: _F) -> _F:
    """``fn(prog, ...)`` that may also be called ``fn(...)``: the program is then the
    first argument's when that is an object, else the default program (drgn's decorator
    of the same name)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if args and _is_program(args[0]):
            return fn(*args, **kwargs)
        if "prog" in kwargs:
            return fn(kwargs.pop("prog"), *args, **kwargs)
        if args and _is_object(args[0]):
            return fn(args[0].prog_, *args, **kwargs)
        return fn(get_default_prog(), *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def takes_object_or_program_or_default(fn: _F) -> _F:
    """``fn(prog, obj, ...)`` that is called with a program, or an object, or neither:
    ``fn(prog, 1)`` is ``fn(prog, None, 1)``; ``fn(obj, 1)`` is ``fn(obj.prog_, obj, 1)``;
    ``fn(1)`` is ``fn(get_default_prog(), None, 1)``; and an object in the place of the
    other arguments' first (``fn(one_obj)`` when ``fn`` takes one more) is that argument
    (drgn's decorator of the same name)."""
    positional = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][2:]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if args and _is_program(args[0]):
            return fn(args[0], None, *args[1:], **kwargs)
        if args and _is_object(args[0]) and len(args) > len(positional):
            return fn(args[0].prog_, args[0], *args[1:], **kwargs)
        if args and _is_object(args[0]):
            return fn(args[0].prog_, None, *args, **kwargs)
        return fn(get_default_prog(), None, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
