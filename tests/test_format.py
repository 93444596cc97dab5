"""kdbg's printer and object semantics against drgn itself, on the same types and bytes.

drgn (the oracle, a test dependency) builds its types by hand from kdbg's BTF types
(:func:`to_drgn`) and reads the same memory (a segment served to both), with symbols
from the same table, so any difference in the output is the printer's or the object
model's. Two sets of types:

* hand-built BTF covering every case: all C integer spellings, ``_Bool``, floats, enums
  (signed, unsigned, 64-bit, values without a name), bitfields in both BTF encodings
  (kind flag and the old INT-encoded form), anonymous structs and unions, char arrays,
  ``u8`` arrays (no strings: a typedef of char is no character type), 2-D arrays,
  pointers (to char, to function, to incomplete, to void, to pointer), function objects,
  a flexible array member;
* Linux 6.18's BTF (``task_struct``, ``mm_struct``, ``sk_buff``, ``net_device``, ...)
  over random memory in which some words point back into it, so that strings,
  symbolized and dereferenced pointers and faulting ones all occur.

Each object prints with drgn's defaults and with every ``format_`` option varied, and its
``value_()`` and ``repr`` match drgn's; C arithmetic results (types and values) too.
"""

from __future__ import annotations

import random
import struct
from typing import Any, Callable, Dict, List, Optional, Tuple

import drgn
import pytest

from kdbg.btf import constants as K
from kdbg.btf.encoder import BTFEncoder
from kdbg.btf.index import BTF
from kdbg.btf.types import (
    Array,
    Composite,
    Enum,
    Float,
    FuncProto,
    Fwd,
    Int,
    Pointer,
    Qualified,
    Type,
    Typedef,
    TypeTag,
    Void,
)
from kdbg.core.conversions import cast, container_of
from kdbg.core.object import Object
from kdbg.core.program import Program, function_btf
from kdbg.errors import FaultError, OutOfBoundsError
from kdbg.memory.base import KernelMemory
from kdbg.symbols.table import Symbol, SymbolTable

BASE = 0xFFFFFFFF81000000
SIZE = 0x40000

# gcc's spellings (BTF's) -> drgn's, written out independently of kdbg.core.printer's table
DRGN_INT_NAMES = {
    "long unsigned int": "unsigned long", "long int": "long", "short int": "short",
    "short unsigned int": "unsigned short", "long long int": "long long",
    "long long unsigned int": "unsigned long long",
}


# ---------------------------------------------------------------------- the two programs
class SegmentMemory(KernelMemory):
    """One segment of bytes at ``BASE``; anything else faults."""

    def __init__(self, data: bytearray) -> None:
        self.data = data

    def read(self, address: int, size: int, physical: bool = False) -> bytes:
        off = address - BASE
        if physical or off < 0 or off + size > len(self.data) or size < 0:
            raise FaultError("not in the test segment", address, physical)
        return bytes(self.data[off:off + size])


SYMBOLS = [
    Symbol("_stext", BASE, None, "T"),
    Symbol("blob_a", BASE + 0x40, None, "D"),
    Symbol("blob_b", BASE + 0x3000, None, "D"),
    Symbol("blob_c", BASE + 0x20000, None, "B"),
    Symbol("_end", BASE + SIZE, None, "B"),
]


def make_kdbg(btf: BTF, data: bytearray) -> Program:
    return Program(memory=SegmentMemory(data), btf_loader=lambda: [btf],
                   symbol_loader=lambda: SymbolTable(SYMBOLS), description="test")


def make_drgn(kprog: Program, data: bytearray) -> drgn.Program:
    dprog = drgn.Program(drgn.Platform(drgn.Architecture.X86_64,
                                       drgn.PlatformFlags.IS_64_BIT | drgn.PlatformFlags.IS_LITTLE_ENDIAN))
    dprog.add_memory_segment(BASE, len(data), lambda a, n, off, phys: bytes(data[off:off + n]))

    def finder(_prog: Any, name: Optional[str], address: Optional[int], one: bool) -> List[drgn.Symbol]:
        if address is None:
            return []
        hit = kprog.symbolize_address(address)
        if hit is None:
            return []
        start = address - hit[1]
        return [drgn.Symbol(hit[0], start, 1, drgn.SymbolBinding.GLOBAL, drgn.SymbolKind.OBJECT)]

    dprog.register_symbol_finder("kdbg", finder, enable_index=0)
    return dprog


class Converter:
    """kdbg (BTF) types -> the same types built by hand in drgn."""

    def __init__(self, dprog: drgn.Program) -> None:
        self.p = dprog
        self.cache: Dict[Tuple[int, int], drgn.Type] = {}

    def __call__(self, t: Type, flex: bool = False) -> drgn.Type:
        key = (t.id, int(flex))
        hit = self.cache.get(key) if t.btf is not None else None
        if hit is not None:
            return hit
        out = self._make(t, flex)
        self.cache[key] = out
        return out

    def _make(self, t: Type, flex: bool) -> drgn.Type:
        p = self.p
        if isinstance(t, Void):
            return p.void_type()
        if isinstance(t, Int):
            if t.is_bool:
                return p.bool_type(t.name, t.size)
            return p.int_type(DRGN_INT_NAMES.get(t.name, t.name), t.size, t.is_signed)
        if isinstance(t, Float):
            return p.float_type(t.name, t.size)
        if isinstance(t, Pointer):
            return p.pointer_type(self(t.type), 8)
        if isinstance(t, Array):
            if t.length is None:  # an incomplete array: a flexible array member's type
                return p.array_type(self(t.type))
            return p.array_type(self(t.type), t.length)
        if isinstance(t, Typedef):
            return p.typedef_type(t.name, self(t.type))
        if isinstance(t, TypeTag):
            return self(t.ref)
        if isinstance(t, Qualified):
            inner = self(t.ref)
            q = {"const": drgn.Qualifiers.CONST, "volatile": drgn.Qualifiers.VOLATILE,
                 "restrict": drgn.Qualifiers.RESTRICT}[t.keyword]
            return inner.qualified(inner.qualifiers | q)
        if isinstance(t, Enum):
            compat = p.int_type(("" if t.is_signed else "unsigned ") + ("int" if t.size <= 4 else "long"),
                                t.size, t.is_signed)
            return p.enum_type(t.name or None, compat, [drgn.TypeEnumerator(e.name, e.value) for e in t.enumerators])
        if isinstance(t, Composite):
            members = []
            for m in t.members:
                def mtype(m: Any = m) -> Any:
                    mt = self(m.type)
                    return drgn.Object(self.p, mt, bit_field_size=m.bitfield_size) if m.bitfield_size else mt
                members.append(drgn.TypeMember(mtype, m.name or None, m.bit_offset))
            make = p.union_type if t.keyword == "union" else p.struct_type
            return make(t.name or None, t.size, members)
        if isinstance(t, Fwd):
            return (p.union_type if t.keyword == "union" else p.struct_type)(t.name)
        if isinstance(t, FuncProto):
            params = [drgn.TypeParameter(lambda q=q: self(q.type), q.name or None) for q in t.params]
            return p.function_type(self(t.type), params, t.is_variadic)
        raise AssertionError(f"no drgn equivalent for {t!r}")


# ---------------------------------------------------------------------- hand-built BTF
class Builder:
    def __init__(self) -> None:
        self.e = BTFEncoder("<")
        self.u32 = struct.Struct("<I").pack

    def int(self, name: str, size: int, signed: bool = False, boolean: bool = False, bits: int = 0,
            offset: int = 0) -> int:
        enc = (K.INT_SIGNED if signed else 0) | (K.INT_BOOL if boolean else 0)
        return self.e.add_raw(K.KIND_INT, name, size, 0, False,
                              self.u32((enc << 24) | (offset << 16) | (bits or size * 8)))

    def ref(self, kind: int, target: int, name: str = "") -> int:
        return self.e.add_raw(kind, name, target)

    def array(self, elem: int, n: int, index: int) -> int:
        return self.e.add_raw(K.KIND_ARRAY, "", 0, 0, False, struct.pack("<III", elem, index, n))

    def composite(self, kind: int, name: str, size: int, members: List[Tuple[str, int, int, int]],
                  kflag: bool = True) -> int:
        body = b"".join(struct.pack("<III", self.e.add_string(n), t, (bfs << 24 | off) if kflag else off)
                        for n, t, off, bfs in members)
        return self.e.add_raw(kind, name, size, len(members), kflag, body)

    def enum(self, name: str, size: int, values: List[Tuple[str, int]], signed: bool) -> int:
        if size == 8:
            body = b"".join(struct.pack("<III", self.e.add_string(n), v & 0xFFFFFFFF, (v >> 32) & 0xFFFFFFFF)
                            for n, v in values)
            return self.e.add_raw(K.KIND_ENUM64, name, 8, len(values), signed, body)
        body = b"".join(struct.pack("<II", self.e.add_string(n), v & 0xFFFFFFFF) for n, v in values)
        return self.e.add_raw(K.KIND_ENUM, name, size, len(values), signed, body)

    def proto(self, ret: int, params: List[Tuple[str, int]], variadic: bool = False) -> int:
        ps = params + ([("", 0)] if variadic else [])
        body = b"".join(struct.pack("<II", self.e.add_string(n), t) for n, t in ps)
        return self.e.add_raw(K.KIND_FUNC_PROTO, "", ret, len(ps), False, body)


def hand_btf() -> BTF:
    b = Builder()
    S, U = K.KIND_STRUCT, K.KIND_UNION
    char = b.int("char", 1, signed=True)
    schar = b.int("signed char", 1, signed=True)
    uchar = b.int("unsigned char", 1)
    short = b.int("short int", 2, signed=True)
    ushort = b.int("short unsigned int", 2)
    int_ = b.int("int", 4, signed=True)
    uint = b.int("unsigned int", 4)
    long_ = b.int("long int", 8, signed=True)
    ulong = b.int("long unsigned int", 8)
    llong = b.int("long long int", 8, signed=True)
    ullong = b.int("long long unsigned int", 8)
    bool_ = b.int("_Bool", 1, boolean=True)
    double = b.e.add_raw(K.KIND_FLOAT, "double", 8)
    float_ = b.e.add_raw(K.KIND_FLOAT, "float", 4)
    pid_t = b.ref(K.KIND_TYPEDEF, int_, "pid_t")
    u8 = b.ref(K.KIND_TYPEDEF, uchar, "u8")
    b.ref(K.KIND_TYPEDEF, ulong, "size_t")
    b.ref(K.KIND_TYPEDEF, long_, "ptrdiff_t")
    e_sig = b.enum("sig", 4, [("NEG", -2), ("ZERO", 0), ("ONE", 1)], True)
    e_uns = b.enum("uns", 4, [("A", 0), ("B", 1), ("BIG", 0xFFFFFFFF)], False)
    e_64 = b.enum("wide", 8, [("W0", 0), ("WHUGE", 1 << 40)], False)
    lh = b.e.next_id
    lh_ptr = lh + 1
    b.composite(S, "list_head", 16, [("next", lh_ptr, 0, 0), ("prev", lh_ptr, 64, 0)])
    b.ref(K.KIND_PTR, lh)
    const_char = b.ref(K.KIND_CONST, char)
    char_p = b.ref(K.KIND_PTR, char)
    cchar_p = b.ref(K.KIND_PTR, const_char)
    void_p = b.ref(K.KIND_PTR, 0)
    fwd = b.e.add_raw(K.KIND_FWD, "opaque", 0)
    fwd_p = b.ref(K.KIND_PTR, fwd)
    proto = b.proto(int_, [("head", lh_ptr), ("n", ulong)])
    vproto = b.proto(int_, [("fmt", cchar_p)], variadic=True)
    void_proto = b.proto(0, [])
    fn_p = b.ref(K.KIND_PTR, proto)
    vfn_p = b.ref(K.KIND_PTR, vproto)
    b.e.add_raw(K.KIND_FUNC, "blob_fn", proto, 1)
    arr16 = b.array(char, 16, int_)
    mac = b.array(u8, 6, int_)
    ints8 = b.array(int_, 8, int_)
    ints3 = b.array(int_, 3, int_)
    ints2x3 = b.array(ints3, 2, int_)
    zero = b.array(int_, 0, int_)
    lh_p_p = b.ref(K.KIND_PTR, lh_ptr)
    volatile_ulong = b.ref(K.KIND_VOLATILE, ulong)
    anon_s = b.composite(S, "", 8, [("x", int_, 0, 0), ("y", short, 32, 0), ("z", schar, 48, 0)])
    anon_u = b.composite(U, "", 8, [("u_long", ulong, 0, 0), ("u_ptr", void_p, 0, 0), ("u_d", double, 0, 0)])
    bits = b.composite(S, "bits", 16, [
        ("a", uint, 0, 3), ("b", int_, 3, 5), ("c", e_sig, 8, 3), ("d", bool_, 11, 1),
        ("e", ulong, 12, 40), ("f", int_, 52, 1), ("g", ushort, 64, 9), ("h", char, 80, 8),
    ])
    # the old encoding: kind flag 0, each bitfield's type an INT of that many bits
    b3 = b.int("bf3", 4, bits=3)  # named as tests/test_btf_format.py names them
    b5 = b.int("bf5", 4, signed=True, bits=5)
    b40 = b.int("bf40", 8, bits=40)
    old = b.composite(S, "old_bits", 16, [("a", b3, 0, 0), ("b", b5, 3, 0), ("e", b40, 12, 0),
                                          ("g", ushort, 64, 0)], kflag=False)
    big = b.composite(S, "big", 200, [
        ("id", pid_t, 0, 0), ("state", e_uns, 32, 0), ("comm", arr16, 64, 0), ("mac", mac, 192, 0),
        ("", anon_s, 256, 0), ("", anon_u, 320, 0), ("list", lh, 384, 0), ("name", cchar_p, 512, 0),
        ("buf", char_p, 576, 0), ("op", fn_p, 640, 0), ("log", vfn_p, 704, 0), ("priv", void_p, 768, 0),
        ("opaque", fwd_p, 832, 0), ("vals", ints8, 896, 0), ("grid", ints2x3, 1152, 0),
        ("ratio", double, 1344, 0), ("f", float_, 1408, 0), ("flag", bool_, 1440, 0), ("wide", e_64, 1472, 0),
        ("bits", bits, 1536, 0), ("uc", uchar, 1408 + 256, 0), ("ll", llong, 1408 + 320, 0),
        ("ull", ullong, 1408 + 384, 0), ("jiffies", volatile_ulong, 1536 + 128, 0),
        ("pp", lh_p_p, 1536 + 192, 0), ("tail", zero, 1600, 0),
    ])
    big_p = b.ref(K.KIND_PTR, big)
    b.composite(S, "holder", 24, [("marker", zero, 0, 0), ("ptr", big_p, 0, 0), ("old", old, 64, 0)])
    b.e.add_raw(K.KIND_FUNC, "blob_void", void_proto, 1)
    return BTF(b.e.to_bytes(), name="hand")


def hand_memory() -> bytearray:
    rng = random.Random(7)
    data = bytearray(rng.randrange(256) for _ in range(SIZE))
    # strings and pointers planted where the `big` objects below look
    for i in range(0, SIZE, 8):
        r = rng.random()
        if r < 0.15:
            data[i:i + 8] = (BASE + rng.randrange(0, SIZE - 64)).to_bytes(8, "little")
        elif r < 0.3:
            data[i:i + 8] = bytes(8)
    text = b"hello, \"world\"\n\t\x01\xff\\x\0"
    for off in range(0x5000, SIZE, 0x1000):
        data[off:off + len(text)] = text
    return data


OPTIONS: List[Dict[str, Any]] = [
    {},
    {"dereference": False},
    {"symbolize": False},
    {"string": False},
    {"char": True},
    {"type_name": False},
    {"member_type_names": False},
    {"element_type_names": True},
    {"members_same_line": True},
    {"members_same_line": True, "columns": 60},
    {"elements_same_line": False},
    {"member_names": False},
    {"element_indices": True},
    {"implicit_members": False},
    {"implicit_elements": True},
    {"implicit_members": False, "member_names": False},
    {"element_indices": True, "implicit_elements": True},
    {"integer_base": 16},
    {"integer_base": 8},
    {"columns": 40},
    {"columns": 0},
    {"columns": 100, "members_same_line": True, "member_type_names": False, "integer_base": 16},
]


@pytest.fixture(scope="module")
def hand() -> Tuple[Program, drgn.Program, Converter, bytearray]:
    data = hand_memory()
    kprog = make_kdbg(hand_btf(), data)
    dprog = make_drgn(kprog, data)
    return kprog, dprog, Converter(dprog), data


def pair_objects(kprog: Program, dprog: drgn.Program, conv: Converter, spec: str, address: int
                 ) -> Tuple[Object, drgn.Object]:
    t = kprog.type(spec)
    return Object(kprog, t, address=address), drgn.Object(dprog, conv(t), address=address)


def drgn_or_error(fn: Callable[..., Any], **kw: Any) -> Any:
    try:
        return fn(**kw)
    except (drgn.FaultError, drgn.ObjectAbsentError, drgn.OutOfBoundsError, ValueError, TypeError,
            LookupError) as e:
        return type(e).__name__


def kdbg_or_error(fn: Callable[..., Any], **kw: Any) -> Any:
    try:
        return fn(**kw)
    except FaultError:
        return "FaultError"
    except (ValueError, TypeError, LookupError) as e:  # kdbg's errors are KdbgError and drgn's kind
        for kind in (TypeError, AttributeError, ValueError, LookupError):
            if isinstance(e, kind):
                return kind.__name__
        raise


HAND_SPECS = ["struct big", "struct big *", "struct bits", "struct old_bits", "struct holder", "struct list_head *",
              "int [8]", "char [16]", "u8 [6]", "const char *", "char *", "void *", "enum sig", "enum uns",
              "enum wide", "double", "float", "_Bool", "pid_t", "long unsigned int", "struct list_head **",
              "int [2][3]", "signed char", "unsigned char"]


@pytest.mark.parametrize("spec", HAND_SPECS)
def test_hand_built_types_print_as_drgn(hand: Tuple[Program, drgn.Program, Converter, bytearray],
                                        spec: str) -> None:
    kprog, dprog, conv, _data = hand
    mismatches = []
    for address in (BASE + 0x40, BASE + 0x1230, BASE + 0x3000, BASE + 0x5000 - 8, BASE + SIZE - 0x100):
        k, d = pair_objects(kprog, dprog, conv, spec, address)
        for opts in OPTIONS:
            want = drgn_or_error(d.format_, **opts)
            got = kdbg_or_error(k.format_, **opts)
            if want != got:
                mismatches.append((hex(address), opts, want, got))
        if repr(drgn_or_error(d.value_)) != repr(kdbg_or_error(k.value_)):  # nan != nan
            mismatches.append((hex(address), "value_", drgn_or_error(d.value_), kdbg_or_error(k.value_)))
        if repr(d) != repr(k):
            mismatches.append((hex(address), "repr", repr(d), repr(k)))
        # the same as a value, and as a pointer to it
        if spec != "struct holder":
            kv, dv = k.read_(), d.read_()
            want = drgn_or_error(lambda obj=dv: (obj.format_(), repr(obj)))
            # drgn cannot format a value whose flexible array member ends it (OutOfBoundsError)
            if want != "OutOfBoundsError" and want != (kv.format_(), repr(kv)):
                mismatches.append((hex(address), "read_", want, kv.format_()))
        kp, dp = k.address_of_(), d.address_of_()
        if drgn_or_error(dp.format_) != kdbg_or_error(kp.format_):
            mismatches.append((hex(address), "address_of_", dp.format_(), kp.format_()))
    assert not mismatches, mismatches[:3]


def test_members_bitfields_and_values(hand: Tuple[Program, drgn.Program, Converter, bytearray]) -> None:
    kprog, dprog, conv, _data = hand
    k, d = pair_objects(kprog, dprog, conv, "struct big", BASE + 0x1230)
    for name in ("id", "state", "comm", "mac", "x", "y", "z", "u_long", "u_ptr", "u_d", "list", "name", "op",
                 "vals", "grid", "ratio", "f", "flag", "wide", "bits", "uc", "ll", "ull", "jiffies", "tail"):
        km, dm = k.member_(name), d.member_(name)
        assert repr(km) == repr(dm), name
        assert str(km) == str(dm), name
        assert repr(kdbg_or_error(km.value_)) == repr(drgn_or_error(dm.value_)), name
    for name in "abcdefgh":
        kb, db = getattr(k.bits, name), getattr(d.bits, name)
        assert (repr(kb), str(kb), kb.value_()) == (repr(db), str(db), db.value_()), name
    ko, do = pair_objects(kprog, dprog, conv, "struct holder", BASE + 0x40)
    for name in "abeg":
        kb, db = getattr(ko.old, name), getattr(do.old, name)
        assert (str(kb), kb.value_()) == (str(db), db.value_()), name
    # old and new bitfield encodings read the same bits
    kn = Object(kprog, "struct bits", address=ko.old.address_)
    assert [getattr(ko.old, n).value_() for n in "abe"] == [getattr(kn, n).value_() for n in "abe"]
    assert k.comm.string_() == d.comm.string_()
    assert kdbg_or_error(k.name.string_) == drgn_or_error(d.name.string_)
    assert kdbg_or_error(k.buf.string_) == drgn_or_error(d.buf.string_)
    assert k.vals[2].value_() == d.vals[2].value_() and k.vals[-1].address_ == d.vals[-1].address_
    assert k.list.next[0].address_ == d.list.next[0].address_
    assert str(k.address_of_().list) == str(d.address_of_().list)
    assert sorted(set(dir(d)) & {"id", "x", "u_d", "bits"}) == sorted(set(dir(k)) & {"id", "x", "u_d", "bits"})
    assert len(k.vals) == len(d.vals) == 8
    assert [e.value_() for e in k.grid[1]] == [e.value_() for e in d.grid[1]]


def test_function_objects(hand: Tuple[Program, drgn.Program, Converter, bytearray]) -> None:
    kprog, dprog, conv, _data = hand
    proto = function_btf(kprog, "blob_fn").proto
    k = Object(kprog, proto, address=BASE + 0x40)
    d = drgn.Object(dprog, conv(proto), address=BASE + 0x40)
    assert (str(k), repr(k)) == (str(d), repr(d))
    assert (str(k.address_of_()), repr(k.address_of_())) == (str(d.address_of_()), repr(d.address_of_()))
    assert kdbg_or_error(k.value_) == drgn_or_error(d.value_) == "TypeError"


def test_values_built_from_python(hand: Tuple[Program, drgn.Program, Converter, bytearray]) -> None:
    kprog, dprog, conv, _data = hand

    def both(spec: str, value: Any) -> Tuple[Object, drgn.Object]:
        t = kprog.type(spec)
        return Object(kprog, t, value), drgn.Object(dprog, conv(t), value)

    for spec, value in [("int", -5), ("int", 2**40 + 3), ("char", 200), ("_Bool", 7), ("double", 1 / 3),
                        ("float", 1 / 3), ("double", 1e20), ("double", float("inf")), ("enum sig", -2),
                        ("enum uns", 7), ("struct list_head", {"next": BASE, "prev": 0}), ("int [8]", [1, 2, 3]),
                        ("int [8]", [0] * 8), ("char [16]", b"ab\"\n\x7f"), ("u8 [6]", b"\x52\x54\0\x12"),
                        ("struct bits", {"a": 5, "b": -3, "c": -2, "d": True, "e": 2**39 + 1, "g": 300}),
                        ("struct list_head *", BASE + 0x40), ("char *", BASE + 0x5000), ("void *", BASE + 0x3010),
                        ("int [2][3]", [[1, 2, 3], [4]]), ("unsigned char", 10), ("signed char", -1)]:
        k, d = both(spec, value)
        for opts in OPTIONS:
            assert k.format_(**opts) == d.format_(**opts), (spec, value, opts)
        assert repr(k) == repr(d), (spec, value)
        assert k.value_() == d.value_(), (spec, value)
        assert k.to_bytes_() == d.to_bytes_(), (spec, value)


def test_arithmetic_as_drgn(hand: Tuple[Program, drgn.Program, Converter, bytearray]) -> None:
    kprog, dprog, conv, _data = hand

    def mk(spec: str, value: Any) -> Tuple[Object, drgn.Object]:
        t = kprog.type(spec)
        return Object(kprog, t, value), drgn.Object(dprog, conv(t), value)

    cases: List[Tuple[str, Callable[[Any, Any], Any], Tuple[str, Any], Any]] = [
        ("pid_t + 1", lambda a, b: a + b, ("pid_t", 5), 1),
        ("pid_t + pid_t", lambda a, b: a + a, ("pid_t", 5), None),
        ("uint - 7", lambda a, b: a - b, ("unsigned int", 5), 7),
        ("ulong * -1", lambda a, b: a * b, ("long unsigned int", 5), -1),
        ("size_t * 2", lambda a, b: a * b, ("size_t", 5), 2),
        ("char - 1", lambda a, b: a - b, ("char", 0), 1),
        ("int / 2", lambda a, b: a / b, ("int", -7), 2),
        ("int % 3", lambda a, b: a % b, ("int", -7), 3),
        ("int << 40", lambda a, b: a << b, ("int", 1), 40),
        ("int >> 1", lambda a, b: a >> b, ("int", -5), 1),
        ("int & 4", lambda a, b: a & b, ("int", 5), 4),
        ("int | 2**40", lambda a, b: a | b, ("int", 5), 2**40),
        ("int + 2**63", lambda a, b: a + b, ("int", 5), 2**63),
        ("1 + int", lambda a, b: b + a, ("int", 5), 1),
        ("int + 1.5", lambda a, b: a + b, ("int", 5), 1.5),
        ("-uint", lambda a, b: -a, ("unsigned int", 5), None),
        ("~int", lambda a, b: ~a, ("int", 5), None),
        ("+char", lambda a, b: +a, ("char", 5), None),
        ("enum + 1", lambda a, b: a + b, ("enum uns", 1), 1),
        ("bool + 1", lambda a, b: a + b, ("_Bool", 1), 1),
        ("ptr + 1", lambda a, b: a + b, ("struct list_head *", BASE), 1),
        ("ptr - 1", lambda a, b: a - b, ("struct list_head *", BASE), 1),
        ("void* + 1", lambda a, b: a + b, ("void *", BASE), 1),
        ("ptr + ulong", lambda a, b: a + mk("long unsigned int", 3)[0 if isinstance(a, Object) else 1],
         ("struct list_head *", BASE), None),
    ]
    for label, op, (spec, value), other in cases:
        k, d = mk(spec, value)
        kr, dr = op(k, other), op(d, other)
        assert (repr(kr), str(kr)) == (repr(dr), str(dr)), label
    p1, d1 = mk("struct list_head *", BASE + 32)
    p0, d0 = mk("struct list_head *", BASE)
    assert repr(p1 - p0) == repr(d1 - d0) == "Object(prog, 'ptrdiff_t', value=2)"
    for a, b in [(("int", 5), 5), (("unsigned int", 5), -1), (("pid_t", 5), 6)]:
        k, d = mk(*a)
        assert (k == b, k < b, k > b, k != b, k >= b) == (d == b, d < b, d > b, d != b, d >= b)
    k, d = mk("struct list_head *", 0)
    assert bool(k) == bool(d) is False
    k, d = mk("int", 3)
    assert (int(k), float(k), [1, 2, 3, 4][k], bool(k)) == (int(d), float(d), [1, 2, 3, 4][d], bool(d))
    for spec, value in [("unsigned int", mk("int", -1)), ("int", mk("long unsigned int", 2**40 + 3)),
                        ("_Bool", mk("int", 2)), ("int", mk("double", -2.7)), ("double", mk("int", 3)),
                        ("long unsigned int", mk("struct list_head *", BASE))]:
        kt = kprog.type(spec)
        assert repr(cast(kt, value[0])) == repr(drgn.cast(conv(kt), value[1])), spec
    lp, dlp = mk("struct list_head *", BASE + 8)
    kc = container_of(lp, kprog.type("struct list_head"), "prev")
    dc = drgn.container_of(dlp, conv(kprog.type("struct list_head")), "prev")
    assert (repr(kc), str(kc)) == (repr(dc), str(dc))


# ---------------------------------------------------------------------- real BTF
REAL_TYPES = ["struct task_struct", "struct mm_struct", "struct sk_buff", "struct net_device", "struct file",
              "struct inode", "struct super_block", "struct module", "struct page", "struct dentry"]


@pytest.fixture(scope="module")
def real(btf618_bytes: bytes) -> Tuple[Program, drgn.Program, Converter, bytearray]:
    data = hand_memory()
    kprog = make_kdbg(BTF(btf618_bytes, name="vmlinux-6.18"), data)
    dprog = make_drgn(kprog, data)
    return kprog, dprog, Converter(dprog), data


@pytest.mark.parametrize("spec", REAL_TYPES)
def test_real_kernel_types_print_as_drgn(real: Tuple[Program, drgn.Program, Converter, bytearray],
                                         spec: str) -> None:
    kprog, dprog, conv, _data = real
    t = kprog.type(spec)
    address = BASE + 0x8000
    k, d = Object(kprog, t, address=address), drgn.Object(dprog, conv(t), address=address)
    for opts in [{}, {"member_names": False}, {"implicit_members": False}, {"members_same_line": True,
                 "columns": 120}, {"integer_base": 16, "symbolize": False}, {"element_indices": True}]:
        want, got = d.format_(**opts), k.format_(**opts)
        if want != got:
            import difflib

            diff = "\n".join(list(difflib.unified_diff(want.splitlines(), got.splitlines(), lineterm="", n=1))[:20])
            raise AssertionError(f"{spec} {opts}:\n{diff}")
    kp, dp = k.address_of_(), d.address_of_()
    assert kp.format_(columns=100) == dp.format_(columns=100)
    assert repr(k.value_()) == repr(d.value_())


def test_api_semantics(hand: Tuple[Program, drgn.Program, Converter, bytearray]) -> None:
    """Errors that are both KdbgError and the Python exception drgn raises, bounded
    strings, designators; no Object attribute of kdbg's own shadows a C member name."""
    from kdbg import NULL, offsetof, reinterpret, sizeof
    from kdbg.errors import KdbgError, MemberAttributeError, MemberNotFoundError, ObjectTypeError

    kprog, dprog, conv, data = hand
    p = Object(kprog, "struct list_head *", BASE + 0x40)
    assert p[0].address_ == BASE + 0x40
    assert repr(p[0]) == repr(drgn.Object(dprog, conv(kprog.type("struct list_head *")), BASE + 0x40)[0])
    mangled = tuple(f"_{c.__name__}__" for c in Object.__mro__)  # private state: no C name looks so
    ours = {n for n in dir(Object) if not (n.startswith("__") and n.endswith("__")) and not n.startswith(mangled)}
    assert ours <= set(dir(drgn.Object)), ours - set(dir(drgn.Object))  # the rest is for C members
    big = Object(kprog, "struct big", address=BASE + 0x1230)
    assert big.subobject_("grid[1][2]").address_ == big.grid[1][2].address_
    assert big.subobject_("bits.e").value_() == big.bits.e.value_()
    assert offsetof(kprog.type("struct big"), "grid[1][2]") == 1152 // 8 + 5 * 4
    assert sizeof(big) == sizeof(kprog.type("struct big")) == 200
    assert str(NULL(kprog, "struct list_head *")) == "(struct list_head *)0x0"
    r = reinterpret("unsigned char [4]", big.comm)
    assert r.address_ == big.comm.address_ and r.value_() == list(big.comm.to_bytes_()[:4])
    for bad, exc in [(lambda: big.nosuch, AttributeError), (lambda: big.comm.nosuch, AttributeError),
                     (lambda: big.id[0], TypeError), (lambda: Object(kprog, "void *", BASE)[0], TypeError),
                     (lambda: bool(big), TypeError), (lambda: big + 1, TypeError),
                     (lambda: Object(kprog, "int [3]", [1, 2, 3])[3], IndexError),
                     (lambda: Object(kprog, "int", 1).address_of_(), TypeError),
                     (lambda: big.bits.a.address_of_(), TypeError), (lambda: sizeof(big.bits.a), TypeError)]:
        with pytest.raises(exc) as e:
            bad()
        assert isinstance(e.value, KdbgError) and "\n" not in str(e.value)
    # drgn: obj.nosuch is an AttributeError, member_("nosuch") a plain LookupError
    assert issubclass(MemberAttributeError, AttributeError) and not issubclass(MemberNotFoundError, AttributeError)
    assert issubclass(MemberNotFoundError, LookupError) and not issubclass(MemberNotFoundError, KeyError)
    with pytest.raises(MemberNotFoundError):
        big.member_("nosuch")
    assert issubclass(OutOfBoundsError, IndexError)
    assert issubclass(ObjectTypeError, TypeError)
    assert getattr(big, "nosuch", 5) == 5 and hasattr(big, "comm") and not hasattr(big, "nosuch")
    assert {"id", "comm", "x", "u_d", "bits", "value_", "format_"} <= set(dir(big))
    assert {"id", "comm", "x"} <= set(dir(big.address_of_()))
    # a char * string stops at NUL, or at the limit; unreadable memory is a FaultError
    s = Object(kprog, "char *", BASE + 0x5000)
    assert s.string_() == b'hello, "world"\n\t\x01\xff\\x'
    assert s.string_(limit=5) == b"hello"
    with pytest.raises(FaultError) as fe:
        Object(kprog, "char *", BASE + SIZE - 2).string_() if data[SIZE - 2:].count(0) == 0 else \
            Object(kprog, "char *", BASE + SIZE + 16).string_()
    assert fe.value.address >= BASE + SIZE - 2
    # an object's value is read once; a member of a read object costs no read
    v = big.read_()
    assert v.address_ is None and v.flag.value_() == big.flag.value_() and v.comm.string_() == big.comm.string_()
    with pytest.raises(OutOfBoundsError):  # `bits` runs past the 200 bytes of `struct big`: drgn says so too
        v.bits  # noqa: B018 - the access raises
    assert Object(kprog, "int", value=Object(kprog, "long unsigned int", 2**32 + 7)).value_() == 7
