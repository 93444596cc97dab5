"""Globals found from the code that uses them (:mod:`kdbg.symbols.coderefs`), on crafted
code: arm64's instructions are encoded here from the Arm ARM's field layouts, decoded by
capstone in :func:`kdbg.arch.arm64.coderefs.adrp_references`; x86-64's from the Intel SDM's
(REX.W, opcode, ModRM, SIB), decoded in :func:`kdbg.arch.x86_64.coderefs.rip_references`.
The real kernels' code is read, and every address found checked against the ``-dbg``
vmlinux, drgn and the guest's kallsyms, in ``test_arm64_data_symbols`` and
``test_x86_data_symbols``."""

from __future__ import annotations

import struct
from typing import Dict, List, Set

import pytest

from kdbg.arch import AARCH64, X86_64, code_references
from kdbg.arch.arm64.coderefs import adrp_references
from kdbg.arch.x86_64.coderefs import rip_references
from kdbg.symbols.coderefs import REFERRERS, SUCCESSORS, absent_globals, code_referenced_symbols
from kdbg.symbols.table import SymbolTable

pytestmark = pytest.mark.timeout(60)

TEXT = 0xFFFF800008010000
DATA = 0xFFFF800009800000
RET = 0xD65F03C0


def adrp(rd: int, pc: int, target: int) -> int:
    pages = ((target >> 12) - (pc >> 12)) & ((1 << 21) - 1)
    return 0x90000000 | ((pages & 3) << 29) | ((pages >> 2) << 5) | rd


def add(rd: int, rn: int, imm: int) -> int:
    return 0x91000000 | (imm << 10) | (rn << 5) | rd


def ldr(rt: int, rn: int, offset: int) -> int:
    return 0xF9400000 | ((offset // 8) << 10) | (rn << 5) | rt


def mov(rd: int, rm: int) -> int:
    return 0xAA0003E0 | (rm << 16) | rd


def code(at: int, *words: object) -> bytes:
    """Little-endian words; an ``("adrp", rd, target)`` tuple is encoded at its place."""
    out: List[int] = []
    for w in words:
        if isinstance(w, tuple):
            out.append(adrp(w[1], at + 4 * len(out), w[2]))
        else:
            assert isinstance(w, int)
            out.append(w)
    return struct.pack(f"<{len(out)}I", *out)


def test_adrp_add_and_load_offsets_are_addresses() -> None:
    g, h = DATA + 0x1230, DATA + 0x5008
    text = code(TEXT, ("adrp", 0, g), add(0, 0, g & 0xFFF), ("adrp", 1, h), ldr(2, 1, h & 0xFFF), RET)
    assert adrp_references(text, TEXT) == {g, h}


def test_section_anchors_are_followed_and_overwritten_registers_forgotten() -> None:
    """``adrp; add`` (the anchor) then ``add`` (the global, bookworm's ``panic_cpu`` in
    ``nmi_panic``); a register another instruction writes holds no address any more."""
    anchor = DATA + 0x2550
    text = code(TEXT, ("adrp", 3, anchor), add(3, 3, anchor & 0xFFF), add(0, 3, 0xE0),
                mov(3, 5), add(4, 3, 0x10), RET)
    assert adrp_references(text, TEXT) == {anchor, anchor + 0xE0}


def cbz(rt: int, pc: int, target: int) -> int:
    return 0xB4000000 | ((((target - pc) // 4) & 0x7FFFF) << 5) | rt


def ldp_sp(rt: int, rt2: int, offset: int) -> int:
    """``ldp xRT, xRT2, [sp, #offset]`` (an epilogue's reload)."""
    return 0xA9400000 | ((offset // 8) << 15) | (rt2 << 10) | (31 << 5) | rt


def ldrsw(rt: int, rn: int, offset: int) -> int:
    return 0xB9800000 | ((offset // 4) << 10) | (rn << 5) | rt


def ldr_w(rt: int, rn: int, offset: int) -> int:
    return 0xB9400000 | ((offset // 4) << 10) | (rn << 5) | rt


BL = 0x94000100  # bl .+0x400


def test_a_constant_reaches_a_branch_target_past_an_early_return() -> None:
    """bookworm's ``vm_commit_limit``: x20 holds ``sysctl_overcommit_kbytes``; the early
    return's epilogue reloads x20, but the branch taken before it reads
    ``sysctl_overcommit_ratio`` through x20 (+0xc) after a call (x20 is callee-saved): in
    byte order the constant would be lost, along the control flow it is not."""
    kb = DATA + 0x4E8
    text = code(TEXT, ("adrp", 20, kb), add(20, 20, kb & 0xFFF), cbz(0, TEXT + 8, TEXT + 20),
                ldp_sp(19, 20, 0x10), RET, BL, ldrsw(2, 20, 0xC), RET)
    assert adrp_references(text, TEXT) == {kb, kb + 0xC}


def test_a_call_ends_caller_saved_constants_and_a_w_write_its_x() -> None:
    """After ``bl`` x0-x18 hold no address; ``ldr w3, [x3, ...]`` overwrites x3's."""
    g, h = DATA + 0x1000, DATA + 0x2340
    text = code(TEXT, ("adrp", 1, g), BL, ldr(2, 1, 8), ("adrp", 3, h), ldr_w(3, 3, h & 0xFFF), ldr(4, 3, 8), RET)
    assert adrp_references(text, TEXT) == {h}


def test_a_global_found_is_known_to_the_next() -> None:
    """``sysctl_overcommit_ratio``'s referrers all form ``sysctl_overcommit_kbytes`` too
    (their file's anchor): the ratio is the one address left once the kbytes, found
    before it in :data:`REFERRERS`' order, is known."""
    names = list(dict.fromkeys(REFERRERS["sysctl_overcommit_kbytes"] + REFERRERS["sysctl_overcommit_ratio"]))
    funcs = {f: TEXT + 0x1000 * (i + 1) for i, f in enumerate(names)}
    kb, ratio = DATA + 0x4E8, DATA + 0x4F4
    refs = {f: {kb, ratio} for f in names}
    refs["overcommit_ratio_handler"] = {kb}
    refs["vm_commit_limit"] |= {DATA + 0x800}
    by_address = {funcs[f]: r for f, r in refs.items()}
    found, why = code_referenced_symbols(fake_table(funcs), lambda a, n: bytes(n), lambda _c, at: by_address[at],
                                         (TEXT + 0x100000, DATA + 0x100000), set(),
                                         ["sysctl_overcommit_ratio", "sysctl_overcommit_kbytes"])
    assert found == {"sysctl_overcommit_kbytes": kb, "sysctl_overcommit_ratio": ratio} and not why


def fake_table(functions: Dict[str, int]) -> SymbolTable:
    """``_stext``, the functions (each up to the next: 4 KiB), one more and ``_etext``."""
    names = ["_stext"] + sorted(functions, key=functions.__getitem__) + ["last_function", "_etext"]
    addrs = [TEXT] + [functions[n] for n in names[1:-2]] + [max(functions.values()) + 0x1000, TEXT + 0x100000]
    return SymbolTable.from_columns(names, addrs, "T" * (len(names) - 1) + "D")


def test_one_address_common_to_the_referrers_is_the_global() -> None:
    """``modules``: the one data address all its referrers form; the addresses only some
    form (an anchor, a string, another global) and the known ones (``known``) drop out."""
    funcs = {f: TEXT + 0x1000 * (i + 1) for i, f in enumerate(REFERRERS["modules"])}
    table = fake_table(funcs)
    modules, mutex, anchor = DATA + 0x610, DATA + 0x600, DATA + 0x5C0
    refs = {TEXT + 0x1000: {modules, anchor}, TEXT + 0x2000: {modules}, TEXT + 0x3000: {modules, mutex}}

    def decode(_code: bytes, at: int) -> Set[int]:
        return refs[at] | {DATA + 0x10}

    def read(address: int, size: int) -> bytes:
        return bytes(size)

    found, why = code_referenced_symbols(table, read, decode, (TEXT + 0x100000, DATA + 0x100000), {DATA + 0x10},
                                         ["modules", "panic_cpu"])
    assert found == {"modules": modules}
    assert set(why) == {"panic_cpu"} and "0 of its referrers" in why["panic_cpu"]


def test_two_common_addresses_are_no_answer() -> None:
    """Every referrer forms two unknown addresses (``slab_caches`` and ``slab_mutex``
    without ``slab_show``): the global stays unknown, never a guess."""
    funcs = {f: TEXT + 0x1000 * (i + 1) for i, f in enumerate(REFERRERS["slab_caches"][:2])}
    table = fake_table(funcs)
    both = {DATA + 0x650, DATA + 0x640}
    found, why = code_referenced_symbols(table, lambda a, n: bytes(n), lambda _c, _a: set(both),
                                         (TEXT + 0x100000, DATA + 0x100000), set(), ["slab_caches"])
    assert found == {} and why["slab_caches"].startswith("2 addresses common")


@pytest.mark.parametrize("since_6_17", [False, True])
def test_a_global_and_its_successor_are_never_both_searched(since_6_17: bool) -> None:
    """Every referrer of ``tk_core`` and of ``timekeeper_data`` forms one address: where
    kallsyms has ``ktime_get_clock_ts64`` (Linux 6.17's) it is ``timekeeper_data`` and
    ``tk_core`` is absent (neither found nor said unresolved); elsewhere the reverse."""
    (new, marker), = SUCCESSORS.values()
    names = list(dict.fromkeys(REFERRERS["tk_core"] + REFERRERS[new] + ((marker,) if since_6_17 else ())))
    funcs = {f: TEXT + 0x1000 * (i + 1) for i, f in enumerate(names)}
    table = fake_table(funcs)
    base = DATA + 0xB00
    found, why = code_referenced_symbols(table, lambda a, n: bytes(n), lambda _c, _a: {base},
                                         (TEXT + 0x100000, DATA + 0x100000), set(), ["tk_core", new])
    want, gone = (new, "tk_core") if since_6_17 else ("tk_core", new)
    assert found == {want: base} and not why and absent_globals(table) == {gone}


def test_code_references_are_each_machines() -> None:
    decode, why = code_references(AARCH64)
    assert decode is adrp_references and why == ""
    decode, why = code_references(X86_64)
    assert decode is rip_references and why == ""
    decode, why = code_references("riscv64")
    assert decode is None and "riscv64" in why


X86_TEXT = 0xFFFFFFFF81000000


def s32(value: int) -> bytes:
    """A sign-extended 32-bit field holding ``value`` (a kernel address or a displacement)."""
    return struct.pack("<i", value - (1 << 64) if value >= 1 << 63 else value)


def test_rip_relative_and_absolute_operands_are_addresses() -> None:
    """``mov rax, [rip+d]`` and ``lea rdi, [rip+d]`` (the next instruction's address plus
    ``d``), ``mov rdi, imm32`` and ``cmp rax, imm32`` (sign-extended, -mcmodel=kernel),
    ``mov rax, [rdx*8+disp32]`` (a table); a ``gs:`` operand is a per-CPU offset, no
    address."""
    g, h, i, j = 0xFFFFFFFF82A1B2C0, 0xFFFFFFFF82A1B300, 0xFFFFFFFF82C00010, 0xFFFFFFFF82000040
    at = X86_TEXT
    text = b"\x48\x8b\x05" + s32(g - (at + 7))                # mov rax, [rip + g]
    text += b"\x48\x8d\x3d" + s32(h - (at + 14))              # lea rdi, [rip + h]
    text += b"\x48\xc7\xc7" + s32(i)                           # mov rdi, i
    text += b"\x48\x3d" + s32(g)                                # cmp rax, g
    text += b"\x48\x8b\x04\xd5" + s32(j)                       # mov rax, [rdx*8 + j]
    text += b"\x65\x48\x8b\x04\x25" + s32(0x28)               # mov rax, gs:[0x28]
    text += b"\xc3"                                              # ret
    assert rip_references(text, at) == {g, h, i, j}
