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
from kdbg.arch.arm64.unwind import FRAME_META_TYPE_FINAL, FRAME_META_TYPE_PT_REGS, pt_regs_offsets
from kdbg.helpers import cpu_curr, for_each_task
from tests.arm64_support import drgn_answers
from vmcores.arm64 import EXTRA_KERNELS, KERNELS, PAGE_SIZE_KERNELS, arm64_dumps
from vmcores.arm64_crash import ARM64_SCENARIOS, arm64_crash_dumps
from vmcores.oracle import ORACLE_FORM, Query

pytestmark = pytest.mark.timeout(2400)

_MEMBERS = ("regs", "sp", "pc", "pstate", "stackframe")


@pytest.mark.parametrize("kernel", KERNELS + PAGE_SIZE_KERNELS + EXTRA_KERNELS)
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


_PID = "__import__('drgn.helpers.linux.pid', fromlist=['x'])"


@pytest.mark.parametrize("scenario", ARM64_SCENARIOS)
def test_forky_walks_meet_the_kernels_metadata_records(scenario: str) -> None:
    """On forky's crash dumps (an IPI that stopped a CPU in its idle loop; the oops' data
    abort), every exception frame kdbg crossed inside a trace is a ``pt_regs`` whose
    ``stackframe`` drgn reads through DWARF as ``{0, 0}`` with ``type``
    ``FRAME_META_TYPE_PT_REGS`` (2), at least one such on each dump; and every task with
    a stack ends normally at a record drgn reads as ``{0, 0}`` with ``FRAME_META_TYPE_FINAL``
    (1), in a ``pt_regs`` that ends the same distance above every task's ``stack``
    (``THREAD_SIZE``: a power of two)."""
    (kernel,) = EXTRA_KERNELS
    dump = next(d for d in arm64_crash_dumps([kernel], [scenario]) if d.form == ORACLE_FORM)
    crossed = set()
    finals = []
    with open_program(str(dump.path)) as prog:
        traces = [(int(t.value_()), prog.stack_trace(t)) for t in for_each_task(prog) if int(t.stack)]
        # the CPUs' current tasks (the stopped CPU's idle task is not listed)
        traces += [(int(cpu_curr(prog, cpu).value_()), prog.stack_trace(cpu_curr(prog, cpu))) for cpu in (0, 1)]
        for address, trace in traces:
            assert trace.stop_reason is None, str(trace)
            crossed |= {f.regs.address_ for f in list(trace)[1:] if f.interrupted and f.regs is not None}
            finals.append((address, trace[-1].registers()["x29"]))
    assert crossed and len(finals) > 40
    regs = "drgn.Object(prog, 'struct pt_regs', address={a}).stackframe"
    meta = "drgn.Object(prog, 'struct frame_record_meta', address={fp})"
    task = "drgn.Object(prog, 'struct task_struct', address={a}).stack.value_()"
    t = "prog.type('struct pt_regs')"
    recs = drgn_answers(dump, [
        Query("frame", f"drgn.offsetof({t}, 'stackframe')"), Query("size", f"drgn.sizeof({t})"),
        Query("finals", "[" + ", ".join(f"[{task.format(a=a)}, {meta.format(fp=fp)}.record.fp.value_(), "
                                        f"{meta.format(fp=fp)}.record.lr.value_(), {meta.format(fp=fp)}.type.value_()]"
                                        for a, fp in finals) + "]"),
    ] + [Query(f"{a:x}", f"[{regs.format(a=a)}.record.fp.value_(), {regs.format(a=a)}.record.lr.value_(), "
                         f"{regs.format(a=a)}.type.value_()]") for a in sorted(crossed)])
    assert all(recs[f"{a:x}"]["value"] == [0, 0, FRAME_META_TYPE_PT_REGS] for a in crossed), recs
    got = recs["finals"]["value"]
    assert [rec[1:] for rec in got] == [[0, 0, FRAME_META_TYPE_FINAL]] * len(finals)
    tops = {fp - recs["frame"]["value"] + recs["size"]["value"] - rec[0]
            for (_a, fp), rec in zip(finals, got, strict=True)}
    assert len(tops) == 1 and tops.pop() in (1 << 14, 1 << 16), tops
