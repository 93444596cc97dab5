"""The REPL's completer (kdbg.ui.completion) without a terminal, on the committed sample dump.

Ground truth comes from outside kdbg: bpftool's reading of the guest's own BTF
(``truth/btf/vmlinux``) for members and type names, the guest's /proc/kallsyms for symbols.
Completion never evaluates the expression: a memory wrapper counts reads and must see none.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Set

import pytest

from kdbg.target import open_core
from kdbg.ui.commands import commands
from kdbg.ui.completion import Completions, complete
from kdbg.ui.evaluate import script_globals
from tests.btf_truth import bpftool_raw, parse_raw
from tests.kallsyms_truth import truth_vmlinux

_MEMBER = re.compile(r"^'([^']*)' type_id=(\d+)")


class CountingMemory:
    """A KernelMemory proxy counting every call of a ``read*`` method."""

    def __init__(self, memory: Any) -> None:
        self._memory = memory
        self.reads: List[str] = []

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._memory, name)
        if name.startswith("read") and callable(value):
            def counted(*args: Any, **kw: Any) -> Any:
                self.reads.append(name)
                return value(*args, **kw)
            return counted
        return value


@pytest.fixture(scope="module")
def session(sample_dump) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    prog = open_core(str(sample_dump.path))
    prog.symbol_table  # noqa: B018 - the layers load first: completion then reads nothing
    prog.btfs  # noqa: B018
    raw = parse_raw(bpftool_raw(sample_dump.truth / "btf" / "vmlinux"))
    yield {"prog": prog, "g": script_globals(prog), "names": Completions(prog), "raw": raw,
           "truth": sample_dump.truth}
    prog.close()


def _named_members(raw: Dict[int, Any], tid: int, seen: Set[int]) -> Set[str]:
    """Names reachable with ``.`` from bpftool type ``tid`` (anonymous members flattened,
    typedefs and qualifiers followed)."""
    t = raw[tid]
    while t.kind in ("TYPEDEF", "CONST", "VOLATILE", "RESTRICT", "TYPE_TAG"):
        t = raw[int(t.attrs["type_id"])]
    if t.kind not in ("STRUCT", "UNION") or t.id in seen:
        return set()
    seen.add(t.id)
    out: Set[str] = set()
    for line in t.lines:
        m = _MEMBER.match(line)
        if m and m.group(1) != "(anon)":
            out.add(m.group(1))
        elif m:
            out |= _named_members(raw, int(m.group(2)), seen)
    return out


def _struct_id(raw: Dict[int, Any], name: str) -> int:
    return next(t.id for t in raw.values() if t.kind == "STRUCT" and t.name == name)


def test_members_of_init_task_are_task_structs_without_reading_memory(session) -> None:  # type: ignore[no-untyped-def]
    prog = session["prog"]
    counting = CountingMemory(prog.memory)
    prog.memory = counting
    try:
        start, found = complete(prog, session["g"], 'prog["init_task"].', session["names"])
        _, co = complete(prog, session["g"], 'prog["init_task"].co', session["names"])
        _, se = complete(prog, session["g"], 'prog["init_task"].se.', session["names"])
        _, mm = complete(prog, session["g"], 'prog["init_task"].mm.', session["names"])
        _, sib = complete(prog, session["g"], 'prog["init_task"].children.next.', session["names"])
        _, unknown = complete(prog, session["g"], 'prog["no_such_global"].', session["names"])
    finally:
        prog.memory = counting._memory
    assert counting.reads == []
    assert start == len('prog["init_task"].')
    raw = session["raw"]
    members = _named_members(raw, _struct_id(raw, "task_struct"), set())
    n = len(members)
    assert set(found[:n]) == members, "the kernel's members come first"
    assert found[:n] == sorted(found[:n])
    assert {"address_of_", "format_", "member_", "read_", "value_"} <= set(found[n:])
    assert co[0] == "comm" and all(c.startswith("co") for c in co)
    assert set(se[: len(_named_members(raw, _struct_id(raw, "sched_entity"), set()))]) == _named_members(
        raw, _struct_id(raw, "sched_entity"), set())
    # through a pointer (mm is struct mm_struct *) and a struct list_head's pointer member
    assert set(mm) >= _named_members(raw, _struct_id(raw, "mm_struct"), set())
    assert sib[:2] == ["next", "prev"]
    assert unknown == []


def test_struct_names_come_from_btf(session) -> None:  # type: ignore[no-untyped-def]
    raw = session["raw"]
    truth = sorted({t.name for t in raw.values() if t.kind == "STRUCT" and t.name.startswith("task_")})
    start, found = complete(session["prog"], session["g"], "ptype struct task_", session["names"])
    assert start == len("ptype struct ")
    assert found == truth and "task_struct" in found
    _, unions = complete(session["prog"], session["g"], 'prog.type("union ', session["names"])
    assert unions == sorted({t.name for t in raw.values() if t.kind == "UNION" and t.name != "(anon)"})[:500]


def test_symbols_after_prog_subscript_and_for_sym(session) -> None:  # type: ignore[no-untyped-def]
    truth = {name for _addr, _t, name in truth_vmlinux(session["truth"]) if name.startswith("init_ta")}
    start, found = complete(session["prog"], session["g"], 'prog["init_ta', session["names"])
    assert start == len('prog["')
    assert truth <= set(found) and "init_task" in found
    _, syms = complete(session["prog"], session["g"], "sym init_ta", session["names"])
    assert truth <= set(syms)


def test_first_word_commands_then_python_names(session) -> None:  # type: ignore[no-untyped-def]
    _, found = complete(session["prog"], session["g"], "pt", session["names"])
    pt = sorted(n for n in commands() if n.startswith("pt"))  # ptob, ptov, ptype: commands first
    assert "ptype" in pt and found[:len(pt)] == pt
    _, helpers = complete(session["prog"], session["g"], "for_each_t", session["names"])
    assert "for_each_task" in helpers
    _, inner = complete(session["prog"], session["g"], "for t in for_each_t", session["names"])
    assert "for_each_task" in inner
    _, names = complete(session["prog"], session["g"], "x = containe", session["names"])
    assert names == ["container_of"]
    _, comm = complete(session["prog"], session["g"], 'p prog["init_task"].comm', session["names"])
    assert comm[0] == "comm"
    _, ptr = complete(session["prog"], session["g"], "ptype prog['init_task'].parent.pi", session["names"])
    assert ptr[0] == "pi_blocked_on" and "pid" in ptr
    _, assigned = complete(session["prog"], session["g"], 'ps = prog["init_task"].pi', session["names"])
    assert "pid" in assigned
