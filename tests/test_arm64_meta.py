"""6.13+'s arm64 metadata frame records: what kdbg takes from BTF to find them.

``struct pt_regs``' ``stackframe`` became a ``struct frame_record_meta`` (``{record,
type}``) in 6.13; kdbg reads the layout from the dump's BTF
(:func:`kdbg.arch.arm64.unwind.pt_regs_offsets`) and, by whether ``stackframe.type``
exists, walks the metadata records (forky's 7.2) or finds exception boundaries the
6.1-6.12 way (bookworm, trixie). Ground truth: drgn 0.3.0 with Debian's arm64 DWARF on
the same dump (its ``offsetof`` and ``sizeof`` from ``.debug_info``). The walks
themselves are checked against the guests' sysrq-t and drgn in ``test_arm64_stacks``
(forky included), and across ``PT_REGS`` records in the crash dumps of
``test_arm64_crash``.
"""

from __future__ import annotations

import pytest

from kdbg import open_core as open_program
from kdbg.arch.arm64.unwind import pt_regs_offsets
from tests.arm64_support import drgn_answers
from vmcores.arm64 import EXTRA_KERNELS, KERNELS, arm64_dumps
from vmcores.oracle import ORACLE_FORM, Query

pytestmark = pytest.mark.timeout(2400)

_MEMBERS = ("regs", "sp", "pc", "pstate", "stackframe")


@pytest.mark.parametrize("kernel", KERNELS + EXTRA_KERNELS)
def test_pt_regs_layout_from_btf_is_dwarfs(kernel: str) -> None:
    """Every offset kdbg's unwinder uses equals DWARF's, and ``stackframe.type`` exists
    exactly on the kernels >= 6.13 (by the guest's ``uname -r``)."""
    dump = next(d for d in arm64_dumps([kernel]) if d.form == ORACLE_FORM)
    release = (dump.truth / "uname").read_text().strip()
    major, minor = (int(x) for x in release.split(".")[:2])
    meta = (major, minor) >= (6, 13)
    t = "prog.type('struct pt_regs')"
    queries = [Query(m, f"drgn.offsetof({t}, {m!r})") for m in _MEMBERS] + [Query("size", f"drgn.sizeof({t})")]
    if meta:
        queries.append(Query("type", f"drgn.offsetof({t}, 'stackframe.type')"))
    else:
        queries.append(Query("stackframe_kind", f"{t}.member('stackframe').type.kind.name"))
    recs = drgn_answers(dump, queries)
    with open_program(str(dump.path)) as prog:
        got = pt_regs_offsets(prog.type("struct pt_regs").strip_typedefs())
    assert [getattr(got, m) for m in _MEMBERS] + [got.size] == [recs[m]["value"] for m in (*_MEMBERS, "size")]
    if meta:
        assert got.meta_type == recs["type"]["value"]
    else:
        assert got.meta_type is None and recs["stackframe_kind"]["value"] == "ARRAY"
