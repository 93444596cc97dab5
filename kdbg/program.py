"""``Program``: one debugging target, wiring memory, symbols and types together.

The layers load lazily: a ``sym`` command does not parse BTF, a ``ptype`` on a vmcore does
not decode kallsyms unless BTF must be found through them. Data flows one way: memory ->
vmcoreinfo -> symbols -> types -> Program.

Files named in place of the target's own (``kallsyms=``, ``btf=`` with a vmcore or a
readable live kernel) are checked against it as they load (:mod:`kdbg.target_checks`):
a kallsyms file from another boot or kernel, or another kernel's BTF, is refused.

Target errors: the command line exits 2 for an unusable target, also when that is found
only when a layer loads lazily. :func:`is_target_error` says which errors are such: any
``CoreError`` (by definition a memory source or table that is unusable), and any error
raised while a layer (memory, symbols, types) loads or because the target has no such
layer. Lookups in a loaded layer (an unknown name, an unreadable address, a BTF record
that fails to decode) are a command's failure, not the target's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, TypeVar

from kdbg.btf.parser import BTF
from kdbg.btf.types import Enum, Func, Type
from kdbg.errors import CoreError, KdbgError, ObjectNotFoundError, TypeNotFoundError

if TYPE_CHECKING:
    from kdbg.memory.base import KernelMemory
    from kdbg.symbols.table import Symbol, SymbolTable

__all__ = ["Program", "open_files", "open_core", "open_live", "is_target_error", "target_error_layer"]

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
    ) -> None:
        self.memory = memory
        self.memory_unavailable = memory_unavailable
        self.description = description
        self._btf_loader = btf_loader
        self._symbol_loader = symbol_loader
        self._btfs: Optional[List[BTF]] = None
        self._symbols: Optional[SymbolTable] = None
        self._failed: Dict[str, KdbgError] = {}

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
        """``[base, split...]``: vmlinux BTF first, then module BTFs on top of it."""
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

    def type(self, spec: str) -> Type:
        """Look a type up by C name (``struct task_struct``, ``u64``, ``char *``)."""
        last: Optional[TypeNotFoundError] = None
        for b in reversed(self.btfs):
            try:
                return b.lookup(spec)
            except TypeNotFoundError as e:
                last = e
        assert last is not None
        raise last

    def constant(self, name: str) -> tuple[Enum, int]:
        """The enum type and value of enumerator ``name``."""
        for b in reversed(self.btfs):
            try:
                return b.constant(name)
            except ObjectNotFoundError:
                continue
        raise ObjectNotFoundError(f"unknown enumerator {name!r}")

    def function(self, name: str) -> Func:
        """The BTF function named ``name``."""
        for b in reversed(self.btfs):
            try:
                return b.function(name)
            except ObjectNotFoundError:
                continue
        raise ObjectNotFoundError(f"no function {name!r} in BTF")

    # ------------------------------------------------------------------ symbols
    @property
    def symbols(self) -> SymbolTable:
        """The kernel symbol table (kallsyms)."""
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

    def symbol(self, name_or_address: str | int) -> Symbol:
        """The symbol named ``name``, or the one containing ``address``."""
        if isinstance(name_or_address, int):
            sym, _ = self.symbols.symbolize(name_or_address)
            return sym
        return self.symbols.lookup(name_or_address)

    # ------------------------------------------------------------------ memory
    def read(self, address: int, size: int, physical: bool = False) -> bytes:
        """Read ``size`` bytes of kernel memory (virtual unless ``physical``)."""
        if self.memory is None:
            raise _mark_target_error(
                CoreError(self.memory_unavailable or "memory is unavailable: no memory source"),
                "memory",
            )
        return self.memory.read(address, size, physical)

    def close(self) -> None:
        """Release the memory source."""
        if self.memory is not None:
            self.memory.close()


def _btf_files_loader(paths: Sequence[str]) -> Callable[[], List[BTF]]:
    def load() -> List[BTF]:
        from kdbg.btf.loader import load_btf_files

        return load_btf_files(list(paths))

    return load


def _kallsyms_file_loader(path: str) -> Callable[[], SymbolTable]:
    def load() -> SymbolTable:
        from kdbg.symbols import load_kallsyms_file

        return load_kallsyms_file(path)

    return load


def _checked_kallsyms_loader(path: str, memory: KernelMemory) -> Callable[[], SymbolTable]:
    """A kallsyms file loader that refuses a file not from ``memory``'s boot."""

    def load() -> SymbolTable:
        from kdbg.symbols import load_kallsyms_file
        from kdbg.target_checks import check_kallsyms

        table = load_kallsyms_file(path)
        check_kallsyms(table, memory.vmcoreinfo, f"kallsyms file {path}", memory)
        return table

    return load


def _checked_btf_loader(
    paths: Sequence[str], memory: KernelMemory, symbol: Callable[[str], Optional[int]]
) -> Callable[[], List[BTF]]:
    """A BTF files loader that refuses a base BTF not of ``memory``'s kernel."""

    def load() -> List[BTF]:
        from kdbg.btf.loader import load_btf_files
        from kdbg.target_checks import check_btf

        btfs = load_btf_files(list(paths))
        check_btf(btfs[0], memory, symbol, memory.vmcoreinfo, f"BTF file {paths[0]}")
        return btfs

    return load


def _address_of(prog: Program, name: str) -> Optional[int]:
    """The address of symbol ``name`` in ``prog`` (loading its symbols), or ``None``."""
    sym = prog.symbols.get(name)
    return sym.address if sym is not None else None


def open_files(btf: Sequence[str] = (), kallsyms: Optional[str] = None) -> Program:
    """A Program from files only: BTF (base first, then split) and/or a kallsyms file."""
    desc = ", ".join(list(btf) + ([kallsyms] if kallsyms else []))
    return Program(
        btf_loader=_btf_files_loader(btf) if btf else None,
        symbol_loader=_kallsyms_file_loader(kallsyms) if kallsyms else None,
        description=desc,
        memory_unavailable="memory is unavailable: only files were given (no vmcore or live kernel)",
    )


def open_core(path: str, btf: Sequence[str] = (), kallsyms: Optional[str] = None) -> Program:
    """A Program for a vmcore (ELF, kdump-compressed or flattened).

    Symbols are decoded from the dump's memory and BTF is read from it; ``btf`` and
    ``kallsyms`` override those.
    """
    from kdbg.memory import open_core as open_memory

    memory = open_memory(path)

    def symbols() -> SymbolTable:
        from kdbg.symbols import load_kallsyms_from_memory

        return load_kallsyms_from_memory(memory, memory.vmcoreinfo)

    prog: Program

    def symbol(name: str) -> Optional[int]:
        return _address_of(prog, name)

    def btfs() -> List[BTF]:
        from kdbg.btf.cache import open_btf
        from kdbg.btf.memory import read_vmlinux_btf

        data = read_vmlinux_btf(memory, symbol)
        return [open_btf(data, name=f"{path}: vmlinux BTF")]

    prog = Program(
        memory=memory,
        btf_loader=_checked_btf_loader(btf, memory, symbol) if btf else btfs,
        symbol_loader=_checked_kallsyms_loader(kallsyms, memory) if kallsyms else symbols,
        description=path,
    )
    return prog


def open_live(
    btf: Sequence[str] = (), kallsyms: Optional[str] = None, kcore: str = "/proc/kcore"
) -> Program:
    """A Program for the running kernel: /proc/kcore, /proc/kallsyms, /sys/kernel/btf.

    ``kcore`` names another kcore file (a copy, or a test's missing path).

    Without a readable /proc/kcore the Program still has types and symbols;
    :attr:`Program.memory_unavailable` says why memory is missing.
    """
    memory: Optional[KernelMemory] = None
    reason: Optional[str] = None
    try:
        from kdbg.memory import open_kcore

        memory = open_kcore(kcore)
    except (CoreError, ImportError, OSError) as e:
        reason = str(e)
    prog: Program

    def symbol(name: str) -> Optional[int]:
        return _address_of(prog, name)

    # Files named instead of the running kernel's own are checked against its memory
    # (and VMCOREINFO) when that is readable.
    btf_loader = _btf_files_loader(list(btf) or ["/sys/kernel/btf/vmlinux"])
    symbol_loader = _kallsyms_file_loader(kallsyms or "/proc/kallsyms")
    if memory is not None and btf:
        btf_loader = _checked_btf_loader(btf, memory, symbol)
    if memory is not None and kallsyms:
        symbol_loader = _checked_kallsyms_loader(kallsyms, memory)
    prog = Program(
        memory=memory,
        btf_loader=btf_loader,
        symbol_loader=symbol_loader,
        description="live kernel",
        memory_unavailable=reason,
    )
    return prog
