"""Loadable modules for a :class:`~kdbg.core.program.Program`: their BTF, symbols and regions.

This layer sits above typed objects: it reads ``struct module`` and ``struct btf_module``
with the Program's base BTF and vmlinux symbols, and feeds the Program what they give:

* module BTF as split BTF on the vmlinux base: live from ``/sys/kernel/btf/<module>``,
  from a vmcore through the kernel's ``btf_modules`` list (``btf_module.btf->data``,
  ``data_size`` bytes: what ``/sys/kernel/btf/<module>`` serves). Kernels built without
  module BTF (Debian's 5.10) have no ``btf_modules``: no module types, symbols still.
* module symbols from each module's ``kallsyms`` (a vmcore's kallsyms tables cover
  vmlinux only; live ``/proc/kallsyms`` already lists modules);
* each module's exact memory regions, so that symbolization of module addresses follows
  the kernel's ``within_module()`` instead of a guess from symbol addresses.

The Program calls :func:`load_modules` once, on the first lookup its vmlinux layers miss
(or :meth:`Program.load_modules`). A module that cannot be read is left out and named in
:attr:`LoadedModules.errors`; it never makes the vmlinux layers fail.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from kdbg.errors import KdbgError

if TYPE_CHECKING:
    from kdbg.btf.index import BTF
    from kdbg.core.program import Program
    from kdbg.symbols.table import SymbolTable

__all__ = ["ModuleSource", "LoadedModules", "load_modules", "read_module_btfs", "sysfs_module_btfs",
           "merge_symbols"]


@dataclass(frozen=True)
class ModuleSource:
    """Where a Program's modules come from.

    ``btf_memory``: module BTF from the ``btf_modules`` list in memory; ``btf_dir``: from
    the files of a ``/sys/kernel/btf``-like directory (every file but ``vmlinux``);
    ``symbols_memory``: module symbols from memory for modules the symbol table lacks;
    ``regions_memory``: exact module regions from memory.
    """

    btf_memory: bool = False
    btf_dir: Optional[str] = None
    symbols_memory: bool = False
    regions_memory: bool = False


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


def read_module_btfs(prog: Program) -> List[Tuple[str, bytes]]:
    """``[(module name, raw BTF)]`` from the kernel's ``btf_modules`` list, in list order
    (each blob read in one read: ``btf->data``, ``btf->data_size`` bytes)."""
    from kdbg.helpers.list import list_for_each_entry
    from kdbg.helpers.module import _list_head, module_name

    out: List[Tuple[str, bytes]] = []
    for bm in list_for_each_entry("struct btf_module", _list_head(prog, "btf_modules"), "list"):
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
    load; the Program merges the result)."""
    from kdbg.progress import progress

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
                from kdbg.btf.loader import load_btf_file

                loaded.btfs[name] = load_btf_file(path, base=prog.btf)
            except (KdbgError, OSError) as e:
                loaded.errors.append(f"module {name}: BTF {path}: {e}")
    elif source.btf_memory:
        _read_btfs_from_memory(prog, loaded)


def _read_btfs_from_memory(prog: Program, loaded: LoadedModules) -> None:
    from kdbg.btf.cache import open_btf

    if prog.symbols.get("btf_modules") is None:
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
    from kdbg.helpers.module import (
        for_each_module,
        module_address_regions,
        module_kallsyms,
        module_name,
    )

    have = set()
    if source.symbols_memory:  # modules a given kallsyms file already lists keep its symbols
        table = prog.symbols
        have = set(table.module_names or ()) - {None}
    try:
        mods = list(for_each_module(prog))
    except KdbgError as e:
        loaded.errors.append(f"modules list: {e}")
        return
    for mod in mods:
        try:
            name = module_name(mod)
            if source.regions_memory:
                regions = [(s, s + n) for s, n in module_address_regions(mod) if n > 0]
                if regions:
                    loaded.regions[name] = regions
            if source.symbols_memory and name not in have:
                loaded.symbols.extend((s.name, s.address, s.type, name) for s in module_kallsyms(mod))
        except KdbgError as e:
            loaded.errors.append(f"module at {mod.value_():#x}: {e}")


def merge_symbols(table: SymbolTable, loaded: LoadedModules) -> SymbolTable:
    """``table`` with ``loaded``'s module symbols added and its exact module regions set."""
    from kdbg.symbols.table import SymbolTable

    n = len(table)
    names = list(table.names)
    addresses = list(table.addresses)
    types = table.types
    column = table.module_names
    mods: List[Optional[str]] = list(column) if column is not None else [None] * n
    if loaded.symbols:
        names += [s[0] for s in loaded.symbols]
        addresses += [s[1] for s in loaded.symbols]
        types += "".join(s[2] for s in loaded.symbols)
        mods += [s[3] for s in loaded.symbols]
    return SymbolTable.from_columns(names, addresses, types, mods, module_regions=loaded.regions)
