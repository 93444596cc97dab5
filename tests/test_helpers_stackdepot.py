"""``stack_depot_fetch`` (drgn's ``drgn.helpers.linux.stackdepot``).

Against drgn 0.3.0 with Debian's DWARF on the three reference kernels: the guests' stack
depots hold no trace (no KASAN, page_owner or SLUB user tracking), so a handle gives
``None`` where its pool is not allocated, and 5.10's Debian kernel, built without a stack
depot, has no ``union handle_parts`` (drgn's ``LookupError``).

A stored trace: a ``struct stack_record`` planted over the dump's memory
(:mod:`tests.memory_overlay`) in a pool the test installs in the pool table (an array or,
since Linux 6.15, a pointer to one: the type drgn reads from DWARF says which), under a handle the test encodes
from BTF's ``union handle_parts`` bit fields (the kernel's encoding: pool index, from 6.9
plus one, and the record's offset in 16-byte units) gives back the planted program
counters, each named by the kallsyms symbol it lies in.
"""

from __future__ import annotations

import struct
from typing import Dict, List

import pytest

import kdbg
from kdbg.errors import ValidationError
from kdbg.helpers.stackdepot import stack_depot_fetch
from tests.helpers_compare import drgn_answers, mismatches
from tests.memory_overlay import overlay
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES

pytestmark = pytest.mark.timeout(900)

_FETCH = "H.stack_depot_fetch(Object(prog, 'depot_stack_handle_t', {}))"
CASES: Dict[str, str] = {f"handle_{h:#x}": _FETCH.format(h) for h in (0, 1, 0x20001, 0x1234)}


@pytest.mark.parametrize("suite", SUITES)
def test_stack_depot_as_drgn(suite: str) -> None:
    assert mismatches(suite, CASES) == {}


def _bits(prog: kdbg.Program, name: str) -> int:
    """The bit offset of ``union handle_parts``' bit field ``name``."""
    parts = prog.type("union handle_parts")
    inner = next(m for m in parts.members if m.name is None).type
    return next(m.bit_offset for m in inner.members if m.name == name)


@pytest.mark.parametrize("suite", [s for s in SUITES if s != "bullseye"])
def test_planted_record_is_fetched(suite: str) -> None:
    prog = kdbg.open_core(str(oracle_dump(suite).path))
    patches = overlay(prog).patches
    record_t = prog.type("struct stack_record")
    names = ["schedule", "do_exit", "vfs_read"]
    pcs: List[int] = [prog.symbol(n).address + 0x10 for n in names]
    scratch = prog["init_task"].address_ + 0x200  # overlaid bytes: any readable memory will do
    index, offset = 3, 5
    pool = scratch
    record = pool + (offset << 4)
    patches[record + record_t.member("size").offset] = struct.pack("<I", len(pcs))
    patches[record + record_t.member("entries").offset] = struct.pack(f"<{len(pcs)}Q", *pcs)
    has_plus_1 = any(m.name == "pool_index_plus_1" for m in
                     next(m for m in prog.type("union handle_parts").members if m.name is None).type.members)
    table = drgn_answers(suite, {"type": "prog['stack_pools'].type_.type_name() if 'stack_pools' in prog "
                                          "else None"})["type"]["value"]
    if table is None:  # before 6.3: the array stack_slabs
        patches[prog.symbol("stack_slabs").address + 8 * index] = struct.pack("<Q", pool)
        handle = index << _bits(prog, "slabindex") | offset << _bits(prog, "offset") | 1 << _bits(prog, "valid")
    else:
        address = prog.symbol("stack_pools").address
        if table == "void **":  # Linux 6.15 and later: a pointer to the table
            patches[address] = struct.pack("<Q", scratch + 0x800)
            address = scratch + 0x800
        else:
            assert table.startswith("void *["), table
        patches[address + 8 * index] = struct.pack("<Q", pool)
        stored = index + 1 if has_plus_1 else index
        field = "pool_index_plus_1" if has_plus_1 else "pool_index"
        handle = stored << _bits(prog, field) | offset << _bits(prog, "offset")
    trace = stack_depot_fetch(kdbg.Object(prog, "depot_stack_handle_t", handle))
    assert trace is not None
    assert [frame.pc for frame in trace] == pcs
    assert [frame.name for frame in trace] == names
    # a record whose size is corrupt is one line naming it
    corrupt = record + (1 << 4)
    patches[corrupt + record_t.member("size").offset] = struct.pack("<I", 0xFFFFFFFF)
    with pytest.raises(ValidationError, match=f"stack depot record {corrupt:#x} .* 4294967295 frames"):
        stack_depot_fetch(kdbg.Object(prog, "depot_stack_handle_t", handle + (1 << _bits(prog, "offset"))))
