"""Zero-length arrays (``T x[0]``) and flexible array members (``T x[]``) of one kernel,
as kdbg decides them from the guest's BTF and as DWARF declares them (drgn with Debian's
DWARF ``vmlinux``, on the kernel's oracle dump): what ``tests/test_flexible_arrays.py``
checks, and what ``tests/test_objects_vs_drgn.py`` needs to tell a difference that such a
verdict explains from any other. Kernels are named as :func:`vmcores.debian.debian_kernel`
names them (a suite or ``SUITE@ABI``).
"""

from __future__ import annotations

import functools
import re
from typing import Dict, List, Set, Tuple

from kdbg.btf.index import flexible_by_rule
from kdbg.btf.loader import load_btf_file
from kdbg.btf.types import Array, Composite
from kdbg.declarations import flexible_hook, zero_length_container
from tests.oracle_exprs import oracle_dump
from vmcores.oracle import Query, ask_drgn

#: drgn's side: the declared length of each member (``"[]"`` for a flexible array), and
#: the lines of each struct's definition (``str(type)``) that declare a ``[0]`` or ``[]``.
DRGN_CODE = '''
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

#: A line of a C definition that declares a ``[0]`` or ``[]`` member.
ZERO_LENGTH_LINE = re.compile(r"\[0?\](\[|;| :)")


def zero_length_members(btf_path: str) -> Dict[str, Tuple[bool, bool, str]]:
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


def drgn_declared(name: str, specs: List[str]) -> Tuple[Dict[str, str], Dict[str, List[str]]]:
    """drgn's answers on the kernel *name*: ``"struct tag.member"`` -> ``"[0]"``, ``"[]"``
    or ``"missing"`` (a type only BTF has) for each of *specs*, and each of their structs'
    lines declaring a ``[0]`` or ``[]`` member (as drgn prints the definition)."""
    tags = sorted({s.rsplit(".", 1)[0] for s in specs})
    dump = oracle_dump(name)
    queries = [Query("flexible-arrays", f"(exec({DRGN_CODE!r}, globals()), _declared({specs!r}))[1]"),
               Query("flexible-lines", f"(exec({DRGN_CODE!r}, globals()), _lines({tags!r}))[1]")]  # fmt: skip
    recs = ask_drgn(name, dump.path, queries).records
    for rec in recs.values():
        assert rec["kind"] == "python", rec.get("message")
    return recs["flexible-arrays"]["value"], recs["flexible-lines"]["value"]


@functools.cache
def verdicts(name: str) -> Tuple[Dict[str, Tuple[bool, bool, str]], Dict[str, str], List[str]]:
    """kdbg's verdicts (:func:`zero_length_members`) on the kernel *name*'s BTF, DWARF's
    declarations (drgn) and the members compared (those DWARF has)."""
    kdbg_says = zero_length_members(str(oracle_dump(name).truth / "btf" / "vmlinux"))
    dwarf, _lines = drgn_declared(name, sorted(kdbg_says))
    return kdbg_says, dwarf, [s for s in sorted(kdbg_says) if dwarf[s] != "missing"]


def wrong_members(name: str) -> Dict[str, List[str]]:
    """struct or union -> its members whose kdbg verdict is not DWARF's, on the kernel
    *name* (none on a kernel the shipped list was made from: ``tests/test_flexible_arrays.py``)."""
    kdbg_says, dwarf, compared = verdicts(name)
    out: Dict[str, List[str]] = {}
    for spec in compared:
        if kdbg_says[spec][0] != (dwarf[spec] == "[]"):
            tag, member = spec.rsplit(".", 1)
            out.setdefault(tag, []).append(member)
    return out


def wrong_member_names(name: str) -> Set[str]:
    """The names of the members of :func:`wrong_members` on the kernel *name*."""
    return {m for ms in wrong_members(name).values() for m in ms}


def text_explained(members: Set[str], drgn_text: str, kdbg_text: str) -> bool:
    """Whether the printed objects *drgn_text* and *kdbg_text* differ, and only in lines
    of the zero-length array *members* (:func:`wrong_member_names`): each such line pair
    equal but for ``[0]`` against ``[]``."""
    a, b = drgn_text.splitlines(), kdbg_text.splitlines()
    if not members or len(a) != len(b) or a == b:
        return False
    for i, x in enumerate(a):
        y = b[i]
        if x == y:
            continue
        m = re.match(r"\s*\.(\w+) = \(", x)
        if not m or m.group(1) not in members or x.replace("[0]", "[]") != y.replace("[0]", "[]"):
            return False
    return True
