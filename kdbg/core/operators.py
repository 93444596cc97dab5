"""C's operators on objects, as Python's operator methods: ``a + b``, ``-a``, ``a < b``...
(no ``//``: C has one division, ``/``, and drgn has no ``//``).

:class:`CSyntax` is the Object class's base: each method hands the operator to the
object's own C arithmetic (:mod:`kdbg.core.arithmetic` through the object's private
``__binary``, ``__unary`` and ``__compare``). Keeping them here keeps the Object class to
its state, reading and members.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Tuple

from kdbg.core.typeinfo import INTEGER, K_FLOAT, type_info
from kdbg.errors import ObjectTypeError

__all__ = ["CSyntax"]


def _operand(other: Any) -> bool:
    """Whether ``other`` takes part in C's arithmetic: an object, or a Python number (a C
    literal). Anything else is Python's business: ``obj == None`` is false, ``obj + "x"``
    a ``TypeError``, as in drgn."""
    return isinstance(other, (CSyntax, int, float))


class CSyntax:
    """Python's operators as C's, on top of three private operations a subclass gives."""

    __slots__ = ()

    def __binary(self, op: str, other: Any, reflected: bool = False) -> Any:
        raise NotImplementedError

    def __unary(self, op: str) -> Any:
        raise NotImplementedError

    def __compare(self, other: Any) -> Tuple[Any, Any]:
        raise NotImplementedError

    def __add__(self, other: Any) -> Any:
        if not _operand(other):
            return NotImplemented
        return self.__binary("+", other)

    def __radd__(self, other: Any) -> Any:
        if not _operand(other):
            return NotImplemented
        return self.__binary("+", other, True)

    def __sub__(self, other: Any) -> Any:
        if not _operand(other):
            return NotImplemented
        return self.__binary("-", other)

    def __rsub__(self, other: Any) -> Any:
        if not _operand(other):
            return NotImplemented
        return self.__binary("-", other, True)

    def __mul__(self, other: Any) -> Any:
        if not _operand(other):
            return NotImplemented
        return self.__binary("*", other)

    def __rmul__(self, other: Any) -> Any:
        if not _operand(other):
            return NotImplemented
        return self.__binary("*", other, True)

    def __truediv__(self, other: Any) -> Any:
        if not _operand(other):
            return NotImplemented
        return self.__binary("/", other)

    def __rtruediv__(self, other: Any) -> Any:
        if not _operand(other):
            return NotImplemented
        return self.__binary("/", other, True)



    def __mod__(self, other: Any) -> Any:
        if not _operand(other):
            return NotImplemented
        return self.__binary("%", other)

    def __rmod__(self, other: Any) -> Any:
        if not _operand(other):
            return NotImplemented
        return self.__binary("%", other, True)

    def __lshift__(self, other: Any) -> Any:
        if not _operand(other):
            return NotImplemented
        return self.__binary("<<", other)

    def __rlshift__(self, other: Any) -> Any:
        if not _operand(other):
            return NotImplemented
        return self.__binary("<<", other, True)

    def __rshift__(self, other: Any) -> Any:
        if not _operand(other):
            return NotImplemented
        return self.__binary(">>", other)

    def __rrshift__(self, other: Any) -> Any:
        if not _operand(other):
            return NotImplemented
        return self.__binary(">>", other, True)

    def __and__(self, other: Any) -> Any:
        if not _operand(other):
            return NotImplemented
        return self.__binary("&", other)

    def __rand__(self, other: Any) -> Any:
        if not _operand(other):
            return NotImplemented
        return self.__binary("&", other, True)

    def __or__(self, other: Any) -> Any:
        if not _operand(other):
            return NotImplemented
        return self.__binary("|", other)

    def __ror__(self, other: Any) -> Any:
        if not _operand(other):
            return NotImplemented
        return self.__binary("|", other, True)

    def __xor__(self, other: Any) -> Any:
        if not _operand(other):
            return NotImplemented
        return self.__binary("^", other)

    def __rxor__(self, other: Any) -> Any:
        if not _operand(other):
            return NotImplemented
        return self.__binary("^", other, True)

    def __neg__(self) -> Any:
        return self.__unary("-")

    def __pos__(self) -> Any:
        return self.__unary("+")

    def __invert__(self) -> Any:
        return self.__unary("~")

    def __eq__(self, other: Any) -> bool:
        if not _operand(other):
            return NotImplemented
        a, b = self.__compare(other)
        return bool(a == b)

    def __ne__(self, other: Any) -> bool:
        if not _operand(other):
            return NotImplemented
        a, b = self.__compare(other)
        return bool(a != b)

    def __lt__(self, other: Any) -> bool:
        if not _operand(other):
            return NotImplemented
        a, b = self.__compare(other)
        return bool(a < b)

    def __le__(self, other: Any) -> bool:
        if not _operand(other):
            return NotImplemented
        a, b = self.__compare(other)
        return bool(a <= b)

    def __gt__(self, other: Any) -> bool:
        if not _operand(other):
            return NotImplemented
        a, b = self.__compare(other)
        return bool(a > b)

    def __ge__(self, other: Any) -> bool:
        if not _operand(other):
            return NotImplemented
        a, b = self.__compare(other)
        return bool(a >= b)

    # ------------------------------------------------------------------ rounding
    def __number(self) -> Any:
        """The value of an arithmetic object; C's refusal for anything else."""
        t = self.type_  # type: ignore[attr-defined]
        if type_info(t).kind not in INTEGER + (K_FLOAT,):
            raise ObjectTypeError(f"cannot round {t.type_name()!r}")
        return self.value_()  # type: ignore[attr-defined]

    def __round__(self, ndigits: Optional[int] = None) -> Any:
        """drgn's: ``round(obj)`` is the rounded value (an ``int``); ``round(obj, n)`` an
        object of the same type holding the value rounded to ``n`` digits."""
        value = self.__number()
        if ndigits is None:
            return round(value)
        return type(self)(self.prog_, self.type_, round(value, ndigits))  # type: ignore[attr-defined,call-arg]

    def __trunc__(self) -> int:
        return math.trunc(self.__number())

    def __floor__(self) -> int:
        return math.floor(self.__number())

    def __ceil__(self) -> int:
        return math.ceil(self.__number())
