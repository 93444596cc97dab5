"""One expression, two debuggers: drgn 0.3.0 with Debian's DWARF, and kdbg from BTF alone.

Each case is a Python expression over ``prog`` and ``H``, the helpers' flat namespace:
``drgn.helpers.linux`` in drgn (every ``drgn.helpers.linux.*`` name), :mod:`kdbg.helpers` in
kdbg, plus ``Object``, ``NULL``, ``cast``, ``container_of`` and ``drgn`` (drgn itself, or
kdbg's ``drgn``, :mod:`kdbg.compat.drgn`). drgn answers through
:func:`vmcores.oracle.ask_drgn` on the suite's oracle dump (cached); kdbg evaluates the
same text on the same dump. An answer is an object's type name and ``value_()``, or a
plain Python value (both through :func:`vmcores.oracle.jsonable`), or the error's class.

An error matches when drgn's error class names one of kdbg's error's classes (drgn's
``LookupError`` is matched by kdbg's ``ObjectNotFoundError``, a ``LookupError``; drgn's
``FaultError`` by kdbg's ``FaultError``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

import kdbg
import kdbg.compat.drgn
import kdbg.helpers
from kdbg.core.conversions import NULL, cast, container_of
from kdbg.core.object import Object
from kdbg.core.program import Program
from tests.oracle_exprs import oracle_dump
from vmcores.oracle import Query, ask_drgn, jsonable

Answer = Dict[str, Any]

_DRGN_WRAP = "(lambda H: {text})(__import__('drgn.helpers.linux', fromlist=['_']))"


@functools.cache
def open_program(path: Path) -> Program:
    """kdbg's program of the dump at *path* (opened once per session)."""
    return kdbg.open_core(str(path))


def oracle_program(suite: str) -> Program:
    """kdbg's program of *suite*'s oracle dump (opened once per session)."""
    return open_program(oracle_dump(suite).path)


def drgn_answers(suite: str, cases: Mapping[str, str], core: Optional[Path] = None) -> Dict[str, Answer]:
    """drgn's answer to every case on *suite*'s oracle dump, or on the ELF dump *core*
    of that suite's kernel (a crash dump)."""
    queries = [Query(key, _DRGN_WRAP.format(text=text)) for key, text in cases.items()]
    records = ask_drgn(suite, core if core is not None else oracle_dump(suite).path, queries).records
    out: Dict[str, Answer] = {}
    for key in cases:
        rec = records[key]
        if rec["kind"] == "error":
            out[key] = {"error": rec["error"], "message": rec["message"]}
        elif rec["kind"] == "object":
            out[key] = {"type": rec["type"], "value": rec.get("value", rec.get("value_error"))}
        else:
            if rec["value"] is None and rec["python_type"] != "NoneType":
                raise AssertionError(f"{suite}: case {key!r} gives a {rec['python_type']}, which the oracle does "
                                     "not record: make it a list, dict, int, bool, str or bytes")
            out[key] = {"value": rec["value"], "python_type": rec["python_type"]}
    return out


def kdbg_answer(prog: Program, text: str) -> Answer:
    """kdbg's answer to one case."""
    ns = {"prog": prog, "H": kdbg.helpers, "Object": Object, "NULL": NULL, "cast": cast,
          "container_of": container_of, "drgn": kdbg.compat.drgn}
    try:
        value = eval(text, ns)  # noqa: S307 - the test's own expressions
    except Exception as e:  # noqa: BLE001 - every error is an answer to compare
        return {"error": [c.__name__ for c in type(e).__mro__], "message": str(e)}
    if isinstance(value, Object):
        return {"type": value.type_.type_name(), "value": jsonable(value.value_())}
    recorded = isinstance(value, (int, bool, str, bytes, list, dict))  # as the oracle records them
    return {"value": jsonable(value) if recorded else None, "python_type": type(value).__name__}


def same(ours: Answer, theirs: Answer) -> bool:
    """Whether kdbg's answer is drgn's (see the module documentation for errors)."""
    if "error" in theirs or "error" in ours:
        return "error" in theirs and "error" in ours and theirs["error"] in ours["error"]
    return ours == theirs


def mismatches(suite: str, cases: Mapping[str, str], core: Optional[Path] = None,
               kdbg_core: Optional[Path] = None) -> Dict[str, Tuple[Answer, Answer]]:
    """``{key: (kdbg's, drgn's)}`` of every case where kdbg differs from drgn on *suite*'s
    oracle dump (or on *core*, an ELF dump of that suite's kernel); kdbg reads
    *kdbg_core* when given (another form of the same memory, such as its kdump)."""
    theirs = drgn_answers(suite, cases, core)
    where = kdbg_core if kdbg_core is not None else core
    prog = open_program(where) if where is not None else oracle_program(suite)
    out = {}
    for key, text in cases.items():
        ours = kdbg_answer(prog, text)
        if not same(ours, theirs[key]):
            out[key] = (ours, theirs[key])
    return out
