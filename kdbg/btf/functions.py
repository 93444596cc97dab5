"""Function types and the BTF records that are not C types: FUNC, VAR, DATASEC, DECL_TAG
and kinds known only by their layout. See :mod:`kdbg.btf.types`, the model's public home."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence, Tuple

from kdbg.btf import constants as K
from kdbg.btf.composites import Sized
from kdbg.btf.kinds import TypeKind
from kdbg.btf.members import TypeParameter, VarSecinfo
from kdbg.btf.typebase import Ref, Type
from kdbg.errors import BTFError

if TYPE_CHECKING:
    from kdbg.btf.index import BTF

__all__ = ["FuncProto", "Func", "Var", "Datasec", "DeclTag", "Opaque"]

class FuncProto(Type):
    """A function type: return type (``type``) and parameters."""

    __slots__ = ("type_id", "_vlen", "_params")

    def __init__(self, btf: BTF, type_id: int, ret: int, vlen: int,
                 params: Optional[Sequence[TypeParameter]] = None) -> None:
        super().__init__(btf, type_id, K.KIND_FUNC_PROTO, "", False)
        self.type_id = ret
        self._vlen = vlen
        self._params: Optional[Tuple[TypeParameter, ...]] = tuple(params) if params is not None else None

    @property
    def kind(self) -> TypeKind:
        return TypeKind.FUNCTION

    @property
    def type(self) -> Type:
        """The return type."""
        return self._resolve(self.type_id)

    @property
    def vlen(self) -> int:
        """Number of parameter records (``...`` counts as one)."""
        return self._vlen

    @property
    def raw_params(self) -> Tuple[TypeParameter, ...]:
        """The parameter records as stored: ``...`` is a last one of type 0 and no name."""
        if self._params is None:
            btf = self.btf
            assert btf is not None
            self._params = tuple(TypeParameter(btf, n, t) for n, t in btf.records.params(self.id, btf.records.names))
        return self._params

    @property
    def params(self) -> Tuple[TypeParameter, ...]:
        """Parameters in order, ``...`` excluded (see :attr:`is_variadic`)."""
        p = self.raw_params
        if p and p[-1].type_id == 0 and not p[-1].btf_name:
            return p[:-1]
        return p

    @property
    def parameters(self) -> Tuple[TypeParameter, ...]:
        """The parameters (drgn's name), ``...`` excluded."""
        return tuple(self.params)

    @property
    def is_variadic(self) -> bool:
        """True when the prototype ends in ``...``."""
        p = self.raw_params
        return bool(p) and p[-1].type_id == 0 and not p[-1].btf_name


class Func(Ref):
    """A BTF FUNC record: a function's name, linkage and prototype (``type``)."""

    __slots__ = ("linkage",)

    def __init__(self, btf: BTF, type_id: int, name: str, ref: int, linkage: int) -> None:
        super().__init__(btf, type_id, K.KIND_FUNC, name, False, ref)
        self.linkage = linkage

    @property
    def proto(self) -> FuncProto:
        """The function's prototype."""
        t = self.type
        if not isinstance(t, FuncProto):
            raise BTFError(f"FUNC {self.btf_name!r} (id {self.id}) does not point at a FUNC_PROTO")
        return t


class Var(Ref):
    """A BTF VAR record (per-CPU variables, or every global with newer pahole)."""

    __slots__ = ("linkage",)

    def __init__(self, btf: BTF, type_id: int, name: str, ref: int, linkage: int) -> None:
        super().__init__(btf, type_id, K.KIND_VAR, name, False, ref)
        self.linkage = linkage


class Datasec(Sized):
    """A BTF DATASEC record (``.data..percpu``) listing variables and their offsets."""

    __slots__ = ()

    def __init__(self, btf: BTF, type_id: int, name: str, size: int, vlen: int) -> None:
        super().__init__(btf, type_id, K.KIND_DATASEC, name, False, size, vlen)

    @property
    def entries(self) -> Tuple[VarSecinfo, ...]:
        """The section's variables."""
        if self._records is None:
            btf = self.btf
            assert btf is not None
            self._records = tuple(VarSecinfo(t, o, s, btf) for t, o, s in btf.records.secinfo(self.id))
        return self._records


class DeclTag(Ref):
    """A BTF declaration tag (``btf_name`` is the tag text) on a type, member or parameter."""

    __slots__ = ("component_idx",)

    def __init__(self, btf: BTF, type_id: int, name: str, kflag: bool, ref: int, idx: int) -> None:
        super().__init__(btf, type_id, K.KIND_DECL_TAG, name, kflag, ref)
        self.component_idx = idx


class Opaque(Type):
    """A kind this code knows only by its layout (newer BTF, or LOC_* kinds)."""

    __slots__ = ("raw_size_or_type", "vlen", "offset")

    def __init__(
        self, btf: BTF, type_id: int, kind: int, name: str, kflag: bool, st: int, vlen: int, off: int
    ) -> None:
        super().__init__(btf, type_id, kind, name, kflag)
        self.raw_size_or_type = st
        self.vlen = vlen
        self.offset = off
