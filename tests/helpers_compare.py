"""One question, two debuggers: drgn 0.3.0 with Debian's DWARF, and kdbg from BTF alone.

drgn answers through :func:`vmcores.oracle.ask_drgn` on a suite's oracle dump (cached);
kdbg answers the same text in this process. A question comes in one of two forms.

**Expression cases** (:func:`mismatches`): each a Python expression over ``prog`` and
``H``, the helpers' flat namespace: ``drgn.helpers.linux`` in drgn (every
``drgn.helpers.linux.*`` name), :mod:`kdbg.helpers` in kdbg, plus ``Object``, ``NULL``,
``cast``, ``container_of`` and ``drgn`` (drgn itself, or kdbg's ``drgn``,
:mod:`kdbg.compat.drgn`). kdbg evaluates it on the same dump. An answer is an object's type
name and ``value_()``, or a plain Python value (both through :func:`vmcores.oracle.jsonable`),
or the error's class. An error matches when drgn's error class names one of kdbg's error's
classes (drgn's ``LookupError`` is matched by kdbg's ``ObjectNotFoundError``, a
``LookupError``; drgn's ``FaultError`` by kdbg's ``FaultError``).

**Snippets** (:func:`compare`): a program of statements written against drgn's API
(``from drgn.helpers.linux.irq import for_each_irq_desc``...) that fills the dict ``result``;
under kdbg it runs with ``import drgn`` resolving to kdbg (:mod:`kdbg.compat`), on the
:data:`KDBG_FORM` dump of the same stopped guest. Every key whose value differs is
returned. So each side enumerates with its own helpers, called with drgn's names and
argument order, and the lists are compared whole: kdbg does not choose what is compared.
In a snippet, beside ``prog`` (also the default program):

* ``plain(x)``: an answer in a comparable form: an integer or pointer object as
  ``[type name, value]``, a struct, union or array object as ``[type name, "@", address]``,
  an enum member as its name, an IP address as text, sequences element by element;
* ``probe(fn, *args)``: ``plain(fn(*args))``, or ``"error:<Kind>"`` when it raises, the
  kind being the first of ``FaultError``, ``NotImplementedError``, ``AttributeError``,
  ``LookupError``, ``ValueError``, ``TypeError`` the exception is (each debugger's own
  ``FaultError``), so an error is compared like a value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import kdbg.compat
import kdbg.compat.drgn
import kdbg.helpers
from kdbg.core.conversions import NULL, cast, container_of
from kdbg.core.default import NoDefaultProgramError, get_default_prog, set_default_prog
from kdbg.core.object import Object
from kdbg.core.program import Program
from tests.helpers_support import open_dump, open_program
from tests.oracle_exprs import oracle_dump
from vmcores.oracle import Query, ask_drgn, jsonable

__all__ = ["Answer", "open_program", "oracle_program", "drgn_answers", "kdbg_answer", "same", "mismatches",
           "KDBG_FORM", "PRELUDE", "drgn_result", "kdbg_result", "compare"]

Answer = Dict[str, Any]

_DRGN_WRAP = "(lambda H: {text})(__import__('drgn.helpers.linux', fromlist=['_']))"


def oracle_program(suite: str) -> Program:
    """kdbg's program of *suite*'s oracle dump (opened once per session)."""
    return open_program(oracle_dump(suite).path)


def _drgn_records(suite: str, queries: List[Query], core: Optional[Path] = None) -> Dict[str, Dict[str, Any]]:
    """drgn's record of each query on *suite*'s oracle dump, or on *core* (an ELF dump of
    that suite's kernel)."""
    return ask_drgn(suite, core if core is not None else oracle_dump(suite).path, queries).records


# ------------------------------------------------------------------ expression cases
def drgn_answers(suite: str, cases: Mapping[str, str], core: Optional[Path] = None) -> Dict[str, Answer]:
    """drgn's answer to every case on *suite*'s oracle dump, or on the ELF dump *core*
    of that suite's kernel (a crash dump)."""
    records = _drgn_records(suite, [Query(key, _DRGN_WRAP.format(text=text)) for key, text in cases.items()], core)
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


# ------------------------------------------------------------------ snippets
#: The dump form kdbg reads a snippet on (drgn reads the ``elf-paging`` form of the same
#: stopped guest).
KDBG_FORM = "kdump-zlib"

PRELUDE = r'''
import enum as _enum
import ipaddress as _ipaddress
import drgn
from drgn import NULL, Object, cast, container_of, sizeof
drgn.set_default_prog(prog)

_KINDS = (("FaultError", drgn.FaultError), ("NotImplementedError", NotImplementedError),
          ("AttributeError", AttributeError), ("LookupError", LookupError), ("ValueError", ValueError),
          ("TypeError", TypeError))

def plain(x):
    if isinstance(x, drgn.Object):
        kind = x.type_.unaliased_kind()
        if kind in (drgn.TypeKind.STRUCT, drgn.TypeKind.UNION, drgn.TypeKind.ARRAY):
            return [x.type_.type_name(), "@", x.address_]
        return [x.type_.type_name(), x.value_()]
    if isinstance(x, _enum.Enum):
        return x.name
    if isinstance(x, (_ipaddress.IPv4Address, _ipaddress.IPv6Address)):
        return str(x)
    if isinstance(x, (list, tuple)):
        return [plain(e) for e in x]
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    return x

def probe(fn, *args, **kwargs):
    try:
        return plain(fn(*args, **kwargs))
    except Exception as e:
        for name, cls in _KINDS:
            if isinstance(e, cls):
                return "error:" + name
        return "error:" + type(e).__name__

result = {}
'''


def _normal(value: Any) -> Any:
    """``value`` as the oracle records it (JSON, bytes as hex)."""
    return json.loads(json.dumps(jsonable(value)))


def drgn_result(suite: str, key: str, snippet: str, core: Optional[Path] = None) -> Dict[str, Any]:
    """drgn's ``result`` of *snippet* on *suite*'s oracle dump, or on the ELF dump *core*
    of that suite's kernel (an error raises)."""
    src = PRELUDE + snippet
    text = f"(lambda ns: (exec({src!r}, ns), ns['result'])[1])({{'prog': prog}})"
    rec = _drgn_records(suite, [Query(key, text)], core)[key]
    if rec["kind"] == "error":
        raise AssertionError(f"drgn on {suite}: {key}: {rec['error']}: {rec['message']}")
    return rec["value"]  # type: ignore[no-any-return]


def kdbg_result(prog: Program, snippet: str) -> Dict[str, Any]:
    """kdbg's ``result`` of *snippet* on *prog*, with ``import drgn`` resolving to kdbg."""
    ns: Dict[str, Any] = {"prog": prog}
    try:
        before: Optional[Program] = get_default_prog()
    except NoDefaultProgramError:
        before = None
    kdbg.compat.install()
    try:
        exec(PRELUDE + snippet, ns)
        if not ns["drgn"].__name__.startswith("kdbg."):
            raise AssertionError(f"the snippet imported {ns['drgn'].__name__}, not kdbg's drgn")
    finally:
        kdbg.compat.uninstall()
        set_default_prog(before)
    return _normal(ns["result"])  # type: ignore[no-any-return]


def compare(suite: str, key: str, snippet: str, core: Optional[Path] = None,
            kdbg_core: Optional[Path] = None) -> Tuple[Dict[str, Any], Dict[str, Tuple[Any, Any]]]:
    """``(drgn's result, {key: (kdbg's value, drgn's value)} for every key that differs)``:
    *snippet* run by drgn on the oracle dump of *suite* and by kdbg on its
    :data:`KDBG_FORM` dump, or by drgn on the ELF dump *core* and by kdbg on *kdbg_core*
    (another form of the same memory, *core* itself when not given)."""
    theirs = drgn_result(suite, key, snippet, core)
    ours = kdbg_result(open_program(kdbg_core or core) if core is not None else open_dump(suite, KDBG_FORM), snippet)
    differ = {k: (ours.get(k, "<missing>"), theirs.get(k, "<missing>"))
              for k in sorted(set(ours) | set(theirs)) if ours.get(k, "<missing>") != theirs.get(k, "<missing>")}
    return theirs, differ
