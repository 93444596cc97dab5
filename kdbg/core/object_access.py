"""What the object layer's own modules (the printer, conversions) read of an
:class:`~kdbg.core.object.Object` beyond drgn's API: its type information, the number it
holds, its memory image, a member, and the object as an operand of C's arithmetic.

Functions, not methods, so that no name of kdbg's shadows a C member of the object.
"""

from __future__ import annotations

from typing import Any

from kdbg.btf.types import TypeMember
from kdbg.core import arithmetic as A
from kdbg.core.object import Object
from kdbg.core.typeinfo import TypeInfo

__all__ = ["object_info", "object_scalar", "object_image", "member_object", "object_operand"]


def object_info(obj: Object) -> TypeInfo:
    """What the object layer knows of ``obj``'s type (:class:`~kdbg.core.typeinfo.TypeInfo`)."""
    o: Any = obj
    return o._Object__info


def object_scalar(obj: Object) -> Any:
    """The number ``obj`` holds (an int for integers, enums, bools and pointers)."""
    o: Any = obj
    return o._Object__scalar()


def object_image(obj: Object) -> bytes:
    """``obj``'s memory image, read once (members then slice it)."""
    o: Any = obj
    return o._Object__image()


def member_object(obj: Object, m: TypeMember, extra_bits: int = 0) -> Object:
    """Member ``m`` of struct or union object ``obj``; ``extra_bits`` is the offset of
    the unnamed member ``m`` was found in."""
    o: Any = obj
    return o._Object__member(m, extra_bits)


def object_operand(obj: Object) -> A.Operand:
    """``obj`` as an operand of C's arithmetic (promoted; arrays and functions decayed)."""
    o: Any = obj
    return o._Object__operand()
