"""One check program, two debuggers (the snippet form: a program of statements, where
:mod:`tests.helpers_compare` takes one expression per case): a snippet of Python written against drgn's API
(``from drgn.helpers.linux.irq import for_each_irq_desc``...) runs under drgn 0.3.0 with
Debian's DWARF on a reference dump (through :func:`vmcores.oracle.ask_drgn`, cached) and
under kdbg on the same memory, in this process, with ``import drgn`` resolving to kdbg
(:mod:`kdbg.compat`). The snippet fills the dict ``result``; :func:`compare` returns every
key whose value differs.

So each side enumerates with its own helpers, calls them with drgn's names and argument
order, and the lists are compared whole: kdbg does not choose what is compared.

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
from typing import Any, Dict, Optional, Tuple

import kdbg.compat
from kdbg.core.default import NoDefaultProgramError, get_default_prog, set_default_prog
from kdbg.core.program import Program
from tests.helpers_support import open_dump
from tests.oracle_exprs import oracle_dump
from vmcores.oracle import Query, ask_drgn, jsonable

#: The dump form kdbg reads (drgn reads the ``elf-paging`` form of the same stopped guest).
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


def drgn_result(suite: str, key: str, snippet: str) -> Dict[str, Any]:
    """drgn's ``result`` of *snippet* on *suite*'s oracle dump (an error raises)."""
    src = PRELUDE + snippet
    text = f"(lambda ns: (exec({src!r}, ns), ns['result'])[1])({{'prog': prog}})"
    rec = ask_drgn(suite, oracle_dump(suite).path, [Query(key, text)]).records[key]
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


def compare(suite: str, key: str, snippet: str) -> Tuple[Dict[str, Any], Dict[str, Tuple[Any, Any]]]:
    """``(drgn's result, {key: (kdbg's value, drgn's value)} for every key that differs)``:
    *snippet* run by drgn on the oracle dump of *suite* and by kdbg on its
    :data:`KDBG_FORM` dump."""
    theirs = drgn_result(suite, key, snippet)
    ours = kdbg_result(open_dump(suite, KDBG_FORM), snippet)
    differ = {k: (ours.get(k, "<missing>"), theirs.get(k, "<missing>"))
              for k in sorted(set(ours) | set(theirs)) if ours.get(k, "<missing>") != theirs.get(k, "<missing>")}
    return theirs, differ
