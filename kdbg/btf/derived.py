"""Types BTF does not carry but a program needs: ``T *``, ``T [N]``, ``T []``, qualified
and function types made from BTF's own (with negative ids), and an enum's compatible
integer type. :class:`Derivations` is part of :class:`kdbg.btf.index.BTF`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, Iterable, Iterator, Optional, Sequence, Tuple

from kdbg.btf import constants as K
from kdbg.btf.kinds import Qualifiers
from kdbg.btf.types import Array, Const, Float, FuncProto, Pointer, Restrict, Type, TypeParameter, Volatile

if TYPE_CHECKING:
    from kdbg.btf.decoder import Records

__all__ = ["Derivations"]

#: gcc's names of the integer types of each size: (signed, unsigned).
_INTEGER_NAMES = {1: ("signed char", "unsigned char"), 2: ("short int", "short unsigned int"),
                  4: ("int", "unsigned int"), 8: ("long int", "long unsigned int")}



class Derivations:
    """What :class:`~kdbg.btf.index.BTF` derives from its types."""

    if TYPE_CHECKING:  # what it uses of the BTF it is part of
        _synth: Dict[int, Type]
        _synth_key: Dict[Tuple[str, int, Optional[int]], int]
        _ptr_index: Optional[Dict[int, int]]
        _ints: Dict[Tuple[int, bool], Type]
        _void: Type
        records: Records

        def type(self, type_id: int) -> Type: ...
        def all_ids(self, kinds: Optional[Iterable[int]] = None) -> Iterator[int]: ...
        def find(self, name: str, kinds: Optional[Iterable[int]] = None) -> Optional[Type]: ...

    def _synthesize(self, key: Tuple[str, int, Optional[int]], make: Callable[[int], Type]) -> Type:
        sid = self._synth_key.get(key)
        if sid is None:
            sid = -(len(self._synth) + 1)
            self._synth[sid] = make(sid)
            self._synth_key[key] = sid
        return self._synth[sid]

    def pointer_to(self, t: Type) -> Type:
        """A pointer to ``t``: the BTF's own PTR type if it has one, else a synthesized one."""
        if self._ptr_index is None:
            idx: Dict[int, int] = {}
            head = self.records.head
            for i in self.all_ids((K.KIND_PTR,)):  # from the records: a PTR is decoded when used
                idx.setdefault(head(i)[2], i)
            self._ptr_index = idx
        pid = self._ptr_index.get(t.id)
        if pid is not None:
            return self.type(pid)
        return self._synthesize(("ptr", t.id, 0), lambda sid: Pointer(self, sid, K.KIND_PTR, "", False, t.id))  # type: ignore[arg-type]

    def array_of(self, t: Type, length: int) -> Type:
        """An array type of ``length`` elements of ``t`` (synthesized)."""
        return self._synthesize(("array", t.id, length), lambda sid: Array(self, sid, t.id, 0, length))  # type: ignore[arg-type]

    def qualified(self, t: Type, keyword: str) -> Type:
        """``t`` with a qualifier keyword applied (synthesized)."""
        cls = {"const": Const, "volatile": Volatile, "restrict": Restrict}[keyword]
        kind = {"const": K.KIND_CONST, "volatile": K.KIND_VOLATILE, "restrict": K.KIND_RESTRICT}[keyword]
        return self._synthesize((keyword, t.id, 0), lambda sid: cls(self, sid, kind, "", False, t.id))  # type: ignore[arg-type]

    def function_proto(self, ret: Type, params: Sequence[Type], variadic: bool = False) -> FuncProto:
        """A prototype ``ret (params...)`` with unnamed parameters (synthesized; callers
        look for an existing FUNC_PROTO of that shape first)."""
        ids = tuple(p.id for p in params)

        def make(sid: int) -> FuncProto:
            return FuncProto(self, sid, ret.id, len(ids) + variadic,  # type: ignore[arg-type]
                             [TypeParameter(self, "", i) for i in ids + ((0,) if variadic else ())])

        key = ("proto" + "".join(f",{i}" for i in ids) + (",..." if variadic else ""), ret.id, 0)
        t = self._synthesize(key, make)
        assert isinstance(t, FuncProto)
        return t

    def made_type(self, make: Callable[[int], Type]) -> Type:
        """A new type built from parts (drgn's ``prog.struct_type(...)`` and kin): ``make(id)``
        gets a fresh negative id on this BTF; every call makes a type of its own."""
        return self._synthesize((f"made {len(self._synth)}", 0, None), make)

    def incomplete_array_of(self, elem: Type) -> Type:
        """The incomplete array ``elem []`` (synthesized)."""
        return self._synthesize(("array", elem.id, None), lambda sid: Array(self, sid, elem.id, 0, None))  # type: ignore[arg-type]

    def float_type(self, name: str) -> Optional[Type]:
        """C's floating-point type ``name`` (``float``, ``double``, ``long double``, x86-64
        sizes), synthesized for a BTF that has none: drgn has them whatever the debug
        info holds; ``None`` for any other name."""
        size = _FLOAT_SIZES.get(name)
        if size is None:
            return None
        return self._synthesize(("float " + name, size, 0), lambda sid: Float(self, sid, name, size))  # type: ignore[arg-type]

    def integer_type(self, size: int, signed: bool) -> Type:
        """The C integer type of ``size`` bytes and signedness (``unsigned int``): an
        enum's compatible type."""
        key = (size, signed)
        t = self._ints.get(key)
        if t is None:
            name = _INTEGER_NAMES.get(size, ("int", "unsigned int"))[0 if signed else 1]
            t = self.find(name, (K.KIND_INT,)) or self._void
            self._ints[key] = t
        return t

    def qualified_type(self, t: Type, qualifiers: Qualifiers) -> Type:
        """``t`` with the qualifiers ``qualifiers`` (synthesized where BTF has no such
        record), innermost ``restrict``, then ``volatile``, then ``const``."""
        out = t
        for flag, kw in ((Qualifiers.RESTRICT, "restrict"), (Qualifiers.VOLATILE, "volatile"),
                         (Qualifiers.CONST, "const")):
            if qualifiers & flag:
                out = self.qualified(out, kw)
        return out


#: C's floating-point types and their sizes in the x86-64 ABI.
_FLOAT_SIZES = {"float": 4, "double": 8, "long double": 16}
