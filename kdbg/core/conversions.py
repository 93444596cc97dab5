"""drgn's free functions on objects: ``cast``, ``reinterpret``, ``container_of``,
``sizeof``, ``offsetof`` and ``NULL``."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any, Dict, Tuple, Union

from kdbg.btf.kinds import TypeKind
from kdbg.btf.types import Composite, Type
from kdbg.core import arithmetic as A
from kdbg.core.default import get_default_prog
from kdbg.core.object import Object, image_object, reference_object, value_object
from kdbg.core.object_access import object_info, object_operand
from kdbg.core.typeinfo import K_ARRAY, K_COMPOUND, K_PTR, type_info
from kdbg.errors import ObjectTypeError

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["cast", "reinterpret", "container_of", "sizeof", "offsetof", "alignof", "NULL"]


def _as_type(prog: Program, t: Union[Type, str]) -> Type:
    return prog.type(t) if isinstance(t, str) else t


def cast(type: Union[Type, str], obj: Any) -> Object:  # noqa: A002 - drgn's name
    """``(type)obj`` as C converts scalars: truncation, sign extension, pointer <-> int,
    float <-> int. The result is a value."""
    if not isinstance(obj, Object):
        raise ObjectTypeError(f"cast() argument 2 must be an Object, not {type(obj).__name__}")  # type: ignore[operator]
    prog = obj.prog_
    t = _as_type(prog, type)
    info = type_info(t)
    if info.kind in (K_COMPOUND, K_ARRAY):
        if object_info(obj).under == info.under:
            return image_object(prog, t, obj.to_bytes_())
        raise ObjectTypeError(f"cannot cast to '{t.type_name()}'")
    return value_object(prog, t, A.convert(t, info, object_operand(obj), obj.type_))


def reinterpret(type: Union[Type, str], obj: Object) -> Object:  # noqa: A002 - drgn's name
    """``obj``'s bytes seen as ``type``: a reference at the same address, or a value
    decoded from the same memory image (:class:`~kdbg.errors.OutOfBoundsError` when the
    value's image is shorter than ``type``)."""
    prog = obj.prog_
    t = _as_type(prog, type)
    if obj.address_ is not None:
        return reference_object(prog, t, obj.address_, obj.bit_offset_ or 0)
    return image_object(prog, t, obj.to_bytes_())


def container_of(ptr: Object, type: Union[Type, str], member: str) -> Object:  # noqa: A002
    """A pointer to the ``type`` that contains ``*ptr`` as its ``member`` (``"a.b[1]"``)."""
    prog = ptr.prog_
    if object_info(ptr).kind != K_PTR and object_operand(ptr).info.kind != K_PTR:
        raise ObjectTypeError(f"container_of() argument must be a pointer, not '{ptr.type_.type_name()}'")
    cache: Dict[Tuple[Union[Type, str], str], Tuple[Type, int]] = prog.cache.setdefault("kdbg.container_of", {})
    key = (type, member)
    hit = cache.get(key)
    if hit is None:
        t = _as_type(prog, type)
        under = t.strip_typedefs()
        if not isinstance(under, Composite):
            raise ObjectTypeError(f"container_of() argument 2 must be a structure, union, or class type, "
                                  f"not '{t.type_name()}'")
        bits, _mt = under.offsetof_bits(member)
        if bits % 8:
            raise ObjectTypeError(f"member {member!r} is a bit field")
        hit = cache[key] = (A.pointer_to(prog, t), bits // 8)
    return value_object(prog, hit[0], int(ptr) - hit[1])


def _named(name: Union[Type, str]) -> Type:
    """``name`` looked up in the default program when it is a string (drgn's implicit lookup)."""
    return get_default_prog().type(name) if isinstance(name, str) else name


def sizeof(type_or_obj: Union[Type, Object, str]) -> int:
    """Size in bytes of a type or of an object's type; a string is looked up in the default
    program, first as a type, then as an object (drgn's order)."""
    if isinstance(type_or_obj, str):
        prog, name = get_default_prog(), type_or_obj
        try:
            type_or_obj = prog.type(name)
        except LookupError:
            type_or_obj = prog.object(name)
    if isinstance(type_or_obj, Object):
        if type_or_obj.bit_field_size_ is not None:
            raise ObjectTypeError("cannot get size of bit field")
        t = type_or_obj.type_
    else:
        t = type_or_obj
    size = type_info(t).size
    if size is None:
        raise ObjectTypeError(f"cannot get size of {_sizeless(t)}")
    return size


def _sizeless(t: Type) -> str:
    """How drgn names a type with no size: ``void type``, ``function type``, ``incomplete
    array type``..."""
    kind = t.unaliased_kind()
    if kind in (TypeKind.VOID, TypeKind.FUNCTION):
        return f"{kind.name.lower()} type"
    return f"incomplete {kind.name.lower()} type"


def offsetof(type: Union[Type, str], member: str) -> int:  # noqa: A002 - drgn's name
    """Byte offset of a member designator (``"se.avg"``, ``"comm[2]"``) in ``type`` (a string
    is looked up in the default program)."""
    type = _named(type)  # noqa: A001 - drgn's name
    under = type.strip_typedefs()
    if not isinstance(under, Composite):
        raise ObjectTypeError(f"'{type.type_name()}' is not a structure, union, or class")
    return under.offsetof(member)


def NULL(prog: Program, type: Union[Type, str]) -> Object:  # noqa: A002, N802 - drgn's name
    """A null pointer of ``type``."""
    return Object(prog, type, 0)


def alignof(type: Union[Type, str]) -> int:  # noqa: A002 - drgn's name
    """The alignment of ``type`` in bytes (gcc's x86-64 ABI; a string is looked up in the
    default program)."""
    type = _named(type)  # noqa: A001 - drgn's name
    if not isinstance(type, Type):
        raise TypeError(f"expected Type or str, not {builtins.type(type).__name__}")
    if not type.is_complete() and type.kind != TypeKind.FUNCTION:
        raise ObjectTypeError(f"cannot get alignment of {_sizeless(type)}")
    return type.alignment
