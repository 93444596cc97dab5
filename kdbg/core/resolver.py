"""Names in C type names and declarations resolved through a program (the one C parser's
:class:`~kdbg.btf.cparse.Resolver` for :meth:`Program.type` and :meth:`Program.declare`):
the kernel's BTF first, with its size and ``#id`` rules, then the enabled type finders
(the modules' BTF...)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence

from kdbg.btf import constants as K
from kdbg.btf.cparse import Specifiers
from kdbg.btf.kinds import TypeKind, TypeKindSet
from kdbg.btf.resolve import BTFResolver
from kdbg.errors import TypeNotFoundError

if TYPE_CHECKING:
    from kdbg.btf.index import BTF
    from kdbg.btf.types import Type
    from kdbg.core.program import Program

__all__ = ["ProgramResolver"]

_SPEC_KINDS = {
    "struct": TypeKindSet({TypeKind.STRUCT}),
    "union": TypeKindSet({TypeKind.UNION}),
    "enum": TypeKindSet({TypeKind.ENUM}),
}
_NAME_KINDS = TypeKindSet({TypeKind.TYPEDEF, TypeKind.INT, TypeKind.BOOL, TypeKind.FLOAT})


def _carried(t: Type) -> Type:
    """``t``, or :class:`TypeNotFoundError` when it is a FWD that a reduced dump's BTF
    (``kdbg shrink --reduced-btf``) carries in place of a type the original defined."""
    btf = t.btf
    record = btf.reduced_by if btf is not None else None
    if record is None or btf is None or btf.kind_of(t.id) != K.KIND_FWD:
        return t
    # the original may have had a FWD of that name too: any FWD of the name the reduction made
    if any(i in record.declared_only for i in btf.ids_by_name(t.btf_name, (K.KIND_FWD,))):
        name = t.type_name()
        raise TypeNotFoundError(name, record.type_hint(name, True))
    return t


class ProgramResolver(BTFResolver):
    """Names in type names and declarations resolved through a program: the kernel's BTF
    first (with its size and ``#id`` rules), then the enabled type finders. Derived types
    (pointers, arrays, qualifiers) are :class:`~kdbg.btf.resolve.BTFResolver`'s over the
    program's BTFs; prototypes and anonymous types are found in its modules' BTFs too."""

    def __init__(self, prog: Program) -> None:
        super().__init__(prog.btfs)
        self.prog = prog

    def everywhere(self) -> Sequence[BTF]:
        """The program's BTFs, then its modules' found so far."""
        return self.prog.all_btfs()

    def base(self, spec: Specifiers, size: Optional[int], pick_first: bool) -> Type:
        try:
            found = super().base(spec, size, pick_first)
        except TypeNotFoundError as e:
            last = e
        else:
            return _carried(found)
        if spec.pick is None and (spec.tag is not None or spec.typedef is not None):
            kinds, name = (_SPEC_KINDS[spec.tag[0]], spec.tag[1]) if spec.tag else (_NAME_KINDS, spec.typedef or "")
            for fname, fn in self.prog.type_finders():
                if fname == "btf":
                    continue  # asked above, with its own rules
                t = fn(self.prog, kinds, name, None)
                if t is not None:
                    return t
        record = self.prog.btf.reduced_by if self.prog.btfs else None
        if record is not None and last.hint is None:
            raise TypeNotFoundError(last.name, record.type_hint(last.name, False)) from None
        raise last
