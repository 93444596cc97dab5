"""The one address syntax every command takes (``sym``, ``rd``, and any that take an address).

::

    ADDRESS := TERM [ ("+" | "-") NUMBER ]
    TERM    := NUMBER | SYMBOL
    NUMBER  := 0xHEX | HEX | 0nDECIMAL

* ``ffffffff82a13640`` and ``0xffffffff82a13640`` are hexadecimal; a bare number is always
  hex, whatever its length (``10`` is sixteen).
* Decimal needs the explicit ``0n`` prefix (as in WinDbg): ``0n4096``.  (``0d`` cannot be
  the prefix: ``0d1234`` is a valid hex number.)
* ``init_task``, ``init_task+0x10``, ``init_task+10`` (hex too), ``init_task-0n8``.
* A word that is both a hex number and a symbol (``add``, ``cafe``, ``fade``): **the symbol
  wins when the table has it**; ``0x`` forces the number (``0xadd``).  Without a symbol table
  such a word is the number.

Errors are one line naming the text: :class:`~kdbg.errors.ExpressionError` for bad syntax
or an out-of-range result, :class:`~kdbg.errors.SymbolNotFoundError` for an unknown name.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable, Optional, Protocol, Union

from kdbg.errors import ExpressionError, KdbgError, SymbolNotFoundError

if TYPE_CHECKING:
    from kdbg.symbols.table import Symbol

__all__ = ["parse_address", "parse_number", "ADDRESS_SYNTAX", "NamedSymbols"]

#: One line for command usage texts.
ADDRESS_SYNTAX = "ADDRESS: hex (ffff..., 0xffff...), 0nDECIMAL, SYMBOL, SYMBOL+OFF, SYMBOL-OFF"

_SPLIT = re.compile(r"^\s*([^\s+-]+)\s*(?:([+-])\s*([^\s+-]+))?\s*$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_DEC = re.compile(r"^[0-9]+$")
_NAME = re.compile(r"^[\w.$]+$")


class NamedSymbols(Protocol):
    """Anything that finds a symbol by name: a :class:`SymbolTable`, or a program's
    finders seen through one."""

    def get(self, name: str) -> Optional[Symbol]:
        """The symbol called ``name``, or ``None``."""


#: What :func:`parse_address` takes to resolve names: a table (or anything with its
#: ``get``), a callable returning one (called only when a word may be a symbol: never for
#: ``0x``/``0n`` numbers; a bare hex word is the number when the callable fails), or
#: ``None`` for no symbols.
Symbols = Union[NamedSymbols, Callable[[], NamedSymbols], None]


def parse_number(word: str, text: Optional[str] = None) -> Optional[int]:
    """The value of ``0xHEX``, ``0nDECIMAL`` or bare ``HEX``; ``None`` when ``word`` is no
    number.  A ``0x``/``0n`` prefix with bad digits raises :class:`ExpressionError` naming
    ``text`` (default ``word``)."""
    low = word[:2].lower()
    if low in ("0x", "0n"):
        digits = word[2:]
        if not (_HEX if low == "0x" else _DEC).match(digits):
            kind = "hex" if low == "0x" else "decimal"
            raise ExpressionError(f"bad address {text or word!r}: {word!r} is not a {kind} number")
        return int(digits, 16 if low == "0x" else 10)
    if _HEX.match(word):
        return int(word, 16)
    return None


def _table(symbols: Symbols, need: bool) -> Optional[NamedSymbols]:
    if symbols is None or not callable(symbols):
        return symbols
    try:
        return symbols()
    except KdbgError:
        if need:
            raise
        return None


def _term(word: str, text: str, symbols: Symbols) -> int:
    prefixed = word[:2].lower() in ("0x", "0n")
    number = parse_number(word, text)
    if prefixed:
        assert number is not None
        return number
    if _NAME.match(word):
        table = _table(symbols, need=number is None)
        sym = table.get(word) if table is not None else None
        if sym is not None:
            return sym.address
    if number is not None:
        return number
    if not _NAME.match(word):
        raise ExpressionError(
            f"bad address {text!r}: {word!r} is neither a number nor a symbol name")
    where = f" (in address {text!r})" if text.strip() != word else ""
    why = getattr(_table(symbols, need=False), "why_missing", lambda: "")()  # a reduced dump says so
    raise SymbolNotFoundError(f"no symbol {word!r}{where}{why}")


def parse_address(text: str, symbols: Symbols = None) -> int:
    """The address ``text`` denotes, by the syntax in this module's docstring.

    ``symbols`` resolves names (see :data:`Symbols`).  The result is checked to be a
    64-bit address.
    """
    m = _SPLIT.match(text)
    if m is None or not text.strip():
        raise ExpressionError(
            f"bad address {text!r}: want hex (0x...), 0nDECIMAL, SYMBOL or SYMBOL+OFF")
    base_word, sign, off_word = m.groups()
    off = 0
    if sign is not None:
        number = parse_number(off_word, text)
        if number is None:
            raise ExpressionError(
                f"bad address {text!r}: offset {off_word!r} is not a number (hex or 0nDECIMAL)")
        off = number if sign == "+" else -number
    addr = _term(base_word, text, symbols) + off
    if not 0 <= addr < 1 << 64:
        raise ExpressionError(f"bad address {text!r}: {addr:#x} is not a 64-bit address")
    return addr
