"""The core's own finders: the kernel's BTF (types, per-CPU variables, functions and
enumerators, and what :meth:`~kdbg.core.program.Program.declare` declared) and its
kallsyms. A program registers them first; layers above add theirs after."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence

from kdbg.btf import constants as K
from kdbg.btf.kinds import TypeKindSet
from kdbg.core.finders import FindObjectFlags
from kdbg.core.object import Object, reference_object, value_object
from kdbg.errors import NotFoundError, ObjectNotFoundError, SymbolNotFoundError

if TYPE_CHECKING:
    from kdbg.btf.types import Type
    from kdbg.core.program import Program
    from kdbg.symbols.table import Symbol, SymbolTable

__all__ = ["btf_type_finder", "btf_object_finder", "kallsyms_symbol_finder"]


def btf_type_finder(prog: Program, kinds: TypeKindSet, name: str, filename: Optional[str]) -> Optional[Type]:
    """Types of the kernel's BTF (and split BTF files given)."""
    for b in prog.btfs:
        t = b.find_type(kinds, name)
        if t is not None:
            return t
    return None


def btf_object_finder(prog: Program, name: str, flags: FindObjectFlags, filename: Optional[str]) -> Optional[Object]:
    """The kernel's BTF VARs (per-CPU variables, at their offset as drgn places them),
    what :meth:`Program.declare` declared, FUNCs at their symbol and enumerators."""
    if flags & FindObjectFlags.VARIABLE:
        # a name no BTF has a VAR of (every global but the per-CPU ones) does not decode
        # every DATASEC's VARs (Program.btf_variables) to be told so
        has_var = any(b.ids_by_name(name, (K.KIND_VAR,)) for b in prog.btfs)
        hit = prog.btf_variables().get(name) if has_var else None
        if hit is not None:
            sym = prog.symbol_table.get(name)
            if sym is not None:
                return reference_object(prog, hit.var.type, sym.address)
            start = _percpu_start(prog) if hit.section == ".data..percpu" else None
            if start is None:
                raise ObjectNotFoundError(f"variable {name!r} is in BTF ({hit.section}) but not in the symbol table")
            return reference_object(prog, hit.var.type, start + hit.offset)
        t = prog.declared_type(name)
        if t is not None:
            sym = prog._symbol_named(name)
            if sym is None:
                raise ObjectNotFoundError(f"variable {name!r} is declared but not in the symbol table", name=name)
            return reference_object(prog, t, sym.address)
    if flags & FindObjectFlags.FUNCTION:
        for b in prog.btfs:
            try:
                func = b.function(name)
            except NotFoundError:
                continue
            syms = [s for s in prog.symbol_table.lookup_all(name) if s.type in "TtWw"]
            if not syms:
                raise ObjectNotFoundError(f"function {name!r} is in BTF but not in the symbol table")
            sym = min(syms, key=lambda s: (not s.is_global, s.address))
            return reference_object(prog, func.proto, sym.address)
    if flags & FindObjectFlags.CONSTANT:
        for b in prog.btfs:
            try:
                t, value = b.constant(name)
            except NotFoundError:
                continue
            return value_object(prog, t, value)
    return None


def _percpu_start(prog: Program) -> Optional[int]:
    """The link address of the per-CPU section: ``__per_cpu_start``, else the address of
    a per-CPU variable the symbol table has (an exported one, on a kernel whose kallsyms
    lacks data symbols) less its offset in BTF's ``.data..percpu`` DATASEC, when every
    such variable agrees (computed once per program)."""
    key = "kdbg.percpu_start"
    if key in prog.cache:
        return prog.cache[key]
    table = prog.symbol_table
    sym = table.get("__per_cpu_start")
    start: Optional[int] = sym.address if sym is not None else None
    if start is None:
        starts = set()
        for var_name, v in prog.btf_variables().items():
            if v.section == ".data..percpu":
                anchor = table.get(var_name)
                if anchor is not None:
                    starts.add(anchor.address - v.offset)
        start = starts.pop() if len(starts) == 1 else None
    prog.cache[key] = start
    return start


def kallsyms_symbol_finder(prog: Program, name: Optional[str], address: Optional[int],
                            one: bool) -> Sequence[Symbol]:
    """The kernel's kallsyms: by name, or the symbol containing an address by the kernel's
    rule (inside the image only); nothing in a program without them (drgn's empty
    ``Program()``, whose symbols a script's own finders give)."""
    if not prog.has_kernel_symbols:
        return ()
    return table_symbols(prog.symbol_table, name, address, one)


def table_symbols(table: SymbolTable, name: Optional[str], address: Optional[int], one: bool) -> Sequence[Symbol]:
    """A symbol finder's answer from one symbol table: by name, or the symbol containing an
    address by the kernel's rule; with ``one``, at most one."""
    if address is not None:
        try:
            sym, _off = table.symbolize(address)
        except SymbolNotFoundError:
            return []
        return [sym] if name is None or sym.name == name else []
    if name is not None:
        found = table.lookup_all(name)
        return found[:1] if one else found
    return list(table)
