"""drgn's type constructors on a Program (``prog.pointer_type(t)``, ``prog.array_type(t, n)``,
``prog.int_type('int', 4, True)``, ...), and one line for the parts of drgn's ``Program`` API
a BTF+kallsyms program cannot have.

The types made here are the program's BTF types: an existing record where BTF has one of
that shape (``int``, ``struct task_struct *``), else one synthesized on that BTF, so they
compare, print and convert as every other type does. Composite and function types drgn
builds from members (``struct_type``, ``function_type``, ...) are made here by declaring C:
:meth:`Program.declare <kdbg.core.program.Program.declare>`.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence, Union

from kdbg.btf import constants as K
from kdbg.btf.kinds import Language, Qualifiers
from kdbg.btf.types import Enum, FuncProto, Struct, Type, Typedef, TypeEnumerator, TypeMember, TypeParameter
from kdbg.btf.types import Union as UnionType
from kdbg.core.resolver import ProgramResolver
from kdbg.errors import TypeNotFoundError, UnsupportedAttributeError, UnsupportedError

if TYPE_CHECKING:
    from kdbg.btf.index import BTF

__all__ = ["TypeConstructors", "DRGN_PROGRAM_GAPS"]

_SETUP = "kdbg assembles a program with kdbg.open_core(), open_live() or open_files()"
_DEBUG_INFO = "kdbg reads no debug info: types come from BTF, symbols from kallsyms"

#: drgn 0.3.0's ``Program`` attributes that kdbg does not have, and why: reaching one is one
#: :class:`~kdbg.errors.UnsupportedError` line naming it, never an ``AttributeError``.
DRGN_PROGRAM_GAPS: Dict[str, str] = {
    **dict.fromkeys(["set_core_dump", "set_kernel", "set_pid", "set_linux_kernel_custom", "set_qemu_qmp",
                     "add_memory_segment"], _SETUP),
    **dict.fromkeys(["load_debug_info", "load_default_debug_info", "load_module_debug_info",
                     "find_standard_debug_info", "register_debug_info_finder", "registered_debug_info_finders",
                     "set_enabled_debug_info_finders", "enabled_debug_info_finders", "debug_info_options",
                     "source_location"], _DEBUG_INFO),
    "class_type": "the kernel is C: it has no classes",
    **dict.fromkeys(["add_type_finder", "add_object_finder"],
                    "drgn deprecated them: use register_type_finder() and register_object_finder()"),
    **dict.fromkeys(["create_loaded_modules", "loaded_modules", "extra_module", "linux_kernel_loadable_module",
                     "relocatable_module", "shared_library_module", "vdso_module"],
                    "kdbg finds the kernel's modules itself: prog.modules(), prog.module(name)"),
}


class TypeConstructors:
    """drgn's ``Program`` type constructors; mixed into :class:`~kdbg.core.program.Program`."""

    if TYPE_CHECKING:  # what the Program provides

        @property
        def btf(self) -> BTF: ...

        def primitive_type(self, name: str) -> Type: ...

        def type(self, spec: Union[str, Type], filename: Optional[str] = None) -> Type: ...

    @property
    def language(self) -> Language:
        """The program's default language: C (the kernel's)."""
        return Language.C

    def void_type(self, *, qualifiers: Qualifiers = Qualifiers.NONE, language: Optional[Language] = None) -> Type:
        """``void``."""
        return self._qualified(self.primitive_type("void"), qualifiers)

    def int_type(self, name: str, size: int, is_signed: bool, byteorder: Optional[str] = None, *,
                 qualifiers: Qualifiers = Qualifiers.NONE, language: Optional[Language] = None) -> Type:
        """The integer type ``name`` of ``size`` bytes and signedness ``is_signed``, as the
        kernel's BTF has it (``prog.int_type('unsigned long', 8, False)``)."""
        return self._qualified(self._base_type(name, "int", size, is_signed, byteorder), qualifiers)

    def bool_type(self, name: str, size: int, byteorder: Optional[str] = None, *,
                  qualifiers: Qualifiers = Qualifiers.NONE, language: Optional[Language] = None) -> Type:
        """The boolean type ``name`` (``_Bool``) of ``size`` bytes."""
        return self._qualified(self._base_type(name, "bool", size, None, byteorder), qualifiers)

    def float_type(self, name: str, size: int, byteorder: Optional[str] = None, *,
                   qualifiers: Qualifiers = Qualifiers.NONE, language: Optional[Language] = None) -> Type:
        """The floating-point type ``name`` (``double``) of ``size`` bytes."""
        return self._qualified(self._base_type(name, "float", size, None, byteorder), qualifiers)

    def pointer_type(self, type: Type, size: Optional[int] = None,  # noqa: A002
                     byteorder: Optional[str] = None, *, qualifiers: Qualifiers = Qualifiers.NONE,
                     language: Optional[Language] = None) -> Type:
        """A pointer to ``type``."""
        if size not in (None, 8) or byteorder not in (None, "little"):
            raise UnsupportedError(f"a pointer of {size} bytes, {byteorder} endian, on a little-endian "
                                   "64-bit kernel")
        t = self._type_of(type)
        return self._qualified(ProgramResolver(self).pointer_to(t), qualifiers)  # type: ignore[arg-type]

    def array_type(self, type: Type, length: Optional[int] = None, *,  # noqa: A002
                   qualifiers: Qualifiers = Qualifiers.NONE, language: Optional[Language] = None) -> Type:
        """An array of ``length`` elements of ``type``; incomplete (``type []``) when
        ``length`` is ``None``."""
        t = self._type_of(type)
        made = ProgramResolver(self).array_of(t, None if length is None else operator.index(length))  # type: ignore[arg-type]
        return self._qualified(made, qualifiers)

    def typedef_type(self, name: str, type: Type, *, qualifiers: Qualifiers = Qualifiers.NONE,  # noqa: A002
                     language: Optional[Language] = None) -> Type:
        """A new typedef ``name`` of ``type`` (not added to the program's names)."""
        t = self._type_of(type)
        btf = self._btf_of(t)
        made = btf.made_type(lambda sid: Typedef(btf, sid, K.KIND_TYPEDEF, name, False, t.id))
        return self._qualified(made, qualifiers)

    def struct_type(self, tag: Optional[str], size: Optional[int] = None,
                    members: Optional[Sequence[TypeMember]] = None, *, template_parameters: Sequence[Any] = (),
                    qualifiers: Qualifiers = Qualifiers.NONE,
                    language: Optional[Language] = None) -> Type:
        """A new struct: ``tag`` (``None``: anonymous), ``size`` bytes, ``members``
        (drgn's ``TypeMember(type, name, bit_offset)``)."""
        return self._qualified(self._composite(K.KIND_STRUCT, Struct, tag, size, members, template_parameters),
                               qualifiers)

    def union_type(self, tag: Optional[str], size: Optional[int] = None,
                   members: Optional[Sequence[TypeMember]] = None, *, template_parameters: Sequence[Any] = (),
                   qualifiers: Qualifiers = Qualifiers.NONE,
                   language: Optional[Language] = None) -> Type:
        """A new union (as :meth:`struct_type`)."""
        return self._qualified(self._composite(K.KIND_UNION, UnionType, tag, size, members, template_parameters),
                               qualifiers)

    def enum_type(self, tag: Optional[str], type: Optional[Type] = None,  # noqa: A002
                  enumerators: Optional[Sequence[TypeEnumerator]] = None, *,
                  qualifiers: Qualifiers = Qualifiers.NONE, language: Optional[Language] = None) -> Type:
        """A new enum: ``tag``, its compatible integer ``type``, ``enumerators``."""
        if type is None or enumerators is None:
            raise UnsupportedError("an incomplete enum type made from parts")
        compatible = self._type_of(type)
        btf = self._btf_of(compatible)
        items = tuple(TypeEnumerator(e.name, int(e.value)) for e in enumerators)
        size = compatible.size or 4
        signed = bool(getattr(compatible, "is_signed", False))
        if compatible.unaliased() != btf.integer_type(size, signed).unaliased():
            raise UnsupportedError(f"an enum compatible with {compatible.type_name()!r}: kdbg's enums are "
                                   f"compatible with the C integer type of their size and sign")

        def make(sid: int) -> Type:
            kind = K.KIND_ENUM64 if size > 4 else K.KIND_ENUM
            e = Enum(btf, sid, kind, tag or "", signed, size, len(items))
            e._records = items
            return e

        return self._qualified(btf.made_type(make), qualifiers)

    def function_type(self, type: Type, parameters: Sequence[TypeParameter], is_variadic: bool = False, *,  # noqa: A002
                      template_parameters: Sequence[Any] = (), qualifiers: Qualifiers = Qualifiers.NONE,
                      language: Optional[Language] = None) -> Type:
        """A new function type returning ``type`` with ``parameters`` (drgn's
        ``TypeParameter(type, name)``), variadic if ``is_variadic``."""
        if template_parameters:
            raise UnsupportedError("template parameters: the kernel is C")
        ret = self._type_of(type)
        btf = self._btf_of(ret)
        params = [TypeParameter(btf, p.name or "", p.type.id) for p in parameters]
        if is_variadic:
            params.append(TypeParameter(btf, "", 0))
        return self._qualified(btf.made_type(lambda sid: FuncProto(btf, sid, ret.id, len(params), params)),
                               qualifiers)

    # ------------------------------------------------------------------ internals
    def _composite(self, kind: int, cls: Any, tag: Optional[str], size: Optional[int],
                   members: Optional[Sequence[TypeMember]], template_parameters: Sequence[Any]) -> Type:
        if template_parameters:
            raise UnsupportedError("template parameters: the kernel is C")
        if size is None or members is None:
            raise UnsupportedError("an incomplete struct or union type made from parts")
        items = tuple(members)
        btf = items[0].btf if items else self.btf

        def make(sid: int) -> Type:
            t = cls(btf, sid, kind, tag or "", False, operator.index(size), len(items))
            t._records = t._members = items
            return t

        return btf.made_type(make)

    def _type_of(self, spec: Type) -> Type:
        if not isinstance(spec, Type):  # as drgn's: a Type, not a name
            raise TypeError(f"type must be Type, not {type(spec).__name__}")
        return spec

    def _btf_of(self, t: Type) -> BTF:
        return t.btf if t.btf is not None else self.btf

    def _qualified(self, t: Type, qualifiers: Qualifiers) -> Type:
        return self._btf_of(t).qualified_type(t, qualifiers) if qualifiers else t

    def _base_type(self, name: str, what: str, size: int, is_signed: Optional[bool],
                   byteorder: Optional[str]) -> Type:
        if byteorder not in (None, "little"):
            raise UnsupportedError(f"a {byteorder}-endian {what} type on a little-endian kernel")
        try:
            t = self.primitive_type(name)
        except TypeNotFoundError:
            raise TypeNotFoundError(name, f"the kernel's BTF has no {what} type of that name") from None
        signed = getattr(t, "is_signed", None)
        same = t.size == size and (is_signed is None or signed == is_signed)
        if not same:
            raise UnsupportedError(f"{what} type {name!r} of {size} bytes"
                                   + ("" if is_signed is None else f", {'signed' if is_signed else 'unsigned'}")
                                   + f": the kernel's BTF has {name!r} of {t.size} bytes"
                                   + ("" if is_signed is None else f", {'signed' if signed else 'unsigned'}"))
        return t

    def __getattr__(self, name: str) -> Any:
        if any(name in vars(k) for k in type(self).__mro__):
            # a property of the class failed with an AttributeError of its own: raise that
            # one again (not "no attribute 'btfs'", which hides where it came from)
            return object.__getattribute__(self, name)
        why = DRGN_PROGRAM_GAPS.get(name)
        if why is not None:
            raise UnsupportedAttributeError(f"drgn.Program.{name} is not supported by kdbg: {why}")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
