"""The declaration table as an object finder: a global that BTF has no VAR for is typed
by the table's declaration of it, at its kallsyms address.

:func:`attach` registers the ``declarations`` object finder on a program; the table is
the shipped one (:meth:`DeclarationTable.shipped`). A module's global is typed by that
module's own entries only (``module:name``), parsed against the kernel's BTF and then the
module's; the types found are remembered in ``prog.cache``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Optional, Tuple, Union

from kdbg.core.finders import FindObjectFlags
from kdbg.core.object import reference_object
from kdbg.declarations.table import DeclarationTable, lookup_declared_type, module_key
from kdbg.errors import KdbgError

if TYPE_CHECKING:
    from kdbg.btf.index import BTF
    from kdbg.btf.types import Type
    from kdbg.core.object import Object
    from kdbg.core.program import Program

__all__ = ["attach", "declared_type", "set_table"]

_KEY = "kdbg.declarations"


def attach(prog: Program, table: Optional[DeclarationTable] = None) -> None:
    """Type ``prog``'s untyped globals from ``table`` (default: the shipped one)."""
    prog.cache[_KEY] = (table, {})
    prog.register_object_finder("declarations", _object_finder, enable_index=-1)


def set_table(prog: Program, table: DeclarationTable) -> None:
    """Type ``prog``'s untyped globals from ``table`` from now on (instead of the shipped one)."""
    prog.cache[_KEY] = (table, {})


def declared_type(prog: Program, name: str, module: Optional[str] = None) -> Optional[Type]:
    """The type the table gives global ``name`` (of ``module``), or ``None``."""
    table, types = prog.cache.get(_KEY, (None, {}))
    if table is None:
        table = DeclarationTable.shipped()
    if module is not None and module_key(module, name) not in table:
        module = None
    key: Union[str, Tuple[str, str]] = name if module is None else (module, name)
    cache: Dict[Union[str, Tuple[str, str]], Optional[Type]] = types
    if key in cache:
        return cache[key]
    btfs: List[BTF] = list(prog.btfs)
    if module is not None:
        try:
            own = prog.module(module).btf
        except KdbgError:
            own = None
        if own is not None:
            btfs = [btfs[0], own, *(b for b in btfs[1:] if b is not own)]
    t = cache[key] = lookup_declared_type(table, name, btfs, module=module)
    return t


def _object_finder(prog: Program, name: str, flags: FindObjectFlags, filename: Optional[str]) -> Optional[Object]:
    if not flags & FindObjectFlags.VARIABLE:
        return None
    sym = prog.symbol_table.get(name)  # vmlinux's first (any letter: 7.x lists _totalram_pages as T)
    if sym is None:  # a module's data symbol: the modules load only for a name vmlinux lacks
        data = [s for s in prog.symbols(name) if s.type.lower() not in "tw"]
        if not data:
            return None
        sym = data[0]
    t = declared_type(prog, name, sym.module)
    if t is None:
        return None
    return reference_object(prog, t, sym.address)
