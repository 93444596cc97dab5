"""kdbg's typed objects against the drgn + DWARF oracle: for every expression of
``tests/oracle_exprs.py``, on every reference kernel (5.10, 6.1, 6.12), kdbg evaluates
the very same text on the same guest's dumps (``kdbg.open_core``: the ``elf-paging`` dump
drgn read, QEMU's plain ``elf`` dump and its ``kdump-zlib`` dump, all the same memory)
and must give drgn's type name, address, ``value_()``, ``str()`` and ``format_()``.

kdbg has no DWARF: globals such as ``init_task`` (and, on Debian 5.10, whose BTF has no
VARs, the per-CPU ``runqueues``...) are typed by its shipped declaration table, exactly as
users get them: this test declares nothing.

Two differences are allowed, each because BTF and kallsyms cannot know what DWARF knows,
and each applied only where the guest's own truth or DWARF shows it:

* **Aliases.** Several kallsyms names can share an address (6.12: ``init_stack``,
  ``init_thread_union``, ``_sdata``, ``__end_rodata_aligned``... at one address).  kdbg
  symbolizes as the kernel's ``%pS`` does, the first alias in kallsyms order (there the
  variable ``init_stack``); drgn picks among the ELF symbols (``__end_rodata_aligned``).
  kdbg's rule is the kernel's on purpose: ``scripts/kallsyms`` orders aliases so that the
  named object comes first (weak symbols, linker-script symbols such as ``__end_*`` and
  ``_sdata``, and names with more leading underscores sort after it): what a kernel
  developer wants to read.  A symbol name is compared up to the aliases the guest's ``/proc/kallsyms`` (the
  ``kallsyms`` truth file) lists at the same address: :func:`_alias_normal`.
* Zero-length arrays (``T x[0]`` and ``T x[]``, which BTF writes the same) are compared
  as drgn prints them, with no adjustment: kdbg corrects BTF's rule from the shipped list
  of each reference kernel's zero-length arrays (``kdbg/data/zero-length-arrays.txt``,
  made from DWARF by ``tools.gen_declarations``).
"""

from __future__ import annotations

import builtins
import json
import re
from functools import cache
from typing import Any, Dict, List, Tuple, Type

import pytest

import kdbg
from kdbg.ui.evaluate import script_globals
from tests.conftest import resolve_dump
from tests.oracle_exprs import EXPRESSIONS, answers_for
from vmcores.debian import SUITES
from vmcores.oracle import jsonable

#: Dumps kdbg evaluates each expression on: (form, tool); the first is the oracle's own.
FORMS: List[Tuple[str, str]] = [("elf-paging", "qemu"), ("elf", "qemu"), ("kdump-zlib", "qemu")]

_SYMBOL_RE = re.compile(r"\b([A-Za-z_.$][\w.$]*)\+0x([0-9a-f]+) = 0x([0-9a-f]+)")


@cache
def _aliases(suite: str) -> Dict[str, str]:
    """Each name of the guest's kallsyms that shares its address with others -> the
    first of them in kallsyms order (the name kdbg and the kernel's %pS print)."""
    truth = resolve_dump(suite, "elf-paging", "qemu").truth
    by_addr: Dict[str, List[str]] = {}
    for line in (truth / "kallsyms").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3:
            by_addr.setdefault(parts[0], []).append(parts[2])
    return {n: names[0] for names in by_addr.values() if len(names) > 1 for n in names}


def _alias_normal(suite: str, text: str) -> str:
    """``text`` with every ``name+0xoff = 0xaddr`` naming an alias replaced by the first
    alias at that address (checked: the address is the alias's own plus the offset)."""
    aliases = _aliases(suite)

    def one(m: re.Match[str]) -> str:
        first = aliases.get(m.group(1))
        return m.group(0) if first is None else f"{first}+0x{m.group(2)} = 0x{m.group(3)}"

    return _SYMBOL_RE.sub(one, text)


_PROGRAMS: Dict[Tuple[str, str, str], Tuple[Any, Dict[str, Any]]] = {}


def _program(suite: str, form: str, tool: str) -> Tuple[Any, Dict[str, Any]]:
    """kdbg on one dump, and the ``-e`` namespace."""
    key = (suite, form, tool)
    if key not in _PROGRAMS:
        dump = resolve_dump(suite, form, tool)
        prog = kdbg.open_core(str(dump.path))
        _PROGRAMS[key] = (prog, script_globals(prog))
    return _PROGRAMS[key]


CASES = [(suite, form, tool, e.key) for suite in SUITES for form, tool in FORMS for e in EXPRESSIONS]


def _case_id(case: Tuple[str, str, str, str]) -> str:
    suite, form, _tool, key = case
    return f"{suite}-{form}-{key}"


def _error_class(drgn_error: Dict[str, str]) -> Type[BaseException]:
    """The class kdbg must raise where drgn raised ``drgn_error``: the builtin of that name
    (``TypeError``, ...), else kdbg's class of drgn's name (``FaultError``,
    ``OutOfBoundsError``, ...: kdbg implements drgn's error classes)."""
    name = drgn_error["error"]
    cls = getattr(builtins, name, None) or getattr(kdbg, name, None)
    assert isinstance(cls, type) and issubclass(cls, BaseException), f"drgn raised {name}, which kdbg lacks"
    return cls


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_object_matches_drgn(case: Tuple[str, str, str, str]) -> None:
    """kdbg's answer to one oracle expression equals drgn's."""
    suite, form, tool, key = case
    rec = answers_for(suite).records[key]
    assert rec["kind"] != "error", f"the oracle failed on {rec['text']}: {rec.get('message')}"
    prog, ns = _program(suite, form, tool)
    text = rec["text"]
    result = eval(text, dict(ns))
    if rec["kind"] == "python":
        assert not isinstance(result, kdbg.Object), text
        assert repr(result) == rec["repr"], text
        return
    assert isinstance(result, kdbg.Object), text
    assert result.type_.type_name() == rec["type"], text
    assert result.address_ == rec["address"], text
    if "value_error" in rec:
        with pytest.raises(_error_class(rec["value_error"])):
            result.value_()
    else:
        assert json.loads(json.dumps(jsonable(result.value_()))) == rec["value"], text
    assert _alias_normal(suite, str(result)) == _alias_normal(suite, rec["str"]), text
    if rec.get("format_options"):
        assert _alias_normal(suite, result.format_(**rec["format_options"])) == _alias_normal(suite, rec["format"]), \
            (text, rec["format_options"])
