"""Zero-length arrays (``T x[0]``) and flexible array members (``T x[]``) against DWARF,
on every reference kernel.

BTF writes ``T x[]`` and ``T x[0]`` alike (an array of length 0); drgn reading DWARF tells
them apart, and prints, sizes and values them differently (``T []`` has no size and no
value). kdbg decides with ``kdbg.btf.index.BTF.is_flexible``: a rule over BTF
corrected by the list the generator makes from Debian's DWARF per kernel build
(``kdbg/data/zero-length-arrays.txt``). For every zero-length array member of every named
struct and union in the guest's BTF (the ``btf/vmlinux`` truth file, what the kernel itself
exported; members of anonymous structs and unions included), drgn with Debian's DWARF
``vmlinux`` of the same kernel says what the source declared; kdbg must agree on every one,
in its verdict, in ``ptype`` (the member's line of the struct's definition) and in ``str()``
of objects holding such members.

The held-out question: 6.1 (bookworm) is in the shipped list like the others (its build
is known by its BTF's identity), so :func:`test_held_out_kernel` also measures a list made
without it, on it: what a kernel the list does not know gets.
"""

from __future__ import annotations

import re
from typing import Dict, List, Tuple

import pytest

from kdbg.btf.index import flexible_by_rule
from kdbg.btf.loader import load_btf_file
from kdbg.btf.types import Array, Composite
from kdbg.declarations import ZERO_LENGTH_FILE, btf_identity, flexible_hook, zero_length_container
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES
from vmcores.oracle import Query, ask_drgn

#: drgn's side: the declared length of each member (``"[]"`` for a flexible array), and
#: the lines of each struct's definition (``str(type)``) that declare a ``[0]`` or ``[]``.
_DRGN_CODE = '''
import re as _re
def _declared(specs):
    out = {}
    for spec in specs:
        tag, member = spec.rsplit(".", 1)
        try:
            t = prog.type(tag).member(member).type
        except LookupError:
            out[spec] = "missing"
            continue
        while t.kind == drgn.TypeKind.TYPEDEF:
            t = t.type
        t = t.unqualified()
        out[spec] = "[]" if t.length is None else "[%d]" % t.length
    return out
def _lines(tags):
    out = {}
    for tag in tags:
        try:
            text = str(prog.type(tag))
        except LookupError:
            continue
        out[tag] = sorted(l.strip() for l in text.splitlines() if _re.search(r"\\[0?\\](\\[|;| :)", l))
    return out
'''

_ZERO_LENGTH_LINE = re.compile(r"\[0?\](\[|;| :)")

#: Objects holding zero-length arrays, per kernel where the expression exists: drgn's and
#: kdbg's ``str()`` must be equal. ``mem_section_usage.pageblock_flags`` is ``[0]`` on every
#: kernel, ``group_info.gid`` and ``xregs_state.extended_state_area`` on 5.10 (and the
#: latter on 6.1), ``mm_struct.cpu_bitmap`` is ``[]`` everywhere.
OBJECTS: List[Tuple[str, str]] = [
    ("mem_section_usage", 'prog["mem_section"][0][0].usage[0]'),
    ("init_groups", 'prog["init_groups"]'),
    ("xregs_state", 'prog["init_task"].thread.fpu.state.xsave'),
    ("xregs_state_fpstate", 'prog["init_fpstate"].regs.xsave'),
    ("init_mm_cpu_bitmap", 'prog["init_mm"].cpu_bitmap'),
]


def _zero_length_members(btf_path: str) -> Dict[str, Tuple[bool, bool, str]]:
    """``"struct tag.member"`` -> (kdbg's verdict: flexible?, the BTF rule's verdict, the
    key of the container holding it) for every zero-length array member of a named struct
    or union of the BTF (first definition of a name)."""
    btf = load_btf_file(btf_path)
    btf.flexible_hook = flexible_hook(btf)  # as kdbg.target attaches the list to a program's BTF
    out: Dict[str, Tuple[bool, bool, str]] = {}

    def walk(tag: str, container: Composite, depth: int) -> None:
        members = container.btf_members
        for i, m in enumerate(members):
            under = m.btf_type.strip_typedefs()
            if not m.btf_name and isinstance(under, Composite) and depth < 16:
                walk(tag, under, depth + 1)
            elif m.btf_name and isinstance(under, Array) and under.length == 0:
                key = zero_length_container(container.keyword, container.btf_name, [x.btf_name for x in members])
                flexible = container.members[i].type.length is None  # the model's verdict
                assert flexible == btf.is_flexible(container, i)
                out.setdefault(f"{tag}.{m.btf_name}", (flexible, flexible_by_rule(container, i),
                                                       f"{key}.{m.btf_name}"))  # fmt: skip

    for t in btf:
        if isinstance(t, Composite) and t.btf_name:
            walk(f"{t.keyword} {t.btf_name}", t, 0)
    return out


def _drgn(suite: str, specs: List[str]) -> Tuple[Dict[str, str], Dict[str, List[str]]]:
    tags = sorted({s.rsplit(".", 1)[0] for s in specs})
    dump = oracle_dump(suite)
    queries = [Query("flexible-arrays", f"(exec({_DRGN_CODE!r}, globals()), _declared({specs!r}))[1]"),
               Query("flexible-lines", f"(exec({_DRGN_CODE!r}, globals()), _lines({tags!r}))[1]")]  # fmt: skip
    recs = ask_drgn(suite, dump.path, queries).records
    for rec in recs.values():
        assert rec["kind"] == "python", rec.get("message")
    return recs["flexible-arrays"]["value"], recs["flexible-lines"]["value"]


@pytest.mark.parametrize("suite", list(SUITES))
def test_every_zero_length_array_as_dwarf_says(suite: str) -> None:
    """kdbg's verdict equals DWARF's for every zero-length array member, and the list
    knows this kernel's build (its BTF identity)."""
    btf_path = oracle_dump(suite).truth / "btf" / "vmlinux"
    identity = btf_identity(btf_path.read_bytes())
    assert f"@ {identity} " in ZERO_LENGTH_FILE.read_text()
    kdbg_says = _zero_length_members(str(btf_path))
    specs = sorted(kdbg_says)
    dwarf, _lines = _drgn(suite, specs)
    missing = [s for s in specs if dwarf[s] == "missing"]
    assert len(missing) <= 2, missing  # a type only BTF has (6.12: struct acpi_cdat_sslbis_table)
    compared = [s for s in specs if dwarf[s] != "missing"]
    assert all(dwarf[s] in ("[]", "[0]") for s in compared)
    wrong = sorted(s for s in compared if kdbg_says[s][0] != (dwarf[s] == "[]"))
    assert wrong == []
    rule_right = sum(1 for s in compared if kdbg_says[s][1] == (dwarf[s] == "[]"))
    print(f"{suite}: {len(compared)} of {len(compared)} as DWARF says (the BTF rule alone: {rule_right})")
    # the figures of the rule alone in kdbg.btf.index.flexible_by_rule's docstring
    assert (rule_right, len(compared)) == {"bullseye": (289, 796), "bookworm": (859, 871),
                                           "trixie": (1039, 1047)}[suite]


@pytest.mark.parametrize("suite", list(SUITES))
def test_ptype_lines_as_drgn_prints_them(suite: str) -> None:
    """Every line declaring a ``[0]`` or ``[]`` member in the definition of a struct or
    union that has one is the line drgn prints (``str()`` of the type: :func:`kdbg.btf.cdecl.definition`)."""
    import kdbg
    from kdbg.errors import AmbiguousTypeError

    btf_path = oracle_dump(suite).truth / "btf" / "vmlinux"
    specs = sorted(_zero_length_members(str(btf_path)))
    _dwarf, drgn_lines = _drgn(suite, specs)
    prog = kdbg.open_files(btf=[str(btf_path)])
    differ = []
    ambiguous = []
    for tag, want in sorted(drgn_lines.items()):
        try:
            t = prog.type(tag)
        except AmbiguousTypeError:  # two definitions: which one drgn's DWARF has first is not BTF's
            ambiguous.append(tag)
            continue
        text = str(t)
        got = sorted(line.strip() for line in text.splitlines() if _ZERO_LENGTH_LINE.search(line))
        if got != want:
            differ.append((tag, got, want))
    assert len(ambiguous) <= 3, ambiguous
    assert len(drgn_lines) >= len({s.rsplit(".", 1)[0] for s in specs}) - 2
    assert differ == []


@pytest.mark.parametrize("suite", list(SUITES))
def test_objects_print_as_drgn_prints_them(suite: str) -> None:
    """``str()`` of objects holding zero-length arrays equals drgn's."""
    import kdbg

    dump = oracle_dump(suite)
    recs = ask_drgn(suite, dump.path, [Query(f"zero-length.{k}", text) for k, text in OBJECTS]).records
    prog = kdbg.open_core(str(dump.path))
    compared = 0
    for key, text in OBJECTS:
        rec = recs[f"zero-length.{key}"]
        if rec["kind"] != "object":
            continue  # not on this kernel (the expression names another version's member)
        obj = eval(text, {"prog": prog})  # noqa: S307 - our own expressions
        assert str(obj) == rec["str"], key
        assert obj.type_.type_name() == rec["type"], key
        compared += 1
    assert compared >= 2


def test_held_out_kernel() -> None:
    """6.1 with a list made without its DWARF (from the declaration table's kernels only):
    the ``*`` section a build the list does not know gets. Reported, and never worse than
    the rule alone."""
    from tools.gen_declarations import HELD_OUT_SUITE, SHIPPED_SUITES, suite_zero_length
    from tools.zero_length_arrays import render

    text = render([suite_zero_length(s) for s in SHIPPED_SUITES])
    section = text.split("\n@ * ", 1)[1].splitlines()[1:]
    fallback = {line.split(" ", 1)[1]: line.startswith("[] ") for line in section if line}
    btf_path = oracle_dump(HELD_OUT_SUITE).truth / "btf" / "vmlinux"
    kdbg_says = _zero_length_members(str(btf_path))
    specs = sorted(kdbg_says)
    dwarf, _lines = _drgn(HELD_OUT_SUITE, specs)
    compared = [s for s in specs if dwarf[s] != "missing"]
    rule = sum(1 for s in compared if kdbg_says[s][1] == (dwarf[s] == "[]"))
    held = sum(1 for s in compared if fallback.get(kdbg_says[s][2], kdbg_says[s][1]) == (dwarf[s] == "[]"))
    print(f"{HELD_OUT_SUITE} (held out): {held} of {len(compared)} as DWARF says with a list made without it "
          f"(the BTF rule alone: {rule}; with the shipped list, which knows this build: {len(compared)})")
    assert held >= rule
