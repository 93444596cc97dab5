"""drgn's ``IntegerLike``: an argument that is an integer, or an Object that stands for one.

drgn's helpers take either and convert it the one way its C converter does
(``PyNumber_Index``): a Python int (``bool`` included), or an Object of an integer, enum,
bool or pointer type (``Object.__index__``). Anything else is a ``TypeError``; kdbg's is
:class:`~kdbg.errors.ObjectTypeError`, so the command line prints it in one line.
"""

from __future__ import annotations

import operator
from typing import SupportsIndex

from kdbg.errors import ObjectTypeError

__all__ = ["IntegerLike", "integer_value"]

#: drgn's alias: anything with ``__index__`` (an int, an integer or pointer Object).
IntegerLike = SupportsIndex


def integer_value(value: IntegerLike) -> int:
    """The int an ``IntegerLike`` argument stands for (``operator.index``, drgn's rule);
    :class:`~kdbg.errors.ObjectTypeError` for anything else (a float, a string, a struct
    or function Object)."""
    try:
        return operator.index(value)
    except ObjectTypeError:
        raise
    except TypeError:
        raise ObjectTypeError(f"'{type(value).__name__}' object cannot be interpreted as an integer") from None
