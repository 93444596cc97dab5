"""drgn's type model, asked of kdbg over BTF and of drgn over Debian's DWARF, on every
reference kernel (5.10, 6.1, 6.12) and on each suite's held-out build
(:func:`tools.held_out.held_out_kernel`: a kernel whose DWARF made neither the declaration
table nor the zero-length-array list): the same Python expressions, answers compared exactly
(:mod:`tests.drgn_semantics`), every mismatch of a kernel collected into one failure.

What is asked, every expected value coming from drgn on the build at hand:

* every member of each struct of :data:`STRUCTS` (bit fields, anonymous unions and
  structs, flexible arrays, function pointers): ``name``, ``bit_offset``,
  ``bit_field_size``, its type's ``type_name()``, ``kind``, ``unaliased_kind()``,
  ``qualifiers``, ``is_complete()``, ``primitive``; its ``offset`` (drgn refuses it for a
  bit field that does not start on a byte); its ``object``; and, for a pointer to a
  function, the function's ``parameters`` (types and names), ``is_variadic``, return type,
  ``str()`` and the pointer's name const-qualified. Which members are function pointers,
  and how many members there are, is drgn's answer of a first round of questions (also
  compared);
* each type of :data:`TYPES` (base types, typedef chains, qualified, pointer, array,
  struct, union, enum and function types): ``kind``, ``unaliased_kind()``,
  ``is_complete()``, ``qualifiers``, ``primitive``, ``type_name()``, ``str()``,
  ``qualified()``/``unqualified()``, the kind-specific attributes (``size``, ``length``,
  ``is_signed``, ``name``, ``tag``, ``type``, ``parameters``, ``is_variadic``, ``byteorder``)
  and ``sizeof``;
* the enumerators of each enum of :data:`ENUMS`;
* ``prog.type()`` of C type names (:data:`PARSED`); ``has_member()``/``member()``,
  ``offsetof()`` of designators (:data:`MEMBER_PATHS`); ``alignof()``.

What BTF cannot carry, and how it is compared instead (each derived from drgn's answer,
never from kdbg's):

* **Enum signedness before 6.0.** BTF from kernels before 6.0 stores every enumerator as
  32 bits with no sign (``-1`` and ``0xffffffff`` are the same record); kdbg guesses
  (:func:`kdbg.btf.index.old_enum_is_signed`). On such a BTF an enumerator whose value drgn
  gives as negative or at least ``2**31`` is compared modulo ``2**32`` (what BTF holds);
  every other one exactly, as are all of them on 6.1 and 6.12.
* **Explicit alignment.** DWARF records ``__aligned(n)`` (``DW_AT_alignment``); BTF does
  not. Where drgn's ``alignof`` exceeds the natural alignment drgn's own answers give
  (members' alignments, array elements', typedef targets'), kdbg must give that natural
  alignment; elsewhere drgn's value.
* **Function pointer parameter names.** BTF's prototypes for pointer types carry no
  parameter names, and neither does gcc's DWARF for them: both say ``None``, compared
  exactly (a DWARF name BTF lacks would show as a mismatch).
* **Zero-length arrays** (``T x[0]`` or ``T x[]``, one record in BTF): where the shipped
  list of them (``kdbg/data/zero-length-arrays.txt``, made from the DWARF of every
  reference kernel, this one included) decides a member, that member's ``[]``-dependent
  answers (its type's name, completeness and object, the ``str()`` of the struct holding
  it) are not compared here: they would be DWARF's answer given back.
  ``tests/test_flexible_arrays.py`` measures the list on a kernel it was made without.
  Members the list says nothing about (the rule over BTF decides) are compared.

* **Multidimensional arrays.** pahole writes ``T x[a][b]`` as ``T x[a*b]`` (BTF has one
  dimension per record, and pahole multiplies them): in ``str()`` of a struct, drgn's
  dimensions are multiplied before comparing.
* **An array member's qualifiers.** gcc's DWARF qualifies the array type as well as its
  element (``const char iname[]``); BTF only the element: kdbg's member type's
  qualifiers with its element's must be drgn's.

Where drgn is wrong, C's answer wins:

* **A qualified array's name.** drgn spells ``qualified(CONST)`` of ``char [16]`` as
  ``char [16]``; C gives an array's qualifiers to its element, so kdbg must spell drgn's
  own element type qualified (``const char``) followed by the dimensions.
* **Syntax errors.** For text that is no C type name both raise ``SyntaxError``; the
  words are each parser's own (the class is compared).

kdbg's extensions (attributes drgn's ``Type`` lacks for a kind, where drgn raises
``AttributeError``): ``size`` of a typedef, array, enum, function or ``void`` type is
``sizeof()`` of it (``None`` where drgn's ``sizeof`` fails); ``name`` of a struct, union
or enum is its tag (``""`` when anonymous); ``is_signed`` of an enum is its compatible
type's. Each is compared with drgn's own answer to that question. Every other attribute a
kind lacks raises ``AttributeError`` with drgn's message.

Nothing here is typed by the declaration table: types come from ``prog.type()`` (BTF), and
functions from BTF's FUNC records.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any, Dict, List, Optional, Tuple

import pytest

import kdbg
import kdbg.compat.drgn as kdrgn
from kdbg.btf.types import Array, Composite
from kdbg.declarations import zero_length_container, zero_length_exceptions
from tests.drgn_semantics import Case, kdbg_namespace, kdbg_record, mismatch, queries
from tests.oracle_exprs import oracle_dump
from tools.held_out import held_out_kernel
from vmcores.debian import SUITES
from vmcores.oracle import ask_drgn

pytestmark = pytest.mark.timeout(1800)

#: Structs and unions whose every member is asked about.
STRUCTS: List[str] = [
    "struct task_struct", "struct page", "struct sk_buff", "struct file_operations", "struct net_device_ops",
    "struct kobject", "struct inode", "struct mm_struct", "struct qstr", "struct dentry", "struct sock",
    "struct tcp_sock", "struct bpf_prog", "struct filename", "struct pci_dev", "struct tty_struct",
    "struct orc_entry", "struct iphdr", "struct tcphdr", "struct callback_head", "struct sched_class",
    "struct inode_operations", "struct printk_info", "struct cred", "struct super_block", "struct kernfs_node",
    "struct msi_desc", "struct hrtimer_cpu_base", "union bpf_attr", "struct irq_desc", "struct seq_file",
    "struct vm_area_struct", "struct bio", "struct signal_struct", "struct ipv6_pinfo", "struct xa_node",
]

#: Types asked about as a whole.
TYPES: List[str] = [
    "int", "char", "signed char", "unsigned char", "short", "unsigned short", "long", "unsigned long",
    "long long", "unsigned long long", "_Bool", "void", "void *", "const void *", "const volatile int",
    "char [16]", "int [0]", "int []", "const char *const [4]", "struct list_head *[3]", "char (*)[4]",
    "u8", "u64", "s32", "size_t", "ptrdiff_t", "pid_t", "bool", "atomic_t", "atomic64_t", "spinlock_t",
    "refcount_t", "loff_t", "gfp_t", "cpumask_t", "pgd_t", "phys_addr_t", "kuid_t", "ktime_t",
    "wait_queue_head_t", "rcu_callback_t", "work_func_t", "irq_handler_t", "struct list_head",
    "struct list_head *", "struct callback_head", "struct hlist_bl_head", "union thread_union",
    "enum pid_type", "enum zone_type", "struct task_struct", "struct kobject", "struct qstr",
    "struct vm_struct", "const struct list_head", "volatile unsigned long", "struct nope_nope",
]

#: Attributes of :data:`TYPES` asked one by one (each can raise ``AttributeError``).
TYPE_ATTRIBUTES = ["size", "length", "is_signed", "name", "tag", "is_variadic", "byteorder"]

#: Enums whose enumerators are compared (with negative or large values among them).
ENUMS: List[str] = [
    "enum pid_type", "enum zone_type", "enum node_states", "enum system_states", "enum hrtimer_restart",
    "enum perf_event_state", "enum netdev_tx", "enum e820_type", "enum reboot_mode", "enum blk_default_limits",
    "enum perf_callchain_context", "enum rt_class_t", "enum blake2s_iv", "enum nf_ip_hook_priorities",
    "enum rseq_cpu_id_state", "enum module_state", "enum cpuhp_state", "enum lsm_order",
]

#: C type names given to ``prog.type()``.
PARSED: List[str] = [
    "const char *const[4]", "unsigned", "signed", "long unsigned int", "short int", "long long int",
    "int const", "int * const volatile", "struct list_head const *", "char *(*)[4]", "unsigned char",
    "enum pid_type *", "u8 [2]", "atomic_t *", "volatile struct list_head", "struct list_head * const *",
    "int [", "int [-1]", "struct nope_nope", "nope_nope_t",
]

#: Of :data:`PARSED`, the texts that are no C type name: both raise ``SyntaxError``.
MALFORMED = ("int [", "int [-1]")
MALFORMED_WHY = ("the words of a syntax error are each parser's own: drgn's lexer names a character, kdbg's "
                 "parser the position and what it expected; the class (SyntaxError) is compared")

#: Member designators for ``has_member``, ``member`` and ``offsetof``.
MEMBER_PATHS: List[Tuple[str, str]] = [
    ("struct task_struct", "comm"), ("struct task_struct", "se.avg"), ("struct task_struct", "pid_links[1].next"),
    ("struct task_struct", "nope"), ("struct kobject", "state_initialized"), ("struct page", "lru"),
    ("struct page", "mapping"), ("struct dentry", "d_name.name"), ("struct qstr", "hash"),
    ("struct list_head", "prev"), ("struct sk_buff", "len"), ("struct inode", "i_rcu"),
]

#: Function-pointer types whose C name kdbg parses (drgn 0.3.0's parser does not: "function
#: pointer types are not implemented"), each compared with drgn's answer for the member
#: of that type.
FUNCTION_POINTER_NAMES: List[Tuple[str, str, str]] = [
    ("void (*)(struct callback_head *)", "struct callback_head", "func"),
]


def _per_member(s: str, i: int, fn_pointer: bool, list_decided: bool) -> List[Case]:
    m = f"prog.type({s!r}).members[{i}]"
    k = f"{s}:{i}"
    if list_decided:
        return [Case(f"m:{k}", f"(lambda m: (m.name, m.bit_offset, m.bit_field_size, m.type.kind))({m})"),
                Case(f"off:{k}", f"{m}.offset")]
    out = [
        Case(f"m:{k}", f"(lambda m: (m.name, m.bit_offset, m.bit_field_size, m.type.type_name(), m.type.kind, "
                       f"m.type.unaliased_kind(), m.type.qualifiers, m.type.is_complete(), m.type.primitive))({m})"),
        Case(f"off:{k}", f"{m}.offset"),
        Case(f"obj:{k}", f"repr({m}.object)"),
    ]
    if fn_pointer:
        f = f"{m}.type.unaliased().type.unaliased()"
        out += [
            Case(f"fn:{k}", f"(lambda f: ([(p.name, p.type.type_name()) for p in f.parameters], f.is_variadic, "
                            f"f.type.type_name(), f.kind, str(f), f.type_name()))({f})"),
            Case(f"fnq:{k}", f"(lambda t: (t.type_name(), str(t), t.qualifiers))"
                             f"({m}.type.qualified(drgn.Qualifiers.CONST))"),
            Case(f"fnp:{k}", f"repr({f}.parameters)"),
        ]
    return out


def _natural_alignment_text(t: str) -> str:
    """drgn's alignment of ``t`` built from its members', elements' and targets' answers,
    without ``__aligned`` (a recursive lambda: the oracle evaluates expressions)."""
    return ("(lambda f: f(f, " + t + "))(lambda f, t: (lambda u: "
            "max([1] + [f(f, m.type) for m in u.members]) if u.kind in (drgn.TypeKind.STRUCT, drgn.TypeKind.UNION) "
            "else f(f, u.type) if u.kind == drgn.TypeKind.ARRAY "
            "else drgn.alignof(u))(t.unaliased()))")


def _type_cases(name: str) -> List[Case]:
    t = f"prog.type({name!r})"
    out = [
        Case(f"t:{name}", f"(lambda t: (t.kind, t.unaliased_kind(), t.is_complete(), t.qualifiers, t.primitive, "
                          f"t.type_name(), t.unqualified().type_name(), t.unaliased().type_name(), "
                          f"t.qualified(drgn.Qualifiers.CONST).type_name(), "
                          f"t.qualified(drgn.Qualifiers.CONST | drgn.Qualifiers.VOLATILE).type_name(), "
                          f"t.language, t.template_parameters if t.kind in (drgn.TypeKind.STRUCT, "
                          f"drgn.TypeKind.UNION) else None))({t})"),
        Case(f"str:{name}", f"str({t})"),
        Case(f"type:{name}", f"{t}.type.type_name()"),
        Case(f"members:{name}", f"None if {t}.members is None else len({t}.members)"),
        Case(f"enumerators:{name}", f"{t}.enumerators"),
        Case(f"parameters:{name}", f"{t}.parameters"),
        Case(f"sizeof:{name}", f"sizeof({t})"),
        Case(f"compatible_signed:{name}", f"{t}.type.is_signed"),
        Case(f"alignof:{name}", f"drgn.alignof({t})"),
        Case(f"natural:{name}", _natural_alignment_text(t)),
        Case(f"elemq:{name}", f"(lambda t: (lambda e: (e.type_name(), "
                              f"e.qualified(e.qualifiers | drgn.Qualifiers.CONST).type_name(), "
                              f"e.qualified(e.qualifiers | drgn.Qualifiers.CONST | drgn.Qualifiers.VOLATILE)"
                              f".type_name()))(t.type) if t.kind == drgn.TypeKind.ARRAY else None)({t})"),
    ]
    out += [Case(f"{a}:{name}", f"{t}.{a}") for a in TYPE_ATTRIBUTES]
    return out


def _first_round(suite: str) -> Dict[str, Any]:
    """How many members each struct has and which are pointers to functions (drgn's)."""
    cases = []
    for s in STRUCTS:
        cases.append(Case(f"n:{s}", f"len(prog.type({s!r}).members)"))
        cases.append(Case(f"fp:{s}", f"[i for i, m in enumerate(prog.type({s!r}).members) if m.type.unaliased_kind() "
                                     f"== drgn.TypeKind.POINTER and m.type.unaliased().type.unaliased_kind() "
                                     f"== drgn.TypeKind.FUNCTION]"))
    return {"cases": cases, "answers": ask_drgn(suite, oracle_dump(suite).path, queries(cases)).records}


def _list_decided(prog: Any, s: str) -> Tuple[List[int], bool]:
    """Members of ``s`` whose ``[]`` or ``[0]`` the shipped zero-length array list decides
    on this build, and whether ``str()`` of ``s`` shows one (in it, or inline in an
    anonymous struct or union within it)."""
    exceptions = zero_length_exceptions(prog.btf)

    def decided(c: Composite) -> List[int]:
        key = zero_length_container(c.keyword, c.btf_name, [m.btf_name for m in c.btf_members])
        out = []
        for i, m in enumerate(c.btf_members):
            under = m.btf_type.strip_typedefs()
            if isinstance(under, Array) and under.length == 0 and f"{key}.{m.btf_name}" in exceptions:
                out.append(i)
        return out

    def shown(c: Composite) -> bool:
        if decided(c):
            return True
        return any(isinstance(m.btf_type.unqualified(), Composite) and not m.btf_type.unqualified().btf_name
                   and shown(m.btf_type.unqualified()) for m in c.btf_members)

    try:
        t = prog.type(s).unaliased()
    except LookupError:
        return [], False
    if not isinstance(t, Composite):
        return [], False
    return decided(t), shown(t)


def _cases(suite: str, prog: Any) -> Tuple[List[Case], Dict[str, Any], List[str]]:
    first = _first_round(suite)
    cases: List[Case] = list(first["cases"])
    answers = first["answers"]
    held_back: List[str] = []
    for s in STRUCTS:
        n = answers[f"n:{s}"]
        if n["kind"] == "error":
            continue  # not in this kernel (kdbg must say so too: compared below)
        fps = set(answers[f"fp:{s}"]["value"])
        decided, shows = _list_decided(prog, s)
        held_back += [f"{s}.members[{i}]" for i in decided]
        for i in range(n["value"]):
            cases += _per_member(s, i, i in fps, i in decided)
        if shows:
            held_back.append(f"str({s})")
        else:
            cases.append(Case(f"def:{s}", f"str(prog.type({s!r}))"))
    for name in TYPES:
        cases += _type_cases(name)
    for e in ENUMS:
        cases.append(Case(f"enum:{e}", f"[(e.name, e.value) for e in prog.type({e!r}).enumerators]"))
        cases.append(Case(f"enumtype:{e}", f"prog.type({e!r}).type.type_name()"))
    for text in PARSED:
        malformed = text in MALFORMED
        cases.append(Case(f"parse:{text}", f"(lambda t: (t.type_name(), t.kind, t.qualifiers))(prog.type({text!r}))",
                          message=not malformed, why=MALFORMED_WHY if malformed else ""))
    for s, path in MEMBER_PATHS:
        t = f"prog.type({s!r})"
        cases += [Case(f"has:{s}:{path}", f"{t}.has_member({path!r})"),
                  Case(f"member:{s}:{path}", f"(lambda m: (m.name, m.bit_offset, m.bit_field_size, "
                                             f"m.type.type_name()))({t}.member({path!r}))"),
                  Case(f"offsetof:{s}:{path}", f"offsetof({t}, {path!r})")]
    cases.append(Case("fn:schedule", "(lambda t: (t.type_name(), [(p.name, p.type.type_name()) for p in t.parameters], "
                                     "t.is_variadic, str(t)))(prog.function('schedule').type_)"))
    cases.append(Case("fn:_printk", "(lambda t: (t.type_name(), [(p.name, p.type.type_name()) for p in t.parameters], "
                                    "t.is_variadic))(prog.function('_printk').type_)"))
    answers = ask_drgn(suite, oracle_dump(suite).path, queries(cases)).records
    return cases, answers, held_back


def _enumerators_differ(drgn_value: List[List[Any]], ours: List[Tuple[str, int]], signedness_known: bool) -> bool:
    if [n for n, _ in drgn_value] != [n for n, _ in ours]:
        return True
    for (_, want), (_, got) in zip(drgn_value, ours, strict=True):
        ambiguous = not signedness_known and not 0 <= want < 1 << 31
        if (got - want) % (1 << 32) if ambiguous else got != want:
            return True
    return False


@pytest.mark.parametrize("build", ["reference", "held-out"])
@pytest.mark.parametrize("suite", list(SUITES))
def test_type_introspection_matches_drgn(suite: str, build: str) -> None:
    """Every type-level question gets drgn's answer (with the allowances above), on the
    suite's reference kernel and on its held-out build."""
    if build == "held-out":
        suite = held_out_kernel(suite)
    prog = kdbg.open_core(str(oracle_dump(suite).path))
    ns = kdbg_namespace(prog)
    cases, answers, held_back = _cases(suite, prog)
    differ: List[str] = []
    for case in cases:
        drgn_rec = answers[case.key]
        ours = kdbg_record(case.text, ns)
        problem = _special(case, drgn_rec, ours, prog, answers, ns)
        if problem == "":
            problem = mismatch(case, drgn_rec, ours)
        if problem:
            differ.append(f"{case.key}: {problem}\n    {case.text}")
    print(f"{suite}: {len(cases)} expressions compared; held back (the zero-length list decides): {held_back}")
    assert len(cases) >= 100
    assert not differ, f"{len(differ)} of {len(cases)} differ from drgn on {suite}:\n" + "\n".join(differ)


def _special(case: Case, drgn_rec: Dict[str, Any], ours: Dict[str, Any], prog: Any, answers: Dict[str, Any],
             ns: Dict[str, Any]) -> Optional[str]:
    """The comparisons that are not plain equality (see the module docstring); ``""``
    where plain equality applies."""
    kind, _, name = case.key.partition(":")
    if kind == "t" and drgn_rec["kind"] == "python" and ours["kind"] == "python":
        return _qualified_array(drgn_rec, ours, answers[f"elemq:{name}"])
    if kind == "m" and drgn_rec["kind"] == "python" and ours["kind"] == "python":
        return _array_member(case, drgn_rec, ours, ns)
    if kind == "def" and drgn_rec["kind"] == "python" and ours["kind"] == "python":
        want = ast.literal_eval(drgn_rec["repr"])
        if isinstance(want, str):
            want = repr(_MULTIDIMENSIONAL.sub(lambda m: f"[{math.prod(int(n) for n in _DIM.findall(m.group()))}]",
                                              want))
            return None if ours["repr"] == want else f"drgn (dimensions multiplied) {want}, kdbg {ours['repr']}"
    if kind == "enum" and drgn_rec["kind"] == "python":
        if ours["kind"] != "python":
            return f"drgn {drgn_rec['repr']}, kdbg {ours.get('error')}: {ours.get('message')}"
        got = eval(case.text, dict(ns))  # noqa: S307 - the test's own expression
        if _enumerators_differ(drgn_rec["value"], got, prog.btf.enum_signedness_known):
            return f"drgn {drgn_rec['repr']}, kdbg {got!r}"
        return None
    if kind == "enumtype" and not prog.btf.enum_signedness_known:
        values = answers[f"enum:{name}"]
        if values["kind"] == "python" and any(not 0 <= v < 1 << 31 for _, v in values["value"]):
            # int or unsigned int: which one, only the signedness BTF lacks could say
            size = {"int": 4, "unsigned int": 4, "long": 8, "unsigned long": 8}
            want, got = drgn_rec.get("repr", ""), ours.get("repr", "")
            same = size.get(want.strip("'")) == size.get(got.strip("'")) is not None
            return None if same else f"drgn {want}, kdbg {got}"
        return ""
    if kind == "alignof" and drgn_rec["kind"] == "python":
        natural = answers[f"natural:{name}"]
        if natural["kind"] == "python" and drgn_rec["value"] > natural["value"]:
            want = natural["value"]  # __aligned: DWARF's, which BTF does not carry
            return None if ours.get("repr") == repr(want) else f"natural alignment {want}, kdbg {ours.get('repr')}"
        return ""
    if kind == "size" and drgn_rec["kind"] == "error" and drgn_rec["error"] == "AttributeError":
        want = answers[f"sizeof:{name}"]
        expect = repr(want["value"]) if want["kind"] == "python" else "None"
        return None if ours.get("repr") == expect else f"sizeof() {expect}, kdbg's size {ours.get('repr', ours)}"
    if kind == "name" and drgn_rec["kind"] == "error" and drgn_rec["error"] == "AttributeError":
        tag = answers[f"tag:{name}"]
        if tag["kind"] == "python":  # a struct, union or enum: its tag
            expect = repr(ast.literal_eval(tag["repr"]) or "")
            return None if ours.get("repr") == expect else f"tag {expect}, kdbg's name {ours.get('repr', ours)}"
        return ""
    if kind == "is_signed" and drgn_rec["kind"] == "error" and answers[f"t:{name}"].get("repr", "").startswith(
            "(<TypeKind.ENUM"):
        compatible = answers[f"compatible_signed:{name}"]
        return None if ours.get("repr") == compatible.get("repr") else \
            f"compatible type's is_signed {compatible.get('repr')}, kdbg's is_signed {ours.get('repr')}"
    return ""


_MULTIDIMENSIONAL = re.compile(r"(?:\[\d+\]){2,}")
_DIM = re.compile(r"\d+")


def _qualified_array(drgn_rec: Dict[str, Any], ours: Dict[str, Any], element: Dict[str, Any]) -> Optional[str]:
    """``t:`` of a type: equal, except that for an array drgn spells ``qualified()``
    without the qualifiers (``char [16]`` for ``const char [16]``), where C gives an
    array's qualifiers to its element: kdbg must spell drgn's element, qualified by drgn,
    followed by the array's dimensions."""
    want = drgn_rec["repr"]
    parts = want.split(", ")
    if parts[0] == "(<TypeKind.ARRAY: 11>" and element["kind"] == "python" and len(parts) == 12:
        plain, const, const_volatile = ast.literal_eval(element["repr"])
        dims = ast.literal_eval(parts[5])[len(plain):].lstrip()
        parts[8], parts[9] = repr(f"{const} {dims}"), repr(f"{const_volatile} {dims}")
        want = ", ".join(parts)
    return None if ours["repr"] == want else f"drgn (array qualifiers on the element) {want}, kdbg {ours['repr']}"


def _array_member(case: Case, drgn_rec: Dict[str, Any], ours: Dict[str, Any], ns: Dict[str, Any]) -> Optional[str]:
    """``m:`` of a member: equal, except an array member's ``qualifiers``: gcc's DWARF
    qualifies the array type as well as its element (``const char iname[]``); BTF
    qualifies only the element, so kdbg's array qualifiers with its element's must be
    drgn's array qualifiers."""
    if ours["repr"] == drgn_rec["repr"]:
        return None
    member = case.text.rsplit(")(", 1)[1][:-1]
    got = eval(case.text, dict(ns))  # noqa: S307 - the test's own expression
    t = eval(f"{member}.type", dict(ns))  # noqa: S307
    if t.unaliased_kind() == kdrgn.TypeKind.ARRAY:
        got = got[:6] + (got[6] | t.unaliased().type.qualifiers,) + got[7:]
        if repr(got) == drgn_rec["repr"]:
            return None
    return f"drgn {drgn_rec['repr']}, kdbg {ours['repr']}"
