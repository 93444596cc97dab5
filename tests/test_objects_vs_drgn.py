"""kdbg's typed objects against the drgn + DWARF oracle: for every expression of
``tests/oracle_exprs.py``, on every reference kernel (5.10, 6.1, 6.12), kdbg evaluates
the very same text on the same guest's dumps (``kdbg.open_core``: the ``elf-paging`` dump
drgn read, QEMU's plain ``elf`` dump and its ``kdump-zlib`` dump, all the same memory)
and must give drgn's type name, address, ``value_()``, ``str()`` and ``format_()``. One
test per dump compares every expression and lists every difference.

The same runs on each suite's **held-out build** (:func:`tools.held_out.held_out_kernel`:
a kernel whose DWARF made neither the declaration table nor the zero-length-array list,
another ABI of the suite), on its ``elf-paging`` dump: what kdbg gives a kernel it was not
fitted to. The in-sample and held-out agreement are recorded apart
(``tests/oracle_report.py``, printed at the end of the session).

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
  as drgn prints them: kdbg corrects BTF's rule from the shipped list of each reference
  kernel's zero-length arrays (``kdbg/data/zero-length-arrays.txt``, made from DWARF by
  ``tools.gen_declarations``). A build the list does not know gets its ``*`` section,
  which can be wrong on such a build; ``tests/test_flexible_arrays.py`` counts those
  verdicts against the build's own DWARF, and here an object printed differently only in
  such a member (``u8 [0]`` against ``u8 []``, nothing else) is recorded as explained by
  them rather than failed. On every in-sample kernel there is no such member.
"""

from __future__ import annotations

import builtins
import difflib
import json
import re
from functools import cache
from typing import Any, Dict, Iterator, List, Set, Tuple, Type

import pytest

import kdbg
from kdbg.ui.evaluate import script_globals
from tests.conftest import resolve_dump
from tests.oracle_exprs import answers_for
from tests.oracle_report import record_agreement
from tests.zero_length_truth import text_explained, wrong_member_names
from tools.held_out import held_out_kernel
from vmcores.debian import SUITES
from vmcores.oracle import ORACLE_FORM, jsonable

#: Dumps kdbg evaluates each expression on: (form, tool); the first is the oracle's own.
FORMS: List[Tuple[str, str]] = [("elf-paging", "qemu"), ("elf", "qemu"), ("kdump-zlib", "qemu")]

_SYMBOL_RE = re.compile(r"\b([A-Za-z_.$][\w.$]*)\+0x([0-9a-f]+) = 0x([0-9a-f]+)")


@cache
def _aliases(name: str) -> Dict[str, str]:
    """Each name of the guest's kallsyms that shares its address with others -> the
    first of them in kallsyms order (the name kdbg and the kernel's %pS print)."""
    truth = resolve_dump(name, ORACLE_FORM, "qemu").truth
    by_addr: Dict[str, List[str]] = {}
    for line in (truth / "kallsyms").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3:
            by_addr.setdefault(parts[0], []).append(parts[2])
    return {n: names[0] for names in by_addr.values() if len(names) > 1 for n in names}


def _alias_normal(name: str, text: str) -> str:
    """``text`` with every ``name+0xoff = 0xaddr`` naming an alias replaced by the first
    alias at that address (checked: the address is the alias's own plus the offset)."""
    aliases = _aliases(name)

    def one(m: re.Match[str]) -> str:
        first = aliases.get(m.group(1))
        return m.group(0) if first is None else f"{first}+0x{m.group(2)} = 0x{m.group(3)}"

    return _SYMBOL_RE.sub(one, text)


#: Dumps kdbg evaluates every expression on, per kernel: ``(build, form, tool)``, where
#: ``build`` is ``"reference"`` (the suite's reference kernel, on each of :data:`FORMS`) or
#: ``"held-out"`` (:func:`tools.held_out.held_out_kernel`: a build of the suite that neither
#: the declaration table nor the zero-length-array list was made from; the oracle's form).
CASES: List[Tuple[str, str, str, str]] = [
    *[(suite, "reference", form, tool) for suite in SUITES for form, tool in FORMS],
    *[(suite, "held-out", ORACLE_FORM, "qemu") for suite in SUITES],
]


def _case_id(case: Tuple[str, str, str, str]) -> str:
    suite, build, form, _tool = case
    return f"{suite}-{form}" if build == "reference" else f"{suite}-{build}-{form}"


def _error_class(drgn_error: Dict[str, str]) -> Type[BaseException]:
    """The class kdbg must raise where drgn raised ``drgn_error``: the builtin of that name
    (``TypeError``, ...), else kdbg's class of drgn's name (``FaultError``,
    ``OutOfBoundsError``, ...: kdbg implements drgn's error classes)."""
    name = drgn_error["error"]
    cls = getattr(builtins, name, None) or getattr(kdbg, name, None)
    assert isinstance(cls, type) and issubclass(cls, BaseException), f"drgn raised {name}, which kdbg lacks"
    return cls


def value_differences(got: Any, want: Any, path: str = "") -> Iterator[Tuple[str, Any, Any]]:
    """``(path, kdbg's, drgn's)`` of every place two JSON values differ
    (``['thread']['fpu']...``; a member one side lacks is ``<missing>``)."""
    if isinstance(got, dict) and isinstance(want, dict):
        for k in sorted(set(got) | set(want)):
            if k in got and k in want:
                yield from value_differences(got[k], want[k], f"{path}[{k!r}]")
            else:
                yield f"{path}[{k!r}]", got.get(k, "<missing>"), want.get(k, "<missing>")
    elif isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        for i, item in enumerate(got):
            yield from value_differences(item, want[i], f"{path}[{i}]")
    elif got != want:
        yield path, got, want


def _last_member(path: str) -> str:
    """The member a :func:`value_differences` path ends in (``""`` for an index)."""
    m = re.search(r"\['(\w+)'\]$", path)
    return m.group(1) if m else ""


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _text_difference(got: str, want: str) -> str:
    """The first lines where two printed objects differ (a short unified diff)."""
    lines = list(difflib.unified_diff(want.splitlines(), got.splitlines(), "drgn", "kdbg", n=1, lineterm=""))
    return "\n      ".join(lines[2:14] + (["..."] if len(lines) > 14 else []))


def compare(name: str, rec: Dict[str, Any], ns: Dict[str, Any], members: Set[str]) -> Tuple[List[str], List[str]]:
    """How kdbg's answer to the oracle record *rec* differs from drgn's: the type name,
    address, ``value_()`` (or the exception it raises), ``str()`` and ``format_()`` of an
    object, or the ``repr()`` of a plain Python result. Returns ``(differences, explained)``:
    a value or printed object that differs only in the zero-length array *members* whose
    verdict kdbg gets wrong on this kernel (:func:`tests.zero_length_truth.wrong_member_names`:
    none on a kernel the shipped list was made from) is *explained*, every other difference
    is one. *name* is the kernel name (symbol aliases come from its guest's kallsyms)."""
    text = rec["text"]
    if rec["kind"] == "error":
        return [f"the oracle failed on {text}: {rec.get('message')}"], []
    try:
        result = eval(text, dict(ns))  # noqa: S307 - our own expressions
    except Exception as e:  # noqa: BLE001 - drgn answered: any exception is a difference
        return [f"kdbg raised {type(e).__name__}: {e}"], []
    if rec["kind"] == "python":
        if isinstance(result, kdbg.Object):
            return [f"kdbg gave an Object, drgn {rec['python_type']} {_short(rec['repr'])}"], []
        if repr(result) == rec["repr"]:
            return [], []
        return [f"repr: kdbg {_short(result)} / drgn {_short(rec['repr'])}"], []
    if not isinstance(result, kdbg.Object):
        return [f"kdbg gave {type(result).__name__} {_short(result)}, drgn an Object"], []
    out: List[str] = []
    explained: List[str] = []

    def differ(what: str, got: Any, want: Any) -> None:
        if got != want:
            out.append(f"{what}: kdbg {_short(got)} / drgn {_short(want)}")

    def printed(what: str, got: str, want: str) -> None:
        if got == want:
            return
        if text_explained(members, want, got):
            explained.append(f"{what} (zero-length array verdicts)")
        else:
            out.append(f"{what}:\n      {_text_difference(got, want)}")

    differ("type", result.type_.type_name(), rec["type"])
    differ("address", result.address_, rec["address"])
    try:
        value: Any = json.loads(json.dumps(jsonable(result.value_())))
    except Exception as e:  # noqa: BLE001 - compared with drgn's exception below
        if "value_error" not in rec:
            out.append(f"value_(): kdbg raised {type(e).__name__}: {e}")
        elif not isinstance(e, _error_class(rec["value_error"])):
            out.append(f"value_(): kdbg raised {type(e).__name__}: {e} / drgn {rec['value_error']}")
    else:
        if "value_error" in rec:
            out.append(f"value_(): kdbg gave {_short(value)} / drgn raised {rec['value_error']}")
        else:
            diffs = list(value_differences(value, rec["value"]))
            if diffs and all(_last_member(path) in members for path, _g, _w in diffs):
                explained.append("value_() (zero-length array verdicts)")
            elif diffs:
                out.append("value_(): " + "; ".join(f"{p or 'the value'}: kdbg {_short(g)} / drgn {_short(w)}"
                                                    for p, g, w in diffs[:5]) + (" ..." if len(diffs) > 5 else ""))
    try:
        printed("str()", _alias_normal(name, str(result)), _alias_normal(name, rec["str"]))
        if rec.get("format_options"):
            printed(f"format_(**{rec['format_options']})",
                    _alias_normal(name, result.format_(**rec["format_options"])), _alias_normal(name, rec["format"]))
    except Exception as e:  # noqa: BLE001 - drgn printed it
        out.append(f"printing: kdbg raised {type(e).__name__}: {e}")
    return out, explained


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_objects_match_drgn(case: Tuple[str, str, str, str]) -> None:
    """kdbg's answer to every oracle expression on one dump equals drgn's; the failure
    lists every expression that differs and how. On a held-out build, an object printed
    differently only where kdbg's zero-length array verdict is wrong on that build (what
    ``tests/test_flexible_arrays.py`` measures from the build's DWARF) is told apart, not
    failed; on a kernel the list was made from there is none. The agreement is recorded,
    in-sample and held-out figures apart (printed at the end of the session)."""
    suite, build, form, tool = case
    name = suite if build == "reference" else held_out_kernel(suite)
    answers = answers_for(name)
    prog = kdbg.open_core(str(resolve_dump(name, form, tool).path))
    ns = script_globals(prog)
    members = wrong_member_names(name)
    mismatches: Dict[str, List[str]] = {}
    explained: Dict[str, List[str]] = {}
    for key in sorted(answers.records):
        diff, excused = compare(name, answers.records[key], ns, members)
        if diff:
            mismatches[key] = diff
        elif excused:
            explained[key] = excused
    total = len(answers.records)
    note = f" ({len(explained)} more differ only in zero-length array verdicts: {', '.join(explained)})" \
        if explained else ""
    record_agreement(name, f"{form}{note}", total - len(mismatches) - len(explained), total)
    assert answers.records and not mismatches, "\n".join(
        [f"{name} {form}: {len(mismatches)} of {total} expressions differ from drgn:"]
        + [f"  {key}: {answers.records[key]['text']}\n    " + "\n    ".join(d) for key, d in mismatches.items()]
    )
