"""Reading a program's loadable modules: their BTF, symbols and memory regions.

This layer sits above typed objects and the helpers: it reads ``struct module`` and
``struct btf_module`` with the Program's base BTF and vmlinux symbols, and gives:

* module BTF as split BTF on the vmlinux base: live from ``/sys/kernel/btf/<module>``,
  from a vmcore through the kernel's ``btf_modules`` list (``btf_module.btf->data``,
  ``data_size`` bytes: what ``/sys/kernel/btf/<module>`` serves). Kernels built without
  module BTF (Debian's 5.10) have no ``btf_modules``: no module types, symbols still.
* module symbols from each module's ``kallsyms`` (a vmcore's kallsyms tables cover
  vmlinux only; live ``/proc/kallsyms`` already lists modules);
* each module's exact memory regions, so that symbolization of module addresses follows
  the kernel's ``within_module()`` instead of a guess from symbol addresses.

:mod:`kdbg.modules.finders` calls :func:`load_modules` once, on the first lookup the
kernel's own layers miss. A module that cannot be read is left out and named in
:attr:`LoadedModules.errors`; it never makes the vmlinux layers fail.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple

from kdbg.btf.cache import open_btf
from kdbg.btf.loader import load_btf_file
from kdbg.errors import KdbgError
from kdbg.helpers.list import list_for_each_entry
from kdbg.helpers.module import for_each_module, module_address_regions, module_kallsyms, module_name, vmlinux_list
from kdbg.progress import progress
from kdbg.symbols.table import SymbolTable

if TYPE_CHECKING:
    from kdbg.btf.index import BTF
    from kdbg.core.object import Object
    from kdbg.core.program import Program

__all__ = ["ModuleSource", "LoadedModules", "load_modules", "read_module_btfs", "sysfs_module_btfs",
           "module_symbol_table"]


@dataclass(frozen=True)
class ModuleSource:
    """Where a Program's modules come from.

    ``btf_memory``: module BTF from the ``btf_modules`` list in memory; ``btf_dir``: from
    the files of a ``/sys/kernel/btf``-like directory (every file but ``vmlinux``);
    ``symbols_memory``: module symbols from memory for modules the file lacks;
    ``regions_memory``: exact module regions from memory; ``symbols``: module symbols
    ``file_symbols``: the module symbols a kallsyms file lists (``/proc/kallsyms``'
    ``[module]`` lines), read when first asked.
    """

    btf_memory: bool = False
    btf_dir: Optional[str] = None
    symbols_memory: bool = False
    regions_memory: bool = False
    file_symbols: Optional[Callable[[], Optional[SymbolTable]]] = None

    def kallsyms(self) -> Optional[SymbolTable]:
        """The modules' symbols a kallsyms file lists (``None`` if none), read on first use."""
        return self.file_symbols() if self.file_symbols is not None else None


@dataclass
class LoadedModules:
    """What :func:`load_modules` found."""

    #: Module BTFs in load order, each split BTF on the vmlinux base.
    btfs: Dict[str, BTF] = field(default_factory=dict)
    #: Module symbols read from memory: ``(name, address, type letter, module)``.
    symbols: List[Tuple[str, int, str, str]] = field(default_factory=list)
    #: Exact ``[start, end)`` regions per module (non-empty ones only).
    regions: Dict[str, List[Tuple[int, int]]] = field(default_factory=dict)
    #: One line per module or source that could not be read.
    errors: List[str] = field(default_factory=list)
    #: Each module's ``struct module *``, by name (none live without memory).
    objects: Dict[str, Object] = field(default_factory=dict)


def read_module_btfs(prog: Program) -> List[Tuple[str, bytes]]:
    """``[(module name, raw BTF)]`` from the kernel's ``btf_modules`` list, in list order
    (each blob read in one read: ``btf->data``, ``btf->data_size`` bytes)."""
    out: List[Tuple[str, bytes]] = []
    for bm in list_for_each_entry("struct btf_module", vmlinux_list(prog, "btf_modules"), "list"):
        btf = bm.btf
        out.append((module_name(bm.module), prog.read(int(btf.data), int(btf.data_size))))
    return out


def sysfs_module_btfs(directory: str) -> List[Tuple[str, str]]:
    """``[(module name, path)]`` of the module BTF files in a ``/sys/kernel/btf``-like
    directory, by name (``vmlinux`` left out)."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [(n, os.path.join(directory, n)) for n in names
            if n != "vmlinux" and os.path.isfile(os.path.join(directory, n))]


def load_modules(prog: Program, source: ModuleSource) -> LoadedModules:
    """Read ``prog``'s modules from ``source`` (its base BTF and vmlinux symbols must
    load)."""
    loaded = LoadedModules()
    with progress("loading modules"):
        _load_modules(prog, source, loaded)
    return loaded


def _load_modules(prog: Program, source: ModuleSource, loaded: LoadedModules) -> None:
    if source.symbols_memory or source.regions_memory:
        _read_module_structs(prog, source, loaded)
    if source.btf_dir is not None:
        for name, path in sysfs_module_btfs(source.btf_dir):
            try:
                loaded.btfs[name] = load_btf_file(path, base=prog.btf)
            except (KdbgError, OSError) as e:
                loaded.errors.append(f"module {name}: BTF {path}: {e}")
    elif source.btf_memory:
        _read_btfs_from_memory(prog, loaded)


def _read_btfs_from_memory(prog: Program, loaded: LoadedModules) -> None:
    if prog.symbol_table.get("btf_modules") is None:
        return  # built without CONFIG_DEBUG_INFO_BTF_MODULES (Debian's 5.10)
    try:
        blobs = read_module_btfs(prog)
    except KdbgError as e:
        loaded.errors.append(f"btf_modules: {e}")
        return
    for name, data in blobs:
        try:
            loaded.btfs[name] = open_btf(data, base=prog.btf, name=f"{prog.description}: {name} BTF")
        except KdbgError as e:
            loaded.errors.append(f"module {name}: BTF: {e}")


def _read_module_structs(prog: Program, source: ModuleSource, loaded: LoadedModules) -> None:
    have = set()
    file_table = source.kallsyms()
    if source.symbols_memory and file_table is not None:  # modules a kallsyms file lists keep its symbols
        have = set(file_table.module_names or ()) - {None}
    try:
        mods = list(for_each_module(prog))
    except KdbgError as e:
        loaded.errors.append(f"modules list: {e}")
        return
    for mod in mods:
        try:
            name = module_name(mod)
            loaded.objects[name] = mod
            if source.regions_memory:
                regions = [(s, s + n) for s, n in module_address_regions(mod) if n > 0]
                if regions:
                    loaded.regions[name] = regions
            if source.symbols_memory and name not in have:
                loaded.symbols.extend((s.name, s.address, s.type, name) for s in module_kallsyms(mod))
        except KdbgError as e:
            loaded.errors.append(f"module at {mod.value_():#x}: {e}")


def module_symbol_table(source: ModuleSource, loaded: LoadedModules) -> SymbolTable:
    """Every module's symbols (a kallsyms file's, then those read from memory) with the
    modules' exact memory regions."""
    names: List[str] = []
    addresses: List[int] = []
    types: List[str] = []
    mods: List[Optional[str]] = []
    file_table = source.kallsyms()
    if file_table is not None:
        for s in file_table:
            names.append(s.name)
            addresses.append(s.address)
            types.append(s.type)
            mods.append(s.module)
    for name, address, letter, module in loaded.symbols:
        names.append(name)
        addresses.append(address)
        types.append(letter)
        mods.append(module)
    return SymbolTable.from_columns(names, addresses, "".join(types), mods, module_regions=loaded.regions)
