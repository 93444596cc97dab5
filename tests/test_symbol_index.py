"""``drgn.SymbolIndex`` (a fixed set of symbols as a symbol finder) and drgn's ``Symbol``
constructor, against drgn 0.3.0's own on the same symbols: a few thousand of each reference
kernel's kallsyms symbols (with the sizes kdbg derives) plus overlapping and same-named ones,
queried by name, by address (every symbol's first and last byte, one past its end, the gaps)
and for all, with ``one`` true and false, directly and through a program's finder list."""

from __future__ import annotations

from typing import Any, List, Tuple

import drgn
import pytest

import kdbg
import kdbg.compat.drgn as kdrgn
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES

pytestmark = pytest.mark.timeout(900)

Spec = Tuple[str, int, int, str, str]


def _specs(suite: str) -> List[Spec]:
    """``(name, address, size, binding, kind)`` of every 50th kernel symbol with a size,
    then symbols that overlap one and share another's name."""
    prog = kdbg.open_core(str(oracle_dump(suite).path))
    syms = [s for s in prog.symbol_table if s.size][::50]
    assert len(syms) > 500, len(syms)
    specs = [(s.name, s.address, s.size or 0, s.binding.name, s.kind.name) for s in syms]
    first = specs[0]
    specs += [("overlap", first[1] + 1, 3, "LOCAL", "OBJECT"), (first[0], first[1] + 0x100000, 8, "WEAK", "FUNC"),
              ("empty", first[1] + 2, 0, "GLOBAL", "UNKNOWN")]
    return specs


def _build(mod: Any, specs: List[Spec]) -> Any:
    return mod.SymbolIndex([mod.Symbol(n, a, s, mod.SymbolBinding[b], mod.SymbolKind[k]) for n, a, s, b, k in specs])


def _answer(found: List[Any], one: bool) -> Any:
    """What a finder answered, order aside (neither promises an order), and with ``one``
    how many (neither promises which of several matches)."""
    reprs = sorted(repr(s) for s in found)
    return len(reprs) if one else reprs


@pytest.mark.parametrize("suite", SUITES)
def test_symbol_index_answers_as_drgns(suite: str) -> None:
    specs = _specs(suite)
    ours, theirs = _build(kdrgn, specs), _build(drgn, specs)
    dprog = drgn.Program()
    kprog = kdrgn.Program()
    addresses = sorted({a for _n, start, size, _b, _k in specs for a in (start, start + max(size, 1) - 1,
                                                                        start + size, start - 1) if a >= 0})
    names = sorted({n for n, *_ in specs}) + ["no_such_symbol"]
    queries = [(None, a) for a in addresses] + [(n, None) for n in names] + [(None, None), (specs[0][0], specs[0][1])]
    differ = []
    for name, address in queries:
        every = [repr(s) for s in theirs(dprog, name, address, False)]
        for one in (False, True):
            got, want = ours(kprog, name, address, one), theirs(dprog, name, address, one)
            # with one, any of the matches will do (drgn promises none in particular)
            if _answer(got, one) != _answer(want, one) or (one and got and repr(got[0]) not in every):
                differ.append((name, address, one, [repr(s) for s in got][:3], [repr(s) for s in want][:3]))
    assert not differ, f"{suite}: {len(differ)} of {2 * len(queries)} differ, e.g. {differ[:5]}"
    # registered as a finder of an empty program, as drgn's documentation shows
    kprog.register_symbol_finder("SymbolIndex", ours, enable_index=0)
    dprog.register_symbol_finder("SymbolIndex", theirs, enable_index=0)
    assert sorted(map(repr, kprog.symbols())) == sorted(map(repr, dprog.symbols()))
    n, a = specs[1][0], specs[1][1]
    assert repr(kprog.symbol(n)) == repr(dprog.symbol(n)) and repr(kprog.symbol(a)) == repr(dprog.symbol(a))
    for key in ("no_such_symbol", (1 << 64) - 1):
        with pytest.raises(LookupError) as kerr:
            kprog.symbol(key)
        with pytest.raises(LookupError) as derr:
            dprog.symbol(key)
        assert str(kerr.value) == str(derr.value) and not isinstance(kerr.value, KeyError)


def test_symbol_constructor_keeps_drgns_binding_and_kind() -> None:
    """drgn's constructor: every binding and kind kept (kallsyms letters have fewer)."""
    for binding in drgn.SymbolBinding:
        for kind in drgn.SymbolKind:
            s = kdrgn.Symbol("x", 0x10, 4, kdrgn.SymbolBinding[binding.name], kdrgn.SymbolKind[kind.name])
            d = drgn.Symbol("x", 0x10, 4, binding, kind)
            assert repr(s) == repr(d) and (s.name, s.address, s.size) == (d.name, d.address, d.size)
    with pytest.raises(TypeError):
        kdrgn.Symbol("x", 1, 1, kdrgn.SymbolBinding.GLOBAL, "T")
