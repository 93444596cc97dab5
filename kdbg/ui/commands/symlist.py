"""crash's symbol listings, for ``sym -l``, ``sym -m MODULE`` and ``sym -q STRING``.

``sym -l``: every symbol of the kernel in address order (its per-CPU symbols first, at
their offsets), then each module in base order (crash's ``compare_mods``) between
``MODULE START: NAME`` and ``MODULE END: NAME`` lines at its base and its base plus its
size, each line ``ADDRESS (TYPE) NAME`` with the address in hexadecimal without padding,
as crash prints it.  ``sym -m MODULE``: that module's block.  ``sym -q STRING``: the
symbols whose name contains STRING, in the same order, a module's with ``[MODULE]``.

The symbols are the program's (kallsyms of the kernel, each module's own kallsyms), the
type letters those of ``/proc/kallsyms`` (crash, reading vmlinux's ELF symbol table,
prints ``?`` for a module's data symbols).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

from kdbg.errors import ExpressionError
from kdbg.helpers.module import for_each_module, module_base, module_name, module_total_size
from kdbg.symbols.table import Symbol

__all__ = ["ListedSymbol", "matching_symbols", "module_listing", "symbol_listing"]


@dataclass(frozen=True)
class ListedSymbol:
    """One line of a listing: a symbol, or a module's ``MODULE START``/``END`` marker
    (``marker`` set, ``symbol`` ``None``)."""

    address: int
    symbol: Optional[Symbol] = None
    marker: str = ""
    module: Optional[str] = None

    def line(self, module_suffix: bool = False) -> str:
        """crash's line (``module_suffix``: a module's symbol ends with `` [MODULE]``, as
        ``sym -q`` prints it)."""
        if self.symbol is None:
            return f"{self.address:x} MODULE {self.marker}: {self.module}"
        suffix = f" [{self.module}]" if module_suffix and self.module else ""
        return f"{self.address:x} ({self.symbol.type}) {self.symbol.name}{suffix}"

    def as_json(self) -> Dict[str, Any]:
        """The line as data: ``address``, ``name``, ``type``, ``size``, ``module`` (a
        marker: ``marker`` ``START``/``END`` instead of name, type and size)."""
        if self.symbol is None:
            return {"address": self.address, "marker": self.marker, "module": self.module}
        return {"address": self.address, "name": self.symbol.name, "type": self.symbol.type,
                "size": self.symbol.size, "module": self.module}


def _by_address(symbols: Sequence[Symbol]) -> List[Symbol]:
    return sorted(symbols, key=lambda s: s.address)  # stable: a table's own order at one address


def _module_block(name: str, base: int, size: int, symbols: Sequence[Symbol]) -> List[ListedSymbol]:
    return ([ListedSymbol(base, marker="START", module=name)]
            + [ListedSymbol(s.address, s, module=name) for s in _by_address(symbols)]
            + [ListedSymbol(base + size, marker="END", module=name)])


def _split(prog: Any) -> Dict[Optional[str], List[Symbol]]:
    """The program's symbols by module (``None``: the kernel's own)."""
    out: Dict[Optional[str], List[Symbol]] = {None: []}
    for s in prog.symbols():
        out.setdefault(s.module or None, []).append(s)
    return out


def _modules(prog: Any) -> List[Any]:
    """The loaded modules in base order (crash's)."""
    return sorted(for_each_module(prog), key=module_base)


def symbol_listing(prog: Any) -> List[ListedSymbol]:
    """``sym -l``: the kernel's symbols, then each module's block."""
    groups = _split(prog)
    out = [ListedSymbol(s.address, s) for s in _by_address(groups[None])]
    for mod in _modules(prog):
        name = module_name(mod)
        out += _module_block(name, module_base(mod), module_total_size(mod), groups.get(name, []))
    return out


def module_listing(prog: Any, name: str) -> List[ListedSymbol]:
    """``sym -m MODULE``: one module's block; an error naming the module if none is loaded
    under that name."""
    for mod in _modules(prog):
        if module_name(mod) == name:
            return _module_block(name, module_base(mod), module_total_size(mod),
                                 [s for s in prog.symbols() if s.module == name])
    raise ExpressionError(f"sym: -m {name}: no module of that name is loaded")


def matching_symbols(prog: Any, strings: Sequence[str]) -> List[ListedSymbol]:
    """``sym -q STRING...``: the symbols whose name contains any of *strings*, in
    ``sym -l``'s order."""
    return [e for e in symbol_listing(prog)
            if e.symbol is not None and any(t in e.symbol.name for t in strings)]
