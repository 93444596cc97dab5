"""Loadable kernel modules: their BTF, symbols and memory, attached to a program through
finders (:func:`attach`); :mod:`kdbg.modules.loader` reads them."""

from kdbg.modules.finders import attach, loaded_modules, module_btf
from kdbg.modules.loader import LoadedModules, ModuleSource, read_module_btfs, sysfs_module_btfs

__all__ = ["attach", "loaded_modules", "module_btf", "LoadedModules", "ModuleSource", "read_module_btfs",
           "sysfs_module_btfs"]
