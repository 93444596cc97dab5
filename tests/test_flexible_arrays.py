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

The held-out question: every reference kernel is in the shipped list (its build is known by
its BTF's identity) while the archive still serves it, so each test also runs on each
suite's held-out build (:func:`tools.held_out.held_out_kernel`: another ABI of the suite,
whose DWARF made neither the list nor the declaration table; or the reference kernel itself
once the archive has moved on). There kdbg has only the list's ``*`` section: it must be
right on at least as many members as the BTF rule alone is on that build, and its ``ptype``
lines and objects may differ from drgn's only in a struct whose member's verdict it gets
wrong. The in-sample and held-out figures are recorded apart
(``tests/oracle_report.py``). :func:`test_held_out_kernel` also measures a list made
without 6.1's DWARF on 6.1.
"""

from __future__ import annotations

from typing import List, Tuple

import pytest

from kdbg.declarations import ZERO_LENGTH_FILE, btf_identity
from tests.oracle_exprs import oracle_dump
from tests.oracle_report import record_agreement
from tests.zero_length_truth import ZERO_LENGTH_LINE, drgn_declared, verdicts, wrong_members, zero_length_members
from tools.held_out import held_out_kernel, in_sample, zero_length_labels
from vmcores.debian import SUITES
from vmcores.oracle import Query, ask_drgn

#: Objects holding zero-length arrays, per kernel where the expression exists, and the
#: struct whose zero-length member each prints: drgn's and kdbg's ``str()`` must be equal.
#: ``mem_section_usage.pageblock_flags`` is ``[0]`` on every kernel, ``group_info.gid`` and
#: ``xregs_state.extended_state_area`` on 5.10 (and the latter on 6.1),
#: ``mm_struct.cpu_bitmap`` is ``[]`` everywhere.
OBJECTS: List[Tuple[str, str, str]] = [
    ("mem_section_usage", 'prog["mem_section"][0][0].usage[0]', "struct mem_section_usage"),
    ("init_groups", 'prog["init_groups"]', "struct group_info"),
    ("xregs_state", 'prog["init_task"].thread.fpu.state.xsave', "struct xregs_state"),
    ("xregs_state_fpstate", 'prog["init_fpstate"].regs.xsave', "struct xregs_state"),
    ("init_mm_cpu_bitmap", 'prog["init_mm"].cpu_bitmap', "struct mm_struct"),
]


#: The kernels compared: each suite's reference build and its held-out build
#: (:func:`tools.held_out.held_out_kernel`: one the list was not made from).
KERNELS: List[Tuple[str, str]] = [(suite, build) for suite in SUITES for build in ("reference", "held-out")]


def _kernel_id(kernel: Tuple[str, str]) -> str:
    suite, build = kernel
    return suite if build == "reference" else f"{suite}-{build}"


def _name(kernel: Tuple[str, str]) -> str:
    suite, build = kernel
    return suite if build == "reference" else held_out_kernel(suite)


def _in_list(name: str) -> bool:
    """Whether the shipped zero-length-array list (not only the declaration table) was
    made from the kernel *name*'s DWARF: the list alone decides the verdicts."""
    return in_sample(name, zero_length_labels())


@pytest.mark.parametrize("kernel", KERNELS, ids=_kernel_id)
def test_every_zero_length_array_as_dwarf_says(kernel: Tuple[str, str]) -> None:
    """kdbg's verdict equals DWARF's for every zero-length array member of a kernel the
    list was made from (the list knows its build by its BTF identity). On a held-out build
    (the list's ``*`` section), it is right on at least as many members as the BTF rule
    alone is on that build; both figures are recorded."""
    name = _name(kernel)
    btf_path = oracle_dump(name).truth / "btf" / "vmlinux"
    identity = btf_identity(btf_path.read_bytes())
    known = f"\n@ {identity} " in ZERO_LENGTH_FILE.read_text()
    assert known == _in_list(name), (name, identity)  # the list has a section for each source's build
    kdbg_says, dwarf, compared = verdicts(name)
    missing = [s for s in kdbg_says if dwarf[s] == "missing"]
    assert len(missing) <= 2, missing  # a type only BTF has (6.12: struct acpi_cdat_sslbis_table)
    assert all(dwarf[s] in ("[]", "[0]") for s in compared)
    wrong = sorted(s for s in compared if kdbg_says[s][0] != (dwarf[s] == "[]"))
    rule_right = sum(1 for s in compared if kdbg_says[s][1] == (dwarf[s] == "[]"))
    record_agreement(name, f"zero-length array verdicts (the BTF rule alone: {rule_right})",
                     len(compared) - len(wrong), len(compared))  # fmt: skip
    if known:
        assert wrong == []
    else:
        assert len(compared) - len(wrong) >= rule_right, wrong


@pytest.mark.parametrize("kernel", KERNELS, ids=_kernel_id)
def test_ptype_lines_as_drgn_prints_them(kernel: Tuple[str, str]) -> None:
    """Every line declaring a ``[0]`` or ``[]`` member in the definition of a struct or
    union that has one is the line drgn prints (``str()`` of the type: :func:`kdbg.btf.cdecl.definition`),
    except, on a held-out build, in a struct whose member kdbg's verdict gets wrong
    (:func:`test_every_zero_length_array_as_dwarf_says` counts those)."""
    import kdbg
    from kdbg.errors import AmbiguousTypeError

    name = _name(kernel)
    btf_path = oracle_dump(name).truth / "btf" / "vmlinux"
    specs = sorted(zero_length_members(str(btf_path)))
    _dwarf, drgn_lines = drgn_declared(name, specs)
    wrong = wrong_members(name)
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
        got = sorted(line.strip() for line in text.splitlines() if ZERO_LENGTH_LINE.search(line))
        if got != want:
            differ.append((tag, got, want))
    assert len(ambiguous) <= 3, ambiguous
    assert len(drgn_lines) >= len({s.rsplit(".", 1)[0] for s in specs}) - 2
    compared = len(drgn_lines) - len(ambiguous)
    record_agreement(name, "ptype lines of structs with zero-length arrays", compared - len(differ), compared)
    assert [d for d in differ if d[0] not in wrong] == []
    if _in_list(name):
        assert differ == []


@pytest.mark.parametrize("kernel", KERNELS, ids=_kernel_id)
def test_objects_print_as_drgn_prints_them(kernel: Tuple[str, str]) -> None:
    """``str()`` of objects holding zero-length arrays equals drgn's (on a held-out build,
    except an object of a struct whose member kdbg's verdict gets wrong there)."""
    import kdbg

    name = _name(kernel)
    dump = oracle_dump(name)
    recs = ask_drgn(name, dump.path, [Query(f"zero-length.{k}", text) for k, text, _tag in OBJECTS]).records
    wrong = wrong_members(name)
    prog = kdbg.open_core(str(dump.path))
    compared = agree = 0
    differ = []
    for key, text, tag in OBJECTS:
        rec = recs[f"zero-length.{key}"]
        if rec["kind"] != "object":
            continue  # not on this kernel (the expression names another version's member)
        obj = eval(text, {"prog": prog})  # noqa: S307 - our own expressions
        assert obj.type_.type_name() == rec["type"], key
        compared += 1
        if str(obj) == rec["str"]:
            agree += 1
        elif tag not in wrong:
            differ.append((key, str(obj), rec["str"]))
    record_agreement(name, "objects holding zero-length arrays, str()", agree, compared)
    assert compared >= 2
    assert differ == []
    if _in_list(name):
        assert agree == compared


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
    kdbg_says = zero_length_members(str(btf_path))
    specs = sorted(kdbg_says)
    dwarf, _lines = drgn_declared(HELD_OUT_SUITE, specs)
    compared = [s for s in specs if dwarf[s] != "missing"]
    rule = sum(1 for s in compared if kdbg_says[s][1] == (dwarf[s] == "[]"))
    held = sum(1 for s in compared if fallback.get(kdbg_says[s][2], kdbg_says[s][1]) == (dwarf[s] == "[]"))
    print(f"{HELD_OUT_SUITE} (held out): {held} of {len(compared)} as DWARF says with a list made without it "
          f"(the BTF rule alone: {rule}; with the shipped list, which knows this build: {len(compared)})")
    assert held >= rule
