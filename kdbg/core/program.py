"""``Program``: one debugging target, wiring memory, symbols and types together.

The core knows the kernel's own BTF and kallsyms and the target's memory. Everything else
attaches from above, drgn's way: type, object and symbol *finders* registered by name
(:meth:`Program.register_type_finder`, ...; module BTF and symbols, the declaration table),
a stack unwinder (:attr:`Program.unwinder`), the modules found (:meth:`Program.add_module`)
and per-program state of any layer in :attr:`Program.cache`. :mod:`kdbg.target` assembles
a Program from a live host, a vmcore or files.

The layers load lazily: a ``sym`` command does not parse BTF, a ``ptype`` on a vmcore does
not decode kallsyms unless BTF must be found through them.

Target errors: the command line exits 2 for an unusable target, also when that is found
only when a layer loads lazily. :func:`is_target_error` says which errors are such: any
``CoreError`` (by definition a memory source or table that is unusable), and any error
raised while a layer (memory, symbols, types) loads or because the target has no such
layer. Lookups in a loaded layer (an unknown name, an unreadable address, a BTF record
that fails to decode) are a command's failure, not the target's.
"""

from __future__ import annotations

import gc
import operator
import weakref
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Protocol,
    Sequence,
    Set,
    SupportsIndex,
    Tuple,
    TypeVar,
    Union,
)

from kdbg.btf.cparse import parse_declarations, parse_type_name
from kdbg.btf.index import BTF
from kdbg.btf.kinds import TypeKindSet
from kdbg.btf.types import Func, Type
from kdbg.btf.variables import BTFVariable, datasec_variables
from kdbg.core.constructors import TypeConstructors
from kdbg.core.finders import FinderList, FindObjectFlags
from kdbg.core.kernel_finders import btf_object_finder, btf_type_finder, kallsyms_symbol_finder
from kdbg.core.module import Module
from kdbg.core.object import Object
from kdbg.core.platform import Platform, ProgramFlags, machine_platform
from kdbg.core.reads import TypedReads
from kdbg.core.resolver import ProgramResolver
from kdbg.core.search import MemorySearch
from kdbg.errors import (
    CoreError,
    ExpressionError,
    KdbgError,
    NotFoundError,
    ObjectNotFoundError,
    SymbolNotFoundError,
    TypeNotFoundError,
    UnsupportedOperation,
    UntypedSymbolError,
)

if TYPE_CHECKING:
    from kdbg.memory.base import KernelMemory
    from kdbg.memory.vmcoreinfo import VMCoreInfo
    from kdbg.symbols.table import Symbol, SymbolTable

__all__ = ["Program", "BTFVariable", "Unwinder", "FindObjectFlags", "is_target_error", "target_error_layer"]

_T = TypeVar("_T")
TypeFinder = Callable[["Program", TypeKindSet, str, Optional[str]], Optional[Type]]
ObjectFinder = Callable[["Program", str, FindObjectFlags, Optional[str]], Optional[Object]]
SymbolFinder = Callable[["Program", Optional[str], Optional[int], bool], Sequence["Symbol"]]


class Unwinder(Protocol):
    """What :meth:`Program.stack_trace` and friends ask (:mod:`kdbg.unwind` is one)."""

    def stack_trace(self, prog: Program, thread: Any) -> Any:
        """The stack trace of a task, PID, task address or ``pt_regs``."""

    def stack_trace_from_pcs(self, prog: Program, pcs: Sequence[int]) -> Any:
        """A stack trace of the given program counters (return addresses)."""

    def crashed_thread(self, prog: Program) -> Any:
        """The thread that crashed the kernel."""

    def threads(self, prog: Program) -> Iterator[Any]:
        """Every thread of the program."""


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




class Program(TypeConstructors, MemorySearch, TypedReads):
    """A kernel being debugged: a live host, a vmcore, or a set of files.

    ``memory`` is the :class:`~kdbg.memory.base.KernelMemory` (or ``None`` with a reason in
    :attr:`memory_unavailable`); :attr:`btfs` and :attr:`symbol_table` load on first use
    through the loader callables given at construction.
    """

    def __init__(
        self,
        memory: Optional[KernelMemory] = None,
        btf_loader: Optional[Callable[[], List[BTF]]] = None,
        symbol_loader: Optional[Callable[[], SymbolTable]] = None,
        description: str = "",
        memory_unavailable: Optional[str] = None,
    ) -> None:
        self.memory = memory
        self.memory_unavailable = memory_unavailable
        self.description = description
        #: Per-program state of the layers above the core (drgn's ``prog.cache``): it goes
        #: when the program goes.
        self.cache: Dict[Any, Any] = {}
        #: Configuration options of commands and helpers (drgn's ``prog.config``); the
        #: program itself does not read it.
        self.config: Dict[str, Any] = {}
        #: The stack unwinder, attached by whoever assembled the program.
        self.unwinder: Optional[Unwinder] = None
        self._btf_loader = btf_loader
        self._symbol_loader = symbol_loader
        self._closed = False
        self._btfs: Optional[List[BTF]] = None
        self._symbols: Optional[SymbolTable] = None
        self._failed: Dict[str, KdbgError] = {}
        self._primitives: Dict[str, Type] = {}
        self._btf_vars: Optional[Dict[str, BTFVariable]] = None
        self._modules: Dict[str, Module] = {}
        self._modules_hooks: List[Callable[[Program], Any]] = []
        #: Declarations given with :meth:`declare`, in order (the text as given).
        self.declarations: List[str] = []
        self._declared: Dict[str, Type] = {}
        self._type_finders: FinderList[TypeFinder] = FinderList("type")
        self._object_finders: FinderList[ObjectFinder] = FinderList("object")
        self._symbol_finders: FinderList[SymbolFinder] = FinderList("symbol")
        self.register_type_finder("btf", btf_type_finder, enable_index=0)
        self.register_object_finder("btf", btf_object_finder, enable_index=0)
        self.register_symbol_finder("kallsyms", kallsyms_symbol_finder, enable_index=0)

    @property
    def platform(self) -> Platform:
        """What the program runs on: the machine its memory was dumped on (x86-64 for a
        program without memory)."""
        return machine_platform(self.memory.machine if self.memory is not None else "")

    @property
    def vmcoreinfo(self) -> Optional[VMCoreInfo]:
        """The target's VMCOREINFO (``None`` without memory, or a dump without it)."""
        return self.memory.vmcoreinfo if self.memory is not None else None

    @property
    def flags(self) -> ProgramFlags:
        """A Linux kernel; live when its memory is the running kernel's."""
        flags = ProgramFlags.IS_LINUX_KERNEL
        if self.memory is not None and self.memory.is_live:
            flags |= ProgramFlags.IS_LIVE | ProgramFlags.IS_LOCAL
        return flags

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

    # ------------------------------------------------------------------ finders
    def register_type_finder(self, name: str, fn: TypeFinder, *, enable_index: Optional[int] = None) -> None:
        """Register ``fn(prog, kinds, name, filename) -> Type or None`` (drgn's)."""
        self._type_finders.register(name, fn, enable_index)

    def registered_type_finders(self) -> Set[str]:
        """The names of the registered type finders."""
        return self._type_finders.registered()

    def set_enabled_type_finders(self, names: Sequence[str]) -> None:
        """Enable exactly these type finders, in this order."""
        self._type_finders.set_enabled(names)

    def enabled_type_finders(self) -> List[str]:
        """The enabled type finders, in order."""
        return self._type_finders.enabled()

    def register_object_finder(self, name: str, fn: ObjectFinder, *, enable_index: Optional[int] = None) -> None:
        """Register ``fn(prog, name, flags, filename) -> Object or None`` (drgn's)."""
        self._object_finders.register(name, fn, enable_index)

    def registered_object_finders(self) -> Set[str]:
        """The names of the registered object finders."""
        return self._object_finders.registered()

    def set_enabled_object_finders(self, names: Sequence[str]) -> None:
        """Enable exactly these object finders, in this order."""
        self._object_finders.set_enabled(names)

    def enabled_object_finders(self) -> List[str]:
        """The enabled object finders, in order."""
        return self._object_finders.enabled()

    def register_symbol_finder(self, name: str, fn: SymbolFinder, *, enable_index: Optional[int] = None) -> None:
        """Register ``fn(prog, name, address, one) -> [Symbol]`` (drgn's)."""
        self._symbol_finders.register(name, fn, enable_index)

    def registered_symbol_finders(self) -> Set[str]:
        """The names of the registered symbol finders."""
        return self._symbol_finders.registered()

    def set_enabled_symbol_finders(self, names: Sequence[str]) -> None:
        """Enable exactly these symbol finders, in this order."""
        self._symbol_finders.set_enabled(names)

    def enabled_symbol_finders(self) -> List[str]:
        """The enabled symbol finders, in order."""
        return self._symbol_finders.enabled()

    # ------------------------------------------------------------------ types
    @property
    def btfs(self) -> List[BTF]:
        """``[base, split...]``: the kernel's BTF first, then split BTF files given. The
        modules' BTFs are on :meth:`modules`."""
        if self._btfs is None:
            if self._closed:
                raise KdbgError("the program is closed")
            if self._btf_loader is None:
                raise _mark_target_error(
                    KdbgError("no BTF: give --btf FILE, a vmcore, or run on a live kernel"), "types"
                )
            self._btfs = self._load_layer("types", self._btf_loader)
            for btf in self._btfs:
                btf.object_hook = _absent_object_maker(self)
                btf.platform_char_signed = self.platform.char_is_signed
        return self._btfs

    @property
    def btf(self) -> BTF:
        """The base (vmlinux) BTF."""
        return self.btfs[0]

    def all_btfs(self) -> List[BTF]:
        """:attr:`btfs`, then the BTF of every module found so far."""
        return self.btfs + [m.btf for m in self._modules.values() if m.btf is not None]

    def type(self, spec: Union[str, Type], filename: Optional[str] = None) -> Type:
        """Look a type up by C name (``struct task_struct``, ``u64``, ``char *``); a
        :class:`~kdbg.btf.types.Type` is returned as it is (drgn accepts both)."""
        if isinstance(spec, Type):
            return spec
        if not spec.strip():
            raise TypeNotFoundError(spec, "empty type name")
        return parse_type_name(spec, ProgramResolver(self))

    def type_finders(self) -> Iterator[Tuple[str, TypeFinder]]:
        """The enabled type finders, ``(name, finder)`` in order."""
        return iter(self._type_finders)

    def find_type(self, kinds: TypeKindSet, name: str) -> Optional[Type]:
        """Ask the enabled type finders for a type of one of ``kinds`` named ``name``."""
        for _n, fn in self._type_finders:
            t = fn(self, kinds, name, None)
            if t is not None:
                return t
        return None

    def primitive_type(self, name: str) -> Type:
        """A C base type by its spelling (``int``, ``unsigned long``, ``_Bool``,
        ``double``), as C literals and arithmetic need them."""
        t = self._primitives.get(name)
        if t is None:
            t = self._primitives[name] = self.btf.lookup(name)
        return t

    def declare(self, text: str) -> None:
        """Give globals types with C declarations (``struct list_head modules;``, several
        in one text); later declarations of a name replace earlier ones."""
        pairs = parse_declarations(text, ProgramResolver(self))
        if not pairs:
            raise ExpressionError(f"no declaration in {text!r}")
        self.declarations.append(text)
        for name, t in pairs:
            self._declared[name] = t

    def declared_type(self, name: str) -> Optional[Type]:
        """The type :meth:`declare` gave ``name``, or ``None``."""
        return self._declared.get(name)

    # ------------------------------------------------------------------ objects
    def object(self, name: str, flags: FindObjectFlags = FindObjectFlags.ANY, filename: Optional[str] = None) -> Object:
        """The variable, function or enumerator called ``name`` (drgn's ``prog.object``):
        the enabled object finders in order; a symbol no finder types is an
        :class:`~kdbg.errors.UntypedSymbolError` saying how to declare it."""
        for _n, fn in self._object_finders:
            obj = fn(self, name, flags, filename)
            if obj is not None:
                return obj
        sym = self._symbol_named(name)
        if sym is not None and _wants(sym, flags):
            raise _untyped(sym)
        what = {FindObjectFlags.VARIABLE: "variable", FindObjectFlags.FUNCTION: "function",
                FindObjectFlags.CONSTANT: "constant"}.get(flags)
        why = self.symbol_table.why_missing()
        if what is not None:
            raise ObjectNotFoundError(f"could not find {what} '{name}'{why}", name=name)  # drgn's words
        raise ObjectNotFoundError(f"could not find '{name}'{why}", name=name)

    def variable(self, name: str, filename: Optional[str] = None) -> Object:
        """Global variable ``name`` (:meth:`object` with ``VARIABLE``)."""
        return self.object(name, FindObjectFlags.VARIABLE, filename)

    def function(self, name: str, filename: Optional[str] = None) -> Object:
        """Function ``name``: an object of its BTF prototype at its kallsyms address."""
        return self.object(name, FindObjectFlags.FUNCTION, filename)

    def constant(self, name: str, filename: Optional[str] = None) -> Object:
        """Enumerator ``name`` as an object of its enum type (``(enum pid_type)PIDTYPE_PID``)."""
        return self.object(name, FindObjectFlags.CONSTANT, filename)

    def __getitem__(self, name: str) -> Object:
        """``prog["init_task"]``: :meth:`object`."""
        return self.object(name)

    def __contains__(self, name: Any) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self.object(name)
        except NotFoundError:
            return False
        return True

    def btf_variables(self) -> Dict[str, BTFVariable]:
        """The kernel BTF's VARs by name with their DATASEC's name and offset in it (first
        definition wins), read from the records: a VAR is decoded only when used."""
        if self._btf_vars is None:
            out: Dict[str, BTFVariable] = {}
            for b in self.btfs:
                for v in datasec_variables(b):
                    out.setdefault(v.name, v)
            self._btf_vars = out
        return self._btf_vars

    # ------------------------------------------------------------------ symbols
    @property
    def has_kernel_symbols(self) -> bool:
        """Whether the program has (or can load) the kernel's symbol table: an empty
        ``Program()`` (drgn's, given symbols by a script's own finders) has none."""
        return self._symbols is not None or (self._symbol_loader is not None and not self._closed)

    @property
    def symbol_table(self) -> SymbolTable:
        """The kernel's own symbol table (kallsyms of vmlinux)."""
        if self._symbols is None:
            if self._closed:
                raise KdbgError("the program is closed")
            if self._symbol_loader is None:
                raise _mark_target_error(
                    KdbgError("no symbols: give --kallsyms FILE, a vmcore, or run on a live kernel"),
                    "symbols",
                )
            self._symbols = self._load_layer("symbols", self._symbol_loader)
            if self.memory is not None:  # memory reads page_offset_base & co. from now on
                self.memory.attach_symbols(lambda name: _address_of(self, name))
        return self._symbols

    def symbols(self, address_or_name: Union[None, int, str] = None) -> List[Symbol]:
        """Every symbol named so, or containing the address, or all (drgn's)."""
        name = address_or_name if isinstance(address_or_name, str) else None
        address = int(address_or_name) if address_or_name is not None and name is None else None
        out: List[Symbol] = []
        for _n, fn in self._symbol_finders:
            out.extend(fn(self, name, address, False))
        return out

    def symbol(self, address_or_name: Union[int, str]) -> Symbol:
        """The symbol named ``name``, or the one containing ``address`` (the kernel's
        rule); :class:`~kdbg.errors.SymbolNotFoundError` if none."""
        name = address_or_name if isinstance(address_or_name, str) else None
        address = None if name is not None else int(address_or_name)
        for _n, fn in self._symbol_finders:
            found = fn(self, name, address, True)
            if found:
                return found[0]
        if name is not None:
            raise SymbolNotFoundError(f"could not find symbol with name '{name}'")  # drgn's words
        raise SymbolNotFoundError(f"could not find symbol containing {address:#x}")

    def symbolize_address(self, address: int) -> Optional[Tuple[str, int]]:
        """``(symbol name, offset)`` of the symbol containing ``address`` by the kernel's
        rule, or ``None`` (the printer's ``init_task+0x0``)."""
        try:
            sym = self.symbol(address)
        except KdbgError:
            return None
        return sym.name, address - sym.address

    def _symbol_named(self, name: str) -> Optional[Symbol]:
        try:
            return self.symbol(name)
        except SymbolNotFoundError:
            return None

    # ------------------------------------------------------------------ modules
    def add_module(self, module: Module) -> None:
        """Make ``module`` one of the program's (a layer above found it)."""
        self._modules[module.name] = module

    def register_modules_hook(self, hook: Callable[[Program], Any]) -> None:
        """Let ``hook(prog)`` find the program's modules (and :meth:`add_module` them) the
        first time they are listed or looked up by name or address."""
        self._modules_hooks.append(hook)

    def _find_modules(self) -> None:
        while self._modules_hooks:
            self._modules_hooks.pop(0)(self)

    def modules(self) -> List[Module]:
        """The main module (the kernel), then the loaded modules."""
        self._find_modules()
        return [self.main_module(), *self._modules.values()]

    def module(self, name: Union[str, SupportsIndex]) -> Module:
        """The module called ``name``, or (drgn's other form) the one whose memory holds
        address ``name``; drgn's ``LookupError`` ("module not found") if none is known."""
        self._find_modules()
        if isinstance(name, str):
            m = self.main_module() if name == "kernel" else self._modules.get(name)
        else:
            address = operator.index(name)
            m = next((mod for mod in self.modules()
                      if any(start <= address < end for start, end in mod.address_ranges)), None)
        if m is None:
            raise NotFoundError("module not found")  # drgn's words
        return m

    def main_module(self) -> Module:
        """The kernel image."""
        m = self.cache.get("kdbg.main_module")
        if m is None:
            ranges = []
            with _quiet():
                image = self.symbol_table.image_range
                if image is not None:
                    ranges.append(image)
            m = self.cache["kdbg.main_module"] = Module("kernel", ranges, btf=self._btfs[0] if self._btfs else None,
                                                        build_id=self._build_id(), main=True)
        return m

    def _build_id(self) -> Optional[bytes]:
        """The kernel's build ID, from VMCOREINFO's ``BUILD-ID`` (``None`` without it)."""
        vmci = self.vmcoreinfo
        text = vmci.get("BUILD-ID") if vmci is not None else None
        try:
            return bytes.fromhex(text) if text else None
        except ValueError:
            return None

    # ------------------------------------------------------------------ memory
    def read(self, address: int, size: int, physical: bool = False) -> bytes:
        """Read ``size`` bytes of kernel memory (virtual unless ``physical``); ``address`` and
        ``size`` may be integer-like objects (drgn's IntegerLike)."""
        if self.memory is None:
            raise _mark_target_error(
                CoreError(self.memory_unavailable or "memory is unavailable: no memory source"),
                "memory",
            )
        size = operator.index(size)
        if size == 0:  # as drgn: nothing to read, wherever (an empty array at NULL)
            return b""
        return self.memory.read(operator.index(address), size, physical)

    @property
    def core_dump_path(self) -> Optional[str]:
        """The path of the vmcore this program reads, or ``None`` (live, or files)."""
        if self.memory is None or self.memory.is_live:
            return None
        phys = getattr(self.memory, "phys", None)
        path = getattr(phys, "path", None)
        return str(path) if path is not None else None

    def close(self) -> None:
        """Release the memory source and everything the program derived (types,
        symbols, caches): a closed program holds nothing."""
        if self.memory is not None:
            self.memory.close()
        self.cache.clear()
        self._modules.clear()
        self._declared.clear()
        self._primitives.clear()
        self._btf_vars = None
        for btf in self._btfs or ():
            btf.release()
        self._btfs = None
        self._symbols = None
        self.unwinder = None
        # The loaders and finders refer back to the program (closures over it): drop them,
        # so nothing of the program is in a cycle once its caller lets it go.
        self._closed = True
        self._btf_loader = self._symbol_loader = None
        self._type_finders = FinderList("type")
        self._object_finders = FinderList("object")
        self._symbol_finders = FinderList("symbol")
        # What is left in cycles (stack traces and their frames, the memory source and its
        # translator): collect it now, so a process that opens vmcore after vmcore holds
        # one program's memory, not as many as the collector's thresholds let pile up.
        gc.collect()

    def __enter__(self) -> Program:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ stack traces
    def _unwinder(self) -> Unwinder:
        if self.unwinder is None:
            raise KdbgError("this program has no stack unwinder")
        return self.unwinder

    def stack_trace(self, thread: Any) -> Any:
        """The stack trace of *thread*: a ``struct task_struct *`` Object, a PID, a task
        address or a ``struct pt_regs``."""
        return self._unwinder().stack_trace(self, thread)

    def main_thread(self) -> Any:
        """drgn's ``UnsupportedOperation``: the kernel has no main thread (drgn's words)."""
        raise UnsupportedOperation("main thread is not defined for the Linux kernel")

    def stack_trace_from_pcs(self, pcs: Sequence[SupportsIndex]) -> Any:
        """A stack trace of the given program counters, innermost first (drgn's: each a
        return address, so named by the call before it; no other register known), e.g. a
        stack depot's record."""
        return self._unwinder().stack_trace_from_pcs(self, [operator.index(pc) for pc in pcs])

    def crashed_thread(self) -> Any:
        """The thread that crashed the kernel of this vmcore."""
        return self._unwinder().crashed_thread(self)

    def threads(self) -> Iterator[Any]:
        """Every thread (task) of the target."""
        return self._unwinder().threads(self)

    def thread(self, tid: int) -> Any:
        """The thread whose ID (PID) is ``tid``; :class:`LookupError` if none."""
        for t in self.threads():
            if t.tid == int(tid):
                return t
        raise ObjectNotFoundError(f"thread not found: {int(tid)}")


class _quiet:
    """``with _quiet():`` ignores a :class:`KdbgError` raised inside."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, value: Any, tb: Any) -> bool:
        return kind is not None and issubclass(kind, KdbgError)


def _absent_object_maker(prog: Program) -> Callable[[Type, Optional[int]], Object]:
    """What a BTF of ``prog`` makes drgn's absent objects of its types with
    (``TypeMember.object``); it holds the program weakly, as the program holds the BTF."""
    ref = weakref.ref(prog)

    def make(t: Type, bit_field_size: Optional[int]) -> Object:
        p = ref()
        if p is None:
            raise KdbgError(f"the program of type {t.type_name()!r} is closed")
        return Object(p, t, bit_field_size=bit_field_size)

    return make


def _wants(sym: Symbol, flags: FindObjectFlags) -> bool:
    function = sym.type.lower() in "tw"
    return bool(flags & (FindObjectFlags.FUNCTION if function else FindObjectFlags.VARIABLE))


def _untyped(sym: Symbol) -> UntypedSymbolError:
    if sym.type.lower() in "tw":
        return UntypedSymbolError(f"function {sym.name!r} ({sym.type} at {sym.address:#x}) has no type: "
                                  "BTF has no FUNC of that name")
    return UntypedSymbolError(
        f"variable {sym.name!r} ({sym.type} at {sym.address:#x}) has no type (kernel BTF types only "
        f'per-CPU variables); declare it, e.g. prog.declare("struct foo {sym.name};")'
    )


def _address_of(prog: Program, name: str) -> Optional[int]:
    """The address of vmlinux symbol ``name`` (loading the symbols), or ``None``."""
    sym = prog.symbol_table.get(name)
    return sym.address if sym is not None else None


def function_btf(prog: Program, name: str) -> Func:
    """The BTF FUNC named ``name`` in the kernel's or a module's BTF."""
    for b in prog.all_btfs():
        try:
            return b.function(name)
        except NotFoundError:
            continue
    raise ObjectNotFoundError(f"no function {name!r} in BTF")
