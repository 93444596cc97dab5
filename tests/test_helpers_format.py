"""drgn's formatting helpers (``drgn.helpers.common.format``) against drgn's own: the same
questions, the same answers, character for character."""

from __future__ import annotations

import io
import random
from typing import Any, Callable, List

import drgn.helpers.common.format as D
import pytest

import kdbg.helpers.format as K

pytestmark = pytest.mark.timeout(300)


def _both(name: str, *args: Any, **kw: Any) -> None:
    want = getattr(D, name)(*args, **kw)
    assert getattr(K, name)(*args, **kw) == want, (name, args, kw)


def test_escapes_as_drgn() -> None:
    rng = random.Random(1)
    for _ in range(3000):
        b = bytes(rng.randrange(256) for _ in range(rng.randrange(12)))
        kw = {k: rng.random() < 0.5 for k in ("escape_single_quote", "escape_double_quote", "escape_backslash")}
        _both("escape_ascii_string", b, **kw)
        _both("double_quote_ascii_string", b)
    for c in range(256):
        _both("escape_ascii_character", c, True, True, True)


def test_binary_units_as_drgn() -> None:
    rng = random.Random(2)
    numbers: List[Any] = list(range(0, 5000, 7)) + [rng.randrange(1 << 70) for _ in range(500)]
    numbers += [1024 ** k for k in range(12)] + [-1500, 1.5, 1023.99, 1047552, 0.25]
    for n in numbers:
        for p in (0, 1, 2, 3):
            _both("number_in_binary_units", n, precision=p)


def test_flags_as_drgn() -> None:
    rng = random.Random(3)
    bits = [("A", 0), ("B", 1), ("C", 1), ("D", 5), ("E", 63)]
    values = [("A", 1), ("B", 2), ("AB", 3), ("Z", 0), ("H", 1 << 40)]
    for _ in range(3000):
        v = rng.randrange(1 << 64)
        for aliases in (True, False):
            _both("decode_flags", v, bits, aliases=aliases)
            _both("decode_flags", v & 0xFF, values, bit_numbers=False, aliases=aliases)
    _both("decode_flags", 0, bits)


Rows = Callable[[Any], List[Any]]
TABLES: List[Rows] = [
    lambda m: [[2, 2000, 4], ["", 3, 13, 19]],
    lambda m: [["DECIMAL", "HEX"], [m.CellFormat(10, "<"), m.CellFormat(10, "<x")]],
    lambda m: [["a", 1.5, True, "x"], ["bb", -3, False]],
    lambda m: [[], ["x"]],
    lambda m: [["LETTER", "INDEX"], ["A", 1], m.RowOptions(["WORD", "LENGTH"], group=1),
               m.RowOptions(["angstrom", 8], group=1), ["B", 2]],
    lambda m: [[m.CellFormat(255, ">#x"), m.CellFormat("s", "^")], ["longer", 1]],
]


@pytest.mark.parametrize("rows", TABLES)
@pytest.mark.parametrize("sep", ["  ", "|"])
def test_tables_as_drgn(rows: Rows, sep: str) -> None:
    outs = []
    for m in (D, K):
        f = io.StringIO()
        m.print_table(rows(m), sep=sep, file=f)
        outs.append(f.getvalue())
    assert outs[1] == outs[0]
