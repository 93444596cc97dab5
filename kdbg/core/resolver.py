"""Names in C type names and declarations resolved through a program (the one C parser's
:class:`~kdbg.btf.cparse.Resolver` for :meth:`Program.type` and :meth:`Program.declare`):
the kernel's BTF first, with its size and ``#id`` rules, then the enabled type finders
(the modules' BTF...)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence

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
            return super().base(spec, size, pick_first)
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
