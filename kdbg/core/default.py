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
_R = TypeVar("_R")
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


def _first_parameter(fn: Callable[..., Any], expected: str) -> List[inspect.Parameter]:
    parameters = list(inspect.signature(fn).parameters.values())
    if not parameters or parameters[0].name != expected:
        raise TypeError(f"{getattr(fn, '__name__', fn)}: first parameter must be prog: Program")
    return parameters


def takes_program_or_default(f: _F) -> _F:
    """``f(prog, ...)`` that may also be called ``f(...)`` (drgn's decorator of the same
    name): ``f(1)`` is ``f(get_default_prog(), 1)``, and ``f(obj, ...)`` (an object
    first, positionally or as the second parameter's keyword) is
    ``f(obj.prog_, obj, ...)``."""
    parameters = _first_parameter(f, "prog")
    second = [p.name for p in parameters[1:2]
              if p.kind not in (p.KEYWORD_ONLY, p.VAR_KEYWORD)]

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if args:
            if _is_program(args[0]):
                return f(*args, **kwargs)
            if _is_object(args[0]):
                return f(args[0].prog_, *args, **kwargs)
        elif "prog" in kwargs:
            return f(**kwargs)
        elif second and _is_object(kwargs.get(second[0])):
            return f(kwargs[second[0]].prog_, **kwargs)
        return f(get_default_prog(), *args, **kwargs)

    if wrapper.__doc__ is not None:
        wrapper.__doc__ += "\n\n:param prog: the program; left out, the default program.\n"
    return wrapper  # type: ignore[return-value]


def takes_object_or_program_or_default(f: Callable[..., _R]) -> Callable[..., _R]:
    """``f(prog, obj, ...)`` called with a program, or an object, or neither (drgn's
    decorator of the same name): ``f(prog, 1)`` is ``f(prog, None, 1)``; ``f(obj, 1)``
    is ``f(obj.prog_, obj, 1)``; ``f(1)`` is ``f(get_default_prog(), None, 1)``; and
    when the call gives no more positional arguments than ``f`` takes after the object,
    an object first is the first of those (``f(one_obj)`` is
    ``f(one_obj.prog_, None, one_obj)``). Positional parameters after the object cannot
    have defaults (the call would be ambiguous); keyword-only ones can. The wrapper's
    signature is drgn's: the object-or-program parameter first."""
    parameters = _first_parameter(f, "prog")
    if len(parameters) < 2:
        raise TypeError(f"{getattr(f, '__name__', f)}: second parameter must be the object")
    object_param = parameters[1].name
    extra: List[str] = []
    for p in parameters[2:]:
        if p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD):
            break
        if p.default is not p.empty:
            raise ValueError(f"{getattr(f, '__name__', f)}: positional parameter {p.name} has a default "
                             "(ambiguous with an object argument)")
        extra.append(p.name)

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if args:
            explicit_object = not extra or len(args) > len(extra) or extra[len(args) - 1] in kwargs
            if explicit_object:
                if _is_program(args[0]):
                    return f(args[0], None, *args[1:], **kwargs)
                return f(args[0].prog_, *args, **kwargs)
            if _is_object(args[0]):
                return f(args[0].prog_, None, *args, **kwargs)
        elif object_param in kwargs:
            return f(kwargs[object_param].prog_, *args, **kwargs)
        elif "prog" in kwargs:
            kwargs[object_param] = None
            return f(*args, **kwargs)
        elif extra and _is_object(kwargs.get(extra[0])):
            return f(kwargs[extra[0]].prog_, None, *args, **kwargs)
        return f(get_default_prog(), None, *args, **kwargs)

    signature = inspect.signature(f)
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[parameters[1].replace(annotation="Union[Object, Program]"), *parameters[2:]])
    return wrapper
