"""The one type model against drgn + DWARF: ``str(type)`` (the C definition, anonymous
members inline, bitfields, function pointers, flexible arrays) and ``type_name()`` equal
drgn's on every reference kernel; ``prog.type()``, ``obj.type_`` and a member's type are
one kind of object, of the classes :mod:`kdbg.btf.types` defines (none made at run time);
gcc's spelling is what ``ptype`` asks the formatter for."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

import kdbg
from kdbg.btf import types as model
from kdbg.btf.kinds import Qualifiers, TypeKind
from kdbg.btf.ptype import ptype
from kdbg.btf.types import Array, Composite, Pointer
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
    """``str()`` and ``type_name()`` of each type equal drgn's."""
    answers = _drgn(suite)
    prog = kdbg.open_core(str(oracle_dump(suite).path))
    for name in TYPES:
        t = prog.type(name)
        assert repr(str(t)) == answers[f"str:{name}"]["repr"], name
        assert repr(t.type_name()) == answers[f"name:{name}"]["repr"], name


def test_one_model_for_types_objects_and_members() -> None:
    """``prog.type()``, ``obj.type_`` and ``members[i].type`` are the same objects of the
    classes :mod:`kdbg.btf.types` defines; drgn's names on them; gcc's spelling only
    where ``ptype`` asks for it; a flexible array member's type is the incomplete array."""
    suite = "bookworm"
    prog = kdbg.open_core(str(oracle_dump(suite).path))
    task = prog.type("struct task_struct")
    obj = kdbg.Object(prog, task, address=0xFFFFFFFF82000000)
    assert obj.type_ is task
    assert task.kind == TypeKind.STRUCT and task.tag == "task_struct" and task.qualifiers == Qualifiers.NONE
    for t in [task, *(m.type for m in task.members), obj.comm.type_, obj.stack.type_]:
        assert type(t).__module__.startswith("kdbg.btf.") and type(t) in vars(model).values(), type(t)
    sp = task.member("stack")
    assert isinstance(sp.type, Pointer) and sp.type.type_name() == "void *" and obj.stack.type_ is sp.type
    ulong = prog.type("unsigned long")
    assert ulong.type_name() == "unsigned long" and ulong.name == "unsigned long" and ulong.kind == TypeKind.INT
    assert ulong.btf_name == "long unsigned int"  # BTF's own record
    assert "\tlong int nr_items;" in ptype(prog.type("struct list_lru_one"))  # pahole's spelling
    const_p = prog.type("char * const")
    assert const_p.kind == TypeKind.POINTER and const_p.qualifiers == Qualifiers.CONST
    assert const_p.type_name() == "char * const" and const_p.unqualified().type_name() == "char *"
    mm = prog.type("struct mm_struct")
    cpu_bitmap = mm.member("cpu_bitmap")
    assert isinstance(cpu_bitmap.type, Array) and cpu_bitmap.type.length is None
    assert cpu_bitmap.type.type_name() == "unsigned long []" and not cpu_bitmap.type.is_complete()
    assert cpu_bitmap.btf_type.length == 0  # BTF writes it as a zero-length array
    assert kdbg.Object(prog, mm, address=0xFFFFFFFF82000000).cpu_bitmap.type_ is cpu_bitmap.type
    assert str(mm).endswith("\tunsigned long cpu_bitmap[];\n}")  # drgn's definition
    assert isinstance(task, Composite)
