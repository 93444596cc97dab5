"""drgn's type constructors from parts (``prog.struct_type``, ``union_type``, ``enum_type``,
``typedef_type``, ``function_type``, with drgn's ``TypeMember``/``TypeEnumerator``/
``TypeParameter``), against drgn 0.3.0 with Debian's DWARF on the same dump, on every
reference kernel: the same ``repr()`` and C definition, type names (of pointers to them
too), sizes and offsets, values made from Python (bit fields included) and read from
kernel memory. The types made are the program's BTF types (synthesized on its BTF), so
everything kdbg does with a type works on them."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

import kdbg
import kdbg.compat.drgn as kdrgn
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES
from vmcores.oracle import Query, ask_drgn, jsonable

pytestmark = pytest.mark.timeout(900)

_D = "__import__('drgn')"
_INT = "prog.type('int')"
S = (f"prog.struct_type('pair', 16, ({_D}.TypeMember({_INT}, 'a'), {_D}.TypeMember(prog.type('long'), 'b', 64), "
     f"{_D}.TypeMember(Object(prog, 'unsigned int', bit_field_size=3), 'c', 96), "
     f"{_D}.TypeMember(Object(prog, 'unsigned int', bit_field_size=5), 'd', 99)))")
U = (f"prog.union_type(None, 8, ({_D}.TypeMember({_INT}, 'i'), "
     f"{_D}.TypeMember(prog.type('struct list_head *'), 'p')))")
E = (f"prog.enum_type('color', prog.type('unsigned int'), ({_D}.TypeEnumerator('RED', 0), "
     f"{_D}.TypeEnumerator('BLUE', 7)))")
T = "prog.typedef_type('ulong_t', prog.type('unsigned long'))"
F = (f"prog.function_type({_INT}, ({_D}.TypeParameter(prog.type('char *'), 'buf'), "
     f"{_D}.TypeParameter(prog.type('unsigned long'))), True)")
F0 = "prog.function_type(prog.type('void'), ())"
_VALUE = "{'a': -3, 'b': 1 << 40, 'c': 5, 'd': 17}"
_AT_TASK = "address=prog['init_task'].address_"
EXPRESSIONS: Dict[str, str] = {
    "struct": f"repr({S})", "struct str": f"str({S})", "struct sizeof": f"__import__('drgn').sizeof({S})",
    "struct offsetof": f"__import__('drgn').offsetof({S}, 'b')",
    "struct value": f"Object(prog, {S}, value={_VALUE}).value_()",
    "struct bytes": f"Object(prog, {S}, value={_VALUE}).to_bytes_()",
    "struct memory": f"Object(prog, {S}, {_AT_TASK}).value_()",
    "struct pointer": f"repr(prog.pointer_type({S}))", "struct name": f"{S}.type_name()",
    "struct const": f"repr(prog.struct_type('q', 4, (), qualifiers={_D}.Qualifiers.CONST))",
    "union": f"repr({U})", "union str": f"str({U})", "union memory": f"Object(prog, {U}, {_AT_TASK}).value_()",
    "enum": f"repr({E})", "enum str": f"str({E})", "enum value": f"str(Object(prog, {E}, 7))",
    "typedef": f"repr({T})", "typedef str": f"str({T})", "typedef value": f"str(Object(prog, {T}, 5))",
    "function": f"repr({F})", "function str": f"str({F})", "function name": f"{F}.type_name()",
    "function void": f"repr({F0})", "function void name": f"{F0}.type_name()",
    "function pointer": f"prog.pointer_type({F}).type_name()",
}


def _ours(prog: kdbg.Program, text: str) -> Any:
    """``text`` evaluated in kdbg, where ``drgn`` is kdbg's (as in a script kdbg runs)."""
    return jsonable(eval(text.replace(_D, "drgn"), {"prog": prog, "drgn": kdrgn, "Object": kdrgn.Object}))  # noqa: S307


@pytest.mark.parametrize("suite", SUITES)
def test_type_constructors_as_drgn(suite: str) -> None:
    dump = oracle_dump(suite)
    prog = kdbg.open_core(str(dump.path))
    answers = ask_drgn(suite, dump.path, [Query(k, t) for k, t in EXPRESSIONS.items()]).records
    differ: List[str] = []
    for key, text in EXPRESSIONS.items():
        rec = answers[key]
        assert rec["kind"] in ("python", "object"), f"{suite} {key}: drgn answered {rec}"
        ours = _ours(prog, text)
        if ours != rec["value"]:
            differ.append(f"{key}:\n  drgn: {str(rec['value'])[:600]}\n  kdbg: {str(ours)[:600]}")
    assert not differ, f"{suite}: {len(differ)} of {len(EXPRESSIONS)} differ:\n" + "\n".join(differ)


def test_made_types_are_not_the_programs_names() -> None:
    """A type made from parts is not found by name afterwards (drgn's: the program's
    types come from its debug info), and an incomplete one is one line."""
    prog = kdbg.open_core(str(oracle_dump("bookworm").path))
    prog.typedef_type("kdbg_made_typedef", prog.type("int"))
    with pytest.raises(LookupError):
        prog.type("kdbg_made_typedef")
    with pytest.raises(NotImplementedError, match="^an incomplete struct or union type made from parts$"):
        prog.struct_type("x")
