"""The variables a BTF's DATASECs place (the kernel's ``.data..percpu``; other sections
where pahole encoded them), read from the records without decoding the sections or the
variables."""

from __future__ import annotations

from typing import Iterator, NamedTuple

from kdbg.btf import constants as K
from kdbg.btf.index import BTF
from kdbg.btf.types import Var

__all__ = ["BTFVariable", "datasec_variables"]


class BTFVariable(NamedTuple):
    """One VAR of a BTF DATASEC, named by its record: the VAR itself is decoded (which
    ``kdbg shrink --reduced-btf`` counts as used) only when :attr:`var` is asked for."""

    name: str
    btf: BTF
    var_id: int
    #: The DATASEC's name (``.data..percpu``).
    section: str
    #: The variable's offset in its section.
    offset: int

    @property
    def var(self) -> Var:
        """The decoded VAR (its ``type`` is the variable's)."""
        t = self.btf.type(self.var_id)
        assert isinstance(t, Var)
        return t


def datasec_variables(btf: BTF) -> Iterator[BTFVariable]:
    """Every VAR of ``btf``'s DATASECs (not its base's) with its section and offset, from
    the records (decoding neither the sections nor the variables)."""
    for tid in btf.ids((K.KIND_DATASEC,)):
        section = btf.name_of(tid)
        for var_id, offset, _size in btf.records.secinfo(tid):
            if btf.kind_of(var_id) == K.KIND_VAR:
                yield BTFVariable(btf.name_of(var_id), btf, var_id, section, offset)
