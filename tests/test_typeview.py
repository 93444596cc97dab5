"""Types as objects show them (``kdbg.core.typeview``) against drgn + DWARF: ``str(type)`` (the
C definition, anonymous members inline, bitfields, function pointers, flexible arrays) and
``type_name()`` equal drgn's on every reference kernel, while the BTF type itself keeps
BTF's (pahole's) spelling."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

import kdbg
from kdbg.btf.types import Composite, Pointer
from kdbg.core.typeview import object_type
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES
from vmcores.oracle import Query, ask_drgn

#: Types whose definition is compared; big ones with anonymous unions, bitfields, function
#: pointers and flexible arrays, and small ones of each kind.
TYPES: List[str] = [
    "struct task_struct", "struct mm_struct", "struct sk_buff", "struct file", "struct rq",
    "struct page", "struct sock", "struct inode", "struct super_block", "struct module",
    "struct net_device", "struct list_head", "struct callback_head", "struct restart_block",
    "enum pid_type", "pid_t", "unsigned long", "struct cred", "struct pid",
]

_ANSWERS: Dict[str, Dict[str, Any]] = {}


def _drgn(suite: str) -> Dict[str, Any]:
    if suite not in _ANSWERS:
        queries = [Query(f"str:{n}", f"str(prog.type({n!r}))") for n in TYPES]
        queries += [Query(f"name:{n}", f"prog.type({n!r}).type_name()") for n in TYPES]
        dump = oracle_dump(suite)
        _ANSWERS[suite] = ask_drgn(suite, dump.path, queries).records
    return _ANSWERS[suite]


@pytest.mark.parametrize("suite", list(SUITES))
def test_type_definitions_match_drgn(suite: str) -> None:
    """``str()`` and ``type_name()`` of each type's view equal drgn's."""
    answers = _drgn(suite)
    prog = kdbg.open_core(str(oracle_dump(suite).path))
    for name in TYPES:
        view = object_type(prog.type(name))
        assert repr(str(view)) == answers[f"str:{name}"]["repr"], name
        assert repr(view.type_name()) == answers[f"name:{name}"]["repr"], name


def test_views_are_the_btf_types() -> None:
    """A view is its BTF type for everything but names: equal, same hash, same class,
    referenced types are views; the BTF type keeps gcc's spelling."""
    suite = "bookworm"
    prog = kdbg.open_core(str(oracle_dump(suite).path))
    raw = prog.type("struct task_struct")
    view = object_type(raw)
    assert view == raw and hash(view) == hash(raw) and isinstance(view, Composite)
    assert object_type(view) is view
    sp = next(m for m in view.members if m.name == "stack")
    assert isinstance(sp.type, Pointer) and sp.type.type_name() == "void *"
    ulong = prog.type("unsigned long")
    assert ulong.type_name() == "long unsigned int"  # BTF's, as pahole and ptype print it
    assert object_type(ulong).type_name() == "unsigned long"
    mm = prog.type("struct mm_struct")
    cpu_bitmap = next(m for m in object_type(mm).members if m.name == "cpu_bitmap")
    assert cpu_bitmap.type.type_name() == "unsigned long []" and cpu_bitmap.type.length is None
    assert kdbg.Object(prog, mm, address=0xFFFFFFFF82000000).cpu_bitmap.type_ == cpu_bitmap.type
    assert str(object_type(mm)).endswith("\tunsigned long cpu_bitmap[];\n}")  # drgn's definition
