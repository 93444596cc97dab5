"""``Program``: one debugging target, wiring memory, symbols and types together.

The layers load lazily: a ``sym`` command does not parse BTF, a ``ptype`` on a vmcore does
not decode kallsyms unless BTF must be found through them. Data flows one way: memory ->
vmcoreinfo -> symbols -> types -> Program.

Files named in place of the target's own (``kallsyms=``, ``btf=`` with a vmcore or a
readable live kernel) are checked against it as they load (:mod:`kdbg.target.checks`):
a kallsyms file from another boot or kernel, or another kernel's BTF, is refused.

Target errors: the command line exits 2 for an unusable target, also when that is found
only when a layer loads lazily. :func:`is_target_error` says which errors are such: any
``CoreError`` (by definition a memory source or table that is unusable), and any error
raised while a layer (memory, symbols, types) loads or because the target has no such
layer. Lookups in a loaded layer (an unknown name, an unreadable address, a BTF record
that fails to decode) are a command's failure, not the target's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, TypeVar, Union

from kdbg.btf import constants as K
from kdbg.btf.index import BTF
from kdbg.btf.types import Datasec, Enum, Func, Type, Var
from kdbg.errors import (
    CoreError,
    ExpressionError,
    KdbgError,
    ObjectNotFoundError,
    SymbolNotFoundError,
    TypeNotFoundError,
    UntypedSymbolError,
)

if TYPE_CHECKING:
    from kdbg.core.object import Object
    from kdbg.declarations import DeclarationTable
    from kdbg.memory.base import KernelMemory
    from kdbg.modules import LoadedModules, ModuleSource
    from kdbg.symbols.table import Symbol, SymbolTable
    from kdbg.unwind import StackTrace, Thread

__all__ = ["Program", "is_target_error", "target_error_layer"]

_T = TypeVar("_T")


def _mark_target_error(e: KdbgError, layer: str) -> KdbgError:
    """Record on ``e`` that loading ``layer`` of the target raised it (first mark wins)."""
    if getattr(e, "target_layer", None) is None:
        e.target_layer = layer  # type: ignore[attr-defined]
    return e


def target_error_layer(e: BaseException) -> Optional[str]:
    """``"memory"``, ``"symbols"`` or ``"types"`` when ``e`` was raised while that layer of
    the target loaded (or because the target has no such layer), else ``None``."""
    return getattr(e, "target_layer", None)


def is_target_error(e: BaseException) -> bool:
    """Whether ``e`` means the target is unusable (exit 2), not that a command failed."""
    return isinstance(e, CoreError) or target_error_layer(e) is not None


class Program:
    """A kernel being debugged: a live host, a vmcore, or a set of files.

    ``memory`` is the :class:`~kdbg.memory.base.KernelMemory` (or ``None`` with a reason in
    :attr:`memory_unavailable`); ``symbols`` and ``btfs`` load on first use through the
    loader callables given at construction.
    """

    def __init__(
        self,
        memory: Optional[KernelMemory] = None,
        btf_loader: Optional[Callable[[], List[BTF]]] = None,
        symbol_loader: Optional[Callable[[], SymbolTable]] = None,
        description: str = "",
        memory_unavailable: Optional[str] = None,
        modules: Optional[ModuleSource] = None,
    ) -> None:
        self.memory = memory
        #: Where loadable modules come from (:mod:`kdbg.modules`), ``None`` for none.
        self.module_source = modules
        self._modules: Optional[LoadedModules] = None
        self._modules_loading = False
        self.memory_unavailable = memory_unavailable
        self.description = description
        self._btf_loader = btf_loader
        self._symbol_loader = symbol_loader
        self._btfs: Optional[List[BTF]] = None
        self._symbols: Optional[SymbolTable] = None
        self._failed: Dict[str, KdbgError] = {}
        self._primitives: Dict[str, Type] = {}
        self._btf_vars: Optional[Dict[str, Tuple[Var, Datasec, int]]] = None
        #: Declarations given with :meth:`declare`, in order (the text as given).
        self.declarations: List[str] = []
        self._declared: Dict[str, Type] = {}
        self._decl_table: Optional[DeclarationTable] = None
        self._table_types: Dict[Union[str, Tuple[str, str]], Optional[Type]] = {}
        #: ``container_of`` results by (type or its name, member): (pointer type, offset).
        self._containers: Dict[Tuple[Union[Type, str], str], Tuple[Type, int]] = {}

    def _load_layer(self, layer: str, loader: Callable[[], _T]) -> _T:
        """Run a layer's loader; its failure is a target error, remembered and raised again
        on the next use instead of loading again."""
        failed = self._failed.get(layer)
        if failed is not None:
            raise failed
        try:
            return loader()
        except KdbgError as e:
            err: KdbgError = e
        except OSError as e:
            where = f"{e.filename}: " if e.filename else ""
            err = CoreError(f"cannot load the {layer}: {where}{e.strerror or e}")
        self._failed[layer] = _mark_target_error(err, layer)
        raise err

    # ------------------------------------------------------------------ types
    @property
    def btfs(self) -> List[BTF]:
        """``[base, split...]``: vmlinux BTF first, then split BTF files given, then the
        module BTFs once :meth:`load_modules` ran (a lookup vmlinux misses runs it)."""
        if self._btfs is None:
            if self._btf_loader is None:
                raise _mark_target_error(
                    KdbgError("no BTF: give --btf FILE, a vmcore, or run on a live kernel"), "types"
                )
            self._btfs = self._load_layer("types", self._btf_loader)
        return self._btfs

    @property
    def btf(self) -> BTF:
        """The base (vmlinux) BTF."""
        return self.btfs[0]

    def type(self, spec: Union[str, Type]) -> Type:
        """Look a type up by C name (``struct task_struct``, ``u64``, ``char *``); a
        :class:`~kdbg.btf.types.Type` is returned as it is (drgn accepts both)."""
        if isinstance(spec, Type):
            return spec
        last: Optional[TypeNotFoundError] = None
        for b in reversed(self.btfs):
            try:
                return b.lookup(spec)
            except TypeNotFoundError as e:
                last = e
        assert last is not None
        if self._modules_pending():
            return self.type(spec)
        raise last

    def primitive_type(self, name: str) -> Type:
        """A C base type by its spelling (``int``, ``unsigned long``, ``_Bool``,
        ``double``), as C literals and arithmetic need them."""
        t = self._primitives.get(name)
        if t is None:
            t = self._primitives[name] = self.btf.lookup(name)
        return t

    def enumerator(self, name: str) -> Tuple[Enum, int]:
        """The enum type and value of enumerator ``name`` (``PIDTYPE_PID``)."""
        for b in reversed(self.btfs):
            try:
                return b.constant(name)
            except ObjectNotFoundError:
                continue
        if self._modules_pending():
            return self.enumerator(name)
        raise ObjectNotFoundError(f"unknown enumerator {name!r}")

    def constant(self, name: str) -> Object:
        """Enumerator ``name`` as an object of its enum type (``(enum pid_type)PIDTYPE_PID``)."""
        from kdbg.core.object import Object

        t, value = self.enumerator(name)
        return Object._of_value(self, t, value)

    def btf_function(self, name: str) -> Func:
        """The BTF FUNC named ``name`` (its prototype is ``.proto``)."""
        for b in reversed(self.btfs):
            try:
                return b.function(name)
            except ObjectNotFoundError:
                continue
        if self._modules_pending():
            return self.btf_function(name)
        raise ObjectNotFoundError(f"no function {name!r} in BTF")

    def function(self, name: str) -> Object:
        """Function ``name``: an object of its BTF prototype at its kallsyms address
        (``(ssize_t (struct file *file, ...))0xffffffff81234560``)."""
        from kdbg.core.object import Object

        func = self.btf_function(name)
        sym = self._function_symbol(name)
        if sym is None:
            raise ObjectNotFoundError(f"function {name!r} is in BTF but not in the symbol table")
        return Object._reference(self, func.proto, sym.address)

    def _function_symbol(self, name: str) -> Optional[Symbol]:
        syms = [s for s in self.symbols.lookup_all(name) if s.type in "TtWw"]
        if not syms and self._modules_pending():
            return self._function_symbol(name)
        if not syms:
            return None
        return min(syms, key=lambda s: (s.module is not None, not s.is_global, s.address))

    # ------------------------------------------------------------------ globals
    def _btf_variables(self) -> Dict[str, Tuple[Var, Datasec, int]]:
        """BTF VARs by name with their DATASEC and offset in it (first definition wins)."""
        if self._btf_vars is None:
            out: Dict[str, Tuple[Var, Datasec, int]] = {}
            for b in self.btfs:
                for tid in b.ids((K.KIND_DATASEC,)):
                    sec = b.type(tid)
                    if not isinstance(sec, Datasec):
                        continue
                    for entry in sec.entries:
                        var = entry.type
                        if isinstance(var, Var) and var.name not in out:
                            out[var.name] = (var, sec, entry.offset)
            self._btf_vars = out
        return self._btf_vars

    def _declared_type(self, name: str, module: Optional[str] = None) -> Optional[Type]:
        """The type the shipped declaration table gives global ``name``, or ``None``. Of a
        ``module``: from that module's entries only, parsed against vmlinux's BTF then the
        module's own first (vmlinux's entries only when the table has none of the module)."""
        from kdbg.declarations import DeclarationTable, lookup_declared_type, module_key

        table = self._decl_table
        if table is None:
            table = self._decl_table = DeclarationTable.shipped()
        if module is not None and module_key(module, name) not in table:
            module = None
        key = name if module is None else (module, name)
        if key in self._table_types:
            return self._table_types[key]
        btfs = self.btfs
        if module is not None:
            own = self._modules.btfs.get(module) if self._modules is not None else None
            btfs = [btfs[0], own, *(b for b in btfs[1:] if b is not own)] if own is not None else btfs
        t: Optional[Type] = lookup_declared_type(table, name, btfs, module=module)
        self._table_types[key] = t
        return t

    def _btf_module(self, btf: Optional[BTF]) -> Optional[str]:
        """The name of the module whose BTF ``btf`` is, or ``None`` (vmlinux's, a file's)."""
        if self._modules is None or btf is None:
            return None
        return next((name for name, b in self._modules.btfs.items() if b is btf), None)

    def _module_symbol(self, module: str, name: str) -> Optional[Symbol]:
        """Module ``module``'s data symbol ``name`` (its functions left out), or ``None``."""
        syms = [s for s in self.symbols.lookup_all(name) if s.module == module and s.type.lower() not in "tw"]
        return syms[0] if syms else None

    def declare(self, text: str) -> None:
        """Give globals types with C declarations (``struct list_head modules;``, several in
        one text, as :func:`kdbg.declarations.parse_declarations` reads them); later
        declarations of a name replace earlier ones."""
        from kdbg.declarations import parse_declarations

        pairs = parse_declarations(text, self.btfs)
        if not pairs:
            raise ExpressionError(f"no declaration in {text!r}")
        self.declarations.append(text)
        for name, t in pairs:
            self._declared[name] = t

    def variable(self, name: str) -> Object:
        """Global variable ``name``: typed by BTF (per-CPU variables, or all with pahole's
        ``global_var``), then the declaration table, then :meth:`declare`. A module's
        variable is typed by that module's BTF (split BTF) and placed at that module's
        symbol. A per-CPU variable's address is its per-CPU offset, as in drgn (``per_cpu``
        adds a CPU's base; a module's is its ``mod->percpu`` offset, which kallsyms gives)."""
        from kdbg.core.object import Object

        sym = self._lookup_symbol(name)
        hit = self._btf_variables().get(name)
        if hit is None and sym is not None and sym.module is not None:  # a module's: its BTF may type it
            self.load_modules()
            hit = self._btf_variables().get(name)
        if hit is not None:
            var, sec, offset = hit
            module = self._btf_module(var.btf)
            at = sym if module is None else self._module_symbol(module, name)
            if at is not None:
                address = at.address  # a module's per-CPU symbol is its mod->percpu + offset
            else:
                base = sec.name == ".data..percpu" and module is None  # vmlinux's: __per_cpu_start-based
                start = self.symbols.get("__per_cpu_start") if base else None
                if start is None:
                    raise ObjectNotFoundError(f"variable {name!r} is in BTF ({sec.name}) but not in the symbol table")
                address = start.address + offset
            return Object._reference(self, var.type, address)
        t = self._declared.get(name)
        if t is None:
            module = sym.module if sym is not None and sym.type.lower() not in "tw" else None  # a module's data
            t = self._declared_type(name, module)
        if t is not None:
            if sym is None:
                raise SymbolNotFoundError(f"variable {name!r} is declared but not in the symbol table")
            return Object._reference(self, t, sym.address)
        if sym is not None and sym.type.lower() not in "tw":
            raise _untyped(sym)
        raise ObjectNotFoundError(f"could not find variable {name!r}")

    def object(self, name: str) -> Object:
        """The variable, function or enumerator called ``name`` (drgn's ``prog.object``)."""
        try:
            return self.variable(name)
        except UntypedSymbolError:
            raise
        except ObjectNotFoundError:
            pass
        try:
            return self.function(name)
        except ObjectNotFoundError:
            pass
        try:
            return self.constant(name)
        except ObjectNotFoundError:
            pass
        sym = self._lookup_symbol(name)
        if sym is not None:
            raise _untyped(sym)
        raise ObjectNotFoundError(f"could not find {name!r}: no variable, function or constant of that name")

    def __getitem__(self, name: str) -> Object:
        """``prog["init_task"]``: :meth:`object`."""
        return self.object(name)

    def __contains__(self, name: Any) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self.object(name)
        except ObjectNotFoundError:
            return False
        return True

    # ------------------------------------------------------------------ symbols
    @property
    def symbols(self) -> SymbolTable:
        """The kernel symbol table (kallsyms); on a vmcore, the modules' symbols join it
        when :meth:`load_modules` ran (a lookup vmlinux misses runs it)."""
        if self._symbols is None:
            if self._symbol_loader is None:
                raise _mark_target_error(
                    KdbgError("no symbols: give --kallsyms FILE, a vmcore, or run on a live kernel"),
                    "symbols",
                )
            self._symbols = self._load_layer("symbols", self._symbol_loader)
            if self.memory is not None:  # memory reads page_offset_base & co. from now on
                self.memory.attach_symbols(lambda name: _address_of(self, name))
        return self._symbols

    def symbolize_address(self, address: int) -> Optional[Tuple[str, int]]:
        """``(symbol name, offset)`` of the symbol containing ``address`` by the kernel's
        rule, or ``None`` (the printer's ``init_task+0x0``)."""
        try:
            sym, off = self.symbols.symbolize(address)
        except SymbolNotFoundError:
            if not self._modules_pending():
                return None
            return self.symbolize_address(address)
        return sym.name, off

    def symbol(self, name_or_address: str | int) -> Symbol:
        """The symbol named ``name``, or the one containing ``address``."""
        try:
            if isinstance(name_or_address, int):
                return self.symbols.symbolize(name_or_address)[0]
            return self.symbols.lookup(name_or_address)
        except SymbolNotFoundError:
            if not self._modules_pending():
                raise
            return self.symbol(name_or_address)

    def _lookup_symbol(self, name: str) -> Optional[Symbol]:
        """``symbols.get(name)``, looking in the modules too when vmlinux has no such name."""
        sym = self.symbols.get(name)
        if sym is None and self._modules_pending():
            sym = self.symbols.get(name)
        return sym

    # ------------------------------------------------------------------ modules
    def load_modules(self) -> Optional[LoadedModules]:
        """Load the target's loadable modules once (:mod:`kdbg.modules`): their BTF goes
        after the base in :attr:`btfs` (split BTF), their symbols and exact memory regions
        into :attr:`symbols`. Lookups that vmlinux misses call this by themselves.
        ``None`` for a target without modules (files only) or while loading; a module
        that could not be read is named in the result's ``errors``."""
        if self._modules is not None or self.module_source is None or self._modules_loading:
            return self._modules
        from kdbg.modules import LoadedModules, load_modules, merge_symbols

        self._modules_loading = True
        table: Optional[SymbolTable] = None
        try:
            base = self.btfs
            table = self.symbols
            loaded = load_modules(self, self.module_source)
        except KdbgError as e:  # no base BTF or vmlinux symbols: no modules either
            loaded = LoadedModules(errors=[f"modules: {e}"])
            base, table = (self._btfs or []), self._symbols
        finally:
            self._modules_loading = False
        self._modules = loaded
        if loaded.btfs:
            self._btfs = list(base) + list(loaded.btfs.values())
            self._btf_vars = None
        if table is not None and (loaded.symbols or loaded.regions):
            self._symbols = merge_symbols(table, loaded)
        return loaded

    def _modules_pending(self) -> bool:
        """Load the modules if not yet done; whether that gave anything to look in."""
        if self._modules is not None or self.module_source is None or self._modules_loading:
            return False
        loaded = self.load_modules()
        return loaded is not None and bool(loaded.btfs or loaded.symbols or loaded.regions)

    # ------------------------------------------------------------------ memory
    def read(self, address: int, size: int, physical: bool = False) -> bytes:
        """Read ``size`` bytes of kernel memory (virtual unless ``physical``)."""
        if self.memory is None:
            raise _mark_target_error(
                CoreError(self.memory_unavailable or "memory is unavailable: no memory source"),
                "memory",
            )
        return self.memory.read(address, size, physical)

    def read_u8(self, address: int, physical: bool = False) -> int:
        """The byte at ``address``."""
        return self.read(address, 1, physical)[0]

    def read_u16(self, address: int, physical: bool = False) -> int:
        """The little-endian u16 at ``address``."""
        return int.from_bytes(self.read(address, 2, physical), "little")

    def read_u32(self, address: int, physical: bool = False) -> int:
        """The little-endian u32 at ``address``."""
        return int.from_bytes(self.read(address, 4, physical), "little")

    def read_u64(self, address: int, physical: bool = False) -> int:
        """The little-endian u64 at ``address``."""
        return int.from_bytes(self.read(address, 8, physical), "little")

    def read_word(self, address: int, physical: bool = False) -> int:
        """The machine word (8 bytes on x86-64) at ``address``."""
        return self.read_u64(address, physical)

    def close(self) -> None:
        """Release the memory source."""
        if self.memory is not None:
            self.memory.close()

    # ------------------------------------------------------------------ stack traces
    # drgn's names on Program; the work is in kdbg.unwind, which sits above the helpers
    # (imported here lazily, so the layers below never load it).
    def stack_trace(self, thread: Any) -> StackTrace:
        """The stack trace of *thread*: a ``struct task_struct *`` Object, a PID, or a
        task address (:func:`kdbg.unwind.stack_trace`)."""
        from kdbg.unwind import stack_trace

        return stack_trace(self, thread)

    def crashed_thread(self) -> Thread:
        """The thread that crashed the kernel of this vmcore
        (:func:`kdbg.unwind.crashed_thread`)."""
        from kdbg.unwind import crashed_thread

        return crashed_thread(self)

    def threads(self) -> Any:
        """Every thread (task) of the target, as :class:`kdbg.unwind.Thread`
        (:func:`kdbg.unwind.threads`)."""
        from kdbg.unwind import threads

        return threads(self)


def _untyped(sym: Symbol) -> UntypedSymbolError:
    if sym.type.lower() in "tw":
        return UntypedSymbolError(f"function {sym.name!r} ({sym.type} at {sym.address:#x}) has no type: "
                                  "BTF has no FUNC of that name")
    return UntypedSymbolError(
        f"variable {sym.name!r} ({sym.type} at {sym.address:#x}) has no type (kernel BTF types only "
        f'per-CPU variables); declare it, e.g. prog.declare("struct foo {sym.name};")'
    )


def _address_of(prog: Program, name: str) -> Optional[int]:
    """The address of symbol ``name`` in ``prog`` (loading its symbols), or ``None``."""
    sym = prog.symbols.get(name)
    return sym.address if sym is not None else None
