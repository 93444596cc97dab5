"""Target assembly: one :class:`~kdbg.core.program.Program` from a live host, a vmcore or files.

``open_live``, ``open_core`` and ``open_files`` choose the memory source and the loaders
of the kernel's types and symbols, and attach what the core does not know: the modules
(:mod:`kdbg.modules`), the declaration table and the zero-length array list
(:mod:`kdbg.declarations`) and the stack unwinder (:mod:`kdbg.unwind`). Files named in
place of the target's own are checked against it (:mod:`kdbg.target.checks`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, List, Optional, Sequence, Tuple

from kdbg import declarations, modules
from kdbg.arch import code_references
from kdbg.btf.cache import open_btf
from kdbg.btf.index import BTF
from kdbg.btf.loader import load_btf_files
from kdbg.btf.memory import read_vmlinux_btf, reduced_btf_from_notes
from kdbg.core.program import Program
from kdbg.declarations.zerolength import flexible_hook
from kdbg.errors import CoreError
from kdbg.memory import open_core as open_memory
from kdbg.memory import open_kcore
from kdbg.modules import ModuleSource
from kdbg.symbols import load_kallsyms_file, load_kallsyms_from_memory
from kdbg.symbols.ksymtab import RECOVERED_SYMBOLS
from kdbg.symbols.reduced import reduced_symbols_from_notes
from kdbg.target import linux_objects
from kdbg.target.checks import ADDRESS_SYMBOLS, check_btf, check_kallsyms
from kdbg.target.recovered import recovered_data_symbols
from kdbg.unwind import UNWINDER

if TYPE_CHECKING:
    from kdbg.memory.base import KernelMemory
    from kdbg.symbols.table import SymbolTable

__all__ = ["open_files", "open_core", "open_live", "assemble"]


def _with_hooks(load: Callable[[], List[BTF]]) -> Callable[[], List[BTF]]:
    """``load`` giving BTFs whose zero-length arrays follow the shipped list."""

    def loaded() -> List[BTF]:
        btfs = load()
        if btfs:
            btfs[0].flexible_hook = flexible_hook(btfs[0])
        return btfs

    return loaded


class _KallsymsFile:
    """A kallsyms file, read once: vmlinux's symbols for the program, the modules' (its
    ``[module]`` lines) for :mod:`kdbg.modules`."""

    def __init__(self, path: str, memory: Optional[KernelMemory] = None) -> None:
        self.path = path
        self.memory = memory
        self._split: Optional[Tuple[SymbolTable, Optional[SymbolTable]]] = None

    def _tables(self) -> Tuple[SymbolTable, Optional[SymbolTable]]:
        if self._split is None:
            table = load_kallsyms_file(self.path)
            if self.memory is not None:  # refuse a file not from this boot
                check_kallsyms(table, self.memory.vmcoreinfo, f"kallsyms file {self.path}", self.memory)
            self._split = table.split_modules()
        return self._split

    def vmlinux(self) -> SymbolTable:
        return self._tables()[0]

    def modules(self) -> Optional[SymbolTable]:
        return self._tables()[1]


def _with_data_symbols(prog: Callable[[], Program], load: Callable[[], SymbolTable],
                       memory: Optional[KernelMemory], use_cache: bool = True) -> Callable[[], SymbolTable]:
    """A symbol loader: the kernel's own kallsyms from ``load``, plus the data symbols a
    kernel without ``CONFIG_KALLSYMS_ALL`` still carries (:mod:`kdbg.symbols.ksymtab`) when
    ``memory`` is readable, from kdbg's cache unless ``use_cache`` is false
    (:mod:`kdbg.target.recovered`); what was recovered goes to ``prog().cache``."""

    def loader() -> SymbolTable:
        table = load()
        if memory is None:
            return table
        table, found = recovered_data_symbols(table, memory, ADDRESS_SYMBOLS, code_references(memory.machine),
                                              use_cache=use_cache)
        prog().cache[RECOVERED_SYMBOLS] = found
        return table

    return loader


def assemble(prog: Program, module_source: Optional[ModuleSource]) -> Program:
    """Attach to ``prog`` what the core does not know: modules from ``module_source``
    (none for ``None``), the declaration table, the Linux kernel's macro objects
    (``PAGE_SIZE``, ``THREAD_SIZE``, ...) and the stack unwinder."""
    if module_source is not None:
        modules.attach(prog, module_source)
    declarations.attach(prog)
    linux_objects.attach(prog)
    prog.unwinder = UNWINDER
    return prog


def open_files(btf: Sequence[str] = (), kallsyms: Optional[str] = None) -> Program:
    """A Program from files only: BTF (base first, then split) and/or a kallsyms file."""
    desc = ", ".join(list(btf) + ([kallsyms] if kallsyms else []))
    syms = _KallsymsFile(kallsyms) if kallsyms else None
    prog = Program(
        btf_loader=_with_hooks(lambda: load_btf_files(list(btf))) if btf else None,
        symbol_loader=syms.vmlinux if syms is not None else None,
        description=desc,
        memory_unavailable="memory is unavailable: only files were given (no vmcore or live kernel)",
    )
    return assemble(prog, ModuleSource(file_symbols=syms.modules if syms is not None else None))


def open_core(path: str, btf: Sequence[str] = (), kallsyms: Optional[str] = None,
              memory: Optional[KernelMemory] = None, use_cache: bool = True) -> Program:
    """A Program for a vmcore (ELF, kdump-compressed or flattened).

    Symbols are decoded from the dump's memory and BTF is read from it; ``btf`` and
    ``kallsyms`` override those (checked against the dump). ``memory`` is the dump at
    ``path`` already opened (``kdbg shrink`` opens it recording what is read). With
    ``use_cache`` false the symbols are decoded from the dump's own tables even when
    kdbg's cache holds them (``kdbg shrink`` must read everything it keeps).
    """
    if memory is None:
        memory = open_memory(path)
    prog: Program

    def symbol(name: str) -> Optional[int]:
        sym = prog.symbol_table.get(name)
        return sym.address if sym is not None else None

    def dump_btfs() -> List[BTF]:
        reduced = reduced_btf_from_notes(memory.notes, path)
        if reduced is not None:  # kdbg shrink --reduced-btf: the kernel's .BTF pages are not in it
            btf = open_btf(reduced, name=f"{path}: vmlinux BTF (reduced, from kdbg's note)")
            btf.reduced_by = memory.shrunk  # what says why a type is missing
            return [btf]
        return [open_btf(read_vmlinux_btf(memory, symbol), name=f"{path}: vmlinux BTF")]

    def given_btfs() -> List[BTF]:
        btfs = load_btf_files(list(btf))
        check_btf(btfs[0], memory, symbol, memory.vmcoreinfo, f"BTF file {btf[0]}")
        return btfs

    kallsyms_of_dump = _with_data_symbols(
        lambda: prog, lambda: load_kallsyms_from_memory(memory, memory.vmcoreinfo, use_cache=use_cache), memory,
        use_cache)

    def dump_symbols() -> SymbolTable:
        reduced = reduced_symbols_from_notes(memory.notes, path)
        if reduced is not None:  # kdbg shrink --reduced-btf: the kallsyms tables are not in it
            reduced.reduced_by = memory.shrunk  # what says why a symbol is missing
            return reduced
        return kallsyms_of_dump()

    syms = _KallsymsFile(kallsyms, memory) if kallsyms else None
    prog = Program(
        memory=memory,
        btf_loader=_with_hooks(given_btfs if btf else dump_btfs),
        symbol_loader=syms.vmlinux if syms is not None else dump_symbols,
        description=path,
    )
    # Module BTF from memory unless BTF files were given instead of the dump's own.
    source = ModuleSource(btf_memory=not btf, symbols_memory=True, regions_memory=True,
                          file_symbols=syms.modules if syms is not None else None)
    return assemble(prog, source)


def open_live(
    btf: Sequence[str] = (), kallsyms: Optional[str] = None, kcore: str = "/proc/kcore",
    sysfs_btf: str = "/sys/kernel/btf",
) -> Program:
    """A Program for the running kernel: /proc/kcore, /proc/kallsyms, /sys/kernel/btf.

    ``kcore`` names another kcore file (a copy, or a test's missing path); ``sysfs_btf``
    another directory of BTF files (``vmlinux`` and one per module, as
    /sys/kernel/btf holds them). Module BTF comes from there unless ``btf`` is given.

    Without a readable /proc/kcore the Program still has types and symbols;
    :attr:`Program.memory_unavailable` says why memory is missing.
    """
    memory: Optional[KernelMemory] = None
    reason: Optional[str] = None
    try:
        memory = open_kcore(kcore)
    except (CoreError, ImportError, OSError) as e:
        reason = str(e)
    prog: Program

    def symbol(name: str) -> Optional[int]:
        sym = prog.symbol_table.get(name)
        return sym.address if sym is not None else None

    paths = list(btf) or [f"{sysfs_btf}/vmlinux"]

    def btfs() -> List[BTF]:
        loaded = load_btf_files(paths)
        if memory is not None and btf:  # files named instead of the running kernel's own
            check_btf(loaded[0], memory, symbol, memory.vmcoreinfo, f"BTF file {paths[0]}")
        return loaded

    # A kallsyms file named instead of /proc/kallsyms is checked against the running
    # kernel's memory (and VMCOREINFO) when that is readable.
    syms = _KallsymsFile(kallsyms or "/proc/kallsyms", memory if kallsyms else None)
    prog = Program(
        memory=memory,
        btf_loader=_with_hooks(btfs),
        symbol_loader=syms.vmlinux if kallsyms else _with_data_symbols(lambda: prog, syms.vmlinux, memory),
        description="live kernel",
        memory_unavailable=reason,
    )
    source = ModuleSource(btf_dir=None if btf else sysfs_btf, symbols_memory=memory is not None,
                          regions_memory=memory is not None, file_symbols=syms.modules)
    return assemble(prog, source)
