"""drgn's ``repr()`` of types and modules (the constructor form a script prints and can
paste back: ``prog.struct_type(tag='list_head', size=16, members=(TypeMember(...), ...))``,
``prog.relocatable_module(name='qemu_fw_cfg', address=0x...)``), asked of kdbg over BTF and
of drgn 0.3.0 over Debian's DWARF on the same dump, on every reference kernel; and
``prog.module(address)`` / ``prog.module(name)`` finding the module drgn finds, or drgn's
``LookupError`` ("module not found")."""

from __future__ import annotations

from typing import Dict, List

import pytest
from elftools.elf.elffile import ELFFile

import kdbg
from kdbg.modules.finders import loaded_modules
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES, debian_dbg_vmlinux
from vmcores.oracle import Query, ask_drgn

pytestmark = pytest.mark.timeout(1800)

#: Types of every kind: integers, bool, void, qualified types, typedefs (of anonymous
#: structs, chains of typedefs), enums, arrays, pointers, function types (of variables and
#: of function-pointer members), structs with bit fields, unions and flexible arrays.
TYPES = [
    "struct list_head", "struct list_head *", "const char *", "int", "unsigned long", "_Bool", "char", "void",
    "const void", "volatile unsigned long", "pid_t", "atomic_t", "sector_t", "enum pid_type", "struct kobject",
    "struct file_operations", "struct qspinlock", "struct callback_head", "int [4]", "struct task_struct",
    "struct page", "struct sk_buff", "union sigval", "struct mm_struct", "enum zone_type", "struct pid",
]
_TYPE = "prog.type({!r})"
EXPRESSIONS: Dict[str, str] = {
    **{f"type:{name}": f"repr({_TYPE.format(name)})" for name in TYPES},
    **{f"members:{name}": f"[repr(m.type) for m in {_TYPE.format(name)}.members]"
       for name in ("struct file_operations", "struct task_struct", "struct page")},
    "var:jiffies": "repr(prog['jiffies'].type_)",
    "var:comm": "repr(prog['init_task'].comm.type_)",
    "func:schedule": "repr(prog['schedule'].type_)",
    "func:vfs_read": "repr(prog['vfs_read'].type_)",
    "func:member": "repr(prog.type('struct file_operations').members[1].type.type)",
    "modules": "repr(list(prog.modules()))",
    "build_ids": "[[m.name, m.build_id.hex() if m.build_id else None] for m in prog.modules()]",
    "module:kernel": "repr(prog.module('kernel'))",
    "module:qemu_fw_cfg": "repr(prog.module('qemu_fw_cfg'))",
    "module:text": "repr(prog.module(prog.symbol('schedule').address))",
    "module:module text": "repr(prog.module(prog.symbol('fw_cfg_sysfs_probe').address))",
    "module:none": "repr(prog.module(5))",
    "module:no name": "repr(prog.module('no_such_module'))",
}


def _kdbg_answer(prog: kdbg.Program, text: str) -> object:
    try:
        return eval(text, {"prog": prog})  # noqa: S307 - the test's own expressions
    except Exception as e:  # noqa: BLE001 - an error is an answer, compared with drgn's
        names = [c.__name__ for c in type(e).__mro__]
        return {"error": names, "message": str(e)}


@pytest.mark.parametrize("suite", SUITES)
def test_reprs_are_drgns(suite: str) -> None:
    """Every expression's answer is drgn's: the same text, or an error of drgn's class
    (one of kdbg's error's classes) and message. Every mismatch of the kernel is listed."""
    dump = oracle_dump(suite)
    prog = kdbg.open_core(str(dump.path))
    assert loaded_modules(prog) is not None  # find the loaded modules, as a script's first use does
    answers = ask_drgn(suite, dump.path, [Query(k, text) for k, text in EXPRESSIONS.items()]).records
    differ: List[str] = []
    for key, text in EXPRESSIONS.items():
        rec = answers[key]
        ours = _kdbg_answer(prog, text)
        if rec["kind"] == "error":
            ok = isinstance(ours, dict) and rec["error"] in ours["error"] and rec["message"] == ours["message"]
        else:
            assert rec["kind"] == "python", f"{suite} {key}: drgn answered {rec}"
            ok = ours == rec["value"]
        if not ok:
            differ.append(f"{key}:\n  drgn: {str(rec.get('value', rec))[:2000]}\n  kdbg: {str(ours)[:2000]}")
    errors = [k for k in EXPRESSIONS if answers[k]["kind"] == "error"]
    assert sorted(errors) == ["module:no name", "module:none"], errors  # drgn answered the rest
    assert not differ, f"{suite}: {len(differ)} of {len(EXPRESSIONS)} differ:\n" + "\n".join(differ)


@pytest.mark.parametrize("suite", SUITES)
def test_modules_are_listed_before_anything_else_is_asked(suite: str) -> None:
    """A script's first ``prog.modules()`` (or ``prog.module(name)``) lists the loaded
    modules drgn lists, with drgn's build IDs; the kernel's is the build ID of Debian's
    ``vmlinux`` of that kernel (the GNU note in its ``.notes``)."""
    dump = oracle_dump(suite)
    keys = ["modules", "build_ids", "module:qemu_fw_cfg"]
    answers = ask_drgn(suite, dump.path, [Query(k, EXPRESSIONS[k]) for k in EXPRESSIONS]).records
    for first in keys:
        prog = kdbg.open_core(str(dump.path))
        assert _kdbg_answer(prog, EXPRESSIONS[first]) == answers[first]["value"], (suite, first)
        assert [_kdbg_answer(prog, EXPRESSIONS[k]) for k in keys] == [answers[k]["value"] for k in keys], suite
        prog.close()
    with open(debian_dbg_vmlinux(suite), "rb") as f:
        notes = ELFFile(f).get_section_by_name(".notes")
        vmlinux_id = next(n["n_desc"] for n in notes.iter_notes()
                          if n["n_name"] == "GNU" and n["n_type"] == "NT_GNU_BUILD_ID")
    assert dict(answers["build_ids"]["value"])["kernel"] == vmlinux_id
    assert len(answers["build_ids"]["value"]) > 1, f"{suite}: the guest loaded no module: the test shows nothing"
