"""Names in C type names and declarations resolved through a program (the one C parser's
:class:`~kdbg.btf.cparse.Resolver` for :meth:`Program.type` and :meth:`Program.declare`):
the kernel's BTF first, with its size and ``#id`` rules, then the enabled type finders
(the modules' BTF...)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence, Tuple

from kdbg.btf import constants as K
from kdbg.btf.cparse import Specifiers
from kdbg.btf.kinds import TypeKind, TypeKindSet
from kdbg.btf.resolve import resolve_specifiers_in
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


class ProgramResolver:
    """Names in type names and declarations resolved through a program: the kernel's BTF
    first (with its size and ``#id`` rules), then the enabled type finders."""

    def __init__(self, prog: Program) -> None:
        self.prog = prog

    def base(self, spec: Specifiers, size: Optional[int], pick_first: bool) -> Type:
        try:
            found = resolve_specifiers_in(self.prog.btfs, spec, size, pick_first)
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

    def names_type(self, word: str) -> bool:
        return any(b.ids_by_name(word, (K.KIND_TYPEDEF, K.KIND_INT, K.KIND_FLOAT)) for b in self.prog.btfs)

    def _btf(self, t: Type) -> BTF:
        return t.btf if t.btf is not None else self.prog.btf

    def pointer_to(self, t: Type) -> Type:
        return self._btf(t).pointer_to(t)

    def array_of(self, t: Type, length: Optional[int]) -> Type:
        b = self._btf(t)
        return b.incomplete_array_of(t) if length is None else b.array_of(t, length)

    def qualified(self, t: Type, keyword: str) -> Type:
        return self._btf(t).resolver().qualified(t, keyword)

    def function_proto(self, ret: Type, params: Sequence[Type], variadic: bool) -> Type:
        return self._btf(ret).resolver(self.prog.all_btfs()).function_proto(ret, params, variadic)

    def anonymous(self, keyword: str, members: Sequence[Tuple[str, Optional[Type]]]) -> Optional[Type]:
        return self.prog.btf.resolver(self.prog.all_btfs()).anonymous(keyword, members)
