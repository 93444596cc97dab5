"""``Module``: the kernel image or a loaded kernel module, as drgn's Module API shows it.

A program knows its modules once something above the core found them (module loading,
:mod:`kdbg.modules`, adds them with :meth:`kdbg.core.program.Program.add_module`); the
main module (the kernel image) is always there. A module carries what a BTF + kallsyms
program can say of it: its name, the address ranges its memory covers, its build ID when
known, its BTF (split on the kernel's) and, for a loadable module, its
``struct module`` object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional, Sequence, Tuple

if TYPE_CHECKING:
    from kdbg.btf.index import BTF

__all__ = ["Module"]


class Module:
    """A module of a program (drgn's ``Module``, the parts BTF and kallsyms can answer)."""

    def __init__(self, name: str, address_ranges: Sequence[Tuple[int, int]] = (), *, build_id: Optional[bytes] = None,
                 btf: Optional[BTF] = None, object: Any = None, main: bool = False) -> None:  # noqa: A002
        #: ``"kernel"`` for the main module, else the module's name (``"xfs"``).
        self.name = name
        #: ``[start, end)`` ranges of the module's memory.
        self.address_ranges: List[Tuple[int, int]] = [tuple(r) for r in address_ranges]  # type: ignore[misc]
        #: The build ID (GNU note), or ``None`` when the program cannot read it.
        self.build_id = build_id
        #: The module's BTF (split on the kernel's), or ``None``.
        self.btf = btf
        #: The ``struct module *`` of a loadable module, ``None`` for the main module.
        self.object = object
        self.is_main = main

    @property
    def address_range(self) -> Optional[Tuple[int, int]]:
        """The ``[start, end)`` covering all the module's memory, or ``None``."""
        if not self.address_ranges:
            return None
        return min(s for s, _ in self.address_ranges), max(e for _, e in self.address_ranges)

    @property
    def base_address(self) -> int:
        """Where a loadable module's text starts, as drgn identifies a relocatable module
        (``mem[MOD_TEXT].base`` since Linux 6.4, ``core_layout.base`` before, then
        ``module_core``); 0 for the main module."""
        mod = self.object
        if mod is None:
            return 0
        try:
            return int(mod.mem[mod.prog_["MOD_TEXT"]].base)
        except AttributeError:
            pass
        try:
            return int(mod.core_layout.base)
        except AttributeError:
            return int(mod.module_core)

    def __repr__(self) -> str:
        if self.is_main:
            return f"prog.main_module(name={self.name!r})"  # drgn's constructor form
        return f"prog.relocatable_module(name={self.name!r}, address={self.base_address:#x})"
