"""A program's loadable modules, attached through finders.

:func:`attach` registers a type, an object and a symbol finder named ``modules`` on a
program, and a modules hook (:meth:`~kdbg.core.program.Program.register_modules_hook`).
The first time one of the finders is asked (a lookup the kernel's own BTF and kallsyms
missed) or the program's modules are listed or looked up, the modules are read once
(:func:`kdbg.modules.loader.load_modules`): each becomes a
:class:`~kdbg.core.module.Module` of the program, with its BTF (split on the kernel's)
and its build ID, and the finders answer from the modules' BTF and symbols from then on. The
state lives in ``prog.cache``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Sequence

from kdbg.btf.kinds import TypeKindSet
from kdbg.btf.variables import datasec_variables
from kdbg.core.finders import FindObjectFlags
from kdbg.core.kernel_finders import table_symbols
from kdbg.core.module import Module
from kdbg.core.object import Object, reference_object, value_object
from kdbg.errors import KdbgError, NotFoundError, ObjectNotFoundError
from kdbg.helpers.module import module_build_id
from kdbg.modules.loader import LoadedModules, ModuleSource, load_modules, module_symbol_table

if TYPE_CHECKING:
    from kdbg.btf.index import BTF
    from kdbg.btf.types import Type
    from kdbg.core.program import Program
    from kdbg.symbols.table import Symbol, SymbolTable

__all__ = ["attach", "loaded_modules", "module_btf"]

_KEY = "kdbg.modules"


class _State:
    """One program's modules: where they come from and, once read, what was found."""

    def __init__(self, source: ModuleSource) -> None:
        self.source = source
        self.loaded: Optional[LoadedModules] = None
        self.loading = False
        self.table: Optional[SymbolTable] = None


def attach(prog: Program, source: ModuleSource) -> None:
    """Give ``prog`` its modules from ``source``, read when first needed."""
    prog.cache[_KEY] = _State(source)
    prog.register_type_finder("modules", _type_finder, enable_index=-1)
    prog.register_object_finder("modules", _object_finder, enable_index=-1)
    prog.register_symbol_finder("modules", _symbol_finder, enable_index=-1)
    prog.register_modules_hook(loaded_modules)


def loaded_modules(prog: Program) -> Optional[LoadedModules]:
    """Read ``prog``'s modules if not yet done; what was found (``None`` while reading,
    or for a program without modules)."""
    st: Optional[_State] = prog.cache.get(_KEY)
    if st is None or st.loading:
        return None
    if st.loaded is None:
        st.loading = True
        try:
            prog.btfs  # noqa: B018 - no base BTF or vmlinux symbols: no modules either
            prog.symbol_table  # noqa: B018
            loaded = load_modules(prog, st.source)
        except KdbgError as e:
            loaded = LoadedModules(errors=[f"modules: {e}"])
        finally:
            st.loading = False
        st.loaded = loaded
        names = list(dict.fromkeys([*loaded.objects, *loaded.btfs, *loaded.regions]))
        for name in names:
            obj = loaded.objects.get(name)
            prog.add_module(Module(name, loaded.regions.get(name, ()), btf=loaded.btfs.get(name), object=obj,
                                   build_id=module_build_id(obj) if obj is not None else None))
        st.table = module_symbol_table(st.source, loaded)
    return st.loaded


def _btfs(prog: Program) -> List[BTF]:
    loaded = loaded_modules(prog)
    return list(loaded.btfs.values()) if loaded is not None else []


def module_btf(prog: Program, module: str) -> Optional[BTF]:
    """Module ``module``'s BTF, or ``None``."""
    loaded = loaded_modules(prog)
    return loaded.btfs.get(module) if loaded is not None else None


def _table(prog: Program) -> Optional[SymbolTable]:
    loaded_modules(prog)
    st: Optional[_State] = prog.cache.get(_KEY)
    return st.table if st is not None else None


# ---------------------------------------------------------------------- finders
def _type_finder(prog: Program, kinds: TypeKindSet, name: str, filename: Optional[str]) -> Optional[Type]:
    for b in _btfs(prog):
        t = b.find_type(kinds, name)
        if t is not None:
            return t
    return None


def _module_symbol(prog: Program, module: str, name: str, data: bool) -> Optional[Symbol]:
    """Module ``module``'s symbol ``name``: a data symbol (functions left out), or a
    function."""
    table = _table(prog)
    if table is None:
        return None
    for s in table.lookup_all(name):
        if s.module == module and (s.type.lower() not in "tw") == data:
            return s
    return None


def _object_finder(prog: Program, name: str, flags: FindObjectFlags, filename: Optional[str]) -> Optional[Object]:
    if flags & (FindObjectFlags.VARIABLE | FindObjectFlags.FUNCTION) and prog.symbol_table.get(name) is not None:
        return None  # vmlinux's own (typed or not): reading the modules would not change that
    loaded = loaded_modules(prog)
    if loaded is None:
        return None
    for module, btf in loaded.btfs.items():
        if flags & FindObjectFlags.VARIABLE:
            for v in datasec_variables(btf):
                if v.name == name:
                    # placed at the module's own symbol (a per-CPU one is mod->percpu + offset)
                    sym = _module_symbol(prog, module, name, data=True)
                    if sym is None:
                        raise ObjectNotFoundError(f"variable {name!r} of module {module} is in its BTF but "
                                                  "not in its symbols")
                    return reference_object(prog, v.var.type, sym.address)
        if flags & FindObjectFlags.FUNCTION:
            try:
                func = btf.function(name)
            except NotFoundError:
                func = None
            if func is not None and func.id >= btf.start_id:
                sym = _module_symbol(prog, module, name, data=False)
                if sym is not None:
                    return reference_object(prog, func.proto, sym.address)
        if flags & FindObjectFlags.CONSTANT:
            try:
                t, value = btf.constant(name)
            except NotFoundError:
                continue
            return value_object(prog, t, value)
    return None


def _symbol_finder(prog: Program, name: Optional[str], address: Optional[int], one: bool) -> Sequence[Symbol]:
    table = _table(prog)
    return [] if table is None else table_symbols(table, name, address, one)
