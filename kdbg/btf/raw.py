"""``bpftool btf dump`` raw format: one line per type, members/enumerators/params indented.

The output is byte-for-byte what ``bpftool btf dump file F`` (raw) prints, so the two can
be compared directly.
"""

from __future__ import annotations

from typing import IO, Iterable, Iterator, List, Optional

from kdbg.btf import constants as K
from kdbg.btf.index import BTF
from kdbg.btf.types import (
    Array,
    Composite,
    Datasec,
    DeclTag,
    Enum,
    Func,
    FuncProto,
    Fwd,
    Int,
    Opaque,
    Ref,
    Type,
    Var,
)

__all__ = ["raw_lines", "dump_raw"]

_INT_ENC = {0: "(none)", K.INT_SIGNED: "SIGNED", K.INT_CHAR: "CHAR", K.INT_BOOL: "BOOL"}


def _q(name: str) -> str:
    return f"'{name or '(anon)'}'"


def type_lines(t: Type) -> List[str]:
    """The raw-format lines of one type (first line plus indented detail lines)."""
    head = f"[{t.id}] {t.kind_name} {_q(t.btf_name)}"
    if isinstance(t, Int):
        enc = _INT_ENC.get(t.encoding, "UNKN")
        return [f"{head} size={t.size} bits_offset={t.bit_offset} nr_bits={t.bits} encoding={enc}"]
    if isinstance(t, Array):
        return [f"{head} type_id={t.type_id} index_type_id={t.index_type_id} nr_elems={t.length}"]
    if isinstance(t, Composite):
        out = [f"{head} size={t.size} vlen={t.vlen}"]
        for m in t.btf_members:
            line = f"\t{_q(m.btf_name)} type_id={m.type_id} bits_offset={m.bit_offset}"
            if t.kflag and m.bitfield_size:
                line += f" bitfield_size={m.bitfield_size}"
            out.append(line)
        return out
    if isinstance(t, Enum):  # the records as stored: the kind flag is the signedness
        btf = t.btf
        assert btf is not None
        enc = "SIGNED" if t.kflag else "UNSIGNED"
        out = [f"{head} encoding={enc} size={t.size} vlen={t.vlen}"]
        suffix = ("LL" if t.kflag else "ULL") if t.is_enum64 else ""
        for name, value in btf.records.enumerators(t.id, btf.records.names):
            out.append(f"\t{_q(name)} val={value}{suffix}")
        return out
    if isinstance(t, Fwd):
        return [f"{head} fwd_kind={t.keyword}"]
    if isinstance(t, Func):
        link = K.LINKAGE_NAMES.get(t.linkage, "UNKN")
        return [f"{head} type_id={t.type_id} linkage={link}"]
    if isinstance(t, FuncProto):
        out = [f"{head} ret_type_id={t.type_id} vlen={t.vlen}"]
        for p in t.raw_params:
            out.append(f"\t{_q(p.btf_name)} type_id={p.type_id}")
        return out
    if isinstance(t, Var):
        link = K.VAR_LINKAGE_NAMES.get(t.linkage, "UNKN")
        return [f"{head} type_id={t.type_id}, linkage={link}"]
    if isinstance(t, Datasec):
        out = [f"{head} size={t.size} vlen={len(t.entries)}"]
        btf = t.btf
        assert btf is not None
        for sec in t.entries:
            out.append(
                f"\ttype_id={sec.type_id} offset={sec.offset} size={sec.size} "
                f"({K.KIND_NAMES.get(btf.kind_of(sec.type_id), 'UNKN')} {_q(btf.name_of(sec.type_id))})"
            )
        return out
    if isinstance(t, DeclTag):
        return [f"{head} type_id={t.type_id} component_idx={t.component_idx}"]
    if isinstance(t, Ref):
        return [f"{head} type_id={t.type_id}"]
    if isinstance(t, Opaque):
        return [f"{head} size_or_type={t.raw_size_or_type} vlen={t.vlen}"]
    if t.btf_kind == K.KIND_FLOAT:
        return [f"{head} size={t.size}"]
    return [head]


def raw_lines(btf: BTF, ids: Optional[Iterable[int]] = None) -> Iterator[str]:
    """Yield raw-format lines for ``ids`` (default: every type of ``btf``, base excluded)."""
    for tid in btf.ids() if ids is None else ids:
        yield from type_lines(btf.type(tid))


def dump_raw(btf: BTF, out: IO[str], ids: Optional[Iterable[int]] = None) -> None:
    """Write the raw dump to ``out``."""
    buf: List[str] = []
    for line in raw_lines(btf, ids):
        buf.append(line)
        if len(buf) >= 4096:
            out.write("\n".join(buf) + "\n")
            buf.clear()
    if buf:
        out.write("\n".join(buf) + "\n")
