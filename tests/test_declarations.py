"""The C declarator parser and the declaration table (kdbg/declarations.py).

Types parsed from declarations of every kind (pointers, arrays of one to three
dimensions, incomplete arrays, pointers to arrays, function pointers and arrays of them,
prototypes with ``...`` and ``(void)``, qualifiers at every level, typedef names, struct,
union and enum tags, every spelling of the base C types, several declarators, storage
classes and kernel annotations) are checked against gcc: a C file declares each variable
after a ``vmlinux.h`` written from the same BTF (``btf dump --format c``) and asserts, with
``_Static_assert``, that ``sizeof`` equals kdbg's size and that ``__typeof__(&name)`` is
the type kdbg spells (qualifiers included). gcc's sizes and type identity are the
independent truth.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import zlib
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

from kdbg import declarations
from kdbg.btf import constants as K
from kdbg.btf import cparse
from kdbg.btf.cache import cached_header_c
from kdbg.btf.cparse import declared_name
from kdbg.btf.index import BTF
from kdbg.btf.loader import load_btf_files
from kdbg.btf.resolve import BTFResolver
from kdbg.btf.types import Array, Composite, Const, FuncProto, Pointer, Type
from kdbg.declarations import (
    OVERRIDES_FILE,
    TABLE_FILE,
    DeclarationTable,
    decode_table,
    encode_table,
    lookup_declared_type,
)
from kdbg.errors import AmbiguousTypeError, DeclarationTableError, ExpressionError, KdbgError, TypeNotFoundError
from tests.cli_support import clean_env
from tools.dwarf_types import c_declaration, canonical, dwarf_size
from tools.gen_declarations import merge


def parse_declaration(text: str, btfs: List[BTF], size_hint: Optional[int] = None) -> List[Tuple[str, Type]]:
    """The one C parser's declaration against ``btfs`` (a base, then split BTFs)."""
    return cparse.parse_declaration(text, BTFResolver(btfs), size_hint)


def parse_declarations(text: str, btfs: List[BTF]) -> List[Tuple[str, Type]]:
    """The one C parser's declarations against ``btfs``."""
    return cparse.parse_declarations(text, BTFResolver(btfs))


#: Declarations of every kind, each declaring ``v<N>`` names (types of Linux 6.18's BTF).
DECLS: List[str] = [
    "struct task_struct v1;",
    "struct list_head v2;",
    "pid_t v3;",
    "atomic_t v4;",
    "enum pid_type v5;",
    "volatile long unsigned int v6;",
    "volatile unsigned long v7;",
    "unsigned long long v8;",
    "long long unsigned int v9;",
    "signed char v10;",
    "unsigned char v11;",
    "char v12;",
    "short v13;",
    "unsigned short int v14;",
    "unsigned v15;",
    "signed v16;",
    "long v17;",
    "_Bool v18;",
    "double v19;",
    "struct list_head *v20;",
    "struct list_head **v21;",
    "const char *v22;",
    "char *const v23;",
    "const char *const v24;",
    "const char *v25[4];",
    "char v26[16];",
    "int v27[2][3];",
    "const u64 v28[7][3][2];",
    "extern char v29[];",
    "struct list_head v30[];",
    "int (*v31)[4];",
    "char (*v32)[2][8];",
    "loff_t (*v33)(struct file *, loff_t, int);",
    "int (*v34)(const char *, ...);",
    "void (*v35)(void);",
    "void (*v36)();",
    "int (*v37[4])(void);",
    "void (*(*v38)(int))(void);",
    "irq_handler_t v39;",
    "sys_call_ptr_t v40[3];",
    "const struct file_operations *v41;",
    "struct file_operations const *v42;",
    "static struct hlist_head v43[16];",
    "extern struct rb_root v44;",
    "struct cpumask v45, *v46, v47[2];",
    "struct list_head __rcu *v48;",
    "unsigned long __read_mostly v49;",
    "void *v50;",
    "const void *const *v51;",
    "int (*v52)(int [4], void (*)(int));",
    "struct pt_regs *(*v53)(struct task_struct *);",
    "cpumask_var_t v54;",
    "volatile int *volatile v55;",
    "unsigned int v56 __attribute__((aligned(8)));",
    "__int128 unsigned v57;",
]


@pytest.fixture(scope="module")
def btf618(btf618_bytes: bytes) -> BTF:
    """Linux 6.18's BTF (tests/data)."""
    return BTF(btf618_bytes, name="vmlinux-6.18")


def _parsed(btf: BTF) -> List[Tuple[str, str]]:
    """Every ``(name, declaration)`` of :data:`DECLS` with kdbg's type."""
    out = []
    for text in DECLS:
        for name, t in parse_declaration(text, [btf]):
            out.append((name, text))
            assert t.btf is not None
    return out


def test_every_kind_agrees_with_gcc(btf618: BTF, tmp_path: Path) -> None:
    """sizeof and the type itself, per gcc, equal what the parser built."""
    header = tmp_path / "vmlinux.h"
    header.write_text(cached_header_c(btf618))
    lines = ['#include "vmlinux.h"', "#define __rcu", "#define __read_mostly"]
    count = 0
    for text in DECLS:
        decl = text if text.lstrip().startswith(("extern", "static")) else "extern " + text
        lines.append(decl)
        for name, t in parse_declaration(text, [btf618]):
            incomplete = isinstance(t, Array) and t.length is None  # `T x[]`: no size, as in C
            assert (t.size is None) == incomplete, text
            if not incomplete and not (isinstance(t, Array) and t.length == 0):
                lines.append(f'_Static_assert(sizeof({name}) == {t.size}, "sizeof {name}");')
            ptr = btf618.pointer_to(t)
            lines.append(
                f"_Static_assert(__builtin_types_compatible_p(__typeof__(&{name}), {ptr.type_name()}), "
                f'"type of {name}: {t.type_name()}");'
            )
            count += 1
    src = tmp_path / "decls.c"
    src.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(
        ["gcc", "-fsyntax-only", "-std=gnu11", "-w", str(src)], capture_output=True, text=True, timeout=300
    , env=clean_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert count >= len(DECLS) + 2  # the multi-declarator line declares three


def test_shapes(btf618: BTF) -> None:
    """Derivations nest the way C reads them (checked on the model, not on a spelling)."""
    (_, t), = parse_declaration("int (*v37[4])(void);", [btf618])
    assert isinstance(t, Array) and t.length == 4
    p = t.type
    assert isinstance(p, Pointer) and isinstance(p.type, FuncProto) and p.type.params == ()
    (_, t), = parse_declaration("char (*v32)[2][8];", [btf618])
    assert isinstance(t, Pointer) and isinstance(t.type, Array) and t.type.length == 2
    assert isinstance(t.type.type, Array) and t.type.type.length == 8
    (_, t), = parse_declaration("char *const v23;", [btf618])
    assert isinstance(t, Const) and isinstance(t.ref, Pointer)
    (_, t), = parse_declaration("int (*v34)(const char *, ...);", [btf618])
    assert isinstance(t, Pointer) and isinstance(t.type, FuncProto) and t.type.is_variadic
    names = [n for n, _ in parse_declaration("struct cpumask a, *b, c[2];", [btf618])]
    assert names == ["a", "b", "c"]


def test_function_pointer_reuses_the_btf_prototype(btf618: BTF) -> None:
    """A function pointer of a shape BTF has is BTF's own PTR -> FUNC_PROTO."""
    fops = btf618.lookup("struct file_operations")
    assert isinstance(fops, Composite)
    member_type = fops.member("llseek").type
    assert isinstance(member_type, Pointer) and member_type.id > 0
    (_, t), = parse_declaration("loff_t (*fn)(struct file *, loff_t, int);", [btf618])
    assert t.id == member_type.id
    (_, t), = parse_declaration("const struct file_operations *f;", [btf618])
    assert t.id > 0 and t.btf_kind == K.KIND_PTR  # BTF's own pointer to its own const


def test_derived_types_are_made_once(btf618: BTF) -> None:
    """Parsing the same declaration twice gives the same (synthesized) type objects."""
    a = parse_declaration("const u64 x[7][3][2];", [btf618])[0][1]
    b = parse_declaration("const u64 y[7][3][2];", [btf618])[0][1]
    assert a is b


@pytest.mark.parametrize(
    "text, position",
    [
        ("int x y;", 6),
        ("int [3];", 4),
        ("int (*f)(int", 12),
        ("int @ x;", 4),
        ("struct;", 6),
        ("int x[3;", 7),
        ("", 0),
        ("x", 1),
    ],
)
def test_bad_syntax_is_one_line(btf618: BTF, text: str, position: int) -> None:
    with pytest.raises(ExpressionError) as e:
        parse_declaration(text, [btf618])
    msg = str(e.value)
    assert "\n" not in msg and repr(text) in msg and f"position {position}" in msg


@pytest.mark.parametrize("text", ["struct no_such_struct x;", "no_such_t x;", "int (*f)(no_such_t);"])
def test_unknown_type_is_one_line(btf618: BTF, text: str) -> None:
    with pytest.raises(TypeNotFoundError) as e:
        parse_declaration(text, [btf618])
    msg = str(e.value)
    assert "\n" not in msg and "position" in msg and repr(text) in msg


def test_ambiguous_struct_needs_a_size(btf618: BTF) -> None:
    """A struct name BTF holds several definitions of: a size picks, a pointer takes the
    first, a plain declaration without size is ambiguous."""
    dup = next(
        (n for n in btf618.names() if len(btf618.ids_by_name(n, (K.KIND_STRUCT,))) > 1
         and len({btf618.type(i).size for i in btf618.ids_by_name(n, (K.KIND_STRUCT,))}) > 1),
        None,
    )  # fmt: skip
    assert dup is not None
    sizes = [btf618.type(i).size for i in btf618.ids_by_name(dup, (K.KIND_STRUCT,))]
    with pytest.raises(AmbiguousTypeError):
        parse_declaration(f"struct {dup} x;", [btf618])
    for size in sizes:
        (_, t), = parse_declaration(f"struct {dup} x;", [btf618], size_hint=size)
        assert t.size == size
    (_, p), = parse_declaration(f"struct {dup} *x;", [btf618])
    assert isinstance(p, Pointer)


def test_module_btf_resolves_after_base() -> None:
    """Types of a module's split BTF resolve there; base types stay the base's."""
    from vmcores.build import truth_files

    truth = truth_files("bookworm") / "btf"
    base, mod = load_btf_files([str(truth / "vmlinux"), str(truth / "qemu_fw_cfg")])
    (_, t), = parse_declaration("struct fw_cfg_vmcoreinfo *info;", [base, mod])
    assert isinstance(t, Pointer) and t.btf is mod and t.type.name == "fw_cfg_vmcoreinfo"
    assert t.type.size == 16  # le16 host_format, le16 guest_format, le32 size, le64 paddr
    (_, t), = parse_declaration("struct list_head l;", [base, mod])
    assert t.btf is base
    with pytest.raises(TypeNotFoundError):
        parse_declaration("struct fw_cfg_vmcoreinfo x;", [base])


def test_declared_name() -> None:
    assert declared_name("struct task_struct init_task;") == "init_task"
    assert declared_name("int (*__acpi_register_gsi)(struct device *, u32, int, int);") == "__acpi_register_gsi"
    assert declared_name("const char *const names[4];") == "names"
    assert declared_name("pid_t p") == "p"
    assert declared_name("int (*(*f)(int))(void);") == "f"
    assert declared_name("int;") is None


# ---------------------------------------------------------------------- the table
def test_table_text_round_trip() -> None:
    t = DeclarationTable({"b": ["int b;"], "a": ["long a;", "int a;"]})
    again = DeclarationTable.from_text("# a comment\n" + t.to_text())
    assert again.get("a") == ["long a;", "int a;"] and again.get("b") == ["int b;"]
    assert again.comments == ["a comment"] and again.get("c") is None and len(again) == 2


def test_overrides_come_first() -> None:
    t = DeclarationTable({"x": ["int x;", "long x;"]})
    t.prepend("# fix\nlong x; # the right one\nchar y[4];\n")
    assert t.get("x") == ["long x;", "int x;"] and t.get("y") == ["char y[4];"]
    with pytest.raises(ExpressionError):
        t.prepend("int;")


def test_lookup_picks_what_parses_and_fits(btf618: BTF) -> None:
    t = DeclarationTable({"v": ["struct no_such v;", "struct list_head v;", "int v;"]})
    got = lookup_declared_type(t, "v", [btf618])
    assert got is not None and got.type_name() == "struct list_head"
    got = lookup_declared_type(t, "v", [btf618], size_hint=4)
    assert got is not None and got.type_name() == "int"
    assert lookup_declared_type(t, "v", [btf618], size_hint=3) is None
    assert lookup_declared_type(t, "nothing", [btf618]) is None


def test_shipped_table() -> None:
    """The shipped table loads, names its sources and types the well-known globals."""
    assert TABLE_FILE.exists() and OVERRIDES_FILE.exists()
    t = DeclarationTable.shipped()
    assert t is DeclarationTable.shipped()
    assert len(t) > 20000
    assert any("-dbg=" in c for c in t.comments)
    assert t.get("init_task") == ["struct task_struct init_task;"]
    assert "struct list_head modules;" in (t.get("modules") or [])
    assert "volatile long unsigned int jiffies;" in (t.get("jiffies") or [])
    text = decode_table(TABLE_FILE.read_bytes())
    assert text.splitlines()[1:] == sorted(text.splitlines()[1:])


def _counting_decompress(monkeypatch: pytest.MonkeyPatch) -> List[int]:
    """Count ``zlib.decompress`` calls from now on (a list holding the count)."""
    calls = [0]
    real = zlib.decompress

    def counted(data: bytes, *args: int) -> bytes:
        calls[0] += 1
        return real(data, *args)

    monkeypatch.setattr(zlib, "decompress", counted)
    return calls


def test_shipped_table_lookup_decompresses_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped file is in blocks: loading it decompresses nothing, one get()
    decompresses one block (a second name of the same block, none more), and every
    name answers as the whole text read at once does."""
    calls = _counting_decompress(monkeypatch)
    t = DeclarationTable.load(TABLE_FILE)
    assert calls[0] == 0
    assert any("-dbg=" in c for c in t.comments)
    assert t.get("init_task") == ["struct task_struct init_task;"]
    assert calls[0] == 1
    assert t.get("init_task") == ["struct task_struct init_task;"]
    assert calls[0] == 1
    assert t.get("qemu_fw_cfg:fw_cfg_rev") == ["u32 fw_cfg_rev;"]  # a module's global: one more block
    assert t.get("qemu_fw_cfg:__this_module") == ["struct module __this_module;"]  # module-common: none
    assert calls[0] == 2
    monkeypatch.undo()
    whole = DeclarationTable.from_text(decode_table(TABLE_FILE.read_bytes()))
    names = list(whole.names())
    assert len(names) > 20000
    for name in names[::7] + [names[0], names[-1], "", "0", "~", "init_tas", "init_task_"]:
        assert t.get(name) == whole.get(name), name
    assert list(t.names()) == names and len(t) == len(whole)


def test_block_format_round_trip() -> None:
    """encode_table/decode_table: the same text back, the same bytes for the same text,
    a name's lines kept in one block, every block answered by bisection."""
    lines = [f"n{i:05d}\tint n{i:05d};\n" for i in range(3000)] + ["n99999\tint a;\tlong a;\n"] * 1
    text = "# head line\n" + "".join(lines)
    data = encode_table(text, block_size=1000)
    assert data == encode_table(text, block_size=1000)
    assert decode_table(data) == text
    t = DeclarationTable.from_blocks(data)
    assert t.comments == ["head line"]
    assert t._blocks is not None and len(t._blocks) > 30
    assert t.get("n00000") == ["int n00000;"] and t.get("n02999") == ["int n02999;"]
    assert t.get("n99999") == ["int a;", "long a;"] and t.get("m") is None and t.get("o") is None
    with pytest.raises(ValueError):
        encode_table("b\tint b;\na\tint a;\n")


@pytest.mark.parametrize("damage", ["block", "index", "magic", "truncated"])
def test_damaged_table_is_one_line(tmp_path: Path, damage: str) -> None:
    """A damaged table file is one DeclarationTableError line naming the file, never a
    zlib traceback: a flipped byte in a block when a lookup needs it, a damaged header or
    index or a cut file when it is loaded."""
    data = bytearray(TABLE_FILE.read_bytes())
    index_len = int.from_bytes(data[4:8], "little")
    if damage == "block":
        data[12 + index_len + 100] ^= 0xFF  # inside the first block
    elif damage == "index":
        data[12 + 5] ^= 0x01
    elif damage == "magic":
        data[0:4] = b"NOPE"
    else:
        del data[-10:]
    path = tmp_path / "declarations.kdt"
    path.write_bytes(bytes(data))
    lines = decode_table(TABLE_FILE.read_bytes()).split("\n")
    first = next(line for line in lines if not line.startswith("#")).partition("\t")[0]  # in the first block
    with pytest.raises(DeclarationTableError) as exc:
        DeclarationTable.load(path).get(first)
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg
    assert isinstance(exc.value, KdbgError)


def test_shipped_table_parses_on_618(btf618: BTF) -> None:
    """On a kernel newer than every source (6.18), the well-known globals still type."""
    t = DeclarationTable.shipped()
    for name, want in [("init_task", "struct task_struct"), ("modules", "struct list_head"),
                       ("jiffies", "volatile long unsigned int"), ("init_mm", "struct mm_struct")]:  # fmt: skip
        got = lookup_declared_type(t, name, [btf618])
        assert got is not None and btf618.c_name(got, "gcc") == want, name


# ---------------------------------------------------------------------- the generator
def test_rendering_of_dwarf_types() -> None:
    """tools.dwarf_globals spells DWARF type trees as C (the table's text)."""
    char = ("base", "char", 1)
    i4 = ("base", "int", 4)
    ptr_const_char = ("ptr", ("const", char))
    cases = [
        (("struct", "list_head", 16), "struct list_head x;"),
        (("volatile", ("base", "long unsigned int", 8)), "volatile long unsigned int x;"),
        (("array", 4, ptr_const_char), "const char *x[4];"),
        (("const", ("array", 4, ("ptr", char))), "char *const x[4];"),
        (("array", 7, ("array", 3, ("const", ("typedef", "u64", 8)))), "const u64 x[7][3];"),
        (("array", None, char), "char x[];"),
        (("ptr", ("func", ("base", "int", 4), (ptr_const_char,), True)), "int (*x)(const char *, ...);"),
        (("ptr", ("func", ("void",), (), False)), "void (*x)(void);"),
        (("ptr", ("array", 4, ("base", "int", 4))), "int (*x)[4];"),
        (("array", 2, ("ptr", ("func", ("ptr", ("func", ("void",), (), False)), (("base", "int", 4),), False))),
         "void (*(*x[2])(int))(void);"),
        (("const", ("ptr", ("const", char))), "const char *const x;"),
    ]  # fmt: skip
    for t, want in cases:
        assert c_declaration(t, "x") == want
    assert c_declaration(("struct", "", 8), "x") is None  # DWARF gave no members
    assert c_declaration(("ptr", ("union", "", 8)), "x") is None
    anon = ("union", "", 16, (("event", ("struct", "list_head", 16), 0), ("h", ("ptr", ("void",)), 0)))
    assert c_declaration(("const", anon), "x") == "const union { struct list_head event; void *h; } x;"
    bits = ("struct", "", 4, (("a", ("base", "unsigned int", 4), 3), ("", ("union", "", 4, (("b", i4, 0),)), 0)))
    assert c_declaration(("array", 2, bits), "y") == "struct { unsigned int a : 3; union { int b; }; } y[2];"
    assert c_declaration(("enum", "", 4, ("A", "B")), "e") == "enum { A, B } e;"
    assert dwarf_size(("array", 7, ("array", 3, ("const", ("typedef", "u64", 8))))) == 168
    assert canonical(("const", ("array", 2, char))) == canonical(("array", 2, ("const", char)))


def test_rendered_declarations_parse_back(btf618: BTF) -> None:
    """What the generator writes, the parser reads back to the same canonical type."""
    from tools.declaration_coverage import kdbg_dtype

    u64 = ("typedef", "u64", 8)
    trees = [
        ("array", 7, ("array", 3, ("const", u64))),
        ("ptr", ("func", ("typedef", "loff_t", 8), (("ptr", ("struct", "file", 0)), ("typedef", "loff_t", 8),
                                                     ("base", "int", 4)), False)),
        ("const", ("ptr", ("const", ("base", "char", 1)))),
        ("array", None, ("struct", "list_head", 16)),
    ]  # fmt: skip
    for tree in trees:
        text = c_declaration(tree, "x")
        assert text is not None
        (_, t), = parse_declaration(text, [btf618])
        assert canonical(kdbg_dtype(t)) == canonical(tree), text


def test_merge_orders_candidates() -> None:
    """Kept by how many kernels declare it so, then the newest kernel first, then count."""
    from tools.dwarf_globals import DwarfVariable

    i = ("base", "int", 4)
    lg = ("base", "long int", 8)
    newest = [DwarfVariable("a", 1, lg, "x.c"), DwarfVariable("b", 2, i, "x.c"), DwarfVariable("b", 3, lg, "y.c"),
              DwarfVariable("b", 4, lg, "z.c"), DwarfVariable("anon", 5, ("struct", "", 4), "x.c")]  # fmt: skip
    older = [DwarfVariable("a", 1, i, "x.c"), DwarfVariable("b", 2, i, "x.c"), DwarfVariable("b", None, lg, "w.c"),
             DwarfVariable("jiffies", None, ("volatile", ("base", "long unsigned int", 8)), "x.c")]  # fmt: skip
    m = merge([newest, older])
    assert m["jiffies"] == ["volatile long unsigned int jiffies;"]
    assert m["a"] == ["long int a;", "int a;"]
    assert m["b"] == ["int b;", "long int b;"]
    assert "anon" not in m


def test_errors_are_kdbg_errors(btf618: BTF) -> None:
    """Bad syntax is an ExpressionError, a type the BTF lacks a TypeNotFoundError (drgn's
    LookupError), each a KdbgError of one line."""
    for text, exc, btfs in [("int x y;", ExpressionError, [btf618]), ("struct nope x;", TypeNotFoundError, [btf618]),
                            ("int x;", TypeNotFoundError, [])]:  # fmt: skip
        with pytest.raises(exc) as info:
            parse_declaration(text, btfs)
        assert isinstance(info.value, KdbgError) and "\n" not in str(info.value)
    assert issubclass(TypeNotFoundError, LookupError)


def test_deep_nesting_is_refused(btf618: BTF) -> None:
    """Declarators nested or derived past the parser's limits are refused while parsing, in
    one short line naming the limit and the position (the text quoted by its start and
    length); at the limits a declaration still parses."""
    for text, why in [("int " + "(" * 5000 + "x" + ")" * 5000 + ";", "at most 64 nested declarators"),
                      ("int (*f)(" * 3000 + "int" + ")" * 3000 + ";", "at most 64 nested declarators"),
                      ("int " + "*" * 100000 + "x;", "more than 64 pointer levels in one declarator"),
                      ("int x" + "[1]" * 100000 + ";", "more than 64 array or function suffixes")]:  # fmt: skip
        with pytest.raises(ExpressionError, match=why) as info:
            parse_declaration(text, [btf618])
        msg = str(info.value)
        assert "\n" not in msg and len(msg) < 200 and f"... ({len(text)} characters)" in msg, msg
        assert re.search(r"at position \d+$", msg), msg
    assert str(parse_declaration("int " + "*" * 64 + "x;", [btf618])[0][1].type_name()) == "int " + "*" * 64
    assert parse_declaration("int x" + "[2]" * 64 + ";", [btf618])[0][1].size == 4 * 2**64


_ATOMS = ["int", "char", "*", "(", ")", "[", "]", "[4]", ",", ";", "...", "const", "struct", "list_head", "x",
          "y", "void", "unsigned", "long", "pid_t", "enum", "union", "0x10", "__attribute__", "(("]  # fmt: skip


def test_random_text_gives_kdbg_errors_only(btf618: BTF) -> None:
    """Random token soup: a result or a KdbgError, nothing else (seeded, bounded)."""
    import random

    rng = random.Random(7)
    for _ in range(3000):
        text = " ".join(rng.choice(_ATOMS) for _ in range(rng.randint(0, 12)))
        with contextlib.suppress(KdbgError):
            parse_declaration(text, [btf618])


def _anonymous_examples(btf: BTF, limit: int = 40) -> List[Tuple[str, int]]:
    """Declarations of variables of anonymous structs/unions of ``btf`` (members spelled
    by name, no nested anonymous ones, no bitfields) and the type ids."""
    out = []
    for tid in btf.ids((K.KIND_STRUCT, K.KIND_UNION)):
        t = btf.type(tid)
        assert isinstance(t, Composite)
        if t.name or not t.members or any(not m.name or m.is_bitfield for m in t.members):
            continue
        try:
            members = [m.type.declaration(m.name) for m in t.members]
        except KdbgError:
            continue
        if any("<anonymous>" in d or "(" in d for d in members):
            continue
        body = " ".join(d + ";" for d in members)
        out.append((f"{t.keyword} {{ {body} }} anon{len(out)};", tid))
        if len(out) >= limit:
            break
    return out


def test_anonymous_types_agree_with_gcc(btf618: BTF, tmp_path: Path) -> None:
    """``struct { ... } x;`` finds BTF's anonymous type with those members; gcc, laying
    out the same text, gives its size."""
    examples = _anonymous_examples(btf618)
    assert len(examples) >= 20
    lines = ['#include "vmlinux.h"']
    for text, tid in examples:
        (name, t), = parse_declaration(text, [btf618])
        want = btf618.type(tid)
        assert isinstance(t, Composite) and not t.name and t.kind == want.kind
        assert [m.name for m in t.members] == [m.name for m in want.members]  # type: ignore[attr-defined]
        lines.append(f"extern {text}")
        lines.append(f'_Static_assert(sizeof({name}) == {t.size}, "sizeof {name}");')
    (tmp_path / "vmlinux.h").write_text(cached_header_c(btf618))
    src = tmp_path / "anon.c"
    src.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(["gcc", "-fsyntax-only", "-std=gnu11", "-w", str(src)], capture_output=True, text=True,
                          timeout=300, env=clean_env())  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_anonymous_enum_and_errors(btf618: BTF) -> None:
    anon_enum = next(
        t for t in (btf618.type(i) for i in btf618.ids((K.KIND_ENUM,))) if not t.name and len(t.enumerators) > 1
    )  # type: ignore[attr-defined]
    names = [e.name for e in anon_enum.enumerators]  # type: ignore[attr-defined]
    (_, t), = parse_declaration("enum { " + ", ".join(f"{n} = 1" for n in names) + " } e;", [btf618])
    assert t.id == anon_enum.id
    with pytest.raises(TypeNotFoundError) as e:
        parse_declaration("struct { int no_such_member_anywhere; } x;", [btf618])
    assert "position 7" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ExpressionError):
        parse_declaration("struct { int a } x;", [btf618])


def test_several_declarations(btf618: BTF) -> None:
    """parse_declarations: several declarations in order, a struct body's ';' inside one."""
    anon_text, anon_id = _anonymous_examples(btf618, 1)[0]
    text = f"struct list_head modules; int x, *y;; {anon_text} const char *z"
    pairs = parse_declarations(text, [btf618])
    assert [n for n, _ in pairs] == ["modules", "x", "y", "anon0", "z"]
    assert pairs[3][1].id == anon_id or not pairs[3][1].name
    with pytest.raises(ExpressionError) as e:
        parse_declaration("int a; int b;", [btf618])
    assert "position 7" in str(e.value)
    with pytest.raises(ExpressionError):
        parse_declarations("int a; int", [btf618])


def test_module_globals_take_their_own_modules_entries(btf618_bytes: bytes, tmp_path: Path) -> None:
    """A module's global is typed from the table's entries of its own module (keys
    ``module:name``): same-named statics of two modules and of vmlinux never mix; a
    module the table does not know falls back to vmlinux's entries."""
    from kdbg.declarations import module_key
    from kdbg.target import open_files

    (tmp_path / "btf").write_bytes(btf618_bytes)
    (tmp_path / "kallsyms").write_text(
        "ffffffff81000000 T _text\n"
        "ffffffff82000000 d debug\n"
        "ffffffffc0001000 d debug\t[mod_a]\n"
        "ffffffffc0002000 d level\t[mod_a]\n"
        "ffffffffc0011000 d level\t[mod_b]\n"
        "ffffffffc0021000 d debug\t[mod_c]\n"
    )
    table = DeclarationTable({
        "debug": ["char debug;"],
        module_key("mod_a", "debug"): ["int debug;"],
        module_key("mod_a", "level"): ["struct list_head level;"],
        module_key("mod_b", "level"): ["long unsigned int level;"],
    })  # fmt: skip
    assert module_key("mod_a", "debug") == "mod_a:debug"
    prog = open_files(btf=[str(tmp_path / "btf")], kallsyms=str(tmp_path / "kallsyms"))
    declarations.set_table(prog, table)
    assert prog.variable("debug").type_.type_name() == "char"  # vmlinux's symbol
    btfs = prog.btfs
    assert lookup_declared_type(table, "debug", btfs, module="mod_a").name == "int"  # type: ignore[union-attr]
    assert lookup_declared_type(table, "level", btfs, module="mod_b").name == "unsigned long"  # type: ignore[union-attr]
    assert lookup_declared_type(table, "level", btfs, module="mod_c") is None
    level = prog.variable("level")  # the first symbol of that name: mod_a's
    assert (level.address_, level.type_.type_name()) == (0xFFFFFFFFC0002000, "struct list_head")
    assert declarations.declared_type(prog, "level", "mod_b").name == "unsigned long"  # type: ignore[union-attr]
    assert declarations.declared_type(prog, "debug", "mod_c").name == "char"  # type: ignore[union-attr]  # no mod_c entries


def test_module_rules() -> None:
    """A module global with no entry of its own takes the module-common declarations of
    its name, else the first (longest) module rule its name matches; an entry of its own
    wins; vmlinux names never take either."""
    text = (
        "# kdbg declaration table\n"
        "# module-rule\t__tracepoint_\tstruct tracepoint @;\n"
        "# module-rule\t__tpstrtab_\tconst char @[#];\n"
        "# module-rule\t__bpf_trace_tp_map_\tunion { struct bpf_raw_event_map event; btf_trace_$ handler; } @;\n"
        "# module-rule\tevent_\tstruct trace_event_call @;\n"
        "# module-rule\tevent_class_\tstruct trace_event_class @;\n"
        "# module-common\t__this_module\tstruct module __this_module;\n"
        "# module-common\tevent_two\tint event_two;\tlong event_two;\n"
        "m:__this_module\tint __this_module;\n"
        "m:event_odd\tint event_odd;\n"
    )
    t = DeclarationTable.from_text(text)
    assert t.get("m:__tracepoint_xfs_read") == ["struct tracepoint __tracepoint_xfs_read;"]
    assert t.get("m:__tpstrtab_xfs_read") == ["const char __tpstrtab_xfs_read[9];"]
    assert t.get("m:__bpf_trace_tp_map_rpc_x") == [
        "union { struct bpf_raw_event_map event; btf_trace_rpc_x handler; } __bpf_trace_tp_map_rpc_x;"]
    assert t.get("m:event_class_rpc") == ["struct trace_event_class event_class_rpc;"]
    assert t.get("m:event_odd") == ["int event_odd;"]
    assert t.get("m:event_") is None and t.get("__tracepoint_xfs_read") is None
    assert t.get("n:__this_module") == ["struct module __this_module;"]  # module-common
    assert t.get("m:__this_module") == ["int __this_module;"]  # an entry of its own wins
    assert t.get("n:event_two") == ["int event_two;", "long event_two;"]  # common before rules
    blocks = DeclarationTable.from_blocks(encode_table(text))
    assert blocks.module_rules == t.module_rules and len(t.module_rules) == 5
    assert blocks.get("m:__tracepoint_a_b") == ["struct tracepoint __tracepoint_a_b;"]
