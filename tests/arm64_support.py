"""What the arm64 tests share: drgn 0.3.0 with Debian's arm64 DWARF as the oracle of an
arm64 dump (:mod:`vmcores.oracle` with the ``-dbg`` vmlinux :mod:`vmcores.arm64` fetches),
and the comparison of reads at every kind of kernel address."""

from __future__ import annotations

import random
from typing import Any, Dict, List

from kdbg import open_core as open_program
from kdbg.errors import FaultError
from tests.kallsyms_truth import truth_vmlinux
from vmcores.arm64 import arm64_dbg_vmlinux, kernel_parts
from vmcores.dump_index import Dump
from vmcores.oracle import Query, ask_drgn

__all__ = ["drgn_answers", "read_or_fault", "assert_reads_agree_with_drgn"]

_PID = "__import__('drgn.helpers.linux.pid', fromlist=['x'])"
_MM = "__import__('drgn.helpers.linux.mm', fromlist=['x'])"


def drgn_answers(dump: Dump, queries: List[Query], errors: bool = False) -> Dict[str, Any]:
    """drgn's answers on *dump* (an arm64 ``elf-paging`` dump; :attr:`Dump.suite` is the
    kernel name ``SUITE-FLAVOUR``) with that kernel's ``-dbg`` vmlinux; a drgn error fails
    unless *errors*."""
    suite, flavour = kernel_parts(dump.suite)
    ans = ask_drgn(f"arm64-{dump.suite}", dump.path, queries, arm64_dbg_vmlinux(suite, flavour))
    for key, rec in ans.records.items():
        assert errors or rec["kind"] != "error", (key, rec)
    return ans.records


def read_or_fault(prog: Any, address: int, size: int = 64) -> str:
    """*size* bytes at *address* in hex, or ``"FaultError"``."""
    try:
        return bytes(prog.read(address, size)).hex()
    except FaultError:
        return "FaultError"


def assert_reads_agree_with_drgn(oracle_dump: Dump, dumps: List[Dump]) -> None:
    """64 bytes at 40 random kallsyms addresses (kernel image; some in freed init text),
    each module's base, each task (linear map), its stack (vmalloc) and its ``struct
    page`` (vmemmap), as drgn reads them on *oracle_dump*: kdbg reads the same bytes, or
    faults where drgn does, on every dump of *dumps*."""
    truth = oracle_dump.truth
    text = [a for a, _t, _n in truth_vmlinux(truth)]
    image = sorted(random.Random(16).sample(text, 40))
    modules = [int(line.split()[-1], 16) for line in (truth / "modules").read_text().splitlines()]
    assert modules
    recs = drgn_answers(oracle_dump, [
        Query("tasks", f"[t.value_() for t in {_PID}.for_each_task(prog)]"),
        Query("stacks", f"[t.stack.value_() for t in {_PID}.for_each_task(prog)]"),
        Query("pages", f"[{_MM}.virt_to_page(t).value_() for t in {_PID}.for_each_task(prog)]"),
    ])
    # (with 16K pages several tasks share a page: each address is asked once)
    addresses = list(dict.fromkeys(image + modules + recs["tasks"]["value"] + recs["stacks"]["value"]
                                   + recs["pages"]["value"]))
    reads = drgn_answers(oracle_dump, [Query(f"{a:x}", f"prog.read({a}, 64)") for a in addresses], errors=True)
    want = {}
    for a in addresses:
        rec = reads[f"{a:x}"]
        want[a] = rec["error"] if rec["kind"] == "error" else rec["value"]["bytes"]
    readable = [v for v in want.values() if v != "FaultError"]
    assert len(readable) > len(addresses) // 2 and all(len(v) == 128 for v in readable), want
    assert set(want.values()) <= set(readable) | {"FaultError"}
    for d in dumps:
        with open_program(str(d.path)) as prog:
            got = {a: read_or_fault(prog, a) for a in addresses}
            assert got == want, d.form
