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


class ProgramResolver:
    """Names in type names and declarations resolved through a program: the kernel's BTF
    first (with its size and ``#id`` rules), then the enabled type finders."""

    def __init__(self, prog: Program) -> None:
        self.prog = prog

    def base(self, spec: Specifiers, size: Optional[int], pick_first: bool) -> Type:
        try:
            return resolve_specifiers_in(self.prog.btfs, spec, size, pick_first)
        except TypeNotFoundError as e:
            last = e
        if spec.pick is None and (spec.tag is not None or spec.typedef is not None):
            kinds, name = (_SPEC_KINDS[spec.tag[0]], spec.tag[1]) if spec.tag else (_NAME_KINDS, spec.typedef or "")
            for fname, fn in self.prog.type_finders():
                if fname == "btf":
                    continue  # asked above, with its own rules
                t = fn(self.prog, kinds, name, None)
                if t is not None:
                    return t
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
