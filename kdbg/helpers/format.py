"""Formatting helpers, drgn's ``drgn.helpers.common.format``: escaping bytes as C
characters, decoding flag bitmasks, binary units and tables.

Their output is drgn's character for character (``tests/test_helpers_format.py`` asks
drgn's own functions the same questions), so scripts print the same under both.
"""

from __future__ import annotations

import sys
from typing import IO, Any, Dict, Hashable, Iterable, List, Optional, Sequence, SupportsFloat, SupportsIndex, Tuple

from kdbg.btf.types import Type
from kdbg.core.integer import integer_value
from kdbg.core.printer import escape_ascii_character, quote_string

__all__ = [
    "CellFormat", "RowOptions", "decode_enum_type_flags", "decode_flags", "double_quote_ascii_string",
    "escape_ascii_character", "escape_ascii_string", "number_in_binary_units", "print_table",
]

def escape_ascii_string(buffer: Iterable[int], escape_single_quote: bool = False, escape_double_quote: bool = False,
                        escape_backslash: bool = False) -> str:
    """Every byte of ``buffer`` through :func:`escape_ascii_character`."""
    return "".join(escape_ascii_character(c, escape_single_quote, escape_double_quote, escape_backslash)
                   for c in buffer)


def double_quote_ascii_string(buffer: Iterable[int]) -> str:
    """``buffer`` as a double-quoted C string (the printer's :func:`kdbg.core.printer.quote_string`)."""
    return quote_string(buffer)


def decode_flags(value: SupportsIndex, flags: Iterable[Tuple[str, int]], bit_numbers: bool = True,
                 aliases: bool = True) -> str:
    """A bitmask as ``NAME|NAME|0xrest``: ``flags`` gives each name's bit number (or its
    value, without ``bit_numbers``); several names of one bit all show unless
    ``aliases`` is false; ``0`` is ``"0"``."""
    v = integer_value(value)
    if not v:
        return "0"
    parts: List[str] = []
    seen = 0
    for name, flag in flags:
        mask = 1 << flag if bit_numbers else flag
        if v & mask & (~0 if aliases else ~seen):  # a name shows when one of its bits is set
            parts.append(name)
            seen |= mask
    rest = v & ~seen
    if rest:
        parts.append(hex(rest))
    return "|".join(parts)


def decode_enum_type_flags(value: SupportsIndex, type: Type, bit_numbers: bool = True) -> str:  # noqa: A002
    """:func:`decode_flags` with the enumerators of enum ``type`` as the flags."""
    enumerators = type.unaliased().enumerators  # type: ignore[attr-defined]
    if enumerators is None:
        raise ValueError("cannot decode flags with incomplete enumerated type")
    return decode_flags(value, [(e.name, e.value) for e in enumerators], bit_numbers)


_UNITS = ("", "K", "M", "G", "T", "P", "E", "Z", "Y")


def number_in_binary_units(n: SupportsFloat, precision: int = 1) -> str:
    """``n`` in binary units: ``1.2K`` for 1280, ``1M`` exactly, ``10`` below 1024."""
    x = float(n)
    for unit in _UNITS:
        if abs(x) < 1024 or unit == _UNITS[-1]:
            break
        x /= 1024
    if x.is_integer():
        return f"{x:.0f}{unit}"
    return f"{x:.{precision}f}{unit}"


class CellFormat:
    """A table cell's value with its own format spec (``CellFormat(10, "<x")``)."""

    def __init__(self, value: Any, format_spec: str) -> None:
        self.value = value
        self.format_spec = format_spec

    def __format__(self, spec: str) -> str:
        text = format(self.value, self.format_spec)
        return format(text, (self.format_spec[:1] if self.format_spec[:1] in "<>^" else "") + spec)


class RowOptions:
    """A table row with options: its alignment ``group`` (rows of one group share their
    column widths)."""

    def __init__(self, row: Sequence[Any], *, group: Hashable = 0) -> None:
        self.row = row
        self.group = group


def _cell(value: Any) -> Tuple[str, Any, str]:
    """``(text its width is measured by, what is printed, alignment)``: numbers right,
    the rest left (a CellFormat as it says). As drgn measures a plain value by its
    ``str()`` and prints it with a width (a bool: ``True`` is 4 wide, printed ``1``)."""
    if isinstance(value, CellFormat):
        spec = value.format_spec
        text = format(value.value, spec)
        align = spec[:1] if spec[:1] in "<>^" else (">" if isinstance(value.value, (int, float)) else "<")
        return text, text, align
    return str(value), value, ">" if isinstance(value, (int, float)) else "<"


def print_table(rows: Sequence[Sequence[Any]], *, sep: str = "  ", file: Optional[IO[str]] = None) -> None:
    """Print ``rows`` as a table: each column as wide as its widest cell (per group of
    :class:`RowOptions`), numbers right-aligned, the rest left-aligned."""
    cells: List[Tuple[Hashable, List[Tuple[str, Any, str]]]] = []
    widths: Dict[Hashable, List[int]] = {}
    for row in rows:
        group: Hashable = 0
        if isinstance(row, RowOptions):
            group, row = row.group, row.row
        texts = [_cell(v) for v in row]
        cells.append((group, texts))
        w = widths.setdefault(group, [])
        for i, (text, _value, _align) in enumerate(texts):
            if i == len(w):
                w.append(len(text))
            else:
                w[i] = max(w[i], len(text))
    out = file if file is not None else sys.stdout
    for group, texts in cells:
        w = widths[group]
        parts = [_render(value, align, w[i]) for i, (_text, value, align) in enumerate(texts)]
        if parts:
            parts[-1] = parts[-1].rstrip(" ")
        print(sep.join(parts), file=out)


def _render(value: Any, align: str, width: int) -> str:
    try:
        return format(value, f"{align}{width}")
    except (TypeError, ValueError):  # an object with no format spec: its str()
        return format(str(value), f"{align}{width}")
