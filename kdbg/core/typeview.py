"""The types an :class:`~kdbg.core.object.Object` shows: BTF types under drgn's names.

``obj.type_`` is what a drgn user compares and prints: ``obj.type_.type_name()`` is
``unsigned long`` (gcc, and so BTF and pahole, spell it ``long unsigned int``) and
``str(obj.type_)`` is drgn's C definition of the type.  kdbg's BTF types keep BTF's own
spelling, which ``ptype`` (pahole's layout), ``btf dump`` (bpftool's header) and the BTF
tests rely on; so the object layer hands out *views*: instances of a subclass of the
BTF type's own class (``isinstance(view, Struct)`` holds), equal to it and hashing like it,
whose names are drgn's and whose referenced types (``.type``, ``.members[i].type``,
``.params[i].type``, :meth:`strip_typedefs`, :meth:`unqualified`) are views too.

A flexible array member (``unsigned long cpu_bitmap[]``) is an *incomplete* array in drgn:
no size, no length, ``T []``.  BTF writes it as a zero-length array, so its view
(:func:`flexible_array_type`) is a distinct type (not equal to the zero-length array)
with ``size`` and ``length`` ``None``.  Which zero-length arrays are flexible is decided
by :func:`kdbg.core.object.is_flexible_array_member`.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from kdbg.btf.types import Array, Member, Param, Type

__all__ = ["object_type", "flexible_array_type", "raw_type", "is_flexible_array_type", "TypeView"]


class TypeView:
    """Mixin of the view classes (see the module docstring); never instantiated alone."""

    __slots__ = ()

    def type_name(self) -> str:
        """The C name of this type as drgn writes it (``unsigned long``, ``char * const``)."""
        from kdbg.core.printer import type_name

        return type_name(raw_type(self))  # type: ignore[arg-type]

    def __str__(self) -> str:
        from kdbg.core.printer import type_definition

        return type_definition(self)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"<{type(self).__mro__[2].__name__} [{self.id}] {self.type_name()!r}>"  # type: ignore[attr-defined]

    @property
    def type(self) -> Type:
        """The referenced type (pointee, element, typedef target, return type), as a view."""
        return object_type(super().type)  # type: ignore[misc]

    @property
    def members(self) -> Tuple[Member, ...]:
        """The members, whose ``type`` is a view (``T []`` for a flexible array member)."""
        from kdbg.core.object import is_flexible_array_member

        members = super().members  # type: ignore[misc]
        out: List[Member] = [_ViewMember(*m) for m in members]
        if members and is_flexible_array_member(raw_type(self), len(members) - 1):  # type: ignore[arg-type]
            out[-1] = _FlexibleMember(*members[-1])
        return tuple(out)

    @property
    def params(self) -> Tuple[Param, ...]:
        """The parameters, whose ``type`` is a view."""
        return tuple(_ViewParam(*p) for p in super().params)  # type: ignore[misc]

    def strip_typedefs(self) -> Type:
        """This type with typedefs and qualifiers followed down, as a view."""
        return object_type(raw_type(self).strip_typedefs())  # type: ignore[arg-type]

    def unqualified(self) -> Type:
        """This type without qualifiers, as a view."""
        return object_type(raw_type(self).unqualified())  # type: ignore[arg-type]


class _ViewMember(Member):
    __slots__ = ()

    @property
    def type(self) -> Type:
        """The member's type, as a view."""
        return object_type(self.btf.type(self.type_id))


class _FlexibleMember(Member):
    __slots__ = ()

    @property
    def type(self) -> Type:
        """The member's type: the incomplete array ``T []``."""
        return flexible_array_type(self.btf.type(self.type_id))


class _ViewParam(Param):
    __slots__ = ()

    @property
    def type(self) -> Type:
        """The parameter's type, as a view."""
        return object_type(self.btf.type(self.type_id))


class _FlexibleArray(TypeView):
    """Mixin of the flexible array view: an incomplete array, distinct from ``T [0]``."""

    __slots__ = ()

    def type_name(self) -> str:
        """``T []``."""
        from kdbg.core.printer import type_name

        return type_name(self._raw).replace("[0]", "[]", 1)  # type: ignore[attr-defined]

    @property
    def size(self) -> Optional[int]:
        """``None``: an incomplete array has no size."""
        return None

    @property
    def length(self) -> Optional[int]:
        """``None``: an incomplete array has no length."""
        return None

    def strip_typedefs(self) -> Type:
        """Itself (an array)."""
        return self  # type: ignore[return-value]

    def unqualified(self) -> Type:
        """Itself (an array)."""
        return self  # type: ignore[return-value]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _FlexibleArray) and other.id == self.id and other.btf is self.btf  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((id(self.btf), self.id, "[]"))  # type: ignore[attr-defined]


_CLASSES: Dict[Tuple[type, bool], type] = {}
_VIEWS: Dict[Tuple[Type, bool], Type] = {}


def _view_class(cls: type, flexible: bool) -> type:
    key = (cls, flexible)
    view = _CLASSES.get(key)
    if view is None:
        mixin = _FlexibleArray if flexible else TypeView
        view = _CLASSES[key] = type(cls.__name__ + ("FlexibleView" if flexible else "View"), (mixin, cls),
                                    {"__slots__": ("_raw",), "__module__": __name__})
    return view


def _make(t: Type, flexible: bool) -> Type:
    cls = _view_class(type(t), flexible)
    view: Any = object.__new__(cls)
    for klass in type(t).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            desc = klass.__dict__.get(name)
            if desc is None or not hasattr(desc, "__set__"):
                continue
            try:
                desc.__set__(view, desc.__get__(t, klass))
            except AttributeError:  # an unset slot
                continue
    view._raw = t
    return view


def object_type(t: Type) -> Type:
    """``t`` as objects show it (a view; a view is returned as is)."""
    if isinstance(t, TypeView):
        return t
    key = (t, False)
    v = _VIEWS.get(key)
    if v is None:
        if len(_VIEWS) > 100_000:
            _VIEWS.clear()
        v = _VIEWS[key] = _make(t, False)
    return v


def flexible_array_type(t: Type) -> Type:
    """The incomplete array ``T []`` that the zero-length array ``t`` (``T [0]``) stands
    for as a flexible array member."""
    t = raw_type(t)
    if not isinstance(t, Array):
        raise TypeError(f"not an array type: {t.type_name()!r}")
    key = (t, True)
    v = _VIEWS.get(key)
    if v is None:
        v = _VIEWS[key] = _make(t, True)
    return v


def raw_type(t: Type) -> Type:
    """The BTF type behind a view (``t`` itself when it is none); a flexible array view
    stays what it is (an incomplete array has no BTF type of its own)."""
    if isinstance(t, TypeView) and not isinstance(t, _FlexibleArray):
        return t._raw  # type: ignore[attr-defined]
    return t


def is_flexible_array_type(t: Type) -> bool:
    """True for the view :func:`flexible_array_type` makes."""
    return isinstance(t, _FlexibleArray)
