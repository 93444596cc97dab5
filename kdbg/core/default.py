"""The default program (drgn's ``set_default_prog``/``get_default_prog``) and the helper
decorator that lets a helper's first argument, the program, be left out:
``find_task(1)`` is ``find_task(get_default_prog(), 1)``.

The default program is the one piece of process-wide state: the command line sets it to
the program it opened, as drgn's does; a script may set its own.
"""

from __future__ import annotations

import functools
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


def takes_program_or_default(fn: _F) -> _F:
    """``fn(prog, ...)`` that may also be called ``fn(...)``: the program is then the
    default program (drgn's decorator of the same name)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if args and _is_program(args[0]):
            return fn(*args, **kwargs)
        if "prog" in kwargs:
            return fn(kwargs.pop("prog"), *args, **kwargs)
        return fn(get_default_prog(), *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def takes_object_or_program_or_default(fn: _F) -> _F:
    """``fn(prog, obj, ...)`` that may be called ``fn(obj, ...)`` (the object's program)
    or ``fn(...)`` with neither (the default program, no object)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if args and _is_program(args[0]):
            return fn(*args, **kwargs)
        if args and hasattr(args[0], "prog_"):
            return fn(args[0].prog_, *args, **kwargs)
        return fn(get_default_prog(), None, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
