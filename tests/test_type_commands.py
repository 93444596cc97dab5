"""``whatis`` and ``ptype`` of variables and expressions (issue 13, 2.8), against drgn
0.3.0 with Debian's DWARF on the reference dump of each kernel.

gdb and crash answer ``whatis jiffies`` with the variable's declared type and ``ptype
jiffies`` with it expanded: typedefs resolved, qualifiers kept, a struct, union or enum
with its members. Their spelling is drgn's (``volatile unsigned long``, not gcc's
``volatile long unsigned int``), so drgn's type names are the truth here: ``whatis`` must
say ``type = <drgn's name of the declared type>``; ``ptype`` must say ``type = <drgn's name
of the type with typedefs resolved>``, or open the definition of the struct, union or enum
it resolves to (through the typedef naming it when it has no name: ``typedef struct {``).
A bare variable name and ``prog["name"]`` give the same answers.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Dict, List, Tuple

import pytest

from tests.cli_support import ROOT, clean_env
from tests.conftest import resolve_dump
from vmcores.debian import SUITES
from vmcores.oracle import ORACLE_FORM, Query, ask_drgn

#: Globals of every kernel (typed by BTF VARs or kdbg's declarations), scalar and not.
VARIABLES = ["jiffies", "jiffies_64", "max_threads", "nr_cpu_ids", "init_task", "panic_cpu", "runqueues"]
#: Member expressions (drgn's API in both debuggers).
MEMBERS = ["prog['init_task'].pid", "prog['init_task'].comm", "prog['init_task'].tasks", "prog['init_task'].mm",
           "prog['init_task'].flags", "prog['init_task'].thread.sp"]

#: drgn: ``(type, qualifiers)`` with typedefs resolved and every level's qualifiers kept.
_RESOLVE = ("(lambda d: (lambda f: lambda t: f(f, t, t.qualifiers))"
            "(lambda f, t, q: f(f, t.type, q | t.type.qualifiers) if t.kind == d.TypeKind.TYPEDEF else (t, q)))"
            "(__import__('drgn'))")
#: drgn: ``[declared type's name, ptype's one line or None, [kind, tag] of an expanded type or None]``.
_ANSWER = ("(lambda d, t, r: [t.type_name(), "
           "None if r[0].kind in (d.TypeKind.STRUCT, d.TypeKind.UNION, d.TypeKind.ENUM) "
           "else r[0].qualified(r[1]).type_name(), "
           "[r[0].kind.name.lower(), r[0].tag] if r[0].kind in (d.TypeKind.STRUCT, d.TypeKind.UNION, d.TypeKind.ENUM) "
           "else None])")


def _query(expr: str) -> str:
    return f"(lambda t: {_ANSWER}(__import__('drgn'), t, {_RESOLVE}(t)))(({expr}).type_)"


def drgn_answers(suite: str) -> Dict[str, List[object]]:
    exprs = [f"prog[{v!r}]" for v in VARIABLES] + MEMBERS
    dump = resolve_dump(suite, ORACLE_FORM, "qemu")
    recs = ask_drgn(suite, dump.path, [Query(e, _query(e)) for e in exprs]).records
    out = {}
    for e in exprs:
        assert "value" in recs[e], recs[e]
        out[e] = recs[e]["value"]
    return out


SEPARATOR = "@@ end of command @@"  # printed by Python between the commands


def kdbg_answers(dump: str, commands: List[str]) -> Tuple[List[List[str]], str]:
    """The output lines of each command, all typed into one kdbg's standard input with a
    Python line printing a separator after each; and what went to stderr."""
    text = "".join(f"{c}\nprint({SEPARATOR!r})\n" for c in commands)
    p = subprocess.run([sys.executable, "-m", "kdbg", "-q", "-c", dump], input=text, capture_output=True, text=True,
                       cwd=ROOT, timeout=600, env=clean_env())
    chunks = p.stdout.split(SEPARATOR + "\n")
    assert chunks[-1] == "" and len(chunks) == len(commands) + 1, p.stderr
    return [c.splitlines() for c in chunks[:-1]], p.stderr


def _expected(answer: List[object]) -> Tuple[str, str]:
    name, one_line, expanded = answer
    whatis = f"type = {name}"
    if one_line is not None:
        return whatis, f"type = {one_line}"
    assert isinstance(expanded, list)
    kind, tag = expanded
    if tag is None:  # an anonymous type shows with the typedef naming it, as ptype of that typedef
        return whatis, f"typedef {kind} {{"
    return whatis, f"{kind} {tag} {{"


@pytest.mark.parametrize("suite", SUITES)
def test_whatis_and_ptype_of_variables_as_gdb(suite: str) -> None:
    """whatis and ptype of each variable, by name and as prog["name"], and of member
    expressions: the answers drgn's type names give (before, a bare name was 'unknown
    type' and ptype spelled scalars as gcc does)."""
    truth = drgn_answers(suite)
    dump = str(resolve_dump(suite, "kdump-zlib", "qemu").path)
    expected: List[Tuple[str, str]] = []
    for expr, answer in truth.items():
        whatis, ptype = _expected(answer)
        forms = [expr]
        if expr.startswith("prog['") and expr.endswith("']"):
            forms.append(expr[6:-2])  # the bare variable name, as gdb and crash take it
        for form in forms:
            expected += [(f"whatis {form}", whatis), (f"ptype {form}", ptype)]
    got, errors = kdbg_answers(dump, [c for c, _ in expected])
    wrong = [(c, out[:1], want) for (c, want), out in zip(expected, got, strict=True) if out[:1] != [want]]
    assert not wrong, errors
    assert errors == ""
