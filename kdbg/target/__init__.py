"""Target assembly: one :class:`~kdbg.core.program.Program` from a live host, a vmcore or files.

``open_live``, ``open_core`` and ``open_files`` choose the memory source, the symbol and
type loaders and where modules come from; files named in place of the target's own
are checked against it (:mod:`kdbg.target.checks`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable, List, Optional, Sequence

from kdbg.btf.index import BTF
from kdbg.core.program import Program, _address_of
from kdbg.errors import CoreError

if TYPE_CHECKING:
    from kdbg.memory.base import KernelMemory
    from kdbg.symbols.table import SymbolTable

__all__ = ["open_files", "open_core", "open_live"]


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
        from kdbg.target.checks import check_kallsyms

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
        from kdbg.target.checks import check_btf

        btfs = load_btf_files(list(paths))
        check_btf(btfs[0], memory, symbol, memory.vmcoreinfo, f"BTF file {paths[0]}")
        return btfs

    return load


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

    from kdbg.modules import ModuleSource

    prog = Program(
        memory=memory,
        btf_loader=_checked_btf_loader(btf, memory, symbol) if btf else btfs,
        symbol_loader=_checked_kallsyms_loader(kallsyms, memory) if kallsyms else symbols,
        description=path,
        # Module BTF from memory unless BTF files were given instead of the dump's own.
        modules=ModuleSource(btf_memory=not btf, symbols_memory=True, regions_memory=True),
    )
    return prog


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
        from kdbg.memory import open_kcore

        memory = open_kcore(kcore)
    except (CoreError, ImportError, OSError) as e:
        reason = str(e)
    prog: Program

    def symbol(name: str) -> Optional[int]:
        return _address_of(prog, name)

    # Files named instead of the running kernel's own are checked against its memory
    # (and VMCOREINFO) when that is readable.
    btf_loader = _btf_files_loader(list(btf) or [os.path.join(sysfs_btf, "vmlinux")])
    symbol_loader = _kallsyms_file_loader(kallsyms or "/proc/kallsyms")
    if memory is not None and btf:
        btf_loader = _checked_btf_loader(btf, memory, symbol)
    if memory is not None and kallsyms:
        symbol_loader = _checked_kallsyms_loader(kallsyms, memory)
    from kdbg.modules import ModuleSource

    prog = Program(
        memory=memory,
        btf_loader=btf_loader,
        symbol_loader=symbol_loader,
        description="live kernel",
        memory_unavailable=reason,
        modules=ModuleSource(
            btf_dir=None if btf else sysfs_btf,
            symbols_memory=memory is not None,
            regions_memory=memory is not None,
        ),
    )
    return prog
