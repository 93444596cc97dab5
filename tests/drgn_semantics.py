"""One Python expression, two answers: drgn's with Debian's DWARF (the oracle,
:mod:`vmcores.oracle`) and kdbg's over BTF, on the same dump, compared exactly.

drgn evaluates each text in the oracle's subprocess with ``prog``, ``drgn``, ``Object``,
``NULL``, ``cast``, ``container_of``, ``offsetof``, ``reinterpret`` and ``sizeof`` in
scope; :func:`kdbg_namespace` gives kdbg the very same names from kdbg's ``drgn``
(:mod:`kdbg.compat.drgn`), and :func:`kdbg_record` answers in the oracle's record layout.
:func:`mismatch` compares one pair:

* an object: its type name, address, absence, ``value_()`` (or the class of the error
  ``value_()`` raises) and ``str()`` (or its error's class);
* a plain Python result: its ``repr()`` (drgn's classes and kdbg's print alike, so a
  ``repr`` names the same values);
* an exception: kdbg's must be an instance of the class drgn raised (the builtin of that
  name, else kdbg's ``drgn.<name>``), with drgn's message, unless the case says the
  message is drgn's own business (``message=False``, with the reason in ``why``).
"""

from __future__ import annotations

import builtins
import dataclasses
import json
from typing import Any, Dict, List, Optional

import kdbg.compat.drgn as kdrgn
from vmcores.oracle import Query, jsonable

__all__ = ["Case", "kdbg_namespace", "kdbg_record", "mismatch", "drgn_error_class", "queries"]


@dataclasses.dataclass(frozen=True)
class Case:
    """One expression: ``key`` names it, ``text`` is evaluated by both. ``message=False``
    compares only the class of an exception drgn raises, for the reason ``why`` gives."""

    key: str
    text: str
    message: bool = True
    why: str = ""

    def __post_init__(self) -> None:
        if not self.message and not self.why:
            raise ValueError(f"{self.key}: a case that skips drgn's message must say why")


def queries(cases: List[Case]) -> List[Query]:
    """The oracle queries of ``cases``."""
    return [Query(c.key, c.text) for c in cases]


def kdbg_namespace(prog: Any) -> Dict[str, Any]:
    """What the oracle's drgn evaluates a text with, from kdbg's ``drgn``."""
    d = kdrgn
    return {"prog": prog, "drgn": d, "Object": d.Object, "NULL": d.NULL, "cast": d.cast,
            "container_of": d.container_of, "offsetof": d.offsetof, "reinterpret": d.reinterpret,
            "sizeof": d.sizeof}


def _error(e: BaseException) -> Dict[str, Any]:
    return {"error": type(e).__name__, "message": str(e), "exception": e}


def kdbg_record(text: str, ns: Dict[str, Any]) -> Dict[str, Any]:
    """kdbg's answer to ``text``, in the oracle's record layout (plus the exception
    objects themselves, under ``exception``)."""
    rec: Dict[str, Any] = {"text": text}
    try:
        obj = eval(text, dict(ns))  # noqa: S307 - the test's own expressions
    except Exception as e:  # noqa: BLE001 - any error is an answer, compared below
        rec["kind"] = "error"
        rec.update(_error(e))
        return rec
    if not isinstance(obj, kdrgn.Object):
        rec["kind"] = "python"
        rec["repr"] = repr(obj)
        return rec
    rec["kind"] = "object"
    rec["type"] = obj.type_.type_name()
    rec["address"] = obj.address_
    rec["absent"] = obj.absent_
    try:
        rec["value"] = json.loads(json.dumps(jsonable(obj.value_())))
    except Exception as e:  # noqa: BLE001
        rec["value_error"] = _error(e)
    try:
        rec["str"] = str(obj)
    except Exception as e:  # noqa: BLE001
        rec["str_error"] = _error(e)
    return rec


def drgn_error_class(name: str) -> type:
    """The class kdbg must raise where drgn raised ``name``: the builtin of that name
    (``TypeError``...), else kdbg's ``drgn.<name>`` (``FaultError``...)."""
    cls = getattr(builtins, name, None) or getattr(kdrgn, name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        raise AssertionError(f"drgn raised {name}, which kdbg's drgn lacks")
    return cls


def _same_error(want: Dict[str, Any], got: Optional[Dict[str, Any]], message: bool) -> Optional[str]:
    if got is None:
        return f"drgn raised {want['error']}: {want['message']}; kdbg did not"
    if not isinstance(got["exception"], drgn_error_class(want["error"])):
        return f"drgn raised {want['error']}: {want['message']}; kdbg {got['error']}: {got['message']}"
    if message and got["message"] != want["message"]:
        return f"drgn's message {want['message']!r}, kdbg's {got['message']!r}"
    return None


def mismatch(case: Case, drgn: Dict[str, Any], ours: Dict[str, Any]) -> Optional[str]:
    """How kdbg's record differs from drgn's for ``case`` (``None``: they agree)."""
    if drgn["kind"] == "error":
        if ours["kind"] != "error":
            what = ours.get("repr", ours.get("str"))
            return f"drgn raised {drgn['error']}: {drgn['message']}; kdbg answered {what}"
        return _same_error(drgn, ours, case.message)
    if ours["kind"] != drgn["kind"]:
        return f"drgn answered a {drgn['kind']} ({drgn.get('repr', drgn.get('str'))}), kdbg: {ours['kind']} " \
               f"({ours.get('repr', ours.get('str', ours.get('message')))})"
    if drgn["kind"] == "python":
        return None if ours["repr"] == drgn["repr"] else f"drgn {drgn['repr']}, kdbg {ours['repr']}"
    for field in ("type", "address", "absent"):
        if ours[field] != drgn[field]:
            return f"{field}: drgn {drgn[field]!r}, kdbg {ours[field]!r}"
    for field in ("value", "str"):
        err = f"{field}_error"
        if err in drgn:
            problem = _same_error(drgn[err], ours.get(err), case.message)
            if problem:
                return f"{field}: {problem}"
        elif err in ours:
            return f"{field}: drgn {drgn[field]!r}, kdbg raised {ours[err]['error']}: {ours[err]['message']}"
        elif ours[field] != drgn[field]:
            return f"{field}: drgn {drgn[field]!r}, kdbg {ours[field]!r}"
    return None
