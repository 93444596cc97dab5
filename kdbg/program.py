"""``Program``: one debugging target, wiring memory, symbols and types together.

The layers load lazily: a ``sym`` command does not parse BTF, a ``ptype`` on a vmcore does
not decode kallsyms unless BTF must be found through them. Data flows one way: memory ->
vmcoreinfo -> symbols -> types -> Program.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, List, Optional, Sequence

from kdbg.btf.parser import BTF
from kdbg.btf.types import Enum, Func, Type
from kdbg.errors import CoreError, KdbgError, ObjectNotFoundError, TypeNotFoundError

if TYPE_CHECKING:
    from kdbg.memory.base import KernelMemory
    from kdbg.symbols.table import Symbol, SymbolTable

__all__ = ["Program", "open_files", "open_core", "open_live"]


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

    # ------------------------------------------------------------------ types
    @property
    def btfs(self) -> List[BTF]:
        """``[base, split...]``: vmlinux BTF first, then module BTFs on top of it."""
        if self._btfs is None:
            if self._btf_loader is None:
                raise KdbgError("no BTF: give --btf FILE, a vmcore, or run on a live kernel")
            self._btfs = self._btf_loader()
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
                raise KdbgError("no symbols: give --kallsyms FILE, a vmcore, or run on a live kernel")
            self._symbols = self._symbol_loader()
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
            raise CoreError(f"memory is unavailable: {self.memory_unavailable or 'no memory source'}")
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


def open_files(btf: Sequence[str] = (), kallsyms: Optional[str] = None) -> Program:
    """A Program from files only: BTF (base first, then split) and/or a kallsyms file."""
    desc = ", ".join(list(btf) + ([kallsyms] if kallsyms else []))
    return Program(
        btf_loader=_btf_files_loader(btf) if btf else None,
        symbol_loader=_kallsyms_file_loader(kallsyms) if kallsyms else None,
        description=desc,
        memory_unavailable="only files were given (no vmcore or live kernel)",
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

    def btfs() -> List[BTF]:
        from kdbg.btf.memory import read_vmlinux_btf

        def symbol(name: str) -> Optional[int]:
            sym = prog.symbols.get(name)
            return sym.address if sym is not None else None

        from kdbg.btf.cache import open_btf

        data = read_vmlinux_btf(memory, symbol)
        return [open_btf(data, name=f"{path}: vmlinux BTF")]

    prog = Program(
        memory=memory,
        btf_loader=_btf_files_loader(btf) if btf else btfs,
        symbol_loader=_kallsyms_file_loader(kallsyms) if kallsyms else symbols,
        description=path,
    )
    return prog


def open_live(btf: Sequence[str] = (), kallsyms: Optional[str] = None) -> Program:
    """A Program for the running kernel: /proc/kcore, /proc/kallsyms, /sys/kernel/btf.

    Without a readable /proc/kcore the Program still has types and symbols;
    :attr:`Program.memory_unavailable` says why memory is missing.
    """
    memory: Optional[KernelMemory] = None
    reason: Optional[str] = None
    try:
        from kdbg.memory import open_kcore

        memory = open_kcore()
    except (CoreError, ImportError, OSError) as e:
        reason = str(e)
    return Program(
        memory=memory,
        btf_loader=_btf_files_loader(list(btf) or ["/sys/kernel/btf/vmlinux"]),
        symbol_loader=_kallsyms_file_loader(kallsyms or "/proc/kallsyms"),
        description="live kernel",
        memory_unavailable=reason,
    )
