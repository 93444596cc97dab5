"""drgn's kallsyms helpers (``drgn.helpers.linux.kallsyms``) and ``sbitmap_for_each_set``
against drgn 0.3.0 with Debian's DWARF on the same dump, on every reference kernel.

- ``module_kallsyms(module)`` of every loaded module: the same Symbols (name, value, size,
  ELF binding and kind), in the same order; ``load_module_kallsyms(prog)``: the same index.
- ``load_vmlinux_kallsyms(prog)``: the same index of the kernel's symbols. drgn reads it
  through VMCOREINFO's kallsyms symbols, which 5.10 does not export (drgn's
  MissingDebugInfoError, checked as such); there kdbg's index is checked against the guest's
  own ``/proc/kallsyms`` (every vmlinux line's address, name, and the binding and kind of its
  type letter: kdbg's own symbol table reads them on every kernel).
- ``sbitmap_for_each_set``: the reference guests have no block device (no blk-mq tags), so
  the bitmaps are ``struct sbitmap`` values over real kernel memory (their words are the words
  of init_task and of init_mm), of several depths, word sizes and counts; real tag bitmaps
  are compared in tests/test_helpers_block_disk.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest

import kdbg
from kdbg.core.object import Object
from kdbg.helpers import (
    for_each_module,
    load_module_kallsyms,
    load_vmlinux_kallsyms,
    module_kallsyms,
    module_name,
    sbitmap_for_each_set,
)
from tests.kallsyms_truth import truth_vmlinux
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES
from vmcores.oracle import Query, ask_drgn

pytestmark = pytest.mark.timeout(1800)

_K = "__import__('drgn.helpers.linux.kallsyms').helpers.linux.kallsyms"
_M = "__import__('drgn.helpers.linux.module').helpers.linux.module"
_S = "__import__('drgn.helpers.linux.sbitmap').helpers.linux.sbitmap"
_ALL = "(prog, None, None, False)"  # every symbol of an index (drgn's symbol finder API)
#: ``(depth, shift, map_nr)`` of the bitmaps, over the words at the address of each base.
SBITMAPS = [(64, 6, 1), (100, 6, 2), (256, 6, 4), (40, 3, 5), (7, 3, 1), (0, 6, 0), (300, 7, 3)]
BASES = ["prog['init_task'].address_of_()", "prog['init_mm'].address_of_()"]


def _sbitmap(depth: int, shift: int, map_nr: int, base: str) -> str:
    return (f"Object(prog, 'struct sbitmap', value={{'depth': {depth}, 'shift': {shift}, 'map_nr': {map_nr}, "
            f"'map': Object(prog, 'struct sbitmap_word *', {base}.value_())}})")


@pytest.mark.parametrize("suite", SUITES)
def test_kallsyms_helpers_as_drgn(suite: str) -> None:
    dump = oracle_dump(suite)
    prog = kdbg.open_core(str(dump.path))
    mods = {module_name(m): m for m in for_each_module(prog)}
    assert mods, "every guest loads modules"
    bitmaps = {f"sb:{d}:{s}:{n}:{b}": _sbitmap(d, s, n, b) for d, s, n in SBITMAPS for b in BASES}
    queries = [Query(f"mod:{n}", f"[repr(s) for s in {_K}.module_kallsyms({_M}.find_module(prog, {n!r}))]")
               for n in mods]
    queries += [Query("modules", f"sorted(repr(s) for s in {_K}.load_module_kallsyms(prog){_ALL})"),
                Query("vmlinux", f"sorted(repr(s) for s in {_K}.load_vmlinux_kallsyms(prog){_ALL})")]
    queries += [Query(k, f"list({_S}.sbitmap_for_each_set({text}))") for k, text in bitmaps.items()]
    answers = ask_drgn(suite, dump.path, queries).records
    differ: List[str] = []
    for name, mod in mods.items():
        got = [repr(s) for s in module_kallsyms(mod)]
        if got != answers[f"mod:{name}"]["value"]:
            differ.append(f"module_kallsyms({name})")
        assert len(got) > 10, (name, got)
    if sorted(repr(s) for s in load_module_kallsyms(prog)(prog, None, None, False)) != answers["modules"]["value"]:
        differ.append("load_module_kallsyms")
    ours = sorted(repr(s) for s in load_vmlinux_kallsyms(prog)(prog, None, None, False))
    want = answers["vmlinux"]
    if want["kind"] == "error":  # 5.10: no kallsyms symbols in VMCOREINFO for drgn
        assert want["error"] == "MissingDebugInfoError" and "VMCOREINFO" in want["message"], want
        _check_vmlinux_against_guest(prog, dump.truth)
    elif ours != want["value"]:
        differ.append(f"load_vmlinux_kallsyms ({len(ours)} symbols, drgn {len(want['value'])}): "
                      f"{sorted(set(ours) ^ set(want['value']))[:4]}")
    for key, text in bitmaps.items():
        got_bits = list(sbitmap_for_each_set(eval(text, {"prog": prog, "Object": Object})))  # noqa: S307
        if got_bits != answers[key]["value"]:
            differ.append(f"{key}: {got_bits[:8]} vs {str(answers[key])[:200]}")
    assert any(answers[k]["value"] for k in bitmaps), "every bitmap is empty: the test would prove nothing"
    assert not differ, f"{suite}: " + "\n".join(differ)


def _check_vmlinux_against_guest(prog: kdbg.Program, truth: Path) -> None:
    """The index holds the guest's /proc/kallsyms vmlinux lines: names and addresses, and
    the binding and kind drgn's loader gives each line's type letter (as on 6.1 and 6.12)."""
    index = load_vmlinux_kallsyms(prog)
    want = truth_vmlinux(truth)
    got = sorted((s.address, s.name) for s in index(prog, None, None, False))
    assert got == sorted((a, n) for a, _t, n in want)
    letters = {(a, n): t for a, t, n in want}
    kinds = {"t": "FUNC", **dict.fromkeys("bcdgrv", "OBJECT")}
    for s in index(prog, None, None, False):
        letter = letters[(s.address, s.name)]
        assert s.kind.name == kinds.get(letter.lower(), "UNKNOWN"), (s, letter)
        weak = letter in "vVwW"
        assert s.binding.name == ("WEAK" if weak else "GLOBAL" if letter.isupper() else "UNKNOWN"), (s, letter)
