"""The type model: one class per BTF kind family, with drgn's names.

Every type a program hands out is one of these: ``prog.type(...)``, ``obj.type_`` and
``t.members[i].type``. Each answers drgn's questions (``kind`` is a
:class:`~kdbg.btf.kinds.TypeKind`, ``qualifiers``, ``name``, ``tag``, ``size``,
``length``, ``type``, ``members``, ``enumerators``, ``parameters``, ``type_name()``,
``str()`` as a C definition, ...) and keeps BTF's record fields under BTF's names for the
writers (``btf_kind``, ``btf_name``, ``ref``, ``kflag``, ``id``).

A qualifier is a BTF record of its own (CONST -> INT), so a qualified type is one object:
its drgn attributes are those of the type it qualifies, with ``qualifiers`` set (type
tags, which C does not spell, are transparent). Its BTF reference is :attr:`Qualified.ref`.

Types are created lazily by :class:`kdbg.btf.index.BTF` and cached there, so two lookups
of the same id return the same object (equality is identity of BTF and id, as in drgn).
Derived types a program needs and BTF lacks (``struct x *``, ``T []`` for a flexible
array member) are synthesized by the BTF with negative ids. Spelling types as C is the
BTF's declarator (:mod:`kdbg.btf.cdecl`), reached through ``self.btf``.
"""

from kdbg.btf.composites import Composite, Enum, Fwd, Sized, Struct, Union
from kdbg.btf.functions import Datasec, DeclTag, Func, FuncProto, Opaque, Var
from kdbg.btf.members import TypeEnumerator, TypeMember, TypeParameter, VarSecinfo
from kdbg.btf.typebase import (
    MAX_CHAIN,
    Array,
    Const,
    Float,
    Int,
    Pointer,
    Qualified,
    Ref,
    Restrict,
    Type,
    Typedef,
    TypeTag,
    Void,
    Volatile,
    iter_chain,
)

__all__ = [
    "Type", "Void", "Int", "Float", "Pointer", "Array", "Composite", "Struct", "Union", "Enum", "Fwd",
    "Typedef", "Qualified", "Const", "Volatile", "Restrict", "TypeTag", "FuncProto", "Func", "Var",
    "Datasec", "DeclTag", "Opaque", "TypeMember", "TypeEnumerator", "TypeParameter", "VarSecinfo",
    "MAX_CHAIN", "iter_chain", "Ref", "Sized",
]
