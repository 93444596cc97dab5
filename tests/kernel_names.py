"""The kernel's own name of an address, as its ``%pS`` prints it, from what the guest
recorded (its ``/proc/kallsyms`` and ``/proc/modules``): the truth a test holds a
symbolizer to where drgn's names (from the ELF symbol table of Debian's ``vmlinux``:
local labels such as ``.LC3``, sized aliases) differ from the kernel's."""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from tests.helpers_compare import drgn_answers
from tests.oracle_exprs import oracle_dump

__all__ = ["KernelNames", "kallsyms_lines", "kallsyms_addresses", "kernel_names", "MODULE_MEMORY"]


def kallsyms_lines(truth: Path) -> List[Tuple[int, str, str, str]]:
    """``(address, type, name, module)`` of every line of the guest's ``/proc/kallsyms``,
    the kernel's (module ``""``) and its modules' (``name\t[module]``)."""
    out = []
    for line in (truth / "kallsyms").read_text().splitlines():
        head, _, module = line.partition("\t")
        address, kind, name = head.split(" ")
        out.append((int(address, 16), kind, name, module.strip("[]")))
    return out


def kallsyms_addresses(truth: Path) -> Dict[str, List[int]]:
    """The guest's ``/proc/kallsyms`` as name -> its addresses (a static name may be defined
    more than once)."""
    out: Dict[str, List[int]] = {}
    for address, _kind, name, _module in kallsyms_lines(truth):
        out.setdefault(name, []).append(address)
    return out


class KernelNames:
    """The kernel's own name of an address (``%pS``), from the guest's ``/proc/kallsyms``:
    in a module's memory, the module's last symbol at or below it (``find_kallsyms_symbol``,
    however far); elsewhere the kernel's last symbol at or below it; the first alias."""

    def __init__(self, symbols: List[Tuple[int, str, str, str]], modules: List[List[Any]]) -> None:
        first: Dict[str, Dict[int, Tuple[str, str]]] = {}
        for address, kind, name, module in symbols:  # file order: the first alias is the kernel's
            first.setdefault(module, {}).setdefault(address, (kind, name))
        self.first = first
        self.sorted = {module: sorted(table) for module, table in first.items()}
        self.modules = [(start, start + size, name) for name, start, size in modules if size]

    def module_of(self, value: int) -> Optional[str]:
        """The module whose memory holds ``value``."""
        return next((name for start, end, name in self.modules if start <= value < end), None)

    def __call__(self, value: int) -> Optional[str]:
        module = self.module_of(value) or ""
        table = self.sorted.get(module, [])
        i = bisect.bisect_right(table, value) - 1
        if i < 0:
            return None
        kind, name = self.first[module][table[i]]
        what = "function symbol" if kind in "tT" else "object symbol"
        return f"{what}: {name}+{hex(value - table[i])}"

    def symbolize(self, value: int) -> Optional[str]:
        """``name+0xoff`` as ``%pS`` prints ``value``, or ``None`` below every symbol."""
        module = self.module_of(value) or ""
        table = self.sorted.get(module, [])
        i = bisect.bisect_right(table, value) - 1
        if i < 0:
            return None
        return f"{self.first[module][table[i]][1]}+{hex(value - table[i])}"


#: Every module's memory regions, as drgn with Debian's DWARF reads them from each
#: ``struct module`` (``mem[]`` since 6.4, ``core_layout``/``init_layout`` before).
MODULE_MEMORY = {
    "modules": "[[m.name.string_().decode(), r.base.value_(), r.size.value_()] for m in H.for_each_module(prog) "
               "for r in (list(m.mem) if m.type_.type.has_member('mem') else [m.core_layout, m.init_layout])]",
}


def kernel_names(suite: str) -> KernelNames:
    """The kernel's names of addresses in the boot of ``suite``'s reference dumps: its
    guest's ``/proc/kallsyms``, with module memory as drgn reads it."""
    modules = drgn_answers(suite, MODULE_MEMORY)["modules"]["value"]
    return KernelNames(kallsyms_lines(oracle_dump(suite).truth), modules)
