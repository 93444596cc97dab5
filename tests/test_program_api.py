"""drgn's ``Program`` API beyond lookups: the type constructors (``pointer_type``,
``array_type``, ``int_type``, ...), ``read_c_string``, ``address_size``, ``thread``,
``config`` and ``core_dump_path``, answering as drgn 0.3.0 with Debian's DWARF does on the
same dump; and every other attribute of drgn's ``Program`` either works or fails in one
line naming it.

The expressions are drgn's API, evaluated by drgn (the oracle, in its own process) and by
kdbg's ``drgn`` (``kdbg.compat.drgn``) on the reference dump of each kernel.
"""

from __future__ import annotations

from typing import Any, Dict, List

import drgn as real_drgn
import pytest

import kdbg
import kdbg.compat.drgn as kdrgn
from kdbg.core.constructors import DRGN_PROGRAM_GAPS
from kdbg.errors import UnsupportedError
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES
from vmcores.oracle import Query, ask_drgn

pytestmark = pytest.mark.timeout(900)

#: The names drgn's ``linux`` object finder answers that kdbg's answers too.
LINUX_OBJECT_NAMES = ("PAGE_SIZE", "PAGE_SHIFT", "PAGE_MASK", "THREAD_SIZE", "UTS_RELEASE", "VMCOREINFO", "vmemmap")

TASK_P = "prog.pointer_type(prog.type('struct task_struct'))"
COMM = "prog['init_task'].comm.address_of_().value_()"

#: key -> drgn API expression; each answer (a Python value, or an error class) is drgn's.
EXPRESSIONS: Dict[str, str] = {
    "ptr_str": f"str({TASK_P})",
    "ptr_size": f"{TASK_P}.size",
    "ptr_kind": f"{TASK_P}.kind.name",
    "ptr_deref_name": f"{TASK_P}.type.type_name()",
    "ptr_by_name": "prog.pointer_type('int').type_name()",  # drgn's constructors take a Type
    "ptr_const": "prog.pointer_type(prog.type('int'), qualifiers=drgn.Qualifiers.CONST).type_name()",
    "ptr_const_quals": "prog.pointer_type(prog.type('int'), qualifiers=drgn.Qualifiers.CONST).qualifiers.name",
    "ptr_ptr": f"prog.pointer_type({TASK_P}).type_name()",
    "array_name": "prog.array_type(prog.type('char'), 16).type_name()",
    "array_size": "sizeof(prog.array_type(prog.type('char'), 16))",
    "array_length": "prog.array_type(prog.type('unsigned long'), 3).length",
    "array_incomplete": "prog.array_type(prog.type('int')).type_name()",
    "array_incomplete_complete": "prog.array_type(prog.type('int')).is_complete()",
    "array_of_struct": "sizeof(prog.array_type(prog.type('struct list_head'), 2))",
    "int_ulong": "str(prog.int_type('unsigned long', 8, False))",
    "int_signed": "prog.int_type('int', 4, True).is_signed",
    "int_size": "prog.int_type('unsigned char', 1, False).size",
    "int_volatile": "prog.int_type('int', 4, True, qualifiers=drgn.Qualifiers.VOLATILE).type_name()",
    "bool": "prog.bool_type('_Bool', 1).type_name()",
    "bool_kind": "prog.bool_type('_Bool', 1).kind.name",
    "void": "prog.void_type().type_name()",
    "void_complete": "prog.void_type().is_complete()",
    "void_const": "prog.void_type(qualifiers=drgn.Qualifiers.CONST).type_name()",
    "language": "prog.language.name",
    "object_through_ptr": f"Object(prog, {TASK_P}, prog['init_task'].address_of_().value_()).comm.string_()",
    "cast_to_ptr": f"cast({TASK_P}, prog['init_task'].address_of_()).pid.value_()",
    "read_c_string": f"prog.read_c_string({COMM})",
    "read_c_string_max": f"prog.read_c_string({COMM}, max_size=4)",
    "read_c_string_zero": f"prog.read_c_string({COMM}, max_size=0)",
    "address_size": "prog.address_size()",
    "config": "prog.config",
    "thread_1": "prog.thread(1).object.comm.string_()",
    "thread_1_tid": "prog.thread(1).tid",
    "thread_missing": "prog.thread(4194304)",
    # rounding: drgn's Object.__round__/__trunc__/__floor__/__ceil__
    "round_ndigits": "repr(round(Object(prog, 'long', 172032000) / 1720320, 4))",
    "round_float_ndigits": "repr(round(Object(prog, 'double', 2.567), 1))",
    "round_plain": "round(Object(prog, 'double', 2.5))",
    "floor_float": "__import__('math').floor(Object(prog, 'double', -2.5))",
    "trunc_int": "__import__('math').trunc(Object(prog, 'int', -3))",
    "ceil_float": "__import__('math').ceil(Object(prog, 'double', 2.1))",
    "round_struct": "round(prog['init_task'])",
    "array_length_object": "prog.array_type(prog.type('int'), Object(prog, 'int', 3)).length",
    "symbol_repr_object": "repr(prog.symbol('init_task'))",
    "symbol_repr_function": "repr(prog.symbol('schedule')).replace(hex(prog.symbol('schedule').size), 'SIZE')",
    "symbol_size_function": "prog.symbol('schedule').size",
    "symbol_fields": "(prog.symbol('jiffies_64').name, prog.symbol('jiffies_64').binding.name, "
                     "prog.symbol('jiffies_64').kind.name)",
    # drgn's ``linux`` object finder: the kernel's macros as objects
    **{f"{name}_{what}": f"prog[{name!r}].{expr}" for name in LINUX_OBJECT_NAMES
       for what, expr in (("type", "type_.type_name()"), ("value", "value_()"))},
    "UTS_RELEASE_string": "prog['UTS_RELEASE'].string_()",
    "VMCOREINFO_string": "prog['VMCOREINFO'].string_()",
    "PAGE_SIZE_constant": "prog.constant('PAGE_SIZE').value_()",
    "PAGE_SIZE_variable": "prog.variable('PAGE_SIZE')",
    "PAGE_SIZE_in": "'PAGE_SIZE' in prog",
}


#: Answers that are a function's size, which kdbg derives from kallsyms.
PADDED_SIZES = {"symbol_size_function"}
#: x86-64 kernels align functions to at most 64 bytes (CONFIG_FUNCTION_ALIGNMENT).
FUNCTION_ALIGNMENT = 64


def _kdbg_answer(prog: Any, text: str) -> Dict[str, Any]:
    ns = {"prog": prog, "drgn": kdrgn, "Object": kdrgn.Object, "cast": kdrgn.cast, "sizeof": kdrgn.sizeof}
    try:
        value = eval(text, ns)
    except Exception as e:  # the class is compared with drgn's
        return {"kind": "error", "error": type(e).__name__, "classes": {c.__name__ for c in type(e).__mro__}}
    return {"kind": "python", "repr": repr(value)}


@pytest.mark.parametrize("suite", SUITES)
def test_program_api_answers_as_drgn(suite: str) -> None:
    dump = oracle_dump(suite)
    answers = ask_drgn(suite, dump.path, [Query(k, t) for k, t in EXPRESSIONS.items()])
    problems: List[str] = []
    with kdbg.open_core(str(dump.path)) as prog:
        for key, text in EXPRESSIONS.items():
            want = answers.records[key]
            got = _kdbg_answer(prog, text)
            if want["kind"] == "error":
                if got["kind"] != "error" or want["error"] not in got["classes"]:
                    problems.append(f"{key}: {text}: drgn raises {want['error']}, kdbg gives {got}")
            elif want["kind"] != "python":
                problems.append(f"{key}: {text}: drgn answers an Object ({want}); the table wants Python values")
            elif key in PADDED_SIZES and got["kind"] == "python":
                # kallsyms has no sizes: a function's runs to the next symbol, over the
                # padding that aligns it (ELF's size, drgn's, stops at its last instruction)
                if not want["value"] <= int(got["repr"]) < want["value"] + FUNCTION_ALIGNMENT:
                    problems.append(f"{key}: {text}: drgn {want['value']}, kdbg {got['repr']}: not its padded size")
            elif got.get("repr") != want["repr"]:
                problems.append(f"{key}: {text}: drgn {want['repr'][:200]}, kdbg {str(got)[:200]}")
    assert not problems, f"{suite}:\n" + "\n".join(problems)


def test_core_dump_path_is_the_dump_opened() -> None:
    dump = oracle_dump("bookworm")
    with kdbg.open_core(str(dump.path)) as prog:
        assert prog.core_dump_path == str(dump.path)
    with kdbg.open_files(btf=[]) as prog:
        assert prog.core_dump_path is None


def test_every_drgn_program_attribute_works_or_says_why() -> None:
    """Each public attribute of drgn 0.3.0's ``Program`` (the real drgn, installed for the
    oracle) exists on kdbg's Program or raises one line naming it; the list of gaps names
    only drgn's attributes, so it cannot go stale either way."""
    drgn_names = {n for n in dir(real_drgn.Program) if not n.startswith("_")}
    assert set(DRGN_PROGRAM_GAPS) <= drgn_names, sorted(set(DRGN_PROGRAM_GAPS) - drgn_names)
    problems: List[str] = []
    with kdbg.open_core(str(oracle_dump("bookworm").path)) as prog:
        for name in sorted(drgn_names):
            try:
                getattr(prog, name)
            except UnsupportedError as e:
                if name not in DRGN_PROGRAM_GAPS or str(e) != (f"drgn.Program.{name} is not supported by kdbg: "
                                                               f"{DRGN_PROGRAM_GAPS[name]}"):
                    problems.append(f"{name}: {e}")
                if hasattr(prog, name):
                    problems.append(f"{name}: hasattr() is True for a missing attribute")
            except AttributeError as e:
                problems.append(f"{name}: {type(e).__name__}: {e}")
            else:
                if name in DRGN_PROGRAM_GAPS:
                    problems.append(f"{name}: listed as missing but present")
    assert not problems, "\n".join(problems)


def test_a_type_the_kernel_does_not_have_is_one_line() -> None:
    """kdbg's types are the kernel's BTF types: an ``int`` of 8 bytes is refused, naming
    what the kernel has (drgn would make a new type)."""
    with kdbg.open_core(str(oracle_dump("bookworm").path)) as prog:
        with pytest.raises(UnsupportedError, match=r"^int type 'int' of 8 bytes, signed: the kernel's BTF has 'int' "
                                                   r"of 4 bytes, signed$"):
            prog.int_type("int", 8, True)
        with pytest.raises(LookupError, match="no_such_type"):
            prog.int_type("no_such_type", 4, True)
