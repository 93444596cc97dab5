"""``print_registers`` (drgn's ``drgn.helpers.common.stack``) prints what drgn's prints, on
every reference kernel: the registers drgn unwinds for PID 1's first frame (with DWARF),
all of them, some left out (printed as question marks), with a trap frame's segment
registers and flags, and with other indents."""

from __future__ import annotations

import contextlib
import io
from typing import Dict, List

import pytest

import kdbg
from kdbg.helpers import print_registers
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES
from vmcores.oracle import Query, ask_drgn

pytestmark = pytest.mark.timeout(900)

_P = "__import__('drgn.helpers.common.stack').helpers.common.stack.print_registers"


def _printed_by_drgn(regs: Dict[str, int], indent: str) -> str:
    """An expression whose value is what drgn's print_registers prints (stdout restored)."""
    return ("(lambda buf: (lambda cm: (cm.__enter__(), "
            f"{_P}(prog, {regs!r}, {indent!r}), cm.__exit__(None, None, None), buf.getvalue())[3])"
            "(__import__('contextlib').redirect_stdout(buf)))(__import__('io').StringIO())")


@pytest.mark.parametrize("suite", SUITES)
def test_print_registers_as_drgn(suite: str) -> None:
    dump = oracle_dump(suite)
    regs = ask_drgn(suite, dump.path, [Query("regs", "prog.stack_trace(1)[0].registers()")]).records["regs"]
    assert regs["kind"] == "python" and {"rip", "rsp", "rbx"} <= set(regs["value"]), regs
    full: Dict[str, int] = regs["value"]
    cases = {"all": (full, "    "), "some": ({k: v for k, v in full.items() if k not in ("rbx", "ss", "r9")}, ""),
             "indent": (full, "\t> "), "none": ({}, "  "),
             # a trap frame's segment registers and flags print narrower
             "segments": ({**full, "cs": 0x10, "ss": 0x18, "rflags": 0x246}, "    ")}
    answers = ask_drgn(suite, dump.path, [Query(k, _printed_by_drgn(r, i)) for k, (r, i) in cases.items()]).records
    prog = kdbg.open_core(str(dump.path))
    differ: List[str] = []
    for key, (r, indent) in cases.items():
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            print_registers(prog, r, indent)
        want = answers[key]["value"]
        assert want.count("\n") == 7, want  # seven rows on x86-64
        if out.getvalue() != want:
            differ.append(f"{key}:\n{out.getvalue()}\nvs drgn's\n{want}")
    assert not differ, "\n".join(differ)
