"""drgn's object semantics, asked of kdbg over BTF and of drgn 0.3.0 over Debian's DWARF,
on every reference kernel (5.10, 6.1, 6.12): the same Python expressions on the same
dump, answers compared exactly (:mod:`tests.drgn_semantics`: an object's type name,
address, absence, ``value_()`` and ``str()``; a plain result's ``repr()``; an error's
class and message), every mismatch of a kernel collected into one failure.

What is asked (issue 14, "drgn's object semantics"): C's integer division and remainder
of negative numbers; comparisons of pointers with integers and pointers; the usual
arithmetic conversions (``long long + unsigned long`` is ``unsigned long long``, integer
promotion of short and char operands, signed-unsigned comparisons); float-to-integer
conversion and casts; ``Object(prog, 'int', '5')`` refused; ``obj == None``;
``FaultError``'s class, ``address``, ``message`` and ``str()`` (drgn's ``address is not
mapped: 0x10``); ``prog.read_u8/16/32/64``
and ``read_word`` at the addresses of kernel symbols (and at an unmapped one);
``prog.platform``; ``sizeof``/``offsetof``/``alignof`` of objects and types.

Every expected value is drgn's on the build at hand; nothing here is specific to one
kernel build.
"""

from __future__ import annotations

from typing import List

import pytest

import kdbg
from tests.drgn_semantics import Case, kdbg_namespace, kdbg_record, mismatch, queries
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES
from vmcores.oracle import ask_drgn

pytestmark = pytest.mark.timeout(1800)



def _caught(call: str) -> str:
    """An expression giving the class name and ``address`` of the exception that
    ``call`` (a callable and its arguments) raises: the call runs in a worker thread,
    whose future hands the exception back (an expression cannot ``try``)."""
    return ("(lambda e: (type(e).__name__, e.address, isinstance(e.message, str)))(__import__('concurrent.futures')"
            f".futures.ThreadPoolExecutor(1).submit({call}).exception())")


def _o(t: str, v: str) -> str:
    return f"Object(prog, {t!r}, {v})"


#: Why Python's own operator messages are not compared: Python names a C extension's
#: class with its module (``'_drgn.Object'``) and a Python class without (``'Object'``).
PY_NAMES = "Python spells drgn's C class '_drgn.Object' and kdbg's 'Object' in its operator messages"

#: Integer division and remainder (C truncates toward zero; Python's // floors).
DIVISION = [
    Case("div:-7//2", f"{_o('int', '-7')} // 2", message=False, why=PY_NAMES),
    Case("div:-7%2", f"{_o('int', '-7')} % 2"),
    Case("div:7//-2", f"{_o('int', '7')} // -2", message=False, why=PY_NAMES),
    Case("div:-7/2", f"{_o('int', '-7')} / 2"),
    Case("div:-7.0/2", f"{_o('double', '-7.0')} / 2"),
    Case("div:-7//2u", f"{_o('int', '-7')} // {_o('unsigned int', '2')}", message=False, why=PY_NAMES),
    Case("div:1//0", f"{_o('int', '1')} // 0", message=False, why=PY_NAMES),
    Case("div:1%0", f"{_o('int', '1')} % 0"),
    Case("div:long.min//-1", f"{_o('long', '-(1 << 63)')} // -1", message=False, why=PY_NAMES),
    Case("div:-7>>1", f"{_o('int', '-7')} >> 1"),
    Case("div:1<<31", f"{_o('int', '1')} << 31"),
    Case("div:-x", f"-{_o('unsigned int', '1')}"),
    Case("div:~x", f"~{_o('unsigned char', '1')}"),
]

#: Pointers against integers and pointers.
POINTERS = [
    Case("ptr:==int", f"{_o('void *', '0x10')} == 0x10"),
    Case("ptr:==intobj", f"{_o('void *', '0x10')} == {_o('long', '0x10')}"),
    Case("ptr:<int", f"{_o('char *', '8')} < {_o('long', '9')}"),
    Case("ptr:>ptr", f"{_o('char *', '8')} > {_o('int *', '4')}"),
    Case("ptr:NULL==0", "NULL(prog, 'void *') == 0"),
    Case("ptr:bool", "bool(NULL(prog, 'void *'))"),
    Case("ptr:-ptr", f"{_o('long *', '0x100')} - {_o('long *', '0xf0')}"),
    Case("ptr:+int", f"{_o('long *', '0x100')} + 3"),
    Case("ptr:int+", f"3 + {_o('int *', '0x100')}"),
    Case("ptr:void+", f"{_o('void *', '0x100')} + 3"),
    Case("ptr:*int", f"{_o('long *', '0x100')} * 2"),
    Case("ptr:task>0", "prog['init_task'].address_of_() > 0"),
    Case("ptr:task==addr", "prog['init_task'].address_of_() == prog['init_task'].address_"),
]

#: The usual arithmetic conversions and integer promotions.
CONVERSIONS = [
    Case("conv:ll+ul", f"{_o('long long', '1')} + {_o('unsigned long', '2')}"),
    Case("conv:l+ui", f"{_o('long', '-1')} + {_o('unsigned int', '2')}"),
    Case("conv:i+ui", f"{_o('int', '-1')} + {_o('unsigned int', '0')}"),
    Case("conv:us+s", f"{_o('unsigned short', '1')} + {_o('short', '1')}"),
    Case("conv:c*uc", f"{_o('char', '1')} * {_o('unsigned char', '2')}"),
    Case("conv:uc+int", f"{_o('unsigned char', '255')} + 1"),
    Case("conv:i<ui", f"{_o('int', '-1')} < {_o('unsigned int', '1')}"),
    Case("conv:l<ui", f"{_o('long', '-1')} < {_o('unsigned int', '1')}"),
    Case("conv:bool+bool", f"{_o('_Bool', '1')} + {_o('_Bool', '1')}"),
    Case("conv:i+d", f"{_o('int', '1')} + {_o('double', '0.5')}"),
    Case("conv:f+d", f"{_o('float', '1.5')} + {_o('double', '0.25')}"),
    Case("conv:enum+int", "Object(prog, 'enum pid_type', 1) + 1"),
    Case("conv:u8overflow", f"{_o('u8', '255')} + {_o('u8', '1')}"),
    Case("conv:int overflow", f"{_o('int', '2147483647')} + 1"),
    Case("conv:size_t-", f"{_o('size_t', '0')} - 1"),
    Case("conv:int(300) to uchar", "cast('unsigned char', Object(prog, 'int', 300))"),
    Case("conv:init out of range", _o('unsigned char', '300')),
    Case("conv:negative to unsigned", _o('unsigned long', '-1')),
]

#: Floating point to integer, and values of the wrong Python type.
FLOATS = [
    Case("float:int(3.9)", _o('int', '3.9')),
    Case("float:int(-3.9)", _o('int', '-3.9')),
    Case("float:cast int", "cast('int', Object(prog, 'double', -3.9))"),
    Case("float:cast long", "cast('long', Object(prog, 'double', 1e10))"),
    Case("float:cast uchar", "cast('unsigned char', Object(prog, 'double', 200.5))"),
    Case("float:to float", _o('float', '1')),
    Case("float:int()", "int(Object(prog, 'double', -2.5))"),
    Case("float:float()", "float(Object(prog, 'int', 3))"),
    Case("float:ptr", "Object(prog, 'void *', 1.5)"),
    Case("refuse:str", _o('int', "'5'")),
    Case("refuse:bytes", _o('int', "b'5'")),
    Case("refuse:None", _o('int', 'None')),
    Case("refuse:struct int", "Object(prog, 'struct list_head', 5)"),
    Case("none:==", f"{_o('int', '5')} == None"),
    Case("none:!=", f"{_o('int', '5')} != None"),
    Case("none:ptr==", "NULL(prog, 'void *') == None"),
    Case("cmp:int==5", f"{_o('int', '5')} == 5"),
    Case("cmp:int==5.0", f"{_o('int', '5')} == 5.0"),
    Case("cmp:str", f"{_o('int', '5')} == '5'"),
]

#: Faults, reads of kernel memory, the platform and sizes.
PROGRAM = [
    Case("fault:read", "prog.read(0x10, 8)"),
    Case("fault:deref", "Object(prog, 'int *', 0x10)[0].value_()"),
    Case("fault:u64", "prog.read_u64(0x10)"),
    Case("fault:address", _caught("prog.read_u64, 0x18")),
    Case("fault:address deref", _caught("lambda: Object(prog, 'int *', 0x20)[0].value_()")),
    Case("fault:address physical", _caught("prog.read, 1 << 50, 8, True")),
    Case("fault:class", "(lambda e: (type(e).__name__, e.address, e.message))"
                        "(drgn.FaultError('could not read memory', 0x10))"),
    Case("fault:is OSError", "issubclass(drgn.FaultError, Exception)"),
    Case("read:u8", "prog.read_u8(prog['init_task'].comm.address_)"),
    Case("read:u16", "prog.read_u16(prog['init_task'].comm.address_)"),
    Case("read:u32", "prog.read_u32(prog['init_task'].comm.address_)"),
    Case("read:u64", "prog.read_u64(prog['init_task'].comm.address_)"),
    Case("read:word", "prog.read_word(prog['init_task'].comm.address_)"),
    Case("read:u64 pid", "prog.read_u64(prog['init_task'].tasks.address_)"),
    Case("read:bytes", "prog.read(prog['init_task'].comm.address_, 8)"),
    Case("read:physical", "prog.read(0x1000, 8, True)"),
    Case("platform", "prog.platform"),
    Case("platform:arch", "prog.platform.arch"),
    Case("platform:flags", "prog.platform.flags"),
    Case("platform:eq", "prog.platform == drgn.host_platform"),
    Case("flags", "prog.flags"),
    Case("sizeof:obj", "sizeof(prog['init_task'])"),
    Case("sizeof:array member", "sizeof(prog['init_task'].pid_links)"),
    Case("offsetof", "offsetof(prog.type('struct task_struct'), 'comm')"),
    Case("alignof", "drgn.alignof(prog.type('struct list_head'))"),
    Case("alignof:obj", "drgn.alignof(prog['init_task'])", message=False, why=PY_NAMES),
]

CASES: List[Case] = DIVISION + POINTERS + CONVERSIONS + FLOATS + PROGRAM


@pytest.mark.parametrize("suite", list(SUITES))
def test_object_semantics_match_drgn(suite: str) -> None:
    """Every expression gets drgn's answer, on the same dump."""
    dump = oracle_dump(suite).path
    answers = ask_drgn(suite, dump, queries(CASES)).records
    prog = kdbg.open_core(str(dump))
    ns = kdbg_namespace(prog)
    differ = []
    for case in CASES:
        problem = mismatch(case, answers[case.key], kdbg_record(case.text, ns))
        if problem:
            differ.append(f"{case.key}: {problem}\n    {case.text}")
    assert not differ, f"{len(differ)} of {len(CASES)} differ from drgn on {suite}:\n" + "\n".join(differ)
