"""drgn's type helpers (``drgn.helpers.common.type``) against drgn with Debian's DWARF on
the same kernel: ``member_at_offset`` at every byte of real kernel types (nested structs,
unions, arrays, bit fields, padding, the end), ``typeof_member``, ``enum_type_to_class``."""

from __future__ import annotations

from typing import Dict, List, Tuple

import pytest

import kdbg
from kdbg.helpers.types import enum_type_to_class, member_at_offset, typeof_member
from tests.oracle_exprs import oracle_dump
from vmcores.oracle import Query, ask_drgn

pytestmark = pytest.mark.timeout(1200)

TYPES = ["struct task_struct", "struct mm_struct", "struct sk_buff", "struct page", "struct file",
         "struct sigpending", "struct autogroup", "struct rq", "union mc_target", "struct kmem_cache",
         "struct net_device", "struct inode"]
MEMBERS = [("struct task_struct", "se.avg.load_avg"), ("struct task_struct", "comm"),
           ("struct task_struct", "pid_links[1]"), ("struct mm_struct", "cpu_bitmap"), ("struct page", "flags")]
ENUMS = [("enum pid_type", "PIDTYPE_"), ("enum zone_type", "ZONE_"), ("enum node_states", "N_")]


@pytest.mark.parametrize("suite", ["bookworm", "trixie", "bullseye"])
def test_type_helpers_as_drgn(suite: str) -> None:
    dump = oracle_dump(suite)
    prog = kdbg.open_core(str(dump.path))
    spots: List[Tuple[str, int]] = []
    for name in TYPES:
        try:
            size = prog.type(name).size or 0
        except LookupError:
            continue  # not in this kernel (checked below: most are)
        spots += [(name, off) for off in range(size + 3)]
    assert len({n for n, _ in spots}) >= len(TYPES) - 2
    queries = [Query(f"mao:{n}:{off}", f"__import__('drgn.helpers.common.type').helpers.common.type."
                     f"member_at_offset(prog.type({n!r}), {off})") for n, off in spots]
    queries += [Query(f"tom:{n}:{m}", f"__import__('drgn.helpers.common.type').helpers.common.type."
                      f"typeof_member(prog.type({n!r}), {m!r}).type_name()") for n, m in MEMBERS]
    queries += [Query(f"etc:{n}", f"sorted((e.name, e.value) for e in __import__('drgn.helpers.common.type')"
                      f".helpers.common.type.enum_type_to_class(prog.type({n!r}), 'X', prefix={p!r}))")
                for n, p in ENUMS]
    answers = ask_drgn(suite, dump.path, queries).records
    differ: Dict[str, Tuple[str, str]] = {}
    for n, off in spots:
        rec = answers[f"mao:{n}:{off}"]
        ours = member_at_offset(prog.type(n), off)
        if rec.get("value") != ours:
            differ[f"{n}+{off}"] = (ours, rec.get("value", rec.get("error")))
    for n, m in MEMBERS:
        assert typeof_member(prog.type(n), m).type_name() == answers[f"tom:{n}:{m}"]["value"], (n, m)
    for n, p in ENUMS:
        ours_enum = sorted((e.name, e.value) for e in enum_type_to_class(prog.type(n), "X", prefix=p))
        assert [list(x) for x in ours_enum] == answers[f"etc:{n}"]["value"], n
    assert differ == {}
